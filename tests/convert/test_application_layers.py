"""Shipped rules for keras.applications' private layers.

ConvNeXt's ``LayerScale`` and InceptionResNetV2's ``CustomScaleLayer`` live in
private Keras modules; tfprune matches them by class name and module, so the
models prune without a user rule. The classes are taken here from the module
that defines the public constructor (tfprune itself never imports them).
"""

from __future__ import annotations

import sys

import keras
import numpy as np
from keras import layers

from tfprune.graph import find_rule, rules

H = 8


def private_class(constructor, name):
    return getattr(sys.modules[constructor.__module__], name)


LayerScale = private_class(keras.applications.ConvNeXtTiny, "LayerScale")
CustomScaleLayer = private_class(keras.applications.InceptionResNetV2, "CustomScaleLayer")


def test_shipped_rules_slim_exactly(check_slim, randomized):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((H, H, 3))
    x = layers.Conv2D(8, 3, padding="same", name="c0")(inputs)
    y = layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(x)
    scale = LayerScale(1e-6, 8, name="layer_scale")
    y = scale(y)
    scale.gamma.assign(np.random.default_rng(0).uniform(0.5, 1.5, 8).astype("float32"))
    y = layers.Conv2D(8, 1, name="c2")(y)
    x = CustomScaleLayer(0.2, name="scaled_add")([x, y])
    model = keras.Model(inputs, layers.Conv2D(4, 1, name="head")(layers.ReLU()(x)))
    result = check_slim(randomized(model))
    slim_scale = result.slimmed.get_layer("layer_scale")
    assert slim_scale.projection_dim == 4
    assert slim_scale.gamma.shape == (4,)
    # c0 and c2 are coupled through the scaled residual add.
    assert result.slimmed.get_layer("c0").filters == result.slimmed.get_layer("c2").filters == 4


def test_same_name_elsewhere_does_not_match():
    class LayerScale(layers.Layer):  # a user's layer, not keras.applications'
        def call(self, x):
            return x

    assert find_rule(LayerScale()) is None
    assert isinstance(find_rule(CustomScaleLayer(0.1)), rules.ScaledAddRule)
