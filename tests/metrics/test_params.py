"""Tests of `tfprune.metrics.count_params`."""

from __future__ import annotations

import keras
import pytest

from tfprune import errors, metrics

layers = keras.layers


def test_equals_keras_count_for_a_small_cnn():
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3)(inputs)
    x = layers.BatchNormalization()(x)  # 2 trainable + 2 non-trainable
    x = layers.DepthwiseConv2D(3)(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    expected = (27 * 4 + 4) + 4 * 4 + (9 * 4 + 4) + (4 * 4 * 4 * 2 + 2)
    assert metrics.count_params(model) == expected == model.count_params()


def test_equals_keras_count_for_sequential_and_nested():
    inner = keras.Sequential([keras.Input((5,)), layers.Dense(4)])
    inputs = keras.Input((5,))
    model = keras.Model(inputs, layers.Dense(1)(inner(inputs)))
    assert metrics.count_params(model) == model.count_params() == 24 + 5
    assert metrics.count_params(inner) == inner.count_params() == 24


def test_equals_keras_count_for_resnet50(resnet50):
    assert metrics.count_params(resnet50) == resnet50.count_params()


def test_shared_layer_counts_once():
    shared = layers.Dense(3)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, shared(shared(inputs)))
    assert metrics.count_params(model) == 12 == model.count_params()


def test_wrapper_counts_only_the_wrapped_layer(masked_wrapper):
    inputs = keras.Input((10, 10, 4))
    wrapper = masked_wrapper(
        layers.Conv2D(6, 3),
        input_mask=[1, 1, 1, 1],
        output_mask=[1, 0, 1, 0, 1, 0],
    )
    outputs = layers.Dense(2)(layers.Flatten()(wrapper(inputs)))
    model = keras.Model(inputs, outputs)
    conv = 9 * 4 * 6 + 6
    dense = 8 * 8 * 6 * 2 + 2
    assert metrics.count_params(model) == conv + dense
    # Keras itself also counts the 4 + 6 mask entries.
    assert model.count_params() == conv + dense + 10


def test_wrapper_in_nested_model(masked_wrapper):
    block_inputs = keras.Input((3,))
    wrapper = masked_wrapper(layers.Dense(2), output_mask=[1, 0])
    block = keras.Model(block_inputs, wrapper(block_inputs))
    inputs = keras.Input((3,))
    model = keras.Model(inputs, block(inputs))
    assert metrics.count_params(model) == 8
    assert model.count_params() == 10


def test_unbuilt_model_is_rejected():
    with pytest.raises(errors.PruningArgumentError, match="not built"):
        metrics.count_params(keras.Sequential([layers.Dense(2)]))


def test_non_keras_object_is_rejected():
    with pytest.raises(errors.PruningArgumentError, match="Keras 3"):
        metrics.count_params(object())
