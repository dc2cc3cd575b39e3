"""Trace a Keras model into a flat list of layer call sites.

Only the public Keras API is used: a Functional model is read from its
``get_config()`` (which records, for every call of every layer, the tensors it
received and their shapes), a Sequential model from ``model.layers``. Nested
Functional/Sequential sub-models are inlined, so every call site refers to a
leaf layer; a layer shared between call sites appears once per call.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Iterator
from typing import Any

import keras

from tfprune import errors

# A tensor is identified by (scope, producing layer name, node index, tensor
# index); scope is the tuple of enclosing sub-model call ids.
TensorId = tuple[Any, ...]


@dataclasses.dataclass
class CallSite:
    """One call of a leaf layer inside a (possibly nested) model.

    ``layer`` is a ``keras.layers.Layer`` or, for raw ops called on symbolic
    tensors (``x + y``, ``keras.ops.relu(x)``), a ``keras.Operation``.
    """

    layer: keras.layers.Layer | keras.Operation
    path: str
    inputs: list[TensorId]
    outputs: list[TensorId]
    args: Any = None
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Trace:
    """The call sites of a model in topological order, plus tensor shapes."""

    sites: list[CallSite]
    inputs: list[TensorId]
    outputs: list[TensorId]
    shapes: dict[TensorId, tuple[int | None, ...]]


def is_model(layer: keras.layers.Layer) -> bool:
    """True for Functional and Sequential models (which can be traced)."""
    return isinstance(layer, keras.Model) and _kind(layer) is not None


def _kind(model: keras.Model) -> str | None:
    if isinstance(model, keras.Sequential):
        return "sequential"
    return "functional" if _functional_config(model) is not None else None


def _functional_config(model: keras.Model) -> dict[str, Any] | None:
    """The layer-graph config of ``model``, or None if it has no layer graph.

    Usually ``model.get_config()``. A *functional subclass* (a class that
    subclasses ``keras.Model`` and calls ``super().__init__(inputs=...,
    outputs=...)``, like keras-hub backbones) often overrides ``get_config``
    to return its constructor arguments instead; its graph is then read from
    a plain ``keras.Model(model.input, model.output)`` over the same layers
    (the public way to view a functional graph; the model is not modified).

    ``get_config`` of a large Functional model is slow (about 1 s for
    DenseNet121), so callers keep the result instead of asking twice.
    """
    config = _safe_config(model)
    if _is_graph_config(config):
        return config
    view = functional_view(model)
    if view is None:
        return None
    config = _safe_config(view)
    return config if _is_graph_config(config) else None


def _is_graph_config(config: Any) -> bool:
    return isinstance(config, dict) and "layers" in config and "input_layers" in config


def functional_view(model: keras.Model) -> keras.Model | None:
    """A plain Functional model over the layer graph of ``model``, or None.

    A new ``keras.Model`` built from the symbolic ``input``/``output`` of a
    Functional model or functional subclass (see :func:`_functional_config`);
    it shares the layers and weights of ``model``. None for Sequential and truly subclassed models (no symbolic graph).
    """
    if isinstance(model, keras.Sequential) or not isinstance(model, keras.Model):
        return None
    try:
        # ``inputs``/``outputs`` exist only on functional models; ``input``
        # (structured like the constructor's argument) exists on any layer
        # that was called, so it cannot tell the two apart.
        model.inputs, model.outputs  # noqa: B018
        inputs, outputs = model.input, model.output
    except (AttributeError, ValueError):  # subclassed: no symbolic graph
        return None
    try:
        return keras.Model(inputs, outputs, name=model.name)
    except Exception:  # not a symbolic graph after all
        return None


def _safe_config(model: keras.Model) -> Any:
    try:
        return model.get_config()
    except Exception:  # subclassed models often raise NotImplementedError
        return None


def iter_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Yield every layer of ``model``, recursing into nested sub-models."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from iter_layers(layer)


#: model -> (its layers' ids, Trace). A Functional model's graph never changes
#: after it is built, so one trace serves the graph, the cost model, the
#: callback and ``slim`` (a Sequential model's layers are re-checked, since
#: ``add``/``pop`` change them). Weak keys: a trace lives as long as its model.
_TRACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _signature(model: keras.Model) -> tuple[int, ...]:
    return tuple(id(layer) for layer in model.layers)


def trace_model(model: keras.Model) -> Trace:
    """Trace ``model`` into call sites (see module docstring), once per model.

    Later calls on the same model return the same :class:`Trace` (treat it
    as read-only).
    """
    try:
        cached = _TRACES.get(model)
    except TypeError:  # not weak-referenceable / hashable: trace every time
        return _trace_model(model)
    signature = _signature(model) if isinstance(model, keras.Model) else ()
    if cached is not None and cached[0] == signature:
        return cached[1]
    trace = _trace_model(model)
    _TRACES[model] = (signature, trace)
    return trace


def _trace_model(model: keras.Model) -> Trace:
    """Trace ``model`` into call sites (see module docstring).

    Raises:
        UnsupportedModelError: for subclassed models, or a model that was never
            built/called so has no graph.
    """
    if not isinstance(model, keras.Model):
        msg = (
            "Expected a keras.Model (Sequential or Functional). "
            f"Received: {type(model).__name__}. If this is a tf_keras (Keras 2) "
            "model, tfprune requires Keras 3 models."
        )
        raise errors.UnsupportedModelError(msg)
    config = None if isinstance(model, keras.Sequential) else _functional_config(model)
    kind = "sequential" if isinstance(model, keras.Sequential) else (
        "functional" if config is not None else None
    )
    if kind is None:
        _raise_if_unserialisable(model)
        msg = (
            f"Model `{model.name}` ({type(model).__name__}) is a subclassed "
            "model: its layer graph cannot be traced. tfprune supports "
            "Functional and Sequential models, and keras.Model subclasses "
            "that build themselves with the functional API "
            "(`super().__init__(inputs=..., outputs=...)`). Rebuild it with the functional "
            "API (keras.Input + layer calls), or prune a Functional sub-model."
        )
        raise errors.UnsupportedModelError(msg)
    tracer = _Tracer()
    if kind == "sequential":
        if not model.built or not model.inputs:
            msg = (
                f"Sequential model `{model.name}` is not built: it has no input "
                "shape yet. "
                "Build it first, e.g. add `keras.Input(shape)` as its first "
                "layer or call `model.build((None, ...))`."
            )
            raise errors.UnsupportedModelError(msg)
        inp = ("input", model.name, 0)
        tracer.shapes[inp] = tuple(model.inputs[0].shape)
        outs = tracer.sequential(model, (), inp, "")
        trace = Trace(tracer.sites, [inp], [outs], tracer.shapes)
    else:
        inputs = [("input", n, i) for n, i in enumerate(_histories(config["input_layers"]))]
        for tid, tensor in zip(inputs, model.inputs, strict=True):
            tracer.shapes[tid] = tuple(tensor.shape)
        bound = dict(zip(_histories(config["input_layers"]), inputs, strict=True))
        outs = tracer.functional(model, config, (), bound, "")
        for tid, tensor in zip(outs, model.outputs, strict=True):
            tracer.shapes.setdefault(tid, tuple(tensor.shape))
        trace = Trace(tracer.sites, inputs, outs, tracer.shapes)
    return trace


def _raise_if_unserialisable(model: keras.Model) -> None:
    """Raise a clear error for a functional graph whose config cannot be read.

    Such a model has a layer graph (it is no subclassed model), but tfprune
    reads the graph from ``get_config()``, which raised: a layer's own
    ``get_config`` is broken (e.g. keras-hub 0.32's DeiTBackbone and
    SwinTransformerBackbone).
    """
    view = functional_view(model)
    if view is None:
        return
    try:
        view.get_config()
    except Exception as exc:  # noqa: BLE001 - reported to the user
        msg = (
            f"Model `{model.name}` ({type(model).__name__}) is built with the "
            "functional API, but its layer graph cannot be read: tfprune reads "
            "it from `get_config()`, which raised "
            f"{type(exc).__name__}: {str(exc).strip()[:300]}. Every layer of "
            "the model must serialise: fix the `get_config` of the layer named "
            "in that error (or report it to the model's authors)."
        )
        raise errors.UnsupportedModelError(msg) from exc


def _histories(structure: Any) -> list[tuple[str, int, int]]:
    """Flatten a config's ``input_layers``/``output_layers`` into triples.

    In the order of ``model.inputs``/``model.outputs``: those are
    ``keras.tree.flatten`` of the model's input/output structure, which
    takes a dict's values in sorted key order, while the config keeps the
    dict's insertion order.
    """
    if (
        isinstance(structure, (list, tuple))
        and len(structure) == 3
        and isinstance(structure[0], str)
        and isinstance(structure[1], int)
    ):
        return [(structure[0], structure[1], structure[2])]
    if isinstance(structure, dict):
        structure = [structure[key] for key in sorted(structure)]
    out: list[tuple[str, int, int]] = []
    for item in structure:
        out.extend(_histories(item))
    return out


def _keras_tensors(structure: Any) -> list[dict[str, Any]]:
    """Every ``__keras_tensor__`` entry in a node's args/kwargs, in order."""
    if isinstance(structure, dict):
        if structure.get("class_name") == "__keras_tensor__":
            return [structure["config"]]
        found = []
        for value in structure.values():
            found.extend(_keras_tensors(value))
        return found
    if isinstance(structure, (list, tuple)):
        found = []
        for value in structure:
            found.extend(_keras_tensors(value))
        return found
    return []


class _Tracer:
    def __init__(self) -> None:
        self.sites: list[CallSite] = []
        self.shapes: dict[TensorId, tuple[int | None, ...]] = {}
        self._call_counter = 0

    def _emit(self, layer, path, inputs, scope, node_key, num_outputs, args, kwargs):
        outputs = [(*scope, "t", node_key, k) for k in range(num_outputs)]
        self.sites.append(CallSite(layer, path, inputs, outputs, args, kwargs))
        return outputs

    def sequential(self, model, scope, inp, prefix):
        current = inp
        for i, layer in enumerate(model.layers):
            path = f"{prefix}/{layer.name}" if prefix else layer.name
            if isinstance(layer, keras.Model):
                current = self._call_model_or_raise(layer, scope, [current], path)[0]
                continue
            (current,) = self._emit(
                layer, path, [current], scope, (model.name, i), 1, None, {}
            )
            shape = self._output_shape(layer)
            if shape is not None:
                self.shapes[current] = shape
        return current

    @staticmethod
    def _output_shape(layer):
        try:
            return tuple(layer.output.shape)
        except Exception:  # shared layer (several nodes) or not built
            return None

    def _call_model_or_raise(self, model, scope, inputs, path):
        config = None
        if not isinstance(model, keras.Sequential):
            config = _functional_config(model)
            if config is None:
                msg = (
                    f"Layer `{path}` is a subclassed model ({type(model).__name__}); "
                    "its graph cannot be traced. Only Functional and Sequential "
                    "sub-models are supported."
                )
                raise errors.UnsupportedModelError(msg)
        return self.call_model(model, scope, inputs, path, config)

    def call_model(self, model, scope, inputs, path, config=None):
        self._call_counter += 1
        inner_scope = (*scope, ("call", self._call_counter, model.name))
        if isinstance(model, keras.Sequential):
            return [self.sequential(model, inner_scope, inputs[0], path)]
        if config is None:
            config = model.get_config()
        names = _histories(config["input_layers"])
        if len(names) != len(inputs):
            msg = (
                f"Sub-model `{model.name}` expects {len(names)} inputs but is "
                f"called with {len(inputs)}; tfprune cannot trace this call."
            )
            raise errors.UnsupportedModelError(msg)
        return self.functional(model, config, inner_scope, dict(zip(names, inputs)), path)

    def functional(self, model, config, scope, bound, prefix):
        """Trace a Functional model; ``bound`` maps its input histories to ids."""
        produced: dict[tuple[str, int, int], TensorId] = dict(bound)
        # Topological order over (layer name, node index).
        pending = []
        for entry in config["layers"]:
            if entry["class_name"] == "InputLayer":
                continue
            for node_index, node in enumerate(entry["inbound_nodes"]):
                pending.append((entry["name"], node_index, node))
        done: set[tuple[str, int]] = set()
        while pending:
            progressed = False
            remaining = []
            for name, node_index, node in pending:
                tensors = _keras_tensors(node.get("args", [])) + _keras_tensors(
                    node.get("kwargs", {})
                )
                histories = [tuple(t["keras_history"]) for t in tensors]
                if not all(h in produced for h in histories):
                    remaining.append((name, node_index, node))
                    continue
                inputs = [produced[h] for h in histories]
                for tid, tensor in zip(inputs, tensors, strict=True):
                    if tensor.get("shape") is not None:
                        self.shapes.setdefault(tid, tuple(tensor["shape"]))
                layer = _operation(model, name)
                path = f"{prefix}/{name}" if prefix else name
                outputs = self._call(layer, scope, inputs, path, node, (name, node_index))
                for k, tid in enumerate(outputs):
                    produced[(name, node_index, k)] = tid
                done.add((name, node_index))
                progressed = True
            pending = remaining
            if not progressed:
                missing = sorted({p[0] for p in pending})
                msg = f"Could not order the layer graph of `{model.name}`; stuck at {missing}."
                raise errors.UnsupportedModelError(msg)
        outputs = []
        for history in _histories(config["output_layers"]):
            found = produced.get(_output_history(model, history, produced))
            if found is None:
                msg = f"Output {history} of `{model.name}` is not produced by any traced layer."
                raise errors.UnsupportedModelError(msg)
            outputs.append(found)
        return outputs

    def _call(self, layer, scope, inputs, path, node, node_key):
        if isinstance(layer, keras.Model):
            return self._call_model_or_raise(layer, scope, inputs, path)
        num_outputs = _num_outputs(layer, node_key)
        outputs = self._emit(
            layer, path, inputs, scope, (*scope, *node_key), num_outputs,
            node.get("args"), node.get("kwargs", {}),
        )
        # Shapes of outputs nobody reads (a tuple element left unused) are
        # not in any consumer's recorded arguments: take them from the layer.
        for tid, tensor in zip(outputs, _single_call_outputs(layer) or [], strict=False):
            shape = getattr(tensor, "shape", None)
            if shape is not None:
                self.shapes.setdefault(tid, tuple(shape))
        return outputs


def _output_history(model, history, produced):
    """The key of an ``output_layers`` entry in the traced node numbering.

    Keras 3 numbers the nodes of a nested *Functional* model from 1 in
    ``output_layers`` (its own input->output node counts as node 0) but from 0
    in the call arguments of other layers. Shift such entries back; keep the
    entry as is when Keras does not shift it.
    """
    name, node_index, tensor_index = history
    shifted = (name, node_index - 1, tensor_index)
    if node_index >= 1 and shifted in produced:
        layer = _operation(model, name)
        if isinstance(layer, keras.Model) and not isinstance(layer, keras.Sequential):
            return shifted
    return history


def call_arguments(site: CallSite, tensors: dict[TensorId, Any]) -> tuple[tuple, dict]:
    """``(args, kwargs)`` to replay ``site`` on new tensors.

    ``tensors`` maps the site's input tensor ids to the tensors to pass; the
    non-tensor arguments recorded in the model config are kept.
    """
    inbound = iter([tensors[t] for t in site.inputs])
    if site.args is None:  # a Sequential layer: one tensor in
        return (next(inbound),), {}
    args = _substitute(site.args, inbound)
    kwargs = _substitute(site.kwargs or {}, inbound)
    return tuple(args), kwargs


def flatten_outputs(output: Any) -> list[Any]:
    """The tensors returned by a layer call, in ``CallSite.outputs`` order.

    ``keras.tree.flatten`` order (dicts by sorted key), which is how Keras
    numbers a layer's outputs in ``keras_history``.
    """
    return list(keras.tree.flatten(output))


def _substitute(structure: Any, tensors: Iterator[Any]) -> Any:
    if isinstance(structure, dict):
        if structure.get("class_name") == "__keras_tensor__":
            return next(tensors)
        if structure.get("class_name") == "__tuple__":
            return tuple(_substitute(v, tensors) for v in structure["config"]["value"])
        if _is_serialized_constant(structure):
            return keras.saving.deserialize_keras_object(structure)
        return {k: _substitute(v, tensors) for k, v in structure.items()}
    if isinstance(structure, list):
        return [_substitute(v, tensors) for v in structure]
    if isinstance(structure, tuple):
        return tuple(_substitute(v, tensors) for v in structure)
    return structure


def _is_serialized_constant(structure: dict[str, Any]) -> bool:
    """A serialised non-tensor argument, e.g. the slice of ``x[..., :4]``.

    A Functional config records them as ``{"class_name": "__slice__",
    "config": {...}}`` (also ``__ellipsis__``, numpy arrays...); replaying
    the call needs the object back.
    """
    return "class_name" in structure and "config" in structure and not _keras_tensors(structure)


def deserialize_constants(structure: Any) -> Any:
    """``structure`` (recorded call arguments) with serialised constants restored.

    Tensors stay in their serialised form; see :func:`_is_serialized_constant`.
    """
    if isinstance(structure, dict):
        if structure.get("class_name") == "__keras_tensor__":
            return structure
        if _is_serialized_constant(structure):
            return keras.saving.deserialize_keras_object(structure)
        return {k: deserialize_constants(v) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(deserialize_constants(v) for v in structure)
    return structure


def _operation(model: keras.Model, name: str) -> keras.Operation:
    """The layer *or operation* called ``name`` in ``model``.

    A Functional model's graph can hold raw operations as well as layers, e.g.
    ``x + y`` or ``keras.ops.relu(x)`` on symbolic tensors (ConvNeXt's
    residual adds, MobileNetV3's hard-sigmoid); ``get_layer`` only finds
    layers, so look in ``model.operations``.
    """
    for operation in model.operations:
        if operation.name == name:
            return operation
    return model.get_layer(name)  # raises Keras' own "No such layer" error


def _single_call_outputs(layer: keras.layers.Layer) -> list[Any] | None:
    """The symbolic outputs of a layer called once, flattened; else None."""
    try:
        output = layer.output
    except Exception:  # called several times (shared), or not called
        return None
    return flatten_outputs(output)


def _num_outputs(layer: keras.layers.Layer, node_key: tuple[str, int]) -> int:
    outputs = _single_call_outputs(layer)
    return 1 if outputs is None else len(outputs)
