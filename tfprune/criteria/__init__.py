"""Importance criteria: pure functions on arrays."""

from __future__ import annotations

from tfprune.criteria import fuzzy, linear_replaceability
from tfprune.criteria.norms import group_scores, slice_norms

__all__ = ["fuzzy", "group_scores", "linear_replaceability", "slice_norms"]
