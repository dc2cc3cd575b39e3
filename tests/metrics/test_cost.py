"""CostModel: FLOPs/params of the slim model, predicted from kept channels."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import tfprune
from tfprune import zoo
from tfprune.metrics.cost import CostModel


def _models():
    yield "small_resnet", zoo.small_resnet
    yield "mobilenetv2", lambda: keras.applications.MobileNetV2(weights=None, input_shape=(64, 64, 3), alpha=0.35)
    yield "inception_block", _inception_block


def _inception_block():
    """Concatenated branches of different widths, a depthwise conv and a Dense head."""
    layers = keras.layers
    x = keras.Input((12, 12, 3))
    a = layers.Conv2D(12, 1, activation="relu")(x)
    b = layers.Conv2D(20, 3, padding="same", activation="relu")(x)
    c = layers.SeparableConv2D(16, 3, padding="same")(b)
    y = layers.Concatenate()([a, b, c])
    y = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(y)
    y = layers.Conv2D(24, 1)(y)
    y = layers.Flatten()(layers.MaxPooling2D(4)(y))
    return keras.Model(x, layers.Dense(5)(y))


@pytest.mark.parametrize(("name", "build"), list(_models()), ids=[n for n, _ in _models()])
def test_prediction_equals_the_counts_of_the_slim_model(name, build):
    del name
    model = build()
    pruned = tfprune.prune(model, "l1", sparsity=0.5, round_to=None)
    pruner = tfprune.Pruner(pruned)
    cost = CostModel.build(pruned, pruner.graph)
    assert cost.dense_flops == tfprune.count_flops(model)
    assert cost.dense_params == tfprune.count_params(model)
    rng = np.random.default_rng(0)
    for group in pruner.active_groups:  # a random, uneven cut
        keep = np.ones(group.num_channels, dtype=bool)
        keep[rng.permutation(group.num_channels)[: rng.integers(0, group.num_channels)]] = False
        pruner.set_group_keep(group, keep)
    pruner.write_masks()
    small = tfprune.slim(pruned)
    assert cost.flops(pruner.keep) == tfprune.count_flops(small)
    assert cost.params(pruner.keep) == tfprune.count_params(small)
