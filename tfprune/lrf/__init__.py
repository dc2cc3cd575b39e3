"""LRF: Linearly Replaceable Filters with Weights Compensation.

Joo, Yi, Baek, Kim, "Linearly Replaceable Filters for Deep Network Channel
Pruning", AAAI 2021. Quick use::

    pruned = tfprune.lrf.run(model, train_ds, ratio=0.5, steps_per_layer=200)
    small = tfprune.slim(pruned)          # keeps the 1x1 P/Q layers
    tfprune.export_tflite(small, "lrf.tflite")

Step by step: :func:`insert_pq` (identity 1x1 ``P``/``Q`` around KxK convs),
:func:`wrap` (masks), :func:`prune_layer` (greedy removal with compensation),
:func:`finetune` (CE + KD via :class:`tfprune.Distiller`), ``tfprune.slim``,
and optionally :func:`merge_pq`. :func:`compensate` is Weights Compensation
for any producer -> linear consumer pair of layers.
"""

from __future__ import annotations

from tfprune.distill import Distiller, kd_loss
from tfprune.lrf.compensation import compensate
from tfprune.lrf.procedure import finetune, prune_layer, run, wrap, wrapped_convs_in_order
from tfprune.lrf.surgery import candidate_convs, insert_pq, merge_pq, wrapped_convs
from tfprune.methods.lrf import LinearReplaceable, lrf_count, p_name, q_name

__all__ = [
    "Distiller",
    "LinearReplaceable",
    "candidate_convs",
    "compensate",
    "finetune",
    "insert_pq",
    "kd_loss",
    "lrf_count",
    "merge_pq",
    "p_name",
    "prune_layer",
    "q_name",
    "run",
    "wrap",
    "wrapped_convs",
    "wrapped_convs_in_order",
]
