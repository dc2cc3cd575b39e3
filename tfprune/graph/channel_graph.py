"""The channel dependency graph: which weight slices must be removed together.

``ChannelGraph.build(model)`` traces the model (:mod:`tfprune.graph.trace`),
applies each layer's rule (:mod:`tfprune.graph.rules`) and joins coupled
channel items with a union-find. The result is a set of *units* (one unit =
the smallest set of channel slices that can be removed together, e.g. one
filter of every conv feeding a residual ``Add`` plus their BatchNorm entries
and the matching input rows of every consumer) grouped into
:class:`~tfprune.graph.group.ChannelGroup` objects (a group = all units that
compete for one sparsity budget, e.g. the residual stream of a ResNet stage).

The model's inputs and outputs, excluded layers and layers that mix channels
(LayerNormalization over channels, softmax) are *pinned*: their channels are
never pruned.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from typing import Any

import keras
import numpy as np

from tfprune import errors
from tfprune.graph import rules as rules_lib
from tfprune.graph import trace as trace_lib
from tfprune.graph.context import RuleContext
from tfprune.graph.group import ChannelGroup, WeightSlice


class _UnionFind:
    def __init__(self) -> None:
        self.parent: list[int] = []

    def add(self, count: int) -> int:
        start = len(self.parent)
        self.parent.extend(range(start, start + count))
        return start

    def find(self, item: int) -> int:
        parent = self.parent
        root = item
        while parent[root] != root:
            root = parent[root]
        while parent[item] != root:
            parent[item], item = root, parent[item]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclasses.dataclass
class LayerChannels:
    """Channel layouts of one (leaf) layer, merged over its call sites."""

    layer: keras.layers.Layer
    path: str
    input_layout: np.ndarray | None = None
    output_layout: np.ndarray | None = None
    slices: list[tuple[str, int, np.ndarray, str]] = dataclasses.field(default_factory=list)


class _Builder:
    def __init__(self, trace: trace_lib.Trace):
        self.trace = trace
        self.shapes = trace.shapes
        self.uf = _UnionFind()
        self.pinned: list[int] = []
        self.space_of_item: list[int] = []
        self.spaces: list[tuple[int, int]] = []  # (start, size)
        self._layer_spaces: dict[tuple[int, str], np.ndarray] = {}
        self.layers: dict[int, LayerChannels] = {}

    def space(self, size: int) -> np.ndarray:
        start = self.uf.add(size)
        self.space_of_item.extend([len(self.spaces)] * size)
        self.spaces.append((start, size))
        return np.arange(start, start + size, dtype=np.int64)

    def layer_space(self, layer, key, size):
        cache_key = (id(layer), key)
        if cache_key not in self._layer_spaces:
            self._layer_spaces[cache_key] = self.space(size)
        return self._layer_spaces[cache_key]

    def channels_of(self, site) -> LayerChannels:
        entry = self.layers.get(id(site.layer))
        if entry is None:
            entry = LayerChannels(site.layer, site.path)
            self.layers[id(site.layer)] = entry
        return entry

    def record_slice(self, ctx, name, axis, layout, role, optional):
        weights = {w.name: w for w in ctx.layer.weights}
        if name not in weights:
            if optional:
                return
            msg = f"Rule for `{ctx.path}` refers to weight `{name}`, which the layer does not have (it has {sorted(weights)})."
            raise errors.UnsupportedLayerError(msg)
        size = weights[name].shape[axis]
        if size != len(layout):
            if optional and size == 1:
                return
            msg = (
                f"Rule for `{ctx.path}`: weight `{name}` axis {axis} has {size} "
                f"entries but the traced channel layout has {len(layout)}."
            )
            raise errors.UnsupportedLayerError(msg)
        entry = self.channels_of(ctx.site)
        for other_name, other_axis, other_layout, _ in entry.slices:
            if other_name == name and other_axis % len(weights[name].shape) == axis % len(weights[name].shape):
                ctx.union(other_layout, layout)  # shared layer: calls are coupled
                return
        entry.slices.append((name, axis, layout, role))

    def run(self, exclude: set[str]) -> None:
        tensors: dict[Any, np.ndarray] = {}
        for tid in self.trace.inputs:
            layout = self.space(int(self.shapes[tid][-1]))
            self.pinned.extend(layout.tolist())
            tensors[tid] = layout
        for site in self.trace.sites:
            input_layouts = [tensors[t] for t in site.inputs]
            ctx = RuleContext(self, site, input_layouts)
            rule = rules_lib.find_rule(site.layer)
            excluded = ctx.layer.name in exclude or site.path in exclude
            if rule is not None and _composite_subclass(ctx.layer):
                if not excluded:
                    raise _composite_subclass_error(site.path, ctx.layer)
                rule = None  # excluded: opaque, every channel kept
            if rule is None:
                if not excluded:
                    raise _unknown_layer_error(site)
                outputs = rules_lib.PinRule().trace(ctx)
            else:
                outputs = rule.trace(ctx)
                if excluded:  # its own output channels (filters) are kept
                    for layout in outputs:
                        ctx.pin(layout)
            if len(outputs) != len(site.outputs):
                msg = f"Rule for `{site.path}` returned {len(outputs)} layouts for {len(site.outputs)} outputs."
                raise errors.UnsupportedLayerError(msg)
            for tid, layout in zip(site.outputs, outputs):
                shape = self.shapes.get(tid)
                if shape is not None and shape[-1] is not None and shape[-1] != len(layout):
                    msg = (
                        f"Rule for `{site.path}` ({type(site.layer).__name__}) produced "
                        f"{len(layout)} channels but the output has {shape[-1]}."
                    )
                    raise errors.UnsupportedLayerError(msg)
                tensors[tid] = layout
            entry = self.channels_of(site)
            if input_layouts:
                entry.input_layout = self._merge(ctx, entry.input_layout, input_layouts[0])
            entry.output_layout = self._merge(ctx, entry.output_layout, outputs[0])
        for tid in self.trace.outputs:
            self.pinned.extend(tensors[tid].tolist())

    @staticmethod
    def _merge(ctx, old, new):
        if old is None:
            return new
        if len(old) == len(new):
            ctx.union(old, new)
        return old


def _sublayer_weights(layer) -> list[str]:
    """Paths of weights ``layer`` holds through sub-layers of its own."""
    prefix = f"{getattr(layer, 'path', layer.name)}/"
    names = [w.name for w in layer.weights]
    nested = [
        w.path for w in layer.weights
        if w.path.startswith(prefix) and "/" in w.path[len(prefix):]
    ]
    if not nested and len(set(names)) != len(names):  # paths without the layer's scope
        nested = [w.path for w in layer.weights]
    return nested


def _composite_subclass(layer) -> bool:
    """A user subclass of a ruled Keras layer that adds sub-layers.

    E.g. a re-parameterisable conv: ``class RepConv(keras.layers.Conv2D)``
    with an extra branch used at training time. The inherited rule (Conv2D's)
    only knows the base class's weights and would slice the wrong ones.
    """
    if not isinstance(layer, keras.layers.Layer):
        return False
    base = rules_lib.matched_class(layer)
    if base is None or base is type(layer) or type(layer).__module__.startswith("keras."):
        return False
    return bool(_sublayer_weights(layer))


def _composite_subclass_error(path, layer) -> errors.UnsupportedLayerError:
    cls = type(layer)
    base = rules_lib.matched_class(layer)
    nested = _sublayer_weights(layer)
    msg = (
        f"Layer `{path}` ({cls.__module__}.{cls.__name__}) subclasses "
        f"{base.__name__}, whose channel rule only knows {base.__name__}'s own "
        f"weights, but it also holds sub-layers (weights {nested[:4]}), e.g. "
        "the training-time branch of a re-parameterisable conv; pruning it "
        "with that rule would slice the wrong weights. Exclude it (its "
        f"channels are then kept): `tfprune.prune(model, ..., exclude=[{layer.name!r}])`, "
        f"or register a rule for {cls.__name__} that records every weight "
        f"(`tfprune.graph.register_rule({cls.__name__}, rule)`, see "
        "tfprune.graph.rules), or fuse the branches first so it is a plain "
        f"{base.__name__}."
    )
    return errors.UnsupportedLayerError(msg)


def _unknown_layer_error(site) -> errors.UnsupportedLayerError:
    cls = type(site.layer)
    if not isinstance(site.layer, keras.layers.Layer):
        msg = (
            f"Operation `{site.path}` ({cls.__module__}.{cls.__name__}, a raw "
            "op called on a symbolic tensor, e.g. `keras.ops.*` or `x + y`) has "
            "no tfprune channel rule, so tfprune cannot tell how it maps "
            "channels. Either wrap it in a Keras layer that you exclude or "
            "register a rule for, or register a rule for its class: "
            "`tfprune.graph.register_rule(type(op), "
            "tfprune.graph.PassThroughRule())` for an element-wise op, where "
            f"`op` is the entry of `model.operations` named {site.layer.name!r} "
            "(see tfprune.graph.rules for the other rules)."
        )
        return errors.UnsupportedLayerError(msg)
    if len(site.outputs) > 1:
        msg = (
            f"Layer `{site.path}` of type {cls.__module__}.{cls.__name__} returns "
            f"{len(site.outputs)} tensors and has no tfprune channel rule, so "
            "tfprune cannot tell how it maps channels. Exclude it (its input "
            "and output channels are then kept): `tfprune.prune(model, ..., "
            f"exclude=[{site.layer.name!r}])`, or register a rule that returns "
            "one channel layout per output tensor (see tfprune.graph.rules)."
        )
        return errors.UnsupportedLayerError(msg)
    inner = _inner_layer_names(site.layer)
    if inner:
        shown = ", ".join(f"`{n}`" for n in inner[:4]) + (", ..." if len(inner) > 4 else "")
        msg = (
            f"Layer `{site.path}` of type {cls.__module__}.{cls.__name__} has no "
            "tfprune channel rule, and it is a composite layer: its weights "
            f"belong to {len(inner)} inner layers ({shown}) that tfprune cannot "
            "see inside. Exclude it (its input and output channels are then "
            "kept): `tfprune.prune(model, ..., "
            f"exclude=[{site.layer.name!r}])`, or build the block with the "
            "functional API (a Functional sub-model) so its inner layers are "
            "traced. A PassThroughRule would be wrong here: it would not slice "
            "the inner weights."
        )
        return errors.UnsupportedLayerError(msg)
    msg = (
        f"Layer `{site.path}` of type {cls.__module__}.{cls.__name__} has no "
        "tfprune channel rule, so tfprune cannot tell how it maps channels. "
        f"Either exclude it (its channels are then kept): "
        f"`tfprune.prune(model, ..., exclude=[{site.layer.name!r}])`, or "
        "register a rule: `tfprune.graph.register_rule("
        f"{cls.__name__}, tfprune.graph.PassThroughRule())` for an "
        "element-wise layer (see tfprune.graph.rules for the others)."
    )
    return errors.UnsupportedLayerError(msg)


def _inner_layer_names(layer: keras.layers.Layer) -> list[str]:
    """Inner layers owning weights of ``layer`` (from paths ``outer/inner/var``)."""
    names: list[str] = []
    for weight in layer.weights:
        parts = weight.path.split("/")
        if len(parts) > 2 and parts[-2] not in names:
            names.append(parts[-2])
    return names


class ChannelGraph:
    """Coupled channels of a model. Build it with :meth:`build`.

    Attributes:
        groups: the prunable :class:`ChannelGroup` objects, in model order.
        layers: per-layer :class:`LayerChannels`, keyed by layer path.
        num_units: total number of units (prunable or not).
    """

    def __init__(self, model, layers, unit_of_item, pinned_units, groups):
        self.model = model
        self.layers: dict[str, LayerChannels] = layers
        self._unit_of_item = unit_of_item
        self.pinned_units = pinned_units
        self.groups: list[ChannelGroup] = groups
        self.num_units = int(unit_of_item.max()) + 1 if len(unit_of_item) else 0
        self._group_by_id = {g.id: g for g in groups}

    @classmethod
    def build(cls, model: keras.Model, *, exclude: Iterable[str] = ()) -> ChannelGraph:
        """Trace ``model`` and group its coupled channels.

        Args:
            model: a built Functional or Sequential Keras model.
            exclude: names (or ``outer/inner`` paths) of layers whose output
                channels (filters) must be kept. An excluded layer that has no
                channel rule is opaque: its input channels are kept too.

        Raises:
            UnsupportedModelError: subclassed or unbuilt models.
            UnsupportedLayerError: a layer without a rule that is not excluded.
        """
        trace = trace_lib.trace_model(model)
        builder = _Builder(trace)
        exclude = set(exclude)
        builder.run(exclude)
        return cls._from_builder(model, builder)

    @classmethod
    def _from_builder(cls, model, builder):
        uf = builder.uf
        num_items = len(uf.parent)
        roots = np.array([uf.find(i) for i in range(num_items)], dtype=np.int64)
        _, unit_of_item = np.unique(roots, return_inverse=True)
        unit_of_item = unit_of_item.astype(np.int64)
        num_units = int(unit_of_item.max()) + 1 if num_items else 0
        pinned = np.zeros(num_units, dtype=bool)
        if builder.pinned:
            pinned[unit_of_item[np.array(builder.pinned, dtype=np.int64)]] = True
        # Spaces joined by any shared unit form one group.
        space_uf = _UnionFind()
        space_uf.add(len(builder.spaces))
        first_space_of_unit = np.full(num_units, -1, dtype=np.int64)
        for item, space in enumerate(builder.space_of_item):
            unit = unit_of_item[item]
            if first_space_of_unit[unit] < 0:
                first_space_of_unit[unit] = space
            else:
                space_uf.union(int(first_space_of_unit[unit]), space)
        layers = {entry.path: entry for entry in builder.layers.values()}
        # Units of each group, in order of first appearance.
        group_units: dict[int, list[int]] = {}
        seen = np.zeros(num_units, dtype=bool)
        for item in range(num_items):
            unit = unit_of_item[item]
            if seen[unit] or pinned[unit]:
                continue
            seen[unit] = True
            root = space_uf.find(builder.space_of_item[item])
            group_units.setdefault(root, []).append(int(unit))
        groups = []
        unit_group = np.full(num_units, -1, dtype=np.int64)
        for index, units in enumerate(group_units.values()):
            unit_group[np.array(units, dtype=np.int64)] = index
        members: dict[int, list[WeightSlice]] = {i: [] for i in range(len(group_units))}
        for entry in layers.values():
            for name, axis, layout, role in entry.slices:
                units = unit_of_item[layout]
                for g in np.unique(unit_group[units]):
                    if g >= 0:
                        members[int(g)].append(WeightSlice(entry.path, name, axis, role))
        for index, units in enumerate(group_units.values()):
            slices = tuple(members[index])
            owner = next((s.layer for s in slices if s.role == rules_lib.FILTER), None)
            if owner is None:
                owner = slices[0].layer if slices else f"group_{index}"
            groups.append(ChannelGroup(id=owner, units=tuple(units), members=slices))
        groups = _dedupe_ids(groups)
        return cls(model, layers, unit_of_item, pinned, groups)

    # Queries -----------------------------------------------------------------
    def units(self, layout: np.ndarray) -> np.ndarray:
        """Unit index of every position of a layout."""
        return self._unit_of_item[layout]

    def group(self, group_id: str) -> ChannelGroup:
        """The group with id ``group_id`` (the name of its first producer layer)."""
        try:
            return self._group_by_id[group_id]
        except KeyError:
            msg = f"No prunable channel group `{group_id}`. Groups: {sorted(self._group_by_id)}."
            raise errors.PruningArgumentError(msg) from None

    def groups_of_layer(self, path: str) -> list[ChannelGroup]:
        """Groups that have a slice in layer ``path``."""
        return [g for g in self.groups if any(m.layer == path for m in g.members)]

    def layer_paths(self) -> list[str]:
        """Paths of every traced leaf layer."""
        return list(self.layers)

    @functools.cached_property
    def unread_units(self) -> np.ndarray:
        """Flags of the units that no weight reads and no model output depends on.

        E.g. the channels a slice ``x[..., :k]`` drops: removing them changes
        no output. Every path from a channel ends in a weight that reads it
        (an ``input`` slice) or in a model output (pinned), so these are
        channels with no effect on any output. Methods rank them below
        every other unit (:func:`tfprune.methods.base.filter_scores`);
        otherwise a method could mask the live channels and keep the dead ones,
        which ``slim`` cannot remove when a tensor would be left empty.
        """
        read = self.pinned_units.copy()
        for entry in self.layers.values():
            for _, _, layout, role in entry.slices:
                if role == rules_lib.INPUT:
                    read[self._unit_of_item[layout]] = True
        return ~read

    def keep_mask(self, kept_units: np.ndarray, layout: np.ndarray | None) -> np.ndarray | None:
        """0/1 float mask over a layout, from a boolean array over all units."""
        if layout is None:
            return None
        return kept_units[self.units(layout)].astype("float32")


def _dedupe_ids(groups: list[ChannelGroup]) -> list[ChannelGroup]:
    counts: dict[str, int] = {}
    out = []
    for g in groups:
        n = counts.get(g.id, 0)
        counts[g.id] = n + 1
        out.append(g if n == 0 else dataclasses.replace(g, id=ChannelGroup.make_id(g.owner, n), index=n))
    return out
