"""Importance criteria: pure functions on arrays."""

from __future__ import annotations

from tfprune.criteria import linear_replaceability
from tfprune.criteria.norms import group_scores, slice_norms

__all__ = ["group_scores", "linear_replaceability", "slice_norms"]
