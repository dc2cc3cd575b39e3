"""The call sites of a model with the shapes of its tensors, for counting.

The call sites come from :func:`tfprune.graph.trace_model` (the one tracer of
the package, public Keras API only). Shapes are then propagated from the
model inputs with `operation.compute_output_spec(...)`, which computes
symbolic output shapes without adding nodes to the user's model.

Propagating (instead of reading the shapes recorded when the model was built)
lets a caller count at another input size, and gives the right shapes inside
a nested model built for unknown sizes (e.g. a backbone with
``input_shape=(None, None, 3)`` called on 224x224 images).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import keras

from tfprune import errors
from tfprune.graph import trace as trace_lib

Shape = tuple[int | None, ...]


def shaped_trace(model: keras.Model, input_shape: Any | None = None) -> trace_lib.Trace:
    """Trace `model` and propagate the shapes of every tensor from its inputs.

    Nested Functional and Sequential models are entered (their layers'
    ``site.path`` carries a ``"model_name/"`` prefix, once per call of the
    nested model); the nested model itself is not a call site.

    Args:
        model: A Functional or Sequential `keras.Model`.
        input_shape: Optional shape of one input sample, without the batch
            dimension (a tuple, or a list of tuples for a model with several
            inputs, in the order of `model.inputs`). Defaults to the shapes
            of the model's inputs.

    Returns:
        The :class:`tfprune.graph.trace.Trace` of `model` (its call sites, in
        graph order), whose ``shapes`` hold the propagated shape of every
        tensor that a call site reads or returns.

    Raises:
        UnsupportedModelError: If the model is not Functional or Sequential,
            or is not built.
        PruningArgumentError: If `input_shape` does not fit the model.
    """
    if not isinstance(model, keras.Model):
        msg = (
            "Argument `model` must be a Keras 3 `keras.Model`. "
            f"Received: model of type {type(model).__name__}."
        )
        raise errors.PruningArgumentError(msg)
    trace = trace_lib.trace_model(model)
    inputs = _model_inputs(model)
    if input_shape is not None:
        inputs = _override_shapes(model, inputs, input_shape)
    tensors = dict(zip(trace.inputs, inputs, strict=True))
    for site in trace.sites:
        args, kwargs = trace_lib.call_arguments(site, tensors)
        try:
            outputs = site.layer.compute_output_spec(*args, **kwargs)
        except Exception as error:
            shapes = [_shape(tensors[t]) for t in site.inputs]
            msg = (
                f"Could not compute the output shape of layer `{site.path}` "
                f"({type(site.layer).__name__}) for input shapes {shapes}: "
                f"{error}"
            )
            raise errors.UnsupportedModelError(msg) from error
        flat = [
            t
            for t in trace_lib.flatten_outputs(outputs)
            if isinstance(t, keras.KerasTensor)
        ]
        tensors.update(zip(site.outputs, flat))
    shapes = {tid: _shape(tensor) for tid, tensor in tensors.items()}
    return dataclasses.replace(trace, shapes=shapes)


def layer_shapes(
    model: keras.Model, input_shape: Any | None = None
) -> Iterator[tuple[trace_lib.CallSite, Shape, Shape]]:
    """``(site, input shape, output shape)`` of every layer call of `model`.

    The shapes are those of the first input and the first output of the call
    (see :func:`shaped_trace` for the arguments), in graph order. Raw ops
    (``x + y``) are skipped: they are not layers and count nothing.
    """
    trace = shaped_trace(model, input_shape)
    for site in trace.sites:
        if not isinstance(site.layer, keras.layers.Layer):
            continue
        if not site.inputs or not site.outputs:
            continue
        output_shape = trace.shapes.get(site.outputs[0])
        if output_shape is not None:
            yield site, trace.shapes[site.inputs[0]], output_shape


def _model_inputs(model: keras.Model) -> list[Any]:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        msg = (
            f"Model `{model.name}` is not built, so its graph is unknown. "
            "Call `model.build(input_shape)` (or call it on data), or start "
            "the Sequential model with `keras.Input(shape)`."
        )
        raise errors.UnsupportedModelError(msg)
    return list(inputs)


def _override_shapes(
    model: keras.Model, inputs: list[Any], input_shape: Any
) -> list[Any]:
    shapes = (
        [input_shape]
        if _is_shape(input_shape)
        else list(input_shape)
        if isinstance(input_shape, Sequence)
        else None
    )
    if shapes is None or not all(_is_shape(shape) for shape in shapes):
        msg = (
            "Argument `input_shape` must be the shape of one sample without "
            "the batch dimension, e.g. (224, 224, 3), or a list of such "
            "shapes for a model with several inputs. "
            f"Received: input_shape={input_shape!r}."
        )
        raise errors.PruningArgumentError(msg)
    expected = [tuple(tensor.shape[1:]) for tensor in inputs]
    if [len(shape) for shape in shapes] != [len(old) for old in expected]:
        msg = (
            f"Argument `input_shape` does not fit model `{model.name}`, whose "
            f"inputs have shapes {expected} (without the batch dimension). "
            f"Received: input_shape={input_shape!r}."
        )
        raise errors.PruningArgumentError(msg)
    return [
        keras.KerasTensor((None, *shape), dtype=tensor.dtype)
        for shape, tensor in zip(shapes, inputs, strict=True)
    ]


def _is_shape(value: object) -> bool:
    return isinstance(value, (tuple, list)) and all(
        dim is None or (isinstance(dim, int) and not isinstance(dim, bool))
        for dim in value
    )


def _shape(tensor: Any) -> Shape:
    return tuple(None if dim is None else int(dim) for dim in tensor.shape)
