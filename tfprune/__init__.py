"""tfprune: structured pruning for Keras 3 that makes CNNs smaller and faster.

    pruned = tfprune.prune(model, "l1", schedule=PolynomialDecay(0, 0.5, 0, 1000))
    pruned.compile(...); pruned.fit(ds, callbacks=[tfprune.UpdatePruning()])
    small = tfprune.slim(pruned)
    tfprune.export_tflite(small, "small.tflite")
"""

from __future__ import annotations

from tfprune import errors, graph, methods, schedules
from tfprune.callbacks import UpdatePruning
from tfprune.distill import Distiller
from tfprune.convert import PrunePlan, make_plan, slim, strip_pruning
from tfprune.export import (
    benchmark_tflite,
    compare_latency,
    evaluate_tflite,
    export_tflite,
    inspect_tflite,
    run_tflite,
)
from tfprune.graph import ChannelGraph, register_rule
from tfprune.layers import PruningWrapper
from tfprune.methods import register_method
from tfprune.metrics import count_flops, count_params
from tfprune.pruner import Pruner
from tfprune.pruning import one_shot, prune
from tfprune.selection import Target
from tfprune.analysis import SensitivityResult, sensitivity
from tfprune import report
from tfprune.report import PruningSummaries, plot_widths, summary

from tfprune import lrf  # noqa: E402  (uses the modules above)

__version__ = "0.1.0"

__all__ = [
    "ChannelGraph",
    "Distiller",
    "PrunePlan",
    "Pruner",
    "PruningSummaries",
    "PruningWrapper",
    "SensitivityResult",
    "Target",
    "UpdatePruning",
    "benchmark_tflite",
    "compare_latency",
    "count_flops",
    "count_params",
    "errors",
    "evaluate_tflite",
    "export_tflite",
    "graph",
    "inspect_tflite",
    "lrf",
    "make_plan",
    "methods",
    "one_shot",
    "plot_widths",
    "prune",
    "register_method",
    "register_rule",
    "report",
    "run_tflite",
    "schedules",
    "sensitivity",
    "slim",
    "strip_pruning",
    "summary",
]
