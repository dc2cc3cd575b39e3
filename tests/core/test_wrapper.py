"""PruningWrapper: config round trip, masking semantics."""

from __future__ import annotations

import keras
import numpy as np

import tfprune
from tfprune.layers import PruningWrapper


def test_config_round_trip_and_serialization():
    wrapper = PruningWrapper(
        keras.layers.Conv2D(4, 3, name="conv"),
        mask_input=False,
        spec={"method": keras.saving.serialize_keras_object(tfprune.methods.MagnitudePruning(2)), "round_to": 8},
    )
    config = wrapper.get_config()
    clone = PruningWrapper.from_config(config)
    assert clone.get_config() == config
    assert clone.name == "conv" and clone.method.ord == 2
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(wrapper))
    assert isinstance(revived, PruningWrapper)
    assert revived.get_config() == config


def test_masks_multiply_input_and_output_channels():
    layer = keras.layers.Dense(3, kernel_initializer="ones", name="dense")
    wrapper = PruningWrapper(layer)
    x = np.ones((2, 4), "float32")
    wrapper(x)
    wrapper.input_mask.assign([1, 0, 1, 0])
    wrapper.output_mask.assign([1, 1, 0])
    np.testing.assert_allclose(wrapper(x), [[2, 2, 0], [2, 2, 0]])
    assert wrapper.trainable_weights == [layer.kernel, layer.bias]
    assert {w.name for w in wrapper.non_trainable_weights} == {"input_mask", "output_mask"}


def test_plan_json_round_trip_and_reapply(residual_cnn, batch, tmp_path):
    pruned = tfprune.prune(residual_cnn, "l1", 0.5, round_to=None)
    tfprune.Pruner(pruned).step(0)
    plan = tfprune.make_plan(pruned)
    path = tmp_path / "plan.json"
    plan.to_json(path)
    again = tfprune.PrunePlan.from_json(path)
    assert again == plan
    assert plan.num_pruned == 4 + 8  # residual group 8 -> 4, inner 16 -> 8
    from_plan = tfprune.slim(residual_cnn, again)
    from_masks = tfprune.slim(pruned)
    np.testing.assert_allclose(from_plan(batch[0]), from_masks(batch[0]), atol=1e-5)
    assert from_plan.count_params() == from_masks.count_params() < residual_cnn.count_params()


def test_plan_for_another_architecture_is_refused(residual_cnn):
    import pytest

    pruned = tfprune.prune(residual_cnn, "l1", 0.5, round_to=None)
    tfprune.Pruner(pruned).step(0)
    plan = tfprune.make_plan(pruned)
    x = keras.Input((8, 8, 3))
    other = keras.Model(x, keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Conv2D(4, 3, name="stem")(x))))
    with pytest.raises(tfprune.errors.PruningArgumentError):
        tfprune.slim(other, plan)


def test_slim_model_loads_without_tfprune(residual_cnn, tmp_path):
    import subprocess
    import sys

    pruned = tfprune.prune(residual_cnn, "l1", 0.5, round_to=None)
    tfprune.Pruner(pruned).step(0)
    small = tfprune.slim(pruned)
    path = tmp_path / "small.keras"
    small.save(path)
    code = (
        "import sys; sys.modules['tfprune'] = None\n"  # importing tfprune would fail
        "import keras; m = keras.models.load_model(%r); print(m.count_params())" % str(path)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert int(out.stdout.strip().splitlines()[-1]) == small.count_params()
