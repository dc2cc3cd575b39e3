"""Shared selection: kept counts, budgets and their allocation over groups.

Pure NumPy, no Keras: every method ends in this step (which units of which
group are kept), so ``round_to``, floors, monotone pruning and budgets behave
the same for all of them (docs/budgets.md).
"""

from __future__ import annotations

from tfprune.selection.allocate import (
    ALLOCATIONS,
    NORMALIZATIONS,
    Allocation,
    Candidate,
    Unreachable,
    allocate,
    normalize_scores,
    refine,
)
from tfprune.selection.sensitivity import allocate_from_sensitivity
from tfprune.selection.counts import default_floor, feasible_counts, kept_count, unprunable_by_rounding
from tfprune.selection.target import Target

__all__ = [
    "ALLOCATIONS",
    "NORMALIZATIONS",
    "Allocation",
    "Candidate",
    "Target",
    "Unreachable",
    "allocate",
    "allocate_from_sensitivity",
    "default_floor",
    "feasible_counts",
    "kept_count",
    "normalize_scores",
    "refine",
    "unprunable_by_rounding",
]
