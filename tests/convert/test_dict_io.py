"""Models with named (dict) inputs and outputs, as keras-hub builds them.

``model.inputs``/``model.outputs`` list a dict's tensors in sorted key order,
the model config in insertion order. Tracing in config order paired the
outputs with the wrong tensors: ``slim`` silently permuted equal-shaped
outputs (keras-hub's BASNetBackbone) and refused unequal ones.
"""

from __future__ import annotations

import keras
import numpy as np

import tfprune


def _dict_model() -> keras.Model:
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    h = keras.layers.Dense(16, activation="relu", name="hidden")(
        keras.layers.Concatenate()([a, b])
    )
    # Keys deliberately not in sorted order; "z" and "y" have equal shapes.
    outputs = {
        "z": keras.layers.Dense(5, name="head_z")(h),
        "y": keras.layers.Dense(5, name="head_y")(h),
        "w": keras.layers.Dense(2, name="head_w")(h),
    }
    return keras.Model({"b": b, "a": a}, outputs)


def test_slim_keeps_named_inputs_and_outputs():
    keras.utils.set_random_seed(0)
    model = _dict_model()
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(3, 4)).astype("float32"),
         "b": rng.normal(size=(3, 3)).astype("float32")}
    pruned = tfprune.prune(model, "l1", sparsity=0.5, round_to=None)
    tfprune.Pruner(pruned).step(0)
    y_strip = tfprune.strip_pruning(pruned)(x)
    slim = tfprune.slim(pruned)
    y_slim = slim(x)
    assert isinstance(y_slim, dict) and sorted(y_slim) == ["w", "y", "z"]
    assert slim.get_layer("hidden").units == 8
    for key in ("w", "y", "z"):
        expected = np.asarray(y_strip[key])
        np.testing.assert_allclose(np.asarray(y_slim[key]), expected, rtol=1e-5, atol=1e-6)
        assert expected.shape[-1] == model.output[key].shape[-1]
