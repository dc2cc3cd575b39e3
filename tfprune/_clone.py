"""Rebuild a model layer by layer, keeping its structure and its weights.

``keras.models.clone_model(recursive=True)`` rewires Functional/Sequential
models (nested and shared layers included) around new layers; this module adds
what it leaves out: copying (and transforming) the weights of each layer.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from tfprune.graph.trace import functional_view


def rebuild(
    model: keras.Model,
    make_layer: Callable[[keras.layers.Layer], keras.layers.Layer],
    set_weights: Callable[[keras.layers.Layer, keras.layers.Layer], None],
) -> keras.Model:
    """Clone ``model`` with ``make_layer`` then call ``set_weights(old, new)``.

    ``make_layer(old)`` returns an *unbuilt* replacement of a leaf layer; once
    the new model is built, ``set_weights(old, new)`` fills it. The input model
    is never modified. A functional subclass (a ``keras.Model`` subclass built
    with the functional API in ``__init__``, e.g. a keras-hub backbone) is
    rebuilt as a plain Functional ``keras.Model`` with the same layer graph:
    its class, ``call`` override and ``get_config`` are not kept.
    """
    view = functional_view(model)
    if view is not None and type(view) is not type(model):
        model = view  # a functional subclass: clone its plain graph
    pairs: list[tuple[keras.layers.Layer, keras.layers.Layer]] = []

    def clone_function(layer):
        new = make_layer(layer)
        pairs.append((layer, new))
        return new

    new_model = keras.models.clone_model(model, clone_function=clone_function, recursive=True)
    for old, new in pairs:
        set_weights(old, new)
    return new_model


def fresh_copy(layer: keras.layers.Layer) -> keras.layers.Layer:
    """An unbuilt layer with the same config (and name) as ``layer``."""
    return layer.__class__.from_config(layer.get_config())


def copy_weights(old: keras.layers.Layer, new: keras.layers.Layer) -> None:
    """Copy every weight of ``old`` into ``new`` (same shapes).

    Raw ops in a Functional graph (``x + 3`` on symbolic tensors) have none.
    """
    if not isinstance(old, keras.layers.Layer):
        return
    values = old.get_weights()
    if values:
        new.set_weights([np.array(v) for v in values])
