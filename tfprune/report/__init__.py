"""What pruning did: per-layer widths, FLOPs and parameters (docs/reports.md).

* :func:`layer_widths` / :func:`model_totals` (:func:`measure` for both):
  the numbers as plain data, for other code (the CLI report);
* :func:`summary` (``tfprune.summary``): a table like ``model.summary()``;
* :func:`to_markdown`: the same rows as a Markdown table;
* :func:`plot_widths` (``tfprune.plot_widths``): a PNG bar chart of the
  widths, original vs kept (:func:`render_widths` for the PNG bytes);
* :class:`PruningSummaries` (``tfprune.PruningSummaries``): the same, and the
  per-group widths, for TensorBoard during ``fit``.
"""

from __future__ import annotations

from tfprune.report.plot import plot_widths, render_widths
from tfprune.report.summaries import PruningSummaries
from tfprune.report.widths import (
    layer_widths,
    measure,
    model_totals,
    summary,
    to_markdown,
)

__all__ = [
    "PruningSummaries",
    "layer_widths",
    "measure",
    "model_totals",
    "plot_widths",
    "render_widths",
    "summary",
    "to_markdown",
]
