"""Importance criteria: pure functions on arrays."""

from __future__ import annotations

from tfprune.criteria import fpgm, fuzzy, linear_replaceability, taylor
from tfprune.criteria.norms import group_scores, slice_norms

__all__ = ["fpgm", "fuzzy", "group_scores", "linear_replaceability", "slice_norms", "taylor"]
