"""tfmot side of the external baseline; run by ``_tfmot.run_tfmot`` in a subprocess.

Runs with ``TF_USE_LEGACY_KERAS=1``: it imports ``tf_keras`` and
``tensorflow_model_optimization`` and never Keras 3 or tfprune. Steps:

1. rebuild the model from ``model_spec.json`` + ``weights.npz`` with the
   ``tf_keras`` functional API and check it against ``reference.npy``
   (``rebuild_max_abs_diff``, must be below 1e-4);
2. ``prune_low_magnitude`` the whole model (tfmot's defaults: every
   Conv2D/Dense/... kernel it supports) with ``PolynomialDecay(0, sparsity)``
   ending a quarter epoch before the end of ``--prune-epochs`` (aligned down
   to a pruning step), and fit for ``--prune-epochs + --finetune-epochs``
   epochs with Adam(1e-3) and ``UpdatePruningStep``;
3. ``strip_pruning``, test accuracy, achieved sparsity of the wrapped
   kernels, TFLite float32 export of the pruned and of the dense model (size
   and gzip -9 size) and LiteRT accuracy of the pruned ``.tflite``;
4. write ``result.json`` (all files atomically).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import inspect
import json
import math
import os
import pathlib
import sys
import tempfile
import time

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402
# This subprocess is the Keras 2 side: tf_keras is banned only in tfprune.
import tf_keras  # noqa: E402, TID251
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import (  # noqa: E402
    PruneLowMagnitude,
)

MAX_REBUILD_DIFF = 1e-4
# Keys every tf_keras layer accepts through **kwargs of Layer.__init__.
_BASE_KEYS = {"name", "trainable", "dtype", "dynamic", "autocast", "input_dim", "input_shape", "batch_size"}
# Keras 3 config keys tf_keras does not know and that are harmless when
# "off" (None / False / 0): dropped then, an error otherwise.
_OFF_VALUES = (None, False, 0, "")


def write_atomic(path: pathlib.Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _accepted_keys(cls: type) -> set[str]:
    """Constructor arguments of a tf_keras layer class (its own and its bases')."""
    keys = set(_BASE_KEYS)
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            keys.update(inspect.signature(init).parameters)
    return keys - {"self", "kwargs", "args"}


def _layer_config(entry: dict, cls: type) -> dict:
    """The spec's config restricted to what ``cls`` accepts; raise on a meaningful unknown key."""
    accepted = _accepted_keys(cls)
    config = {}
    for key, value in entry["config"].items():
        if key in accepted:
            config[key] = value
        elif value not in _OFF_VALUES:
            raise ValueError(
                f"Layer {entry['name']!r} ({entry['class_name']}): Keras 3 option {key}={value!r} "
                f"has no tf_keras {cls.__name__} equivalent. Expected: only options tf_keras "
                "accepts, or unknown ones switched off. Fix: leave this model out of the tfmot "
                "comparison or rebuild it without that option."
            )
    return config


def rebuild(spec: dict, weights: np.lib.npyio.NpzFile) -> tf_keras.Model:
    """Rebuild the spec'd functional model with tf_keras and set its weights."""
    tensors: dict[str, list] = {}
    built = []
    for entry in spec["layers"]:
        if entry["class_name"] == "InputLayer":
            cfg = entry["config"]
            tensor = tf_keras.Input(shape=tuple(cfg["shape"]), name=cfg["name"], dtype=cfg.get("dtype") or "float32")
            tensors[entry["name"]] = [tensor]
            continue
        cls = getattr(tf_keras.layers, entry["class_name"], None)
        if cls is None:
            raise ValueError(
                f"Layer {entry['name']!r}: tf_keras has no layer class {entry['class_name']!r}. "
                "Fix: leave this model out of the tfmot comparison."
            )
        layer = cls(**_layer_config(entry, cls))
        inputs = [tensors[name][index] for name, index in entry["inbound_tensors"]]
        call_input = inputs if entry["call"] == "list" else inputs[0]
        output = layer(call_input, **entry.get("call_kwargs", {}))
        tensors[entry["name"]] = list(output) if isinstance(output, (list, tuple)) else [output]
        built.append((entry, layer))
    model_inputs = [tensors[name][0] for name in spec["inputs"]]
    model_outputs = [tensors[name][index] for name, index in spec["output_tensors"]]
    model = tf_keras.Model(
        model_inputs if len(model_inputs) > 1 else model_inputs[0],
        model_outputs if len(model_outputs) > 1 else model_outputs[0],
        name=spec["name"],
    )
    for entry, layer in built:
        values = [weights[f"{entry['index']}_{j}"] for j in range(entry["num_weights"])]
        if values:
            layer.set_weights(values)
    return model


def _schedule(sparsity: float, prune_epochs: int, steps_per_epoch: int):
    """tfmot PolynomialDecay reaching ``sparsity`` a quarter epoch before the pruning epochs end."""
    frequency = max(1, steps_per_epoch // 8)
    prune_steps = prune_epochs * steps_per_epoch
    end_step = prune_steps - steps_per_epoch // 4
    # tfmot only updates masks at steps begin + k * frequency <= end_step:
    # align end_step so the final sparsity is actually applied.
    end_step = max(frequency, (end_step // frequency) * frequency)
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=sparsity, begin_step=0, end_step=end_step, frequency=frequency
    )
    return schedule, {"begin_step": 0, "end_step": end_step, "frequency": frequency}


def _pruned_kernels(model: tf_keras.Model) -> dict[str, list[str]]:
    """Names of the layers tfmot wrapped and of their pruned weights."""
    pruned = {}
    for layer in model.layers:
        if isinstance(layer, PruneLowMagnitude):
            names = [w.name for w, _, _ in layer.pruning_vars]
            if names:
                pruned[layer.layer.name] = [n.split("/")[-1].split(":")[0] for n in names]
    return pruned


def _achieved_sparsity(stripped: tf_keras.Model, pruned: dict[str, list[str]]) -> tuple[float, dict]:
    """Fraction of exact zeros over the pruned kernels (pooled), and per layer."""
    zeros = total = 0
    per_layer = {}
    for name, weight_names in pruned.items():
        layer = stripped.get_layer(name)
        layer_zeros = layer_total = 0
        for weight in layer.weights:
            if weight.name.split("/")[-1].split(":")[0] in weight_names:
                values = weight.numpy()
                layer_zeros += int(np.sum(values == 0))
                layer_total += values.size
        per_layer[name] = layer_zeros / max(layer_total, 1)
        zeros += layer_zeros
        total += layer_total
    return zeros / max(total, 1), per_layer


def _export_tflite(model: tf_keras.Model, path: pathlib.Path) -> bytes:
    """Float32 TFLite flatbuffer of ``model``, written atomically to ``path``."""
    flatbuffer = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    write_atomic(path, flatbuffer)
    return flatbuffer


def _interpreter(path: pathlib.Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - older TF installs
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(path))


def _tflite_accuracy(path: pathlib.Path, x: np.ndarray, y: np.ndarray, chunk: int = 256) -> float:
    """Top-1 accuracy of a single-input, single-output ``.tflite`` on (x, y)."""
    interpreter = _interpreter(path)
    input_index = interpreter.get_input_details()[0]["index"]
    correct = 0
    for start in range(0, len(x), chunk):
        batch = x[start : start + chunk]
        interpreter.resize_tensor_input(input_index, list(batch.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(input_index, batch)
        interpreter.invoke()
        logits = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        correct += int(np.sum(np.argmax(logits, axis=-1) == y[start : start + chunk]))
    return correct / len(x)


def _kb(data: bytes) -> float:
    return len(data) / 1024.0


def _gzip_kb(data: bytes) -> float:
    return len(gzip.compress(data, compresslevel=9)) / 1024.0


def _compile(model: tf_keras.Model) -> tf_keras.Model:
    model.compile(
        optimizer=tf_keras.optimizers.Adam(1e-3),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def run(args: argparse.Namespace) -> dict:
    """All steps of the baseline; returns the result dict (also written to result.json)."""
    out = pathlib.Path(args.dir)
    tf_keras.utils.set_random_seed(args.seed)
    spec = json.loads((out / "model_spec.json").read_text())
    data = np.load(out / "data.npz")
    x_train, y_train, x_test, y_test = (data[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    reference = np.load(out / "reference.npy")

    with np.load(out / "weights.npz") as weights:
        dense = rebuild(spec, weights)
    rebuilt = dense.predict(x_test[: len(reference)], verbose=0)
    diff = float(np.max(np.abs(rebuilt - reference)))
    if not diff < MAX_REBUILD_DIFF:
        raise RuntimeError(
            f"tf_keras rebuild of {spec['name']!r} differs from the Keras 3 model: "
            f"max |pred - reference| = {diff:.3g}, expected < {MAX_REBUILD_DIFF}. "
            "A layer option was probably lost in the spec (see dropped_keys in model_spec.json)."
        )
    dense_flatbuffer = _export_tflite(dense, out / "dense.tflite")

    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    schedule, schedule_config = _schedule(args.sparsity, args.prune_epochs, steps_per_epoch)
    model = tf_keras.models.clone_model(dense)
    model.set_weights(dense.get_weights())
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
    pruned_kernels = _pruned_kernels(pruned)
    _compile(pruned)
    train = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(len(x_train), seed=args.seed, reshuffle_each_iteration=True)
        .batch(args.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    epochs = args.prune_epochs + args.finetune_epochs
    start = time.perf_counter()
    pruned.fit(train, epochs=epochs, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()], verbose=0)
    prune_seconds = time.perf_counter() - start

    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    _compile(stripped)
    _, accuracy = stripped.evaluate(x_test, y_test, batch_size=256, verbose=0)
    achieved, per_layer = _achieved_sparsity(stripped, pruned_kernels)
    tflite_path = out / "tfmot.tflite"
    flatbuffer = _export_tflite(stripped, tflite_path)

    result = {
        "accuracy": float(accuracy),
        "tflite_accuracy": _tflite_accuracy(tflite_path, x_test, y_test),
        "tflite_kb": _kb(flatbuffer),
        "tflite_gzip_kb": _gzip_kb(flatbuffer),
        "dense_tflite_kb": _kb(dense_flatbuffer),
        "dense_tflite_gzip_kb": _gzip_kb(dense_flatbuffer),
        "achieved_sparsity": achieved,
        "per_layer_sparsity": per_layer,
        "target_sparsity": args.sparsity,
        "rebuild_max_abs_diff": diff,
        "tflite": str(tflite_path),
        "prune_seconds": prune_seconds,
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "schedule": schedule_config,
        "pruned_layers": list(pruned_kernels),
        "params": int(stripped.count_params()),
        "tfmot_version": tfmot.__version__,
        "tf_keras_version": tf_keras.__version__,
        "tensorflow_version": tf.__version__,
    }
    write_atomic(out / "result.json", json.dumps(result, indent=1).encode())
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="directory written by _tfmot.write_inputs")
    parser.add_argument("--sparsity", type=float, required=True, help="final weight sparsity")
    parser.add_argument("--prune-epochs", type=int, required=True)
    parser.add_argument("--finetune-epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    json.dump(run(parse_args()), sys.stdout, indent=1)
    print()
