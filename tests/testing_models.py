"""Small models and helpers shared by the tests (importable: tests/ is on the path)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers


def build_residual_cnn(seed: int = 0) -> keras.Model:
    """Conv-BN-ReLU stem, one residual block, GAP and a Dense head."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((8, 8, 3), name="image")
    a = layers.Conv2D(8, 3, padding="same", name="stem")(x)
    a = layers.BatchNormalization(name="stem_bn")(a)
    a = layers.ReLU(name="stem_relu")(a)
    b = layers.Conv2D(16, 3, padding="same", name="inner")(a)
    b = layers.BatchNormalization(name="inner_bn")(b)
    b = layers.ReLU(name="inner_relu")(b)
    b = layers.Conv2D(8, 3, padding="same", name="outer")(b)
    c = layers.Add(name="add")([a, b])
    c = layers.GlobalAveragePooling2D(name="pool")(c)
    y = layers.Dense(4, name="head")(c)
    model = keras.Model(x, y, name="residual_cnn")
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.moving_mean.assign(rng.normal(size=n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, size=n).astype("float32"))
            layer.beta.assign(rng.normal(size=n).astype("float32"))
    return model


@pytest.fixture
def residual_cnn() -> keras.Model:
    return build_residual_cnn()


@pytest.fixture
def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 4, size=32)
    return x, y


def compile_for_test(model: keras.Model) -> keras.Model:
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def dataset(x, y, batch_size=8):
    from tfprune.data import make_dataset

    return make_dataset(x, y, batch_size)
