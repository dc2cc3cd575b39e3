"""Predicted LiteRT latency of a model as a function of its kept channels.

``latency(keep) = constant + scale * sum over Conv/Dense call sites of
table(config, kept input width, kept output width)``: the per-layer
lookup-table model of NetAdapt (Yang et al., ECCV 2018, Section 3.3).
Convolutions and Dense layers are timed with their bias and fused activation,
as LiteRT runs them once BatchNormalization is folded.

``constant`` and ``scale`` are measured from two whole models: the dense one
and a reference with every prunable group at half its width. A layer timed
alone runs from warm caches, faster than inside the model (MobileNetV2 at
224, one thread: the parts sum to about a third of the whole), and the
constant holds what the table does not time (element-wise ops, pooling, the
interpreter's own work); the scale keeps the table's relative costs, which
is what the allocation needs, and the two measured points fix the absolute
time (docs/budgets.md, "Latency budgets").

:class:`LatencyModel` evaluates on the same boolean keep vector over channel
units as :class:`tfprune.metrics.cost.CostModel` (NumPy only), so the
budget allocation treats it as one more cost.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence

import numpy as np

from tfprune.latency.table import DEPTHWISE, WIDTH_KEYS, LatencyTable, LayerSpec, grid_widths


@dataclasses.dataclass(frozen=True)
class _Term:
    spec: LayerSpec
    input_layout: np.ndarray | None
    output_layout: np.ndarray | None
    name: str


class LatencyModel:
    """Latency in milliseconds of ``slim(model)`` for any kept-channel set.

    Build it with :meth:`build`. Attributes:
        dense_ms: the dense model's measured latency.
        constant_ms: the measured part no table entry covers.
        scale: measured whole-model time per unit of summed layer time.
        table: the :class:`~tfprune.latency.LatencyTable` it reads.
    """

    def __init__(self, terms: Sequence[_Term], unit_of_item: np.ndarray, num_units: int, table: LatencyTable,
                 dense_ms: float):
        self.terms = list(terms)
        self.table = table
        self._unit_of_item = unit_of_item
        #: Channel units of the graph the keep vectors run over.
        self.num_units = int(num_units)
        self.dense_ms = float(dense_ms)
        self.constant_ms, self.scale = 0.0, 1.0
        self.constant_ms = self.dense_ms - self.predict(np.ones(int(num_units), dtype=bool))
        #: ``(keep, measured ms)`` of the reference model, if one was measured.
        self.reference = None

    def calibrate(self, keep: np.ndarray, measured_ms: float) -> None:
        """Fit ``scale`` and ``constant`` so that the dense model and ``keep`` are predicted exactly.

        Left as is (scale 1) when the two have the same parts or the fit
        would make a smaller model slower.
        """
        full = np.ones(len(keep), dtype=bool)
        parts_full, parts_ref = sum(self.by_layer(full).values()), sum(self.by_layer(keep).values())
        self.reference = (np.asarray(keep, dtype=bool).copy(), float(measured_ms))
        if parts_full - parts_ref <= 1e-12 or self.dense_ms <= measured_ms:
            return
        self.scale = (self.dense_ms - measured_ms) / (parts_full - parts_ref)
        self.constant_ms = self.dense_ms - self.scale * parts_full

    @classmethod
    def build(cls, model, graph, table: LatencyTable, *, round_to: int | None = 8, cost_model=None) -> LatencyModel:
        """Measure what is missing from ``table`` for ``model`` and return its latency model.

        Args:
            model: the model (wrapped by :func:`tfprune.prune` or not).
            graph: its :class:`tfprune.ChannelGraph`.
            table: where measurements are read from and stored.
            round_to: the widths of the grid are multiples of this.
            cost_model: the model's :class:`~tfprune.metrics.cost.CostModel`
                (built if not given): its call sites are the timed layers.
        """
        if cost_model is None:
            from tfprune.metrics.cost import CostModel

            cost_model = CostModel.build(model, graph)
        prunable = np.zeros(graph.num_units, dtype=bool)
        for group in graph.groups:
            prunable[np.array(group.units, dtype=np.int64)] = True
        unit_of_item = graph._unit_of_item

        def widths(full, layout):
            if layout is None or not prunable[unit_of_item[layout]].any():
                return (int(full),)
            return grid_widths(int(full), round_to, min(int(full), round_to or 1), table.grid_points)

        terms = []
        for term in cost_model._flops_terms:
            layer = term.layer
            name = type(layer).__name__
            in_shape = tuple(int(d) for d in term.input_shape[1:])
            out_full = int(term.output_shape[-1])
            config = layer.get_config()
            if name in WIDTH_KEYS and int(config.get("groups", 1) or 1) == 1:
                spec = LayerSpec(type(layer), config, in_shape, "grid",
                                 widths(in_shape[-1], term.input_layout), widths(out_full, term.output_layout))
            elif name in DEPTHWISE:
                spec = LayerSpec(type(layer), config, in_shape, "depthwise", widths(in_shape[-1], term.input_layout))
            else:
                spec = LayerSpec(type(layer), config, in_shape, "scaled", (in_shape[-1],), (out_full,))
            terms.append(_Term(spec, term.input_layout, term.output_layout, term.name))
        table.measure([t.spec for t in terms])
        dense = _dense_model(model)
        built = cls(terms, unit_of_item, graph.num_units, table, table.model_latency(dense))
        reference = _half_width(graph, round_to)
        if not reference.all():
            from tfprune.convert import PrunePlan, slim

            small = slim(dense, PrunePlan.from_keep(graph, reference))
            built.calibrate(reference, table.model_latency(small))
        return built

    def _kept(self, keep: np.ndarray, layout: np.ndarray | None, full: int) -> int:
        if layout is None:
            return full
        return int(np.count_nonzero(keep[self._unit_of_item[layout]]))

    def by_layer(self, keep: np.ndarray) -> dict[str, float]:
        """Predicted milliseconds of every timed call site (by layer path)."""
        out: dict[str, float] = {}
        for term in self.terms:
            cin = self._kept(keep, term.input_layout, term.spec.input_shape[-1])
            if term.spec.kind == "depthwise":
                cout = cin
            else:
                cout = self._kept(keep, term.output_layout, term.spec.full[1])
            out[term.name] = out.get(term.name, 0.0) + self.table.lookup(term.spec, cin, cout)
        return out

    def predict(self, keep: np.ndarray) -> float:
        """Predicted latency (ms) of the model with the units flagged in ``keep`` kept."""
        return float(self.constant_ms + self.scale * sum(self.by_layer(keep).values()))


def _half_width(graph, round_to: int | None) -> np.ndarray:
    """Keep flags with every prunable group at half its width (rounded as the allocation rounds)."""
    from tfprune.selection import kept_count

    keep = np.ones(graph.num_units, dtype=bool)
    for group in graph.groups:
        units = np.array(group.units, dtype=np.int64)
        keep[units[kept_count(len(units), 0.5, round_to):]] = False
    return keep


def _dense_model(model):
    """``model`` without pruning wrappers (full width)."""
    from tfprune.layers import find_wrappers

    if find_wrappers(model):
        from tfprune.convert import strip_pruning

        return strip_pruning(model)
    return model


def prediction_error(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """Relative error ``|predicted / measured - 1|`` of latency predictions: median and worst.

    Returns ``{"median": ..., "worst": ..., "n": ...}``.
    """
    errors = [abs(p / m - 1.0) for p, m in zip(predicted, measured, strict=True)]
    if not errors:
        msg = "prediction_error needs at least one (predicted, measured) pair."
        raise ValueError(msg)
    return {"median": float(statistics.median(errors)), "worst": float(max(errors)), "n": len(errors)}
