"""tfprune.lrf.compensate: Weights Compensation on any producer -> linear consumer."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfprune import errors, lrf


def _two_dense(seed=0, producer_bias=True, consumer_bias=True, activation=None):
    keras.utils.set_random_seed(seed)
    x = keras.Input((6,))
    h = keras.layers.Dense(5, use_bias=producer_bias, activation=activation, name="producer")(x)
    y = keras.layers.Dense(3, use_bias=consumer_bias, name="consumer")(h)
    model = keras.Model(x, y)
    for layer in model.layers[1:]:
        for w in layer.weights:
            w.assign(np.random.default_rng(seed).normal(size=w.shape).astype("float32"))
    return model


def _relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_exact_combination_with_bias_is_compensated_exactly():
    model = _two_dense()
    producer, consumer = model.get_layer("producer"), model.get_layer("consumer")
    kernel, bias = np.array(producer.kernel), np.array(producer.bias)
    kernel[:, 2] = 2.0 * kernel[:, 0] - kernel[:, 4]
    producer.kernel.assign(kernel)
    x = np.random.default_rng(1).normal(size=(16, 6)).astype("float32")
    before = model.predict(x, verbose=0)
    lam = lrf.compensate(producer, consumer, 2)
    np.testing.assert_allclose(lam, [2.0, 0.0, 0.0, 0.0, -1.0], atol=1e-5)
    # Channel 2 is dead now: its consumer row is zero.
    assert not np.array(consumer.kernel)[2].any()
    # The bias difference b_2 - (2 b_0 - b_4) went into the consumer's bias.
    assert bias[2] != 2 * bias[0] - bias[4]
    assert _relative(model.predict(x, verbose=0), before) <= 1e-5


def test_approximate_channel_leaves_small_error_and_respects_keep():
    model = _two_dense(seed=3, producer_bias=False)
    producer, consumer = model.get_layer("producer"), model.get_layer("consumer")
    keep = np.array([True, True, True, False, True])
    lam = lrf.compensate(producer, consumer, 1, keep=keep)
    assert lam[1] == 0.0 and lam[3] == 0.0 and np.abs(lam[[0, 2, 4]]).sum() > 0


def test_conv_to_pointwise_conv():
    keras.utils.set_random_seed(0)
    x = keras.Input((6, 6, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="w")(x)
    y = keras.layers.Conv2D(5, 1, name="q")(h)
    model = keras.Model(x, y)
    w = np.array(model.get_layer("w").kernel)
    w[..., 3] = w[..., 0] + 0.25 * w[..., 1]
    model.get_layer("w").kernel.assign(w)
    data = np.random.default_rng(0).normal(size=(4, 6, 6, 3)).astype("float32")
    before = model.predict(data, verbose=0)
    lrf.compensate(model.get_layer("w"), model.get_layer("q"), 3)
    assert _relative(model.predict(data, verbose=0), before) <= 1e-5


def test_errors():
    model = _two_dense(activation="relu")
    with pytest.raises(errors.PruningArgumentError, match="linear producer"):
        lrf.compensate(model.get_layer("producer"), model.get_layer("consumer"), 0)
    model = _two_dense(consumer_bias=False)
    with pytest.raises(errors.PruningArgumentError, match="bias"):
        lrf.compensate(model.get_layer("producer"), model.get_layer("consumer"), 0)
    model = _two_dense()
    with pytest.raises(errors.PruningArgumentError, match="channel"):
        lrf.compensate(model.get_layer("producer"), model.get_layer("consumer"), 7)
    pool = keras.layers.ReLU()
    with pytest.raises(errors.PruningArgumentError, match="Dense or Conv"):
        lrf.compensate(pool, model.get_layer("consumer"), 0)
