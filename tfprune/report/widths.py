"""Per-layer widths, parameters and FLOPs of a pruned or slim model, as data.

:func:`measure` is the one place that reads them; :func:`layer_widths`,
:func:`model_totals`, :func:`to_markdown`, :func:`tfprune.summary`,
:func:`tfprune.plot_widths` and :class:`tfprune.PruningSummaries` only format
its result. Nothing is counted here: the numbers come from
:class:`tfprune.metrics.cost.CostModel`, which gives exactly what
:func:`tfprune.count_flops` and :func:`tfprune.count_params` report for
``tfprune.slim(model)`` (docs/reports.md):

* a pruned (masked) model is measured at its current masks ("after") and at
  full width ("before", the dense model it wraps);
* a slim or plain model is measured as it is ("after"); its "before" comes
  from ``reference`` (the dense model, or the pruned model it was slimmed
  from, at full width), matched layer by layer by path.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from tfprune import errors
from tfprune.convert._flat import flat_names
from tfprune.graph import ChannelGraph
from tfprune.layers import find_wrappers
from tfprune.metrics.cost import CostModel
from tfprune.pruner import Pruner


@dataclasses.dataclass
class _Measured:
    """One model measured at one set of kept channels."""

    name: str
    masked: bool
    #: ``{path: {"type", "channels", "params", "flops", "group"}}`` in graph order.
    layers: dict[str, dict[str, Any]]
    params: int
    flops: int


def _state(model: keras.Model):
    """``(graph, keep, cost model, masked)`` of a wrapped or plain model."""
    if find_wrappers(model):
        pruner = Pruner(model)
        return pruner.graph, pruner.keep.copy(), pruner.cost_model, True
    graph = ChannelGraph.build(model)
    return graph, np.ones(graph.num_units, dtype=bool), CostModel.build(model, graph), False


def _measure_at(model, graph, cost, keep, masked) -> _Measured:
    params = cost.params_by_layer(keep)
    flops = cost.flops_by_layer(keep)
    group_of_unit = {}
    for group in graph.groups:
        for unit in group.units:
            group_of_unit[unit] = group.id
    layers: dict[str, dict[str, Any]] = {}
    for path, entry in graph.layers.items():
        if path not in params and path not in flops:
            continue
        inner = getattr(entry.layer, "tfprune_wrapped_layer", entry.layer)
        layout = entry.output_layout
        channels = group = None
        if layout is not None:
            units = graph.units(layout)
            channels = int(np.count_nonzero(keep[units]))
            group = next((group_of_unit[u] for u in units.tolist() if u in group_of_unit), None)
        layers[path] = {
            "type": type(inner).__name__,
            "channels": channels,
            "params": int(params.get(path, 0)),
            "flops": None if path not in flops else int(flops[path]),
            "group": group,
        }
    return _Measured(model.name, masked, layers, cost.params(keep), cost.flops(keep))


def _with_flat_names(model: keras.Model, layers: dict[str, dict]) -> dict[str, dict]:
    """``layers`` also keyed by the names the layers get in ``slim(model)``.

    ``slim`` inlines nested models (``block/conv`` becomes ``conv``), so a slim
    model is matched with its reference by these names; a layer path of the
    reference itself still matches first.
    """
    out = dict(layers)
    for path, name in flat_names(model).items():
        if path in layers:
            out.setdefault(name, layers[path])
    return out


def _check_model(value, argument: str) -> None:
    if not isinstance(value, keras.Model):
        msg = (
            f"Argument `{argument}` must be a Keras 3 `keras.Model` (a model "
            "returned by tfprune.prune, a slim model, or the dense model). "
            f"Received: {argument} of type {type(value).__name__}."
        )
        raise errors.PruningArgumentError(msg)


def measure(model: keras.Model, reference: keras.Model | None = None) -> tuple[list[dict], dict]:
    """Per-layer rows and model totals of ``model`` (see :func:`layer_widths`).

    Returns:
        ``(rows, totals)``: the rows of :func:`layer_widths` and the dict of
        :func:`model_totals`, computed from one trace of each model.
    """
    _check_model(model, "model")
    if reference is not None:
        _check_model(reference, "reference")
    return measure_state(model, _state(model), reference)


def measure_state(model: keras.Model, state, reference: keras.Model | None = None) -> tuple[list[dict], dict]:
    """:func:`measure` from an existing ``(graph, keep, cost model, masked)``.

    For callers that already hold the pruning state (the
    :class:`~tfprune.Pruner` of a model being trained), so it is not rebuilt.
    """
    graph, keep, cost, masked = state
    after = _measure_at(model, graph, cost, keep, masked)
    before = None
    if reference is not None:
        ref_graph, ref_keep, ref_cost, ref_masked = _state(reference)
        before = _measure_at(reference, ref_graph, ref_cost, np.ones_like(ref_keep), ref_masked)
        before.layers = _with_flat_names(reference, before.layers)
        if not set(before.layers) & set(after.layers):
            msg = (
                f"Argument `reference` (model `{reference.name}`) has none of the "
                f"layers of model `{model.name}` (e.g. {sorted(after.layers)[:5]}), so "
                "it cannot give their widths before pruning. Pass the dense model, "
                "or the pruned model this one was slimmed from."
            )
            raise errors.PruningArgumentError(msg)
    elif masked:
        before = _measure_at(model, graph, cost, np.ones_like(keep), masked)
    rows = []
    for path, now in after.layers.items():
        old = None if before is None else before.layers.get(path)
        rows.append(
            {
                "layer": path,
                "type": now["type"],
                "group": now["group"] if old is None else old["group"],
                "channels_before": None if old is None else old["channels"],
                "channels": now["channels"],
                "params_before": None if old is None else old["params"],
                "params": now["params"],
                "flops_before": None if old is None else old["flops"],
                "flops": now["flops"],
                "flops_share": None
                if now["flops"] is None or not after.flops
                else now["flops"] / after.flops,
            }
        )
    totals = {
        "model": model.name,
        "masked": masked,
        "reference": None if reference is None else reference.name,
        "params_before": None if before is None else before.params,
        "params": after.params,
        "flops_before": None if before is None else before.flops,
        "flops": after.flops,
        "params_ratio": None if before is None or not before.params else after.params / before.params,
        "flops_ratio": None if before is None or not before.flops else after.flops / before.flops,
    }
    return rows, totals


def layer_widths(model: keras.Model, reference: keras.Model | None = None) -> list[dict]:
    """Channels, parameters and FLOPs of every layer with weights, as rows.

    Args:
        model: a pruned model (from :func:`tfprune.prune`; "after" is the
            effective width under its masks, "before" the dense width), or a
            slim/plain model ("after" is its width as built).
        reference: optional model giving the "before" values of a slim
            model: the dense model or the pruned model it was slimmed from
            (measured at full width). Layers are matched by path (the layer
            name, ``"nested_model/layer"`` inside nested models).

    Returns:
        One dict per layer that holds weights or counts FLOPs, in graph
        order, with keys ``layer`` (path), ``type`` (Keras class name),
        ``group`` (id of the channel group of its output channels in the
        "before" model, as in :class:`tfprune.PrunePlan`; None if they are
        never pruned), ``channels_before``/``channels`` (output
        channels), ``params_before``/``params``, ``flops_before``/``flops``
        (MACs, None for a layer type that counts none, e.g. BatchNorm) and
        ``flops_share`` (its share of the model's FLOPs after pruning). A
        ``*_before`` value is None when unknown (a slim model without
        ``reference``, or a layer the reference does not have). ``params``
        and ``flops`` are those of ``tfprune.slim(model)``.

    Raises:
        PruningArgumentError: ``model`` or ``reference`` is not a Keras model,
            or ``reference`` has none of ``model``'s layers.
        UnsupportedModelError, UnsupportedLayerError: as
            :func:`tfprune.count_flops` and :func:`tfprune.prune`.
    """
    return measure(model, reference)[0]


def model_totals(model: keras.Model, reference: keras.Model | None = None) -> dict:
    """Parameters and FLOPs of the whole model, before and after pruning.

    Returns:
        ``{"model", "masked", "reference", "params_before", "params",
        "flops_before", "flops", "params_ratio", "flops_ratio"}``; the
        ``*_before`` values and ratios are None when unknown (see
        :func:`layer_widths`, which takes the same arguments).
    """
    return measure(model, reference)[1]


# --- formatting ------------------------------------------------------------


def _int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _channels(row: dict) -> str:
    if row["channels"] is None:
        return "-"
    if row["channels_before"] is None:
        return str(row["channels"])
    return f"{row['channels_before']} -> {row['channels']}"


def _share(row: dict) -> str:
    return "-" if row["flops_share"] is None else f"{row['flops_share']:.1%}"


def _cells(row: dict) -> list[str]:
    return [f"{row['layer']} ({row['type']})", _channels(row), _int(row["params"]), _int(row["flops"]), _share(row)]


_HEADER = ["Layer (type)", "Channels", "Params", "FLOPs (MACs)", "FLOPs share"]


def _total_lines(totals: dict) -> list[str]:
    lines = []
    for key, label in (("params", "params"), ("flops", "FLOPs (MACs)")):
        line = f"Total {label}: {totals[key]:,}"
        if totals[f"{key}_before"] is not None:
            line += f" of {totals[f'{key}_before']:,} ({totals[f'{key}_ratio']:.3f} x before pruning)"
        lines.append(line)
    return lines


def to_markdown(rows: list[dict], totals: dict | None = None) -> str:
    """A Markdown table of :func:`layer_widths` rows (and the totals, if given)."""
    lines = ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    for row in rows:
        cells = _cells(row)
        cells[0] = f"`{row['layer']}` ({row['type']})"
        lines.append("| " + " | ".join(cells) + " |")
    if totals is not None:
        lines.append("")
        lines.extend(f"{line}  " for line in _total_lines(totals))
    return "\n".join(lines) + "\n"


def format_summary(rows: list[dict], totals: dict) -> list[str]:
    """The lines :func:`summary` prints."""
    table = [_HEADER] + [_cells(row) for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(_HEADER))]

    def line(cells):
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
        return " " + "   ".join([first, *rest])

    rule = len(line(_HEADER)) + 1
    if totals["masked"]:
        what = "pruned (masked): channels are dense -> kept under the masks"
    elif totals["reference"] is not None:
        what = f"channels are `{totals['reference']}` -> this model"
    else:
        what = "no reference model: widths as built"
    out = [f'Pruning summary: "{totals["model"]}" ({what})', "_" * rule, line(_HEADER), "=" * rule]
    out.extend(line(cells) for cells in table[1:])
    out.append("=" * rule)
    out.extend(_total_lines(totals))
    out.append("_" * rule)
    return out


def summary(model: keras.Model, reference: keras.Model | None = None, print_fn=None) -> None:
    """Print the per-layer widths, parameters and FLOPs of a pruned or slim model.

    Reads like ``model.summary()``: one line per layer with weights (channels
    before -> after, parameters, FLOPs in MACs and the layer's share of the
    model's FLOPs), then the totals against the model before pruning. The
    numbers are those of ``tfprune.slim(model)`` (:func:`layer_widths` gives
    them as data).

    Args:
        model: a pruned model (from :func:`tfprune.prune`) or a slim model.
        reference: for a slim model, the dense model or the pruned model it
            was slimmed from, for the "before" widths.
        print_fn: called with each line (default: ``print``).

    Raises:
        PruningArgumentError: as :func:`layer_widths`, or ``print_fn`` is not
            callable.
    """
    if print_fn is not None and not callable(print_fn):
        msg = (
            "Argument `print_fn` must be callable with one line of text, e.g. "
            f"`print` or `logger.info`. Received: print_fn={print_fn!r}."
        )
        raise errors.PruningArgumentError(msg)
    rows, totals = measure(model, reference)
    for text in format_summary(rows, totals):
        (print_fn or print)(text)
