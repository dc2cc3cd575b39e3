"""What pruning did: per-layer widths, FLOPs and parameters (docs/reports.md).

* :func:`layer_widths` / :func:`model_totals` (:func:`measure` for both):
  the numbers as plain data, for other code (the CLI report);
* :func:`summary` (``tfprune.summary``): a table like ``model.summary()``;
* :func:`to_markdown`: the same rows as a Markdown table.
"""

from __future__ import annotations

from tfprune.report.widths import (
    layer_widths,
    measure,
    model_totals,
    summary,
    to_markdown,
)

__all__ = ["layer_widths", "measure", "model_totals", "summary", "to_markdown"]
