"""TFLite (LiteRT) export, op check and latency measurement for any Keras model.

* :func:`export_tflite` converts a ``keras.Model`` into a ``.tflite`` file that
  uses builtin ops only (BatchNorm folded), written atomically.
* :func:`tflite_ops` counts the ops in a ``.tflite`` file;
  :func:`inspect_tflite` reports ops, tensor types, signature, size and
  whether it is ready for the Android LiteRT runtime and XNNPACK.
* :func:`evaluate_tflite` measures the accuracy of an exported model (and its
  top-1 agreement with the Keras model), so quantization's cost is measured.
* :func:`run_tflite` runs a batch through the LiteRT interpreter (XNNPACK).
* :func:`benchmark_tflite` and :func:`compare_latency` time ``invoke()``;
  ``compare_latency`` interleaves two models and reports their ratio, which is
  what to trust on a shared, noisy machine.

This package only depends on :mod:`tfprune.errors`; TensorFlow and
``ai_edge_litert`` are imported when a function needs them.
"""

from __future__ import annotations

from tfprune.export.evaluate import evaluate_tflite
from tfprune.export.inspect import format_report, inspect_tflite
from tfprune.export.litert import (
    benchmark_tflite,
    compare_latency,
    io_signature,
    run_tflite,
    tflite_ops,
)
from tfprune.export.sidecar import sidecar_path
from tfprune.export.tflite import QUANTIZE_MODES, export_tflite

__all__ = [
    "QUANTIZE_MODES",
    "benchmark_tflite",
    "compare_latency",
    "evaluate_tflite",
    "export_tflite",
    "format_report",
    "inspect_tflite",
    "io_signature",
    "run_tflite",
    "sidecar_path",
    "tflite_ops",
]
