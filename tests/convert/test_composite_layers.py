"""Subclasses of ruled Keras layers that add sub-layers (re-parameterisable convs).

``class RepConv(keras.layers.Conv2D)`` with an extra branch at training time
inherits Conv2D's rule, which only knows Conv2D's own weights: tfprune must
refuse it clearly (naming the layer and the fix), and prune around it when it
is excluded.
"""

from __future__ import annotations

import keras
import pytest
from keras import layers

import tfprune
from tfprune import errors

H = 8


class RepConv(layers.Conv2D):
    """A Conv2D (the inference form) plus a 1x1 branch used only in training."""

    def build(self, input_shape):
        super().build(input_shape)
        self.branch = layers.Conv2D(self.filters, 1)
        self.branch.build(input_shape)

    def call(self, x, training=None):
        y = super().call(x)
        if training:
            y = y + self.branch(x)
        return y


def rep_model():
    inputs = keras.Input((H, H, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inputs)
    x = RepConv(8, 3, padding="same", name="rep")(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="c2")(x)
    return keras.Model(inputs, layers.Conv2D(4, 1, name="head")(x))


def test_reparameterisable_conv_is_refused_clearly():
    with pytest.raises(errors.UnsupportedLayerError, match=r"`rep`.*sub-layers.*exclude=\['rep'\]"):
        tfprune.prune(rep_model(), "l1", sparsity=0.5, round_to=None)


def test_reparameterisable_conv_excluded(check_slim):
    keras.utils.set_random_seed(0)
    result = check_slim(rep_model(), exclude=["rep"])
    assert result.slimmed.get_layer("rep").filters == 8  # kept whole
    assert result.slimmed.get_layer("c2").filters == 4
