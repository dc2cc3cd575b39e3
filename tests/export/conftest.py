"""Tiny Keras models and their TFLite exports, shared by the export tests."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from tfprune.export import export_tflite

SEED = 1234


def randomize_batchnorm(model: keras.Model, seed: int = SEED) -> keras.Model:
    """Give every BatchNormalization non-trivial gamma/beta/mean/variance."""
    rng = np.random.default_rng(seed)
    for layer in _all_layers(model):
        if isinstance(layer, layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.beta.assign(rng.normal(0.0, 0.5, n).astype("float32"))
            layer.moving_mean.assign(rng.normal(0.0, 0.5, n).astype("float32"))
            layer.moving_variance.assign(
                rng.uniform(0.5, 2.0, n).astype("float32")
            )
    return model


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def build_cnn(input_shape=(8, 8, 3)) -> keras.Model:
    """Conv2D + BN + ReLU, a residual Add, GlobalAveragePooling2D, Dense."""
    keras.utils.set_random_seed(SEED)
    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(8, 3, padding="same", name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    y = layers.Conv2D(8, 3, padding="same", name="block_conv1")(x)
    y = layers.BatchNormalization(name="block_bn1")(y)
    y = layers.ReLU(name="block_relu1")(y)
    y = layers.Conv2D(8, 3, padding="same", name="block_conv2")(y)
    y = layers.BatchNormalization(name="block_bn2")(y)
    x = layers.Add(name="block_add")([x, y])
    x = layers.ReLU(name="block_out")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(5, name="logits")(x)
    return randomize_batchnorm(keras.Model(inputs, outputs, name="tiny_cnn"))


def build_sequential() -> keras.Model:
    """Sequential Conv2D + BN + ReLU + MaxPool + Flatten + Dense."""
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(4, 3, padding="same"),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(6, activation="relu"),
            layers.Dense(3),
        ],
        name="tiny_seq",
    )
    return randomize_batchnorm(model)


def _assert_close_to_keras(actual, expected, rel: float = 1e-5) -> None:
    """|actual - expected| <= rel * max|expected| elementwise, same shape."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = float(np.max(np.abs(expected)))
    assert scale > 0
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rel * scale)


@pytest.fixture(scope="session")
def assert_close():
    return _assert_close_to_keras


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


@pytest.fixture(scope="session")
def cnn() -> keras.Model:
    return build_cnn()


@pytest.fixture(scope="session")
def seq_model() -> keras.Model:
    return build_sequential()


@pytest.fixture(scope="session")
def cnn_tflite(cnn, tmp_path_factory):
    return export_tflite(cnn, tmp_path_factory.mktemp("cnn") / "cnn.tflite")


@pytest.fixture(scope="session")
def fixed_batch_cnn_tflite(cnn, tmp_path_factory):
    """The CNN exported with a static batch dimension of 1.

    Note: ``keras.Input(..., batch_size=1)`` is not enough, Keras'
    SavedModel export makes the batch dimension dynamic anyway.
    """
    path = tmp_path_factory.mktemp("cnn_b1") / "cnn_b1.tflite"
    return export_tflite(cnn, path, batch_size=1)


@pytest.fixture(scope="session")
def seq_tflite(seq_model, tmp_path_factory):
    return export_tflite(
        seq_model, tmp_path_factory.mktemp("seq") / "seq.tflite"
    )
