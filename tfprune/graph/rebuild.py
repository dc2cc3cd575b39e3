"""Rebuild a model from new layers: the one place tfprune re-creates a model.

Two ways, for two jobs:

* :func:`rebuild_flat` replays the traced call sites (:func:`trace_model`)
  on new tensors and returns one flat Functional model. Nested sub-models are
  inlined, so channels can change across sub-model boundaries, and a hook can
  replace a call by any sub-graph (or by nothing). ``slim`` uses it to create
  narrower layers, LRF to insert and merge its ``P``/``Q`` 1x1 convs.
* :func:`clone` keeps the model's structure: a Sequential model stays
  Sequential, a nested sub-model stays one layer of its parent (so
  ``pruned.get_layer("backbone")`` still works), and a shared layer stays one
  object. ``prune`` and ``strip_pruning`` use it: they only swap leaf layers
  one for one (a wrapper for a layer, or the reverse), never change shapes,
  and must hand back a model that reads like the user's.

Both create layers with ``from_config`` and fill them with the old weights
once the new model is built. Building a layer runs its initializers, which
for a large model is a good part of the rebuild time while every value is
then overwritten, so both build inside :func:`quick_build`: with zero
initializers, then the configured ones are put back (the layer's config and
any later ``build`` of a copy are unchanged). On ResNet50 this cut the CPU
time of ``prune`` by about a fifth (``benchmarks/rebuild_init.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np

from tfprune.graph.trace import CallSite, call_arguments, flatten_outputs, functional_view, trace_model

Layer = keras.layers.Layer
#: ``make_layer(site, name) -> (layer, recorded_args)``: the unbuilt layer that
#: takes ``site.layer``'s place and the recorded arguments to call it with.
MakeLayer = Callable[[CallSite, str], tuple[Layer, Any]]
#: ``replace(site, args, kwargs) -> outputs | None``: outputs for the call at
#: ``site`` computed from the new tensors, or None for the default.
Replace = Callable[[CallSite, tuple, dict], Any]


def fresh_copy(layer: Layer) -> Layer:
    """An unbuilt layer with the same config (and name) as ``layer``."""
    return layer.__class__.from_config(layer.get_config())


def copy_weights(old: Layer, new: Layer) -> None:
    """Copy every weight of ``old`` into ``new`` (same shapes).

    Raw ops in a Functional graph (``x + 3`` on symbolic tensors) have none.
    """
    if not isinstance(old, Layer):
        return
    values = old.get_weights()
    if values:
        new.set_weights([np.array(v) for v in values])


def copy_layer(site: CallSite, name: str) -> tuple[Layer, Any]:
    """The default :data:`MakeLayer`: a fresh copy named ``name``."""
    layer = site.layer
    config = layer.get_config()
    if config.get("name") != name:
        config = {**config, "name": name}
    return layer.__class__.from_config(config), site.args


def rebuild_flat(
    model: keras.Model,
    make_layer: MakeLayer = copy_layer,
    set_weights: Callable[[Layer, Layer], None] = copy_weights,
    replace: Replace | None = None,
) -> keras.Model:
    """Re-create ``model`` as a flat Functional model of new layers.

    Every call site of the trace is replayed in order on the new tensors:

    * ``replace(site, args, kwargs)``, if given, is asked first with the
      call's new arguments. If it returns outputs (new layers it created
      and called, or one of ``args`` to drop the call), they stand for the
      site's outputs; the hook fills the weights of the layers it made once
      this function returns (the model is built then).
    * Otherwise ``make_layer(site, new_name)`` returns an unbuilt layer for
      ``site.layer`` and the recorded arguments to call it with (usually
      ``site.args``; a raw op that indexes channel positions gets new ones).
      A shared layer is made once (later calls keep their own recorded
      arguments). ``new_name`` is the layer's name, or its sub-model path
      when an inlined sub-model's layer clashes with another name. Once the
      model is built, ``set_weights(old, new)`` fills it.

    Inputs, outputs and their structure (a dict of named inputs, as keras-hub
    backbones have) are kept. The input model is not modified.
    """
    trace = trace_model(model)
    tensors: dict[Any, Any] = {}
    inputs = []
    for tid, tensor in zip(trace.inputs, model.inputs, strict=True):
        new_input = keras.Input(batch_shape=tuple(tensor.shape), dtype=tensor.dtype, name=_input_name(tensor))
        tensors[tid] = new_input
        inputs.append(new_input)
    created: dict[int, Layer] = {}
    used_names = {t.name for t in inputs}
    pairs = []
    with quick_build() as made:
        for site in trace.sites:
            output = None
            if replace is not None:
                args, kwargs = call_arguments(site, tensors)
                output = replace(site, args, kwargs)
            if output is None:
                new = created.get(id(site.layer))
                recorded = site.args
                if new is None:
                    new, recorded = make_layer(site, _claim_name(site, used_names))
                    made(new)
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
    slimmed from. (Layers that a ``replace`` hook creates are not listed.)
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


def clone(
    model: keras.Model,
    make_layer: Callable[[Layer], Layer],
    set_weights: Callable[[Layer, Layer], None],
) -> keras.Model:
    """Clone ``model`` keeping its structure, then call ``set_weights(old, new)``.

    ``make_layer(old)`` returns an *unbuilt* replacement of a leaf layer
    (``keras.models.clone_model(recursive=True)`` rewires Functional and
    Sequential models, nested and shared layers included, around it); once
    the new model is built, ``set_weights(old, new)`` fills it. The input
    model is never modified. A functional subclass (a ``keras.Model``
    subclass built with the functional API in ``__init__``, e.g. a keras-hub
    backbone) is rebuilt as a plain Functional ``keras.Model`` with the same
    layer graph: its class, ``call`` override and ``get_config`` are not kept.
    See the module docstring for when to use :func:`rebuild_flat` instead.
    """
    view = functional_view(model)
    if view is not None and type(view) is not type(model):
        model = view  # a functional subclass: clone its plain graph
    pairs: list[tuple[Layer, Layer]] = []

    with quick_build() as made:
        def clone_function(layer):
            new = make_layer(layer)
            made(new)
            pairs.append((layer, new))
            return new

        new_model = keras.models.clone_model(model, clone_function=clone_function, recursive=True)
    for old, new in pairs:
        set_weights(old, new)
    return new_model


@contextmanager
def quick_build() -> Iterator[Callable[[Layer], None]]:
    """Build the layers passed to the yielded function with zero initializers.

    Inside the block, ``made(layer)`` swaps every ``*_initializer`` attribute
    of an unbuilt built-in Keras ``layer`` (and of an unbuilt layer a wrapper
    holds in ``.layer``) that its config also names for ``"zeros"``; on exit
    the configured initializers are put back, whether or not the layer was
    built.
    Only for layers whose every weight is then assigned: the values the
    zeros stand for are never seen. ``zeros`` is a constant fill, where a
    random initializer draws numbers (``glorot_uniform`` on ResNet50's 25 M
    weights).
    """
    swapped: list[tuple[Layer, str, Any]] = []

    def made(layer: Layer) -> None:
        for target in _unbuilt_layers(layer):
            for attr in _initializer_attrs(target):
                swapped.append((target, attr, getattr(target, attr)))
                setattr(target, attr, _ZEROS)

    try:
        yield made
    finally:
        for target, attr, value in reversed(swapped):
            setattr(target, attr, value)


_ZEROS = keras.initializers.Zeros()


def _unbuilt_layers(layer: Any) -> Iterator[Layer]:
    while isinstance(layer, Layer) and not layer.built:
        yield layer
        layer = getattr(layer, "layer", None)  # e.g. PruningWrapper, keras.layers.Wrapper


def _initializer_attrs(layer: Layer) -> list[str]:
    """``*_initializer`` keys of ``layer``'s config held as plain attributes.

    Only built-in Keras layers (a subclass may build differently), and only
    attributes in the instance dict (not a property such as an RNN layer's
    ``kernel_initializer``, which reads its cell's).
    """
    if not type(layer).__module__.startswith("keras."):
        return []
    try:
        config = layer.get_config()
    except Exception:  # a layer without a usable config: leave it alone
        return []
    attrs = vars(layer)
    return [
        key for key in config
        if key.endswith("_initializer") and isinstance(attrs.get(key), keras.initializers.Initializer)
    ]


def _structured(model: keras.Model, attr: str, flat: list[Any]) -> Any:
    """``flat`` (in ``keras.tree.flatten`` order) in ``model.<attr>``'s structure.

    Named inputs/outputs (a dict, as keras-hub backbones have) keep their
    keys, so the rebuilt model is called and read like the original; a list
    or a single tensor is returned as before.
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
