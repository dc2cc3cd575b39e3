"""Find every call site of every layer of a model, with its tensor shapes.

Public Keras API only. The graph is read from `model.get_config()`: for a
Functional model it lists, for each operation, one entry per call of that
operation *within this model* (its "inbound nodes"), with the arguments of
the call, in which each input tensor is recorded as
``[producer name, node index, tensor index]``. Shapes are then propagated
from the model inputs with `operation.compute_output_spec(...)`, which
computes symbolic output shapes without adding nodes to the user's model.

Propagating (instead of reading the shapes recorded when the model was built)
lets a caller count at another input size, and gives the right shapes inside
a nested model built for unknown sizes (e.g. a backbone with
``input_shape=(None, None, 3)`` called on 224x224 images).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras

from tfprune import errors

Shape = tuple[int | None, ...]

_KERAS_TENSOR = "__keras_tensor__"
_TUPLE = "__tuple__"


@dataclasses.dataclass(frozen=True)
class CallSite:
    """One call of a layer in the traced graph.

    Attributes:
        name: The layer name, prefixed with the names of the nested models it
            sits in (``"backbone/conv1"``).
        layer: The layer object (a wrapper is not unwrapped).
        input_shapes: Shapes of the tensors passed to the call, flattened.
        output_shapes: Shapes of the tensors it returns, flattened.
    """

    name: str
    layer: keras.layers.Layer
    input_shapes: tuple[Shape, ...]
    output_shapes: tuple[Shape, ...]


def call_sites(
    model: keras.Model, input_shape: Any | None = None
) -> list[CallSite]:
    """Return every call site of every layer of `model`, in graph order.

    Nested Functional and Sequential models are entered (their layers are
    listed with a ``"model_name/"`` prefix, once per call of the nested
    model); the nested model itself is not listed.

    Args:
        model: A Functional or Sequential `keras.Model`.
        input_shape: Optional shape of one input sample, without the batch
            dimension (a tuple, or a list of tuples for a model with several
            inputs, in the order of `model.inputs`). Defaults to the shapes
            of the model's inputs.

    Returns:
        A list of `CallSite`.

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
    try:
        kind, config = _model_kind(model)
    except NotImplementedError as error:
        msg = (
            f"Could not trace model `{model.name}`: `get_config()` failed "
            f"({error}). tfprune reads the graph of Functional and Sequential "
            "models from their config, so every layer must implement "
            "`get_config()`."
        )
        raise errors.UnsupportedModelError(msg) from error
    if kind is None:
        msg = (
            f"Model `{model.name}` ({type(model).__name__}) is a subclassed "
            "model; only Functional and Sequential models can be traced. "
            "Build it with the Functional API or `keras.Sequential`."
        )
        raise errors.UnsupportedModelError(msg)
    inputs = _model_inputs(model, config)
    if input_shape is not None:
        inputs = _override_shapes(model, inputs, input_shape)
    sites: list[CallSite] = []
    _walk(model, kind, config, inputs, "", sites)
    return sites


def _model_kind(
    model: keras.layers.Layer,
) -> tuple[str | None, dict[str, Any] | None]:
    """Return ("sequential", None), ("functional", config) or (None, None).

    Raises NotImplementedError if `model.get_config()` does (a subclassed
    model without `get_config`, or a layer that cannot be serialized).
    """
    if isinstance(model, keras.Sequential):
        return "sequential", None
    if not isinstance(model, keras.Model):
        return None, None
    config = model.get_config()
    if isinstance(config, dict) and {
        "layers",
        "input_layers",
        "output_layers",
    } <= set(config):
        return "functional", config
    return None, None


def _model_inputs(
    model: keras.Model, config: dict[str, Any] | None
) -> list[Any]:
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
    if config is not None:
        # In the order of the config's `input_layers`, which `_walk` uses.
        operations = {op.name: op for op in model.operations}
        histories = _flatten_histories(config["input_layers"])
        return [operations[history[0]].output for history in histories]
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


def _walk(
    model: keras.Model,
    kind: str,
    config: dict[str, Any] | None,
    inputs: list[Any],
    prefix: str,
    sites: list[CallSite],
) -> None:
    """Propagate `inputs` through `model` and append its call sites."""
    if kind == "sequential":
        outputs: Any = inputs[0] if len(inputs) == 1 else inputs
        for layer in model.layers:
            outputs = _call(layer, (outputs,), {}, prefix, sites)
        return
    if config is None:  # pragma: no cover (a Functional kind has a config)
        msg = f"Model `{model.name}` has no Functional config."
        raise errors.UnsupportedModelError(msg)
    operations = {op.name: op for op in model.operations}
    input_histories = _flatten_histories(config["input_layers"])
    if len(inputs) != len(input_histories):
        msg = (
            f"Model `{model.name}` takes {len(input_histories)} input(s) but "
            f"is called with {len(inputs)} tensor(s)."
        )
        raise errors.UnsupportedModelError(msg)
    # Tensors by producer (layer name, node index, tensor index), the key of
    # the `keras_history` of the call arguments in the config.
    tensors = {
        tuple(history): tensor
        for history, tensor in zip(input_histories, inputs, strict=True)
    }
    pending = []
    for layer_config in config["layers"]:
        operation = operations[layer_config["name"]]
        if isinstance(operation, keras.layers.InputLayer):
            continue
        for node_index, node in enumerate(layer_config["inbound_nodes"]):
            if node:
                pending.append((operation, node_index, node))
    # A shared layer is listed once with all its calls, possibly before the
    # layers that feed its later calls: run the nodes as inputs get ready.
    while pending:
        waiting = []
        for operation, node_index, node in pending:
            if not all(h in tensors for h in _node_histories(node)):
                waiting.append((operation, node_index, node))
                continue
            args = _rebuild(node.get("args", []), tensors)
            kwargs = _rebuild(node.get("kwargs", {}), tensors)
            outputs = _call(operation, tuple(args), kwargs, prefix, sites)
            for tensor_index, tensor in enumerate(keras.tree.flatten(outputs)):
                tensors[(operation.name, node_index, tensor_index)] = tensor
        if len(waiting) == len(pending):
            names = sorted({operation.name for operation, _, _ in waiting})
            msg = (
                f"Could not trace model `{model.name}`: the inputs of layers "
                f"{names} are never computed."
            )
            raise errors.UnsupportedModelError(msg)
        pending = waiting


def _call(
    operation: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    prefix: str,
    sites: list[CallSite],
) -> Any:
    """Symbolically call `operation`; record it if it is a layer."""
    try:
        kind, config = _model_kind(operation)
    except NotImplementedError:
        # Not traceable: counted as a single opaque layer.
        kind, config = None, None
    if kind is not None:
        # Record the layers inside; the outputs come from Keras below. (The
        # `output_layers` of a Functional config are not used: their node
        # indices of nested Functional models are offset by one.)
        inputs = keras.tree.flatten(args[0]) if args else []
        _walk(
            operation, kind, config, inputs, f"{prefix}{operation.name}/", sites
        )
    try:
        outputs = operation.compute_output_spec(*args, **kwargs)
    except Exception as error:
        shapes = [_shape(t) for t in _tensors(args)]
        msg = (
            f"Could not compute the output shape of layer "
            f"`{prefix}{operation.name}` ({type(operation).__name__}) for "
            f"input shapes {shapes}: {error}"
        )
        raise errors.UnsupportedModelError(msg) from error
    if kind is None and isinstance(operation, keras.layers.Layer):
        sites.append(
            CallSite(
                name=f"{prefix}{operation.name}",
                layer=operation,
                input_shapes=tuple(_shape(t) for t in _tensors((args, kwargs))),
                output_shapes=tuple(_shape(t) for t in _tensors(outputs)),
            )
        )
    return outputs


def _tensors(structure: Any) -> list[Any]:
    return [
        x
        for x in keras.tree.flatten(structure)
        if isinstance(x, keras.KerasTensor)
    ]


def _shape(tensor: Any) -> Shape:
    return tuple(None if dim is None else int(dim) for dim in tensor.shape)


def _is_history(value: object) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == 3
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and isinstance(value[2], int)
    )


def _flatten_histories(structure: Any) -> list[tuple[str, int, int]]:
    """Flatten the `input_layers` of a Functional config.

    Dicts are flattened in sorted key order, as `keras.tree.flatten` does.
    """
    if _is_history(structure):
        return [tuple(structure)]
    if isinstance(structure, dict):
        return [
            h
            for key in sorted(structure)
            for h in _flatten_histories(structure[key])
        ]
    return [h for item in structure for h in _flatten_histories(item)]


def _node_histories(node: Any) -> list[tuple[Any, ...]]:
    """The ``(layer, node, tensor)`` producer of every tensor of a node."""
    if isinstance(node, (list, tuple)):
        return [h for item in node for h in _node_histories(item)]
    if isinstance(node, dict):
        if node.get("class_name") == _KERAS_TENSOR:
            return [tuple(node["config"]["keras_history"])]
        return [h for value in node.values() for h in _node_histories(value)]
    return []


def _rebuild(value: Any, tensors: dict[tuple[Any, ...], Any]) -> Any:
    """Rebuild serialized call arguments, with `tensors` for the inputs."""
    if isinstance(value, (list, tuple)):
        return type(value)(_rebuild(item, tensors) for item in value)
    if isinstance(value, dict):
        class_name = value.get("class_name")
        if class_name == _KERAS_TENSOR:
            return tensors[tuple(value["config"]["keras_history"])]
        if class_name == _TUPLE:
            return tuple(
                _rebuild(item, tensors) for item in value["config"]["value"]
            )
        if class_name is not None and "config" in value:
            return keras.saving.deserialize_keras_object(value)
        return {key: _rebuild(item, tensors) for key, item in value.items()}
    return value
