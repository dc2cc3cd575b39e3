"""Rebuild a traced model as one flat Functional model.

Nested sub-models are inlined (their layers become layers of the new model, a
name that clashes gets its sub-model path as prefix), so channels can change
across sub-model boundaries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import keras

from tfprune.graph.trace import CallSite, call_arguments, flatten_outputs, trace_model


def rebuild_flat(
    model: keras.Model,
    make_layer: Callable[[CallSite, str], tuple[keras.layers.Layer, Any]],
    set_weights: Callable[[keras.layers.Layer, keras.layers.Layer], None],
) -> keras.Model:
    """Re-create ``model`` as a flat Functional model of new layers.

    ``make_layer(site, new_name)`` returns an unbuilt layer for
    ``site.layer`` and the recorded arguments to call it with at ``site``
    (usually ``site.args``; a raw op that indexes channel positions gets new
    ones); ``set_weights(old, new)`` fills it once the model is built. Shared
    layers are created once (later calls keep their recorded arguments).
    """
    trace = trace_model(model)
    tensors: dict[Any, Any] = {}
    inputs = []
    for tid, tensor in zip(trace.inputs, model.inputs, strict=True):
        new_input = keras.Input(batch_shape=tuple(tensor.shape), dtype=tensor.dtype, name=_input_name(tensor))
        tensors[tid] = new_input
        inputs.append(new_input)
    created: dict[int, keras.layers.Layer] = {}
    used_names = {t.name for t in inputs}
    pairs = []
    for site in trace.sites:
        new = created.get(id(site.layer))
        recorded = site.args
        if new is None:
            new, recorded = make_layer(site, _claim_name(site, used_names))
            created[id(site.layer)] = new
            pairs.append((site.layer, new))
        args, kwargs = call_arguments(dataclasses.replace(site, args=recorded), tensors)
        output = new(*args, **kwargs)
        for tid, tensor in zip(site.outputs, flatten_outputs(output), strict=True):
            tensors[tid] = tensor
    outputs = [tensors[t] for t in trace.outputs]
    new_model = keras.Model(
        _structured(model, "input", inputs), _structured(model, "output", outputs),
        name=model.name,
    )
    for old, new in pairs:
        set_weights(old, new)
    return new_model


def _claim_name(site: CallSite, used_names: set[str]) -> str:
    """The name of ``site``'s layer in the flat model (its own, unless taken)."""
    name = site.layer.name
    if name in used_names:
        name = site.path.replace("/", "_")
    used_names.add(name)
    return name


def flat_names(model: keras.Model) -> dict[str, str]:
    """``{layer path in model: layer name in rebuild_flat(model, ...)}``.

    E.g. a layer ``conv`` of a nested model ``block`` (path ``block/conv``) is
    ``conv`` in the flat model, or ``block_conv`` if another layer is named
    ``conv``. Lets a report match a slim model's layers with the model it was
    slimmed from.
    """
    trace = trace_model(model)
    used_names = {name for t in model.inputs if (name := _input_name(t))}
    names: dict[str, str] = {}
    seen: set[int] = set()
    for site in trace.sites:
        if id(site.layer) not in seen:
            seen.add(id(site.layer))
            names[site.path] = _claim_name(site, used_names)
    return names


def _structured(model: keras.Model, attr: str, flat: list[Any]) -> Any:
    """``flat`` (in ``keras.tree.flatten`` order) in ``model.<attr>``'s structure.

    Named inputs/outputs (a dict, as keras-hub backbones have) keep their
    keys, so the slim model is called and read like the original; a list or a
    single tensor is returned as before.
    """
    try:
        structure = getattr(model, attr)
    except (AttributeError, ValueError):  # e.g. a Sequential built without Input
        structure = None
    if isinstance(structure, dict):
        return keras.tree.pack_sequence_as(structure, flat)
    return flat if len(flat) > 1 else flat[0]


def _input_name(tensor) -> str | None:
    name = getattr(tensor, "name", None)
    return name if isinstance(name, str) and name else None
