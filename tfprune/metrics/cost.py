"""FLOPs and parameters of a model as a function of its kept channels.

A budget (``prune(model, method, target=...)``) is met by searching over
which channels to keep, so the cost of a candidate must be known without
slimming the model. :class:`CostModel` is built once from the channel graph
and the traced shapes; evaluating it on a boolean vector over the graph's
units (``True`` = kept) gives exactly what :func:`tfprune.count_flops` and
:func:`tfprune.count_params` report for ``slim(model)`` with those channels
kept (tested on the layer rules and the keras.applications architectures):

* FLOPs: every counted call site is re-evaluated with the counter's own rule
  (:mod:`tfprune.metrics.flops`), given the kept input and output channels of
  its layer's layouts;
* parameters: every weight counts the product of its dimensions, each axis
  that the graph slices counted at its kept size (a variable shared by several
  layers counts once, as in :func:`tfprune.count_params`).

With a latency target, it also predicts the slim model's LiteRT latency
(:class:`tfprune.latency.LatencyModel`, metrics ``"latency"`` and
``"latency_ms"``, both in milliseconds).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras
import numpy as np

from tfprune.metrics import _trace
from tfprune.metrics import flops as flops_lib


@dataclasses.dataclass(frozen=True)
class _FlopsTerm:
    layer: Any
    rule: Any
    input_shape: tuple
    output_shape: tuple
    input_layout: np.ndarray | None
    output_layout: np.ndarray | None
    name: str


@dataclasses.dataclass(frozen=True)
class _ParamsTerm:
    shape: tuple[int, ...]
    #: ``(axis, layout)`` of every sliced axis of the weight.
    axes: tuple[tuple[int, np.ndarray], ...]
    #: path of the (first) layer that holds the weight.
    layer: str = ""


class CostModel:
    """FLOPs (MACs) and parameters of ``slim(model)`` for any kept-channel set.

    Build it with :meth:`build`; evaluate with :meth:`flops` /
    :meth:`params` (or :meth:`cost` by name) on a boolean vector over the
    units of the channel graph. Evaluation is NumPy only.

    Attributes:
        dense_flops: MACs with every channel kept (= ``count_flops(model)``).
        dense_params: parameters with every channel kept
            (= ``count_params(model)``).
    """

    METRICS = ("flops", "params", "latency", "latency_ms")

    def __init__(self, num_units: int, unit_of_item: np.ndarray, flops_terms, params_terms, constant_params, layer_constants=None):
        self.num_units = int(num_units)
        self._unit_of_item = unit_of_item
        self._flops_terms: list[_FlopsTerm] = flops_terms
        self._params_terms: list[_ParamsTerm] = params_terms
        self._constant_params = int(constant_params)
        #: Unsliced parameters of each traced layer (each variable counted once).
        self._layer_constants: dict[str, int] = dict(layer_constants or {})
        everything = np.ones(self.num_units, dtype=bool)
        self.dense_flops = self.flops(everything)
        self.dense_params = self.params(everything)
        #: :class:`tfprune.latency.LatencyModel` of a latency target (else None).
        self.latency = None

    @classmethod
    def build(cls, model: keras.Model, graph, *, target=None, round_to: int | None = 8,
              latency_references=()) -> CostModel:
        """The cost model of ``model`` (possibly wrapped) and its channel graph.

        With a latency ``target`` (:class:`tfprune.Target`), the latency model
        of its threads and quantization is built too (measuring what its
        table lacks, widths on multiples of ``round_to``; also through the
        models of ``latency_references``, kept channels per group id:
        :meth:`tfprune.latency.LatencyModel.build`).
        """
        built = cls._build(model, graph)
        if target is not None and target.is_latency:
            from tfprune.latency import LatencyModel, table_for

            table = table_for(target.threads, target.quantize)
            built.latency = LatencyModel.build(model, graph, table, round_to=round_to, cost_model=built,
                                               references=latency_references)
        return built

    @classmethod
    def _build(cls, model: keras.Model, graph) -> CostModel:
        flops_terms = []
        for site, input_shape, output_shape in _trace.layer_shapes(model):
            layer, _, _ = flops_lib._unwrap(site.layer, effective=False)
            rule = flops_lib._find_rule(layer)
            if rule is None:
                continue
            entry = graph.layers.get(site.path)
            flops_terms.append(
                _FlopsTerm(
                    layer=layer,
                    rule=rule,
                    input_shape=input_shape,
                    output_shape=output_shape,
                    input_layout=None if entry is None else entry.input_layout,
                    output_layout=None if entry is None else entry.output_layout,
                    name=site.path,
                )
            )
        sliced: dict[int, dict[int, np.ndarray]] = {}
        shapes: dict[int, tuple[int, ...]] = {}
        owners: dict[int, str] = {}
        for entry in graph.layers.values():
            inner = getattr(entry.layer, "tfprune_wrapped_layer", entry.layer)
            by_name = {v.name: v for v in inner.weights}
            for name, axis, layout, _ in entry.slices:
                variable = by_name.get(name)
                if variable is None:
                    continue
                shapes[id(variable)] = tuple(int(d) for d in variable.shape)
                sliced.setdefault(id(variable), {})[axis] = layout
                owners.setdefault(id(variable), entry.path)
        params_terms = [
            _ParamsTerm(shapes[key], tuple(sorted(axes.items(), key=lambda a: a[0])), owners[key])
            for key, axes in sliced.items()
        ]
        constant = _unsliced_params(model, set(sliced))
        layer_constants = _unsliced_params_by_layer(graph, set(sliced))
        return cls(graph.num_units, graph._unit_of_item, flops_terms, params_terms, constant, layer_constants)

    def _kept_mask(self, keep: np.ndarray, layout: np.ndarray | None) -> np.ndarray | None:
        if layout is None:
            return None
        return keep[self._unit_of_item[layout]]

    def _term_flops(self, term: _FlopsTerm, keep: np.ndarray) -> int:
        return term.rule(
            term.layer,
            term.input_shape,
            term.output_shape,
            self._kept_mask(keep, term.input_layout),
            self._kept_mask(keep, term.output_layout),
            term.name,
        )

    def _term_params(self, term: _ParamsTerm, keep: np.ndarray) -> int:
        dims = list(term.shape)
        for axis, layout in term.axes:
            dims[axis] = int(np.count_nonzero(keep[self._unit_of_item[layout]]))
        return math.prod(dims)

    def flops(self, keep: np.ndarray) -> int:
        """MACs of the model with the units flagged in ``keep`` kept."""
        return int(sum(self._term_flops(term, keep) for term in self._flops_terms))

    def params(self, keep: np.ndarray) -> int:
        """Parameters of the model with the units flagged in ``keep`` kept."""
        return int(self._constant_params + sum(self._term_params(term, keep) for term in self._params_terms))

    def flops_by_layer(self, keep: np.ndarray) -> dict[str, int]:
        """:meth:`flops` of each counted layer (by path, in graph order).

        A layer called several times has the sum of its calls, as in
        :func:`tfprune.metrics.flops_by_layer`; the values sum to :meth:`flops`.
        """
        out: dict[str, int] = {}
        for term in self._flops_terms:
            out[term.name] = out.get(term.name, 0) + int(self._term_flops(term, keep))
        return out

    def params_by_layer(self, keep: np.ndarray) -> dict[str, int]:
        """:meth:`params` of each traced layer that holds weights (by path).

        A variable shared by several layers counts once, for the first. The
        values sum to :meth:`params` unless the model holds weights outside
        its traced layers (e.g. a layer that is never called).
        """
        out = dict(self._layer_constants)
        for term in self._params_terms:
            out[term.layer] = out.get(term.layer, 0) + int(self._term_params(term, keep))
        return out

    def cost(self, metric: str, keep: np.ndarray) -> float:
        """``flops``, ``params`` or predicted latency (ms) of ``keep``."""
        if metric in ("latency", "latency_ms"):
            return self._latency_model().predict(keep)
        return self.flops(keep) if metric == "flops" else self.params(keep)

    def dense(self, metric: str) -> float:
        """The cost of the unpruned model under ``metric`` (latency: measured, ms)."""
        if metric in ("latency", "latency_ms"):
            return self._latency_model().dense_ms
        return self.dense_flops if metric == "flops" else self.dense_params

    def _latency_model(self):
        if self.latency is None:
            msg = (
                "This cost model has no latency model: build it with "
                "CostModel.build(model, graph, target=Target('latency', ...))."
            )
            raise ValueError(msg)
        return self.latency


def _unsliced_params_by_layer(graph, sliced: set[int]) -> dict[str, int]:
    """Parameters of every traced layer's weights the graph never slices."""
    seen = set(sliced)
    out: dict[str, int] = {}
    for entry in graph.layers.values():
        inner = getattr(entry.layer, "tfprune_wrapped_layer", entry.layer)
        for variable in getattr(inner, "weights", ()):
            if id(variable) in seen:
                continue
            seen.add(id(variable))
            out[entry.path] = out.get(entry.path, 0) + int(math.prod(variable.shape))
    return out


def _unsliced_params(model: keras.Model, sliced: set[int]) -> int:
    """Parameters of every weight the graph never slices (counted once)."""
    from tfprune.metrics.params import parameter_variables

    return sum(int(math.prod(v.shape)) for v in parameter_variables(model) if id(v) not in sliced)
