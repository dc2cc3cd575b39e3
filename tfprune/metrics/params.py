"""Count the parameters of a model, leaving out pruning state."""

from __future__ import annotations

import math
from collections.abc import Iterator

import keras

from tfprune import errors


def count_params(model: keras.layers.Layer) -> int:
    """Return the number of parameters of `model`.

    Every weight counts, trainable or not (so BatchNormalization's moving
    mean and variance count, as in `model.count_params()`); a variable shared
    by several layers counts once. For a layer wrapped in a
    `keras.layers.Wrapper` (such as tfprune's `PruningWrapper`), only the
    weights of the wrapped layer count: the wrapper's own variables (channel
    masks, pruning step, ...) are pruning state, not model parameters. So a
    pruned model has the parameter count of the model it wraps; to count the
    parameters of a pruned model after slimming, slim it first.

    Args:
        model: A built `keras.Model` (or any built Keras layer).

    Returns:
        The number of scalar parameters, a Python int.

    Raises:
        PruningArgumentError: If `model` is not a Keras layer, or is not
            built.

    Example:

    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> count_params(model)
    15
    """
    if not isinstance(model, keras.layers.Layer):
        msg = (
            "Argument `model` must be a Keras 3 model or layer. "
            f"Received: model of type {type(model).__name__}."
        )
        raise errors.PruningArgumentError(msg)
    if not model.built:
        msg = (
            f"Model `{model.name}` is not built, so it has no weights yet. "
            "Call `model.build(input_shape)` or call it on data first."
        )
        raise errors.PruningArgumentError(msg)
    return sum(int(math.prod(v.shape)) for v in parameter_variables(model))


def parameter_variables(model: keras.layers.Layer) -> list:
    """The variables `count_params` counts: each once, without pruning state."""
    state: set[int] = set()
    for wrapper in _wrappers(model):
        inner = {id(variable) for variable in wrapper.layer.weights}
        state.update(id(v) for v in wrapper.weights if id(v) not in inner)
    seen: set[int] = set()
    out = []
    for variable in model.weights:
        if id(variable) in seen or id(variable) in state:
            continue
        seen.add(id(variable))
        out.append(variable)
    return out


def _wrappers(layer: keras.layers.Layer) -> Iterator[keras.layers.Wrapper]:
    """Yield every `keras.layers.Wrapper` in `layer`, nested models included."""
    if isinstance(layer, keras.layers.Wrapper):
        yield layer
        yield from _wrappers(layer.layer)
    elif isinstance(layer, keras.Model):
        for child in layer.layers:
            yield from _wrappers(child)
