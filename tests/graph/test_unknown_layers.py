"""A custom layer without a rule is refused with advice that fits it."""

from __future__ import annotations

import keras
import pytest

import tfprune
from tfprune import errors


class ConvBlock(keras.layers.Layer):
    """A composite layer, like keras-hub's MobileNet/EfficientNet blocks."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(filters, 3, padding="same", name="inner_conv")
        self.bn = keras.layers.BatchNormalization(name="inner_bn")

    def call(self, x):
        return keras.ops.relu(self.bn(self.conv(x)))


class Scale(keras.layers.Layer):
    def call(self, x):
        return 2.0 * x


def _model(layer):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    x = layer(x)
    x = keras.layers.Conv2D(8, 3, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def test_composite_layer_is_refused_as_composite():
    model = _model(ConvBlock(8, name="block"))
    with pytest.raises(errors.UnsupportedLayerError, match="composite layer") as info:
        tfprune.prune(model, "l1", sparsity=0.5)
    message = str(info.value)
    assert "`inner_conv`" in message and "`inner_bn`" in message
    assert "exclude=['block']" in message
    # The advice works: excluded, the block is opaque and the rest prunes.
    pruned = tfprune.prune(model, "l1", sparsity=0.5, round_to=None, exclude=["block"])
    tfprune.Pruner(pruned).step(0)
    assert tfprune.slim(pruned).count_params() < model.count_params()


def test_weightless_layer_gets_the_pass_through_advice():
    with pytest.raises(errors.UnsupportedLayerError, match="PassThroughRule") as info:
        tfprune.prune(_model(Scale(name="scale")), "l1", sparsity=0.5)
    assert "composite" not in str(info.value)
