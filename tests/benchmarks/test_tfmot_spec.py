"""The Keras 3 -> tf_keras model spec of the tfmot baseline (parent side only).

The subprocess that rebuilds the spec with tf_keras and runs tfmot is not
started here.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from tfprune import zoo


@pytest.fixture(scope="module")
def tfmot_parent(load_benchmark):
    return load_benchmark("_tfmot")


class Doubler(keras.layers.Layer):
    """A custom layer tf_keras cannot know."""

    def call(self, x):
        return x * 2.0


def test_small_resnet_spec_lists_layers_and_add_inbounds(tfmot_parent):
    model = zoo.small_resnet()
    spec = tfmot_parent.model_spec(model)

    assert [entry["name"] for entry in spec["layers"]] == [layer.name for layer in model.layers]
    assert [entry["class_name"] for entry in spec["layers"]] == [type(layer).__name__ for layer in model.layers]
    by_name = {entry["name"]: entry for entry in spec["layers"]}
    assert by_name["s1b1_add"]["inbound"] == ["stem_relu", "s1b1_bn2"]
    assert by_name["s1b1_add"]["call"] == "list"
    assert by_name["s2b1_add"]["inbound"] == ["s2b1_proj_bn", "s2b1_bn2"]
    assert by_name["s2b1_proj"]["inbound"] == ["s1b1_out"]
    assert by_name["stem_conv"]["inbound"] == ["image"] and by_name["stem_conv"]["call"] == "single"
    assert spec["inputs"] == ["image"] and spec["outputs"] == ["logits"]

    seen = set()
    for entry in spec["layers"]:
        assert set(entry["inbound"]) <= seen, entry["name"]  # topological order
        seen.add(entry["name"])
        assert entry["num_weights"] == len(model.get_layer(entry["name"]).get_weights())
        assert "dtype" not in entry["config"] or entry["class_name"] == "InputLayer"
        assert not [key for key in entry["config"] if key.endswith(("_initializer", "_regularizer", "_constraint"))]
    assert by_name["image"]["config"] == {"name": "image", "shape": [28, 28, 1], "dtype": "float32"}
    assert by_name["stem_conv"]["config"]["filters"] == 16
    assert by_name["stem_conv"]["config"]["kernel_size"] == [3, 3]
    assert by_name["stem_bn"]["config"]["momentum"] == 0.9
    json.dumps(spec)  # plain JSON values only


def test_custom_layer_raises_clear_error(tfmot_parent):
    inputs = keras.Input((4,), name="x")
    outputs = keras.layers.Dense(2, name="head")(Doubler(name="double")(inputs))
    model = keras.Model(inputs, outputs)

    with pytest.raises(tfmot_parent.SpecError, match=r"'double'.*Doubler.*cannot be rebuilt with tf_keras") as info:
        tfmot_parent.model_spec(model)
    assert "Expected" in str(info.value) and "Fix" in str(info.value)


def test_sequential_model_raises_clear_error(tfmot_parent):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(tfmot_parent.SpecError, match=r"functional model.*Received: Sequential.*Fix"):
        tfmot_parent.model_spec(model)


def test_shared_layer_raises_clear_error(tfmot_parent):
    inputs = keras.Input((4,))
    shared = keras.layers.Dense(4, name="shared")
    model = keras.Model(inputs, shared(shared(inputs)))
    with pytest.raises(tfmot_parent.SpecError, match=r"'shared'.*shared layer"):
        tfmot_parent.model_spec(model)


def test_write_inputs_files(tfmot_parent, tmp_path):
    model = zoo.small_resnet(widths=(4, 8, 8))
    rng = np.random.default_rng(0)
    x = rng.random((6, 28, 28, 1), dtype=np.float32)
    y = np.arange(6) % 10
    spec = tfmot_parent.write_inputs(model, x, y, x[:3], y[:3], tmp_path)

    assert json.loads((tmp_path / "model_spec.json").read_text()) == spec
    with np.load(tmp_path / "weights.npz") as weights:
        for entry in spec["layers"]:
            expected = model.get_layer(entry["name"]).get_weights()
            for j, value in enumerate(expected):
                np.testing.assert_array_equal(weights[f"{entry['index']}_{j}"], value)
        assert len(weights.files) == sum(entry["num_weights"] for entry in spec["layers"])
    with np.load(tmp_path / "data.npz") as data:
        assert data["x_train"].dtype == np.float32 and data["y_train"].dtype == np.int64
        np.testing.assert_array_equal(data["y_test"], y[:3])
    reference = np.load(tmp_path / "reference.npy")
    np.testing.assert_allclose(reference, model.predict(x[:3], verbose=0), atol=1e-6)
