"""Subprocess of tests/backends/test_backends.py: run under ``KERAS_BACKEND=jax|torch``.

    python worker.py pipeline OUT   # TensorFlow made unimportable (as if not installed)
    python worker.py strategy       # TensorFlow installed, a tf.distribute strategy in scope

``pipeline``: prune -> fit -> save mid-pruning -> load -> resume -> slim ->
plan on a small residual CNN with the core alone, then write to ``OUT``:
``slim.keras``, ``io.npz`` (a batch ``x`` and the slim model's output on it
under this backend) and ``result.json``.

``strategy``: ``import tfprune`` (records whether that loaded TensorFlow),
then ``tfprune.prune`` inside a ``tf.distribute`` scope (and, on torch,
``export_tflite``, which must refuse); prints JSON.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _model():
    import keras
    import numpy as np
    from keras import layers

    x = keras.Input((8, 8, 3), name="image")
    a = layers.Conv2D(16, 3, padding="same", name="stem")(x)
    a = layers.BatchNormalization(name="stem_bn")(a)
    a = layers.ReLU()(a)
    b = layers.Conv2D(24, 3, padding="same", name="inner")(a)
    b = layers.ReLU()(b)
    b = layers.Conv2D(16, 3, padding="same", name="outer")(b)
    c = layers.GlobalAveragePooling2D()(layers.Add()([a, b]))
    model = keras.Model(x, layers.Dense(4, name="head")(c))
    rng = np.random.default_rng(0)  # not keras.utils.set_random_seed: it imports TensorFlow
    for weight in model.weights:
        shape = tuple(weight.shape)
        if "moving_variance" in weight.path or "gamma" in weight.path:
            weight.assign(rng.uniform(0.5, 1.5, size=shape).astype("float32"))
        else:
            weight.assign(rng.normal(0.0, 0.3, size=shape).astype("float32"))
    return model


def _masks(model) -> dict:
    import keras

    from tfprune.layers import find_wrappers

    return {
        f"{w.name}/{name}": keras.ops.convert_to_numpy(getattr(w, name)).tolist()
        for w in find_wrappers(model)
        for name in ("input_mask", "output_mask")
        if getattr(w, name) is not None
    }


def pipeline(out: pathlib.Path) -> None:
    sys.modules["tensorflow"] = None  # `import tensorflow` now fails, as if it were not installed
    import keras
    import numpy as np

    import tfprune

    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 4, size=16)
    schedule = tfprune.schedules.IntervalSchedule(0, 9, 3, 0.9)

    def fresh():
        pruned = tfprune.prune(_model(), "l1", target=0.5, round_to=None, schedule=schedule)
        pruned.compile(optimizer=keras.optimizers.SGD(0.01),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return pruned

    fit = {"batch_size": 4, "verbose": 0, "shuffle": False, "callbacks": [tfprune.UpdatePruning()]}
    reference = fresh()
    reference.fit(x, y, epochs=4, **fit)
    first = fresh()
    first.fit(x, y, epochs=1, **fit)
    first.save(out / "mid.keras")
    resumed = keras.models.load_model(out / "mid.keras")
    resumed.fit(x, y, epochs=3, **fit)

    small = tfprune.slim(resumed)
    small.save(out / "slim.keras")
    y_small = keras.ops.convert_to_numpy(small(x))
    np.savez(out / "io.npz", x=x, y=y_small)
    result = {
        "backend": keras.backend.backend(),
        "tensorflow_loaded": sys.modules.get("tensorflow") is not None,
        "masks_resumed_equal": _masks(reference) == _masks(resumed),
        "flops_ratio": tfprune.count_flops(small) / tfprune.count_flops(_model()),
        "slim_vs_masked": float(np.max(np.abs(y_small - keras.ops.convert_to_numpy(resumed(x))))),
        "plan_groups": len(tfprune.make_plan(resumed).to_dict()["groups"]),
    }
    (out / "result.json").write_text(json.dumps(result))


def strategy() -> None:
    import keras

    import tfprune

    loaded_by_import = "tensorflow" in sys.modules
    import tensorflow as tf

    error = None
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        try:
            tfprune.prune(_model(), "l1", 0.5)
        except tfprune.errors.PruningArgumentError as exc:
            error = str(exc)
    export_error = None
    if keras.backend.backend() == "torch":  # Keras cannot write a SavedModel from torch
        try:
            tfprune.export_tflite(_model(), "never-written.tflite")
        except tfprune.errors.ExportError as exc:
            export_error = str(exc)
    print(json.dumps({"backend": keras.backend.backend(), "loaded_by_import": loaded_by_import, "error": error,
                      "export_error": export_error}))


if __name__ == "__main__":
    if sys.argv[1] == "pipeline":
        pipeline(pathlib.Path(sys.argv[2]))
    else:
        strategy()
