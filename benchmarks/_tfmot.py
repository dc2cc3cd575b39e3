"""External baseline: TensorFlow Model Optimization (tfmot) magnitude pruning.

tfmot only runs on Keras 2 (``tf_keras``) and importing it flips
``TF_USE_LEGACY_KERAS=1`` for the whole process, so it runs in a subprocess
(:mod:`_tfmot_child`). Keras 3 ``.keras``/``.h5`` files cannot be loaded by
``tf_keras`` either, so this parent side (a Keras 3 process) describes the
trained functional model as a plain JSON spec plus its weights, and the child
rebuilds it with ``tf_keras``, checks the rebuild against reference
predictions, prunes it with ``prune_low_magnitude`` and exports it to TFLite.

Files written to ``out``:

* ``model_spec.json``: per layer, in order, its name, class name, config
  (JSON primitives only: no dtype policies, initializers, regularizers or
  constraints), inbound tensors and how the layer is called; the model's
  input and output layer names;
* ``weights.npz``: ``layer.get_weights()`` of every layer (keys ``"<i>_<j>"``
  for weight ``j`` of layer ``i``);
* ``data.npz``: ``x_train``, ``y_train``, ``x_test``, ``y_test`` (float32 and
  int64);
* ``reference.npy``: ``dense.predict(x_test[:256])``;
* written by the child: ``tfmot.tflite``, ``dense.tflite`` and
  ``result.json`` (returned by :func:`run_tfmot`).
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import keras
import numpy as np

from tfprune._atomic import write_atomic

CHILD = pathlib.Path(__file__).resolve().with_name("_tfmot_child.py")
REFERENCE_SAMPLES = 256

# Layer classes of tf_keras 2.21 (``tf_keras.layers``) that can be rebuilt
# from a flat JSON config. Wrappers (Bidirectional, TimeDistributed, RNN,
# SpectralNormalization, ...), Lambda and abstract bases are left out: their
# config nests other layers or Python code.
TF_KERAS_LAYERS = frozenset(
    """
    Activation ActivityRegularization Add AdditiveAttention AlphaDropout
    Attention Average AveragePooling1D AveragePooling2D AveragePooling3D
    BatchNormalization CategoryEncoding CenterCrop Concatenate Conv1D
    Conv1DTranspose Conv2D Conv2DTranspose Conv3D Conv3DTranspose ConvLSTM1D
    ConvLSTM2D ConvLSTM3D Cropping1D Cropping2D Cropping3D Dense
    DepthwiseConv1D DepthwiseConv2D Discretization Dot Dropout ELU EinsumDense
    Embedding Flatten GRU GaussianDropout GaussianNoise GlobalAveragePooling1D
    GlobalAveragePooling2D GlobalAveragePooling3D GlobalMaxPooling1D
    GlobalMaxPooling2D GlobalMaxPooling3D GroupNormalization HashedCrossing
    Hashing Identity InputLayer IntegerLookup LSTM LayerNormalization
    LeakyReLU Masking MaxPooling1D MaxPooling2D MaxPooling3D Maximum Minimum
    MultiHeadAttention Multiply Normalization PReLU Permute RandomBrightness
    RandomContrast RandomCrop RandomFlip RandomHeight RandomRotation
    RandomTranslation RandomWidth RandomZoom ReLU RepeatVector Rescaling
    Reshape Resizing SeparableConv1D SeparableConv2D SimpleRNN Softmax
    SpatialDropout1D SpatialDropout2D SpatialDropout3D StringLookup Subtract
    TextVectorization ThresholdedReLU UnitNormalization UpSampling1D
    UpSampling2D UpSampling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D
    """.split()
)

_DROPPED_SUFFIXES = ("_initializer", "_regularizer", "_constraint")


class SpecError(ValueError):
    """The model cannot be described for a ``tf_keras`` rebuild."""


def _is_primitive(value: Any) -> bool:
    """True for JSON values made only of None/bool/int/float/str/lists/dicts."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_primitive(item) for item in value)
    return False


def _filter_config(layer_name: str, class_name: str, config: dict) -> tuple[dict, list[str]]:
    """Keep the JSON-primitive keys ``tf_keras`` can take; return (config, dropped keys)."""
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in config.items():
        if key == "dtype" or key.endswith(_DROPPED_SUFFIXES) or not _is_primitive(value):
            dropped.append(key)
        else:
            kept[key] = list(value) if isinstance(value, tuple) else value
    if class_name == "InputLayer":
        shape = kept.pop("batch_shape", None)
        if shape is None:
            shape = [None, *kept.pop("shape", [])]
        kept.pop("optional", None)
        kept = {"name": kept.get("name", layer_name), "shape": list(shape[1:]), "dtype": config.get("dtype")}
        if not isinstance(kept["dtype"], str):
            kept["dtype"] = "float32"
    return kept, dropped


def _tensor_refs(structure: Any) -> list[list]:
    """``[layer_name, node_index, tensor_index]`` of every Keras tensor nested in ``structure``."""
    if isinstance(structure, dict):
        if structure.get("class_name") == "__keras_tensor__":
            return [list(structure["config"]["keras_history"])]
        return [ref for value in structure.values() for ref in _tensor_refs(value)]
    if isinstance(structure, (list, tuple)):
        return [ref for item in structure for ref in _tensor_refs(item)]
    return []


def _call_spec(layer_name: str, inbound_nodes: list) -> dict:
    """Inbound tensors and call structure of one layer (``single`` or ``list``)."""
    if not inbound_nodes:
        return {"inbound": [], "inbound_tensors": [], "call": "input", "call_kwargs": {}}
    if len(inbound_nodes) > 1:
        raise SpecError(
            f"Layer {layer_name!r} is called {len(inbound_nodes)} times (a shared layer). "
            "Expected: every layer is called once in the functional graph. "
            "Fix: give each call its own layer before benchmarking against tfmot."
        )
    node = inbound_nodes[0]
    args, kwargs = node.get("args", []), node.get("kwargs", {})
    if _tensor_refs(kwargs):
        raise SpecError(
            f"Layer {layer_name!r} receives Keras tensors as keyword arguments "
            f"({sorted(kwargs)}). Expected: tensors only as positional arguments. "
            "Fix: pass the tensors positionally (e.g. as a list) in the model definition."
        )
    if len(args) != 1:
        raise SpecError(
            f"Layer {layer_name!r} is called with {len(args)} positional arguments. "
            "Expected: one (a tensor or a list of tensors). "
            "Fix: call the layer with one tensor or a list of tensors."
        )
    refs = _tensor_refs(args)
    for source, node_index, _ in refs:
        if node_index != 0:
            raise SpecError(
                f"Layer {layer_name!r} reads node {node_index} of layer {source!r} (a shared layer). "
                "Expected: node 0 only. Fix: give each call its own layer."
            )
    call = "list" if isinstance(args[0], (list, tuple)) else "single"
    call_kwargs = {k: v for k, v in kwargs.items() if v is not None and _is_primitive(v)}
    return {
        "inbound": [ref[0] for ref in refs],
        "inbound_tensors": [[ref[0], ref[2]] for ref in refs],
        "call": call,
        "call_kwargs": call_kwargs,
    }


def _check_functional(model: Any) -> dict:
    """Return ``model.get_config()`` of a Keras 3 functional model, else raise SpecError."""
    config = None
    if isinstance(model, keras.Model) and not isinstance(model, keras.Sequential):
        try:
            config = model.get_config()
        except NotImplementedError:
            config = None
    if not isinstance(config, dict) or not {"layers", "input_layers", "output_layers"} <= set(config):
        raise SpecError(
            "tfmot baseline: the model must be a Keras 3 functional model "
            "(keras.Model(inputs, outputs)). "
            f"Received: {type(model).__name__}. "
            "Fix: for a Sequential model pass keras.Model(model.inputs, model.outputs); "
            "rewrite a subclassed model with the functional API."
        )
    return config


def _check_layer_class(layer: keras.layers.Layer, class_name: str) -> None:
    """Raise SpecError unless ``layer`` is a built-in Keras layer tf_keras also has."""
    builtin = getattr(keras.layers, class_name, None)
    if type(layer) is not builtin or class_name not in TF_KERAS_LAYERS:
        raise SpecError(
            f"tfmot baseline: layer {layer.name!r} of class {type(layer).__module__}."
            f"{type(layer).__qualname__} cannot be rebuilt with tf_keras. "
            "Expected: a built-in keras.layers class that tf_keras 2 also has "
            f"(e.g. Conv2D, BatchNormalization, ReLU, Add, Dense). Received: {class_name!r}. "
            "Fix: replace the layer with built-in layers, or leave this model out of the "
            "tfmot comparison."
        )


def model_spec(dense: keras.Model) -> dict:
    """JSON description of a Keras 3 functional model that ``_tfmot_child`` rebuilds."""
    config = _check_functional(dense)
    layers = []
    for index, entry in enumerate(config["layers"]):
        layer = dense.get_layer(entry["name"])
        class_name = entry["class_name"]
        _check_layer_class(layer, class_name)
        layer_config, dropped = _filter_config(layer.name, class_name, entry["config"])
        layers.append(
            {
                "index": index,
                "name": layer.name,
                "class_name": class_name,
                "config": layer_config,
                "dropped_keys": dropped,
                "num_weights": len(layer.get_weights()),
                **_call_spec(layer.name, entry.get("inbound_nodes", [])),
            }
        )
    return {
        "format": "tfprune-tfmot-spec/1",
        "name": dense.name,
        "layers": layers,
        "inputs": [ref[0] for ref in _refs_list(config["input_layers"])],
        "outputs": [ref[0] for ref in _refs_list(config["output_layers"])],
        "output_tensors": [[ref[0], ref[2]] for ref in _refs_list(config["output_layers"])],
    }


def _refs_list(refs: list) -> list[list]:
    """``[name, node, tensor]`` triples from ``input_layers``/``output_layers`` (one or many)."""
    if refs and isinstance(refs[0], str):
        return [refs]
    return [list(ref) for ref in refs]


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_inputs(dense: keras.Model, x_train, y_train, x_test, y_test, out: pathlib.Path) -> dict:
    """Write the spec, weights, data and reference predictions the child reads."""
    spec = model_spec(dense)
    weights = {
        f"{entry['index']}_{j}": np.asarray(w)
        for entry in spec["layers"]
        for j, w in enumerate(dense.get_layer(entry["name"]).get_weights())
    }
    data = {
        "x_train": np.asarray(x_train, dtype=np.float32),
        "y_train": np.asarray(y_train, dtype=np.int64),
        "x_test": np.asarray(x_test, dtype=np.float32),
        "y_test": np.asarray(y_test, dtype=np.int64),
    }
    reference = np.asarray(dense.predict(data["x_test"][:REFERENCE_SAMPLES], verbose=0), dtype=np.float32)
    write_atomic(out / "model_spec.json", json.dumps(spec, indent=1).encode(), make_parents=True)
    write_atomic(out / "weights.npz", _npz_bytes(weights))
    write_atomic(out / "data.npz", _npz_bytes(data))
    write_atomic(out / "reference.npy", _npy_bytes(reference))
    return spec


def run_tfmot(
    dense: keras.Model,
    x_train,
    y_train,
    x_test,
    y_test,
    *,
    sparsity: float,
    prune_epochs: int,
    finetune_epochs: int,
    batch_size: int,
    seed: int,
    out: pathlib.Path,
    timeout: float = 3600,
) -> dict:
    """Prune a copy of ``dense`` with tfmot (in a ``tf_keras`` subprocess); return its results.

    The child fits for ``prune_epochs + finetune_epochs`` epochs: tfmot's
    ``PolynomialDecay`` reaches ``sparsity`` a quarter epoch before the end
    of the pruning epochs and holds it during the fine-tuning epochs. See
    ``_tfmot_child.py`` for the keys of the returned dict.
    """
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1). Received: {sparsity}.")
    out = pathlib.Path(out)
    write_inputs(dense, x_train, y_train, x_test, y_test, out)
    (out / "result.json").unlink(missing_ok=True)
    env = dict(os.environ)
    env["TF_USE_LEGACY_KERAS"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    command = [
        sys.executable, str(CHILD), "--dir", str(out),
        "--sparsity", repr(float(sparsity)),
        "--prune-epochs", str(int(prune_epochs)),
        "--finetune-epochs", str(int(finetune_epochs)),
        "--batch-size", str(int(batch_size)),
        "--seed", str(int(seed)),
    ]  # fmt: skip
    result = subprocess.run(command, env=env, timeout=timeout, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"tfmot baseline child failed with exit code {result.returncode} "
            f"(command: {' '.join(command)}). Last 3000 characters of its stderr:\n"
            f"{result.stderr[-3000:]}"
        )
    return json.loads((out / "result.json").read_text())
