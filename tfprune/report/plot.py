"""``plot_widths``: a bar chart of per-layer widths, original vs kept (PNG).

The figure is drawn with matplotlib's object API (``matplotlib.figure.Figure``
on an Agg canvas, no ``pyplot`` global state), so it is safe inside training
callbacks; :func:`render_widths` gives the PNG bytes that both
:func:`plot_widths` and :class:`tfprune.PruningSummaries` use.
"""

from __future__ import annotations

import io
import os
import pathlib

import keras

from tfprune import errors
from tfprune._atomic import write_atomic
from tfprune.report.widths import measure


def _plotted(rows: list[dict]) -> list[dict]:
    """Layers that compute (Conv, Dense: FLOPs counted), else every layer with channels."""
    computing = [r for r in rows if r["flops"] is not None and r["channels"] is not None]
    return computing or [r for r in rows if r["channels"] is not None]


def render_widths(rows: list[dict], totals: dict | None = None, *, dpi: int = 100) -> bytes:
    """PNG bytes of the bar chart of :func:`tfprune.report.layer_widths` rows.

    One bar per Conv/Dense layer (every layer with channels if there is
    none): the original width in grey behind the kept width; a row without
    a "before" width shows the kept width only. ``totals``
    (:func:`tfprune.report.model_totals`) adds the FLOPs and parameter
    ratios to the title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shown = _plotted(rows)
    count = max(len(shown), 1)
    figure = Figure(figsize=(min(max(6.0, 0.3 * count + 2.0), 40.0), 4.5), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = range(len(shown))
    before = [r["channels_before"] for r in shown]
    if any(value is not None for value in before):
        axes.bar(positions, [v or 0 for v in before], color="#c8c8c8", label="original")
    axes.bar(positions, [r["channels"] for r in shown], width=0.6, color="#1f77b4", label="kept")
    axes.set_xticks(list(positions))
    axes.set_xticklabels([r["layer"] for r in shown], rotation=90, fontsize=7)
    axes.set_xlim(-0.6, count - 0.4)
    axes.set_ylabel("output channels")
    axes.legend(loc="upper left", fontsize=8)
    title = "Channels per layer"
    if totals is not None:
        title = f"{totals['model']}: channels per layer"
        ratios = [
            f"{label} {totals[key]:.3f} x"
            for key, label in (("flops_ratio", "FLOPs"), ("params_ratio", "params"))
            if totals.get(key) is not None
        ]
        if ratios:
            title += f"\n{', '.join(ratios)} the model before pruning"
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _png_path(path) -> pathlib.Path:
    if not isinstance(path, (str, os.PathLike)):
        msg = (
            "Argument `path` must be a str or os.PathLike ending with '.png'. "
            f"Received: path={path!r} (type {type(path).__name__})."
        )
        raise errors.PruningArgumentError(msg)
    raw = os.fspath(path)
    dest = pathlib.Path(raw).expanduser()
    if dest.suffix.lower() != ".png" or raw.endswith(("/", os.sep)):
        msg = (
            f"Argument `path` must end with '.png' (the chart is a PNG image). "
            f"Received: path={raw!r}. Use e.g. {str(dest.with_suffix('.png'))!r}."
        )
        raise errors.PruningArgumentError(msg)
    if dest.is_dir():
        msg = f"Argument `path` must be a file, but {raw!r} is a directory. Pass a file name such as 'widths.png'."
        raise errors.PruningArgumentError(msg)
    return dest


def plot_widths(
    model: keras.Model,
    path: str | os.PathLike[str],
    reference: keras.Model | None = None,
) -> pathlib.Path:
    """Write a PNG bar chart of the per-layer widths, original vs kept.

    Args:
        model: a pruned model (from :func:`tfprune.prune`) or a slim model.
        path: the ``.png`` file to write; written atomically (a failure
            leaves no partial file and an existing file unchanged).
        reference: for a slim model, the dense model or the pruned model it
            was slimmed from, for the original widths (as in
            :func:`tfprune.summary`).

    Returns:
        ``path`` as a :class:`pathlib.Path`.

    Raises:
        PruningArgumentError: ``path`` is not a ``.png`` file name, or the
            model arguments are invalid (see :func:`tfprune.report.layer_widths`).
        WriteError: the file could not be written (e.g. its directory does
            not exist).
    """
    dest = _png_path(path)
    rows, totals = measure(model, reference)
    data = render_widths(rows, totals)
    try:
        write_atomic(dest, data)
    except OSError as exc:
        raise errors.write_error(f"the width chart {str(dest)!r}", dest, exc) from exc
    return dest
