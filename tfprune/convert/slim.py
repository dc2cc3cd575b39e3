"""``strip_pruning`` and ``slim``: from a masked model to a plain one."""

from __future__ import annotations

import keras
import numpy as np

from tfprune import errors
from tfprune.convert.plan import PrunePlan
from tfprune.graph import ChannelGraph, find_rule
from tfprune.graph.rebuild import clone, copy_weights, fresh_copy, rebuild_flat
from tfprune.layers import PruningWrapper, find_wrappers
from tfprune.pruner import Pruner


def _unwrap(layer: keras.layers.Layer) -> keras.layers.Layer:
    return layer.layer if isinstance(layer, PruningWrapper) else layer


def _weight_values(layer) -> list[np.ndarray]:
    """Weights of a layer as arrays; a raw op (``x + y``) has none."""
    if not isinstance(layer, keras.layers.Layer):
        return []
    return [np.array(v) for v in layer.get_weights()]


def _zero_pruned(value: np.ndarray, axis: int, mask: np.ndarray) -> np.ndarray:
    """``value`` with the slices along ``axis`` where ``mask`` is 0 zeroed."""
    shape = [1] * value.ndim
    shape[axis] = -1
    return value * mask.reshape(shape).astype(value.dtype)


def _weight_values_masked(old: keras.layers.Layer) -> list[np.ndarray]:
    """Weights of ``old`` (unwrapped), with a wrapper's ``kernel_mask`` baked in.

    Column/weight granularity (see :class:`PruningWrapper`) masks the kernel
    itself; the zeros become ordinary zero weights of the plain model.
    """
    inner = _unwrap(old)
    values = _weight_values(inner)
    mask = getattr(old, "kernel_mask", None) if isinstance(old, PruningWrapper) else None
    if mask is not None and values:
        index = next(i for i, w in enumerate(inner.weights) if w is inner.kernel)
        values[index] = values[index] * np.asarray(keras.ops.convert_to_numpy(mask), dtype=values[index].dtype)
    return values


def _graph_and_keep(model: keras.Model, plan: PrunePlan | None) -> tuple[ChannelGraph, np.ndarray]:
    if find_wrappers(model):
        pruner = Pruner(model)
        graph = pruner.graph
        keep = pruner.keep if plan is None else plan.keep_array(graph)
        return graph, keep
    if plan is None:
        msg = (
            f"Model `{model.name}` has no PruningWrapper layers and no plan was "
            "given, so there is nothing to remove. Pass the model returned by "
            "tfprune.prune (after training), or a PrunePlan: "
            "`tfprune.slim(model, plan)`."
        )
        raise errors.PruningArgumentError(msg)
    graph = ChannelGraph.build(model, exclude=plan.exclude)
    return graph, plan.keep_array(graph)


def make_plan(model: keras.Model) -> PrunePlan:
    """The :class:`PrunePlan` of a pruned (wrapped) model's current masks."""
    if not find_wrappers(model):
        msg = f"Model `{model.name}` has no PruningWrapper layers; make it with tfprune.prune."
        raise errors.PruningArgumentError(msg)
    pruner = Pruner(model)
    return PrunePlan.from_keep(pruner.graph, pruner.keep, pruner.exclude)


def _entries_by_id(graph: ChannelGraph):
    return {id(entry.layer): entry for entry in graph.layers.values()}


def strip_pruning(model: keras.Model) -> keras.Model:
    """Remove the wrappers; masked channels are baked in as zero weights.

    The result has the same layer shapes as the input model and no tfprune
    layers, so it loads without tfprune. Its outputs equal the masked model's.
    Column/weight masks (``kernel_mask``) are baked in as zero weights too.
    The input model is not modified. The returned model is not compiled.
    """
    if not find_wrappers(model):
        return clone(model, fresh_copy, copy_weights)
    graph, keep = _graph_and_keep(model, None)
    entries = _entries_by_id(graph)

    def make_layer(layer):
        return fresh_copy(_unwrap(layer))

    def set_weights(old, new):
        inner = _unwrap(old)
        values = _weight_values_masked(old)
        entry = entries.get(id(old))
        if entry is not None and values:
            index = {w.name: i for i, w in enumerate(inner.weights)}
            for name, axis, layout, _ in entry.slices:
                values[index[name]] = _zero_pruned(values[index[name]], axis, graph.keep_mask(keep, layout))
        if values:
            new.set_weights(values)

    return clone(model, make_layer, set_weights)


def _never_empty(graph: ChannelGraph, keep: np.ndarray) -> np.ndarray:
    """Keep flags for ``slim``: no layer is left with zero channels.

    A group can span several layers (e.g. the branches of a Concatenate that
    feeds a residual merge, as in InceptionResNetV2), so a method may prune
    every channel of one layer; Keras cannot build ``Conv2D(filters=0)``. One
    channel of such a tensor is then kept in the slim model with all its
    weight slices zeroed (exactly what ``strip_pruning`` computes for it), so
    the outputs are unchanged.
    """
    keep = keep.copy()
    for entry in graph.layers.values():
        for layout in (entry.input_layout, entry.output_layout):
            if layout is None or len(layout) == 0:
                continue
            units = graph.units(layout)
            if not keep[units].any():
                keep[units[0]] = True
    return keep


def slim(model: keras.Model, plan: PrunePlan | None = None) -> keras.Model:
    """Rebuild ``model`` without its pruned channels.

    Every weight slice of a removed channel is deleted (filters, biases,
    BatchNorm entries, the input rows of every consumer, Flatten->Dense rows),
    so the result is a smaller plain Functional Keras model whose outputs
    equal the masked model's (``strip_pruning(model)``) up to float round-off.
    Nested sub-models are inlined. The result loads without tfprune. A layer
    whose channels are *all* pruned (possible when its group spans several
    layers) keeps one all-zero channel, since Keras layers cannot have width 0.

    Args:
        model: a model returned by :func:`tfprune.prune` (its masks decide), or
            any model when ``plan`` is given.
        plan: a :class:`PrunePlan` (e.g. ``tfprune.make_plan(pruned)``) to
            apply instead of the masks, e.g. to the original unpruned model.

    Returns:
        A new, **uncompiled** model: compile it before training (an optimizer
        built for the old model refers to the old variables).
    """
    graph, keep = _graph_and_keep(model, plan)
    entries = _entries_by_id(graph)
    slim_keep = _never_empty(graph, keep)

    def kept(layout):
        return None if layout is None else int(graph.keep_mask(slim_keep, layout).sum())

    def make_layer(site, name):
        layer = site.layer
        inner = _unwrap(layer)
        config = dict(inner.get_config())
        config["name"] = name
        entry = entries.get(id(layer))
        rule = find_rule(inner)
        args = site.args
        if entry is not None and rule is not None:
            config = rule.slim_config(config, kept(entry.input_layout), kept(entry.output_layout))
            if entry.input_layout is not None and not isinstance(inner, keras.layers.Layer):
                # A raw op (one call site) may index channel positions.
                input_keep = graph.keep_mask(slim_keep, entry.input_layout) > 0.5
                config, args = rule.slim_call(config, args, input_keep)
        return inner.__class__.from_config(config), args

    def set_weights(old, new):
        inner = _unwrap(old)
        values = _weight_values_masked(old)
        if not values:
            return
        entry = entries.get(id(old))
        if entry is not None:
            index = {w.name: i for i, w in enumerate(inner.weights)}
            for name, axis, layout, _ in entry.slices:
                # Zero the pruned slices first (as strip_pruning does): a
                # channel kept only by _never_empty must stay all-zero.
                value = _zero_pruned(values[index[name]], axis, graph.keep_mask(keep, layout))
                flags = graph.keep_mask(slim_keep, layout) > 0.5
                values[index[name]] = np.compress(flags, value, axis=axis)
        new.set_weights(values)

    return rebuild_flat(model, make_layer, set_weights)
