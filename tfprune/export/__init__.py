"""TFLite (LiteRT) export, op check and latency measurement for any Keras model.

* :func:`export_tflite` converts a ``keras.Model`` into a ``.tflite`` file that
  uses builtin ops only (BatchNorm folded), written atomically.
* :func:`tflite_ops` counts the ops in a ``.tflite`` file.
* :func:`run_tflite` runs a batch through the LiteRT interpreter (XNNPACK).
* :func:`benchmark_tflite` and :func:`compare_latency` time ``invoke()``;
  ``compare_latency`` interleaves two models and reports their ratio, which is
  what to trust on a shared, noisy machine.

This package only depends on :mod:`tfprune.errors`; TensorFlow and
``ai_edge_litert`` are imported when a function needs them.
"""

from __future__ import annotations

from tfprune.export.litert import (
    benchmark_tflite,
    compare_latency,
    run_tflite,
    tflite_ops,
)
from tfprune.export.tflite import QUANTIZE_MODES, export_tflite

__all__ = [
    "QUANTIZE_MODES",
    "benchmark_tflite",
    "compare_latency",
    "export_tflite",
    "run_tflite",
    "tflite_ops",
]
