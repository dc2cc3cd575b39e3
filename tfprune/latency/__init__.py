"""Latency budgets: a lookup table of measured LiteRT latency per layer and width.

``tfprune.prune(model, method, target={"latency": 0.5})`` prunes to half the
dense model's measured latency on LiteRT (XNNPACK; ``"threads"`` and
``"quantize"`` in the target dict choose the setting). The latency of a
kept-channel configuration is predicted from per-layer measurements
(:class:`LatencyTable`, cached on disk) plus a measured constant
(:class:`LatencyModel`); after slimming, :func:`predicted_vs_measured` times
the slim model against the dense one and puts the prediction next to the
measurement. See docs/budgets.md, "Latency budgets".
"""

from __future__ import annotations

from tfprune.latency.check import compare_timed, predicted_vs_measured
from tfprune.latency.model import LatencyModel, prediction_error
from tfprune.latency.table import LatencyTable, LayerSpec, default_cache_dir, table_for, use_table
from tfprune.latency.timer import LiteRTTimer, export_for_latency, runtime_version

__all__ = [
    "LatencyModel",
    "LatencyTable",
    "LayerSpec",
    "LiteRTTimer",
    "compare_timed",
    "default_cache_dir",
    "export_for_latency",
    "predicted_vs_measured",
    "prediction_error",
    "runtime_version",
    "table_for",
    "use_table",
]
