"""PruningWrapper: config round trip, masking semantics."""

from __future__ import annotations

import keras
import numpy as np
import pytest

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


def test_masks_are_applied_only_where_channels_mix(residual_cnn, batch):
    """docs/design.md#mask-placement: kernels of the mixing layers, nothing elsewhere."""
    pruned = tfprune.prune(residual_cnn, "l1", 0.5, round_to=None)
    places = {w.name: (w.input_mask_at, w.output_mask_at) for w in tfprune.layers.find_wrappers(pruned)}
    # Every wrapper still holds its masks (the keep decision, saved with the model)...
    assert all(w.input_mask is not None or w.output_mask is not None for w in tfprune.layers.find_wrappers(pruned))
    # ...but only the convs reading pruned channels apply one, on their kernel rows
    # (3x3x8x16 kernel < 32 samples of 8x8x8); the head's kernel (8x4) too.
    assert places["inner"] == ("kernel", None) and places["outer"] == ("kernel", None)
    assert places["head"] == ("kernel", None)
    assert places["stem"] == (None, None)
    assert places["inner_bn"] == (None, None) and places["stem_bn"] == (None, None)


def test_large_kernels_mask_the_activation_instead():
    """A Dense whose kernel outweighs 32 samples of its input masks the input."""
    x = keras.Input((4, 4, 3))
    y = keras.layers.Conv2D(16, 3, name="conv")(x)
    y = keras.layers.GlobalAveragePooling2D()(y)
    y = keras.layers.Dense(256, name="wide")(y)  # 16 x 256 kernel > 32 x 16 inputs
    y = keras.layers.Dense(2, name="head")(y)
    pruned = tfprune.prune(keras.Model(x, y), "l1", 0.5, round_to=None)
    assert pruned.get_layer("wide").input_mask_at == "activation"
    assert pruned.get_layer("head").input_mask_at == "kernel"  # 256 x 2 < 32 x 256
    tfprune.one_shot(pruned)
    batch = np.random.default_rng(0).normal(size=(3, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(tfprune.slim(pruned)(batch), pruned(batch), rtol=1e-5, atol=1e-5)


def test_kernel_input_mask_equals_activation_input_mask():
    """Masking a kernel's input rows gives the activation mask's result, for every kernel layout."""
    rng = np.random.default_rng(0)
    cases = [
        (keras.layers.Conv2D(5, 3), (2, 6, 6, 4)),
        (keras.layers.Conv1D(5, 3), (2, 7, 4)),
        (keras.layers.Conv2DTranspose(5, 3), (2, 5, 5, 4)),
        (keras.layers.Dense(5), (2, 3, 4)),
    ]
    for layer, shape in cases:
        x = rng.normal(size=shape).astype("float32")
        by_kernel = PruningWrapper(layer, mask_output=False, input_mask_at="kernel")
        by_kernel(x)
        by_kernel.input_mask.assign([1, 0, 1, 0])
        expected = layer(x * np.array([1, 0, 1, 0], "float32"))
        np.testing.assert_allclose(by_kernel(x), expected, rtol=1e-5, atol=1e-6)
        clone = PruningWrapper.from_config(by_kernel.get_config())
        assert clone.input_mask_at == "kernel" and clone.output_mask_at is None


def test_bad_mask_place_is_refused():
    with pytest.raises(tfprune.errors.PruningArgumentError, match="input_mask_at"):
        PruningWrapper(keras.layers.Dense(3), input_mask_at="weights")
    with pytest.raises(tfprune.errors.PruningArgumentError, match="BatchNormalization.*input_mask_at='activation'"):
        PruningWrapper(keras.layers.BatchNormalization(), input_mask_at="kernel")
