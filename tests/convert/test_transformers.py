"""Transformers: what can be pruned, and why nothing else can (yet)."""

from __future__ import annotations

import keras
import pytest
from keras import layers

import tfprune
from tfprune import errors


def tiny_vit(mlp_activation=None):
    """Patch embedding, pre-norm attention block, optional MLP, class head."""
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(8, 4, strides=4, name="patch_embed")(inputs)
    x = layers.Reshape((4, 8))(x)
    y = layers.LayerNormalization(name="ln_1")(x)
    y = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(y, y)
    x = layers.Add()([x, y])
    if mlp_activation is not None:
        y = layers.LayerNormalization(name="ln_2")(x)
        y = layers.Dense(16, activation=mlp_activation, name="mlp_in")(y)
        x = layers.Add()([x, layers.Dense(8, name="mlp_out")(y)])
    x = layers.GlobalAveragePooling1D()(layers.LayerNormalization(name="ln_f")(x))
    return keras.Model(inputs, layers.Dense(3, name="head")(x))


def test_no_prunable_group_says_why():
    with pytest.raises(errors.PruningArgumentError) as info:
        tfprune.prune(tiny_vit(), "l1", sparsity=0.5, round_to=None)
    message = str(info.value)
    assert "no prunable channel group" in message
    assert "LayerNormalization" in message and "`ln_1`" in message
    assert "residual stream" in message
    assert "attention heads are not pruned yet" in message and "`mha`" in message


def test_unknown_mlp_activation_is_named():
    with pytest.raises(errors.PruningArgumentError, match=r"unknown activation \(`mlp_in`\)"):
        tfprune.prune(tiny_vit(lambda t: t * 0.5), "l1", sparsity=0.5, round_to=None)


def test_mlp_hidden_channels_are_pruned(check_slim):
    keras.utils.set_random_seed(0)
    result = check_slim(tiny_vit("gelu"))
    assert result.slimmed.get_layer("mlp_in").units == 8
    assert result.slimmed.get_layer("mha").get_weights()[0].shape == (8, 2, 4)
