"""Catalogue: models and arguments `tfprune.prune` refuses."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from errors_catalogue import tiny_cnn
from keras import layers

import tfprune
from tfprune import errors


def _prune_error(model, *args, error=errors.PruningArgumentError, **kwargs):
    with pytest.raises(error) as info:
        tfprune.prune(model, *args, **kwargs)
    return info.value


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def test_tf_distribute_under_another_backend(expect, monkeypatch):
    """The check itself, in this (TensorFlow) process: tests/backends/ runs it under real JAX and torch."""
    import tensorflow as tf

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        expect("tf-distribute-under-another-backend", _prune_error(tiny_cnn(), "l1", 0.5))
    monkeypatch.undo()
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():  # on TensorFlow the strategy is welcome
        assert tfprune.prune(tiny_cnn(), "l1", 0.5, round_to=None).name


def test_weights_nan_or_inf(expect):
    model = tiny_cnn()
    kernel = model.get_layer("conv2").kernel
    value = np.array(kernel)
    value[0, 1, 2, 3] = np.nan
    kernel.assign(value)
    before = _weights(model)
    expect("weights-nan-or-inf", _prune_error(model, "l1", 0.5, round_to=None))
    bias = model.get_layer("conv1").bias
    bias.assign(np.array([np.inf] + [0.0] * 7, "float32"))
    error = _prune_error(model, "fuzzy")
    expect("weights-nan-or-inf", error)
    assert "`conv1/bias` (0 NaN, 1 inf" in str(error) and "`conv2/kernel` (1 NaN" in str(error)
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(before[2:], _weights(model)[2:]))


def test_integer_input_into_conv(expect):
    x = keras.Input((6, 6, 2), dtype="uint8", name="pixels")
    y = layers.Conv2D(8, 3, name="conv1")(x)
    y = layers.Conv2D(8, 3, name="conv2")(y)
    model = keras.Model(x, layers.Dense(3, name="head")(y), name="raw_pixels")
    with pytest.raises((TypeError, ValueError)):  # the model itself cannot run
        model(np.zeros((1, 6, 6, 2), "uint8"))
    expect("integer-input-into-conv", _prune_error(model, "l1", 0.5, round_to=None))
    fixed_x = keras.Input((6, 6, 2), dtype="uint8", name="pixels")
    y = layers.Rescaling(1 / 255, name="scale")(fixed_x)
    y = layers.Conv2D(8, 3, name="conv1")(y)
    y = layers.Conv2D(8, 3, name="conv2")(y)
    fixed = keras.Model(fixed_x, layers.Dense(3, name="head")(y))
    pruned = tfprune.prune(fixed, "l1", 0.5, round_to=None)
    assert pruned.predict(np.zeros((1, 6, 6, 2), "uint8"), verbose=0).shape == (1, 2, 2, 3)


def _token_model():
    x = keras.Input((5,), dtype="int32", name="tokens")
    y = layers.Embedding(50, 8, name="embedding")(x)
    y = layers.Conv1D(8, 3, name="conv1")(y)
    y = layers.Conv1D(8, 3, name="conv2")(y)
    y = layers.GlobalAveragePooling1D(name="gap")(y)
    return keras.Model(x, layers.Dense(3, name="head")(y), name="tokens")


def test_integer_input_embedding(expect):
    model = _token_model()
    expect("integer-input-embedding", _prune_error(model, "l1", 0.5, round_to=None, error=errors.UnsupportedLayerError))
    pruned = tfprune.prune(model, "l1", 0.5, round_to=None, exclude=["embedding"])
    tfprune.Pruner(pruned).step(0)
    small = tfprune.slim(pruned)
    tokens = np.arange(10, dtype="int32").reshape(2, 5)
    np.testing.assert_allclose(
        small.predict(tokens, verbose=0), tfprune.strip_pruning(pruned).predict(tokens, verbose=0), atol=1e-5
    )
    assert tfprune.count_params(small) < tfprune.count_params(model)


def _string_model():
    x = keras.Input((1,), dtype="string", name="word")
    y = layers.StringLookup(vocabulary=["a", "b", "c"], name="lookup")(x)
    y = layers.Embedding(8, 8, name="embedding")(y)
    y = layers.Flatten(name="flat")(y)
    y = layers.Dense(16, name="hidden")(y)
    return keras.Model(x, layers.Dense(3, name="head")(y), name="words")


def test_string_input(expect):
    import tensorflow as tf

    model = _string_model()
    expect("string-input", _prune_error(model, "l1", 0.5, round_to=None, error=errors.UnsupportedLayerError))
    pruned = tfprune.prune(model, "l1", 0.5, round_to=None, exclude=["lookup", "embedding"])
    tfprune.Pruner(pruned).step(0)
    small = tfprune.slim(pruned)
    assert small.get_layer("hidden").units == 8
    words = tf.constant([["a"], ["c"], ["zzz"]])
    np.testing.assert_allclose(small(words), tfprune.strip_pruning(pruned)(words), atol=1e-5)


def test_channels_first(expect):
    x = keras.Input((2, 6, 6), name="nchw")
    y = layers.Conv2D(8, 3, data_format="channels_first", name="conv1")(x)
    y = layers.Conv2D(8, 3, data_format="channels_first", name="conv2")(y)
    y = layers.GlobalAveragePooling2D(data_format="channels_first", name="gap")(y)
    model = keras.Model(x, layers.Dense(3, name="head")(y), name="nchw_cnn")
    expect("channels-first", _prune_error(model, "l1", 0.5, round_to=None))
    # The suggested fix: transpose the input, then channels_last layers.
    fx = keras.Input((2, 6, 6), name="nchw")
    y = layers.Permute((2, 3, 1), name="to_nhwc")(fx)
    y = layers.Conv2D(8, 3, name="conv1")(y)
    y = layers.Conv2D(8, 3, name="conv2")(y)
    y = layers.GlobalAveragePooling2D(name="gap")(y)
    fixed = keras.Model(fx, layers.Dense(3, name="head")(y))
    assert len(tfprune.Pruner(tfprune.prune(fixed, "l1", 0.5, round_to=None)).active_groups) == 2


def test_sparsity_one(cnn, expect):
    expect("sparsity-one", _prune_error(cnn, "l1", 1.0))
    expect("sparsity-one", _prune_error(cnn, "l1", {"conv1": 1.0}))


def test_schedule_to_sparsity_one(expect):
    with pytest.raises(errors.PruningArgumentError) as info:
        tfprune.schedules.PolynomialDecay(0.0, 1.0, begin_step=0, end_step=100)
    expect("schedule-to-sparsity-one", info.value)


def test_target_flops_unreachable(expect):
    model = tiny_cnn()
    expect("target-flops-unreachable", _prune_error(model, "spp", sparsity=0.9, target_flops=1e-9, round_to=None))
    error = _prune_error(model, "fuzzy", target_flops=0.01, round_to=None)
    expect("target-flops-unreachable", error)
    # The floor the message names is the lowest target accepted.
    floor = float(str(error).split("target_flops >= ")[1].split(",")[0])
    assert tfprune.prune(model, "fuzzy", target_flops=floor * 1.01, round_to=None)


def test_target_unreachable(expect):
    model = tiny_cnn()
    error = _prune_error(model, "l1", target=1e-9, round_to=None, error=errors.BudgetError)
    expect("target-unreachable", error)
    assert error.reachable[2] == 975  # the floor in MACs, as in the message
    expect("target-unreachable", _prune_error(model, "l2", target={"params": 10}, round_to=None, error=errors.BudgetError))
    pruned = tfprune.prune(model, "l1", target={"flops": 975}, round_to=None, tolerance=0.0)  # the floor itself
    tfprune.one_shot(pruned)
    assert tfprune.count_flops(tfprune.slim(pruned)) == 975


def test_model_already_pruned(cnn, expect):
    pruned = tfprune.prune(cnn, "l1", 0.5, round_to=None)
    expect("model-already-pruned", _prune_error(pruned, "l2", 0.5))


def test_exclude_unknown_layer(cnn, expect):
    expect("exclude-unknown-layer", _prune_error(cnn, "l1", 0.5, exclude=["conv_1"]))


def test_no_prunable_group(expect):
    x = keras.Input((6, 6, 2), name="image")
    y = layers.Conv2D(4, 3, name="conv1")(x)
    model = keras.Model(x, layers.Conv2D(4, 3, name="conv2")(y), name="small")
    expect("no-prunable-group", _prune_error(model, "l1", 0.5))  # round_to=8 > 4 channels
    assert len(tfprune.Pruner(tfprune.prune(model, "l1", 0.5, round_to=None)).active_groups) == 1


def test_fit_without_callback(cnn, expect):
    pruned = tfprune.prune(cnn, "l1", 0.5, round_to=None)
    pruned.compile("sgd", "mse")
    with pytest.raises(errors.MissingCallbackError) as info:
        pruned.fit(np.zeros((2, 6, 6, 2)), np.zeros((2, 3)), verbose=0)
    expect("fit-without-callback", info.value)



def test_weights_nan_during_fit(cnn, expect):
    schedule = tfprune.schedules.PolynomialDecay(0.0, 0.5, begin_step=0, end_step=4, frequency=1)
    pruned = tfprune.prune(cnn, "l1", schedule=schedule, round_to=None)
    pruned.compile(keras.optimizers.SGD(0.01), "mse")
    x = np.random.default_rng(0).normal(size=(4, 6, 6, 2)).astype("float32")
    x[1:] = np.nan  # batch 0 trains normally; batch 1 turns every weight into NaN
    history = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: history.append(tfprune.Pruner(pruned).pruned_fraction())
    )
    with pytest.raises(errors.NonFiniteWeightsError) as info:
        pruned.fit(x, np.zeros((4, 3)), batch_size=1, shuffle=False, verbose=0,
                   callbacks=[tfprune.UpdatePruning(), record])
    expect("weights-nan-during-fit", info.value)
    assert "`conv1/kernel` (144 NaN, 0 inf of 144 values; first at index (0, 0, 0, 0))" in str(info.value)
    # Steps 0 and 1 pruned on finite weights; step 2 stopped before ranking NaN scores.
    assert history == [0.0, 0.25] and isinstance(info.value, FloatingPointError)

def test_unknown_method(cnn, expect):
    expect("unknown-method", _prune_error(cnn, "l3", 0.5))


def test_granularity_not_supported(cnn, expect):
    expect("granularity-not-supported", _prune_error(cnn, "fuzzy", granularity="column"))


def test_layer_without_rule(expect):
    class Scale(layers.Layer):  # a user's custom layer
        def call(self, x):
            return x * 2.0

    x = keras.Input((6, 6, 2), name="image")
    y = layers.Conv2D(8, 3, name="conv1")(x)
    y = Scale(name="scale")(y)
    y = layers.Conv2D(8, 3, name="conv2")(y)
    model = keras.Model(x, layers.Dense(3, name="head")(y))
    expect("layer-without-rule", _prune_error(model, "l1", 0.5, round_to=None, error=errors.UnsupportedLayerError))
    assert tfprune.prune(model, "l1", 0.5, round_to=None, exclude=["scale"])


def test_subclassed_model(expect):
    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.conv1 = layers.Conv2D(8, 3)
            self.conv2 = layers.Conv2D(8, 3)

        def call(self, x):
            return self.conv2(self.conv1(x))

    model = Net()
    model(np.zeros((1, 6, 6, 2), "float32"))
    expect("subclassed-model", _prune_error(model, "l1", 0.5, error=errors.UnsupportedModelError))
