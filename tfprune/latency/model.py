"""Predicted LiteRT latency of a model as a function of its kept channels.

``latency(keep) = f(sum over Conv/Dense call sites of table(config, kept
input width, kept output width))`` with ``f`` piecewise linear: the per-layer
lookup-table model of NetAdapt (Yang et al., ECCV 2018, Section 3.3).
Convolutions and Dense layers are timed with their bias and fused activation,
as LiteRT runs them once BatchNormalization is folded.

The sum of the parts is mapped to milliseconds through measured whole
models: the dense one, one with every prunable group at half its width, and
the models a latency budget allocates (:meth:`tfprune.Pruner.correct_latency_model`,
NetAdapt's measured proposals), linearly between them and along the lowest
segment below them. A layer timed alone runs from warm caches, faster than
inside the model (MobileNetV2 at 224, one thread: the parts sum to about a
third of the whole), and the time the table does not see (element-wise ops,
pooling, the interpreter's own work) is not proportional to it; the table
keeps the relative costs, which is what the allocation ranks by, and the
measured models fix the absolute time (docs/budgets.md, "Latency budgets").

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
        points: the measured whole models the prediction goes through.
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
        #: Measured whole models the prediction goes through, ``(parts, ms)``
        #: ascending in parts; the dense model is the last.
        self.points = [(self.parts(np.ones(self.num_units, dtype=bool)), self.dense_ms)]
        #: ``(keep, measured ms)`` of the last model added to the points, if any.
        self.reference = None

    def parts(self, keep: np.ndarray) -> float:
        """The sum of the table's layer times for ``keep`` (ms, layers timed alone)."""
        return float(sum(self.by_layer(keep).values()))

    @property
    def scale(self) -> float:
        """Measured whole-model ms per ms of parts, on the lowest measured segment (1 with one point)."""
        if len(self.points) == 1:
            return 1.0
        (x0, y0), (x1, y1) = self.points[:2]
        return (y1 - y0) / (x1 - x0)

    @property
    def constant_ms(self) -> float:
        """Where the lowest measured segment meets zero parts: the time no table entry covers."""
        x0, y0 = self.points[0]
        return y0 - self.scale * x0

    def calibrate(self, keep: np.ndarray, measured_ms: float) -> bool:
        """Add the whole model ``keep``, measured at ``measured_ms``, to the points the prediction goes through.

        The newest measurement wins: an earlier one whose parts are within
        2 % of the dense model's of it (a second timing of nearly the same
        model), or that the new one would make non-monotone (a smaller
        model measured slower than a larger one), is dropped. The models a
        budget allocates are timed last and lie next to the target, where
        the prediction must hold; the table's parts can rank two models of
        different shapes in the wrong order (MobileNetV2 int8 at 2 threads:
        an allocation at a third of the latency ran slower than the uniform
        half-width model with more parts). A measurement at or above the
        dense model's time, or of the dense model itself, is not added.

        Returns:
            Whether the measurement was added.
        """
        keep = np.asarray(keep, dtype=bool).copy()
        parts = self.parts(keep)
        measured_ms = float(measured_ms)
        *others, dense = self.points
        near = 0.02 * dense[0]
        if parts >= dense[0] - near or measured_ms >= dense[1]:
            return False
        kept = [(x, y) for x, y in others
                if abs(x - parts) >= near and (x < parts) == (y < measured_ms)]
        self.points = [*sorted([*kept, (parts, measured_ms)]), dense]
        self.reference = (keep, measured_ms)
        return True

    @classmethod
    def build(cls, model, graph, table: LatencyTable, *, round_to: int | None = 8, cost_model=None,
              references: Sequence[dict[str, int]] = ()) -> LatencyModel:
        """Measure what is missing from ``table`` for ``model`` and return its latency model.

        Args:
            model: the model (wrapped by :func:`tfprune.prune` or not).
            graph: its :class:`tfprune.ChannelGraph`.
            table: where measurements are read from and stored.
            round_to: the widths of the grid are multiples of this.
            cost_model: the model's :class:`~tfprune.metrics.cost.CostModel`
                (built if not given): its call sites are the timed layers.
            references: kept channels per group id of more models to
                measure and fit through after the half-width one, in order
                (the allocations at the target measured by
                :meth:`tfprune.Pruner.correct_latency_model`).
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
        built.measure_and_calibrate(dense, graph, _half_width(graph, round_to))
        for counts in references:
            built.measure_and_calibrate(dense, graph, keep_of_counts(graph, counts))
        return built

    def measure_and_calibrate(self, model, graph, keep: np.ndarray) -> float:
        """Time ``model`` slimmed to ``keep`` as a whole, :meth:`calibrate` with it, return the ms.

        It is timed alternately with the dense model
        (:meth:`LatencyTable.model_ratio`) and counted as that ratio of
        :attr:`dense_ms`, so every measured model is on the dense model's
        scale however the machine's speed drifted between timings. The
        ratio is stored in the table under the two architectures, so a
        model rebuilt from the same counts is not timed again. Nothing is
        timed when ``keep`` keeps every channel.
        """
        keep = np.asarray(keep, dtype=bool)
        if keep.all():
            return self.dense_ms
        from tfprune.convert import PrunePlan, slim

        dense = _dense_model(model)
        small = slim(dense, PrunePlan.from_keep(graph, keep))
        measured = self.table.model_ratio(dense, small) * self.dense_ms
        self.calibrate(keep, measured)
        return float(measured)

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
        """Predicted latency (ms) of the model with the units flagged in ``keep`` kept.

        Linear in the table's parts between the measured whole models
        (:attr:`points`), and along the lowest segment below them.
        """
        parts = self.parts(keep)
        if parts <= self.points[0][0] or len(self.points) == 1:
            return float(self.points[0][1] + self.scale * (parts - self.points[0][0]))
        xs, ys = zip(*self.points)
        return float(np.interp(parts, xs, ys))


def counts_of_keep(graph, keep: np.ndarray) -> dict[str, int]:
    """Kept channels of every group that ``keep`` cuts, by group id (what latency depends on)."""
    counts = {}
    for group in graph.groups:
        kept = int(np.count_nonzero(keep[np.array(group.units, dtype=np.int64)]))
        if kept < group.num_channels:
            counts[group.id] = kept
    return counts


def keep_of_counts(graph, counts: dict[str, int]) -> np.ndarray:
    """Keep flags with the first ``counts[id]`` units of each listed group kept (the others whole)."""
    keep = np.ones(graph.num_units, dtype=bool)
    groups = {group.id: group for group in graph.groups}
    for group_id, count in counts.items():
        if group_id not in groups:
            msg = (
                f"The latency reference names group `{group_id}`, which this model's channel graph does not "
                f"have (groups: {sorted(groups)}). It was saved with another model."
            )
            raise ValueError(msg)
        keep[np.array(groups[group_id].units, dtype=np.int64)[int(count):]] = False
    return keep


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
