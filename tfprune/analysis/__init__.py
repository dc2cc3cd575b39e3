"""Analyses of a model before pruning it.

- :func:`sensitivity`: the metric with each coupled channel group pruned
  alone, at several sparsities (Li et al. 2017, Section 4.2), returned as a
  :class:`SensitivityResult` (table, JSON, Markdown, plot, budget allocation).
"""

from __future__ import annotations

from tfprune.analysis.result import GroupSensitivity, SensitivityResult
from tfprune.analysis.sensitivity import sensitivity

__all__ = ["GroupSensitivity", "SensitivityResult", "sensitivity"]
