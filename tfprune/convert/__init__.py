"""From a masked model to a plain one: strip_pruning, slim, PrunePlan."""

from __future__ import annotations

from tfprune.convert.plan import PrunePlan
from tfprune.convert.slim import make_plan, slim, strip_pruning

__all__ = ["PrunePlan", "make_plan", "slim", "strip_pruning"]
