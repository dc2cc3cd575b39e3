"""Latency budgets: a lookup table of measured LiteRT latency per layer and width.

``tfprune.prune(model, method, target={"latency": 0.5})`` prunes to half the
dense model's measured latency on LiteRT (XNNPACK; ``"threads"`` and
``"quantize"`` in the target dict choose the setting). The latency of a
kept-channel configuration is predicted from per-layer measurements
(:class:`LatencyTable`, cached on disk) plus a measured constant
(:class:`LatencyModel`); see docs/budgets.md, "Latency budgets".
"""

from __future__ import annotations

from tfprune.latency.model import LatencyModel, prediction_error
from tfprune.latency.table import LatencyTable, LayerSpec, default_cache_dir, table_for, use_table
from tfprune.latency.timer import LiteRTTimer, runtime_version

__all__ = [
    "LatencyModel",
    "LatencyTable",
    "LayerSpec",
    "LiteRTTimer",
    "default_cache_dir",
    "prediction_error",
    "runtime_version",
    "table_for",
    "use_table",
]
