"""Activations that mix channels pin them; channel-wise ones stay prunable.

A softmax over the channels (``Conv2D(..., activation="softmax")``, a
``Softmax``/``Activation("softmax")`` layer) or an activation tfprune does not
know (a user's callable) makes every output depend on every channel: pruning
one would change the others, so the masked and slim models would differ from
the stripped one.
"""

from __future__ import annotations

import keras
import pytest
from keras import layers, ops

H = 8


@keras.saving.register_keras_serializable(package="tfprune_tests")
def mean_centre(x):
    """A user activation that mixes channels (unknown to tfprune)."""
    return x - ops.mean(x, axis=-1, keepdims=True)


def conv_model(mixing_layer):
    def build():
        inputs = keras.Input((H, H, 3))
        x = layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inputs)
        x = mixing_layer()(x)
        x = layers.Conv2D(8, 3, padding="same", activation="relu", name="c3")(x)
        return keras.Model(inputs, layers.Conv2D(4, 1, name="head")(x))

    return build


def dense_softmax():
    inputs = keras.Input((H, H, 3))
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(8, 3, name="c1")(inputs))
    x = layers.Dense(8, activation="relu", name="d1")(x)
    x = layers.Dense(8, activation="softmax", name="mix")(x)
    x = layers.Dense(8, activation="relu", name="c3")(x)
    return keras.Model(inputs, layers.Dense(4, name="head")(x))


MIXING = {
    "conv_softmax": conv_model(lambda: layers.Conv2D(8, 3, padding="same", activation="softmax", name="mix")),
    "conv_user_callable": conv_model(lambda: layers.Conv2D(8, 1, activation=mean_centre, name="mix")),
    "separable_log_softmax": conv_model(
        lambda: layers.SeparableConv2D(8, 3, padding="same", activation="log_softmax", name="mix")
    ),
    "depthwise_softmax": conv_model(lambda: layers.DepthwiseConv2D(3, padding="same", activation="softmax", name="mix")),
    "activation_user_callable": conv_model(lambda: layers.Activation(mean_centre, name="mix")),
    "dense_softmax": dense_softmax,
}


@pytest.mark.parametrize("name", sorted(MIXING))
def test_channel_mixing_activation_is_pinned(name, check_slim):
    keras.utils.set_random_seed(0)
    model = MIXING[name]()
    width = model.get_layer("c1").output.shape[-1]
    result = check_slim(model)  # masked == stripped == slim
    slimmed = result.slimmed
    mix = slimmed.get_layer("mix")
    if isinstance(mix, (layers.DepthwiseConv2D, layers.Activation)):
        # It reads c1 channel by channel: c1's channels are the mixed ones.
        assert slimmed.get_layer("c1").filters == width
    else:
        assert width_of(mix) == 8
    # c3 is not behind a mixing activation: it is still pruned.
    assert width_of(slimmed.get_layer("c3")) == 4


def width_of(layer):
    return layer.filters if hasattr(layer, "filters") else layer.units


CHANNELWISE = (
    "relu", "relu6", "gelu", "silu", "swish", "hard_swish", "hard_sigmoid", "sigmoid",
    "tanh", "elu", "selu", "softplus", "softsign", "leaky_relu", "mish", "linear",
)


def test_channelwise_activations_stay_prunable(check_slim):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((H, H, 3))
    x = inputs
    for name in CHANNELWISE:
        x = layers.Conv2D(8, 1, activation=name, name=f"conv_{name}")(x)
    x = layers.Activation("gelu", name="act_gelu")(x)
    model = keras.Model(inputs, layers.Conv2D(4, 1, name="head")(x))
    result = check_slim(model)
    for name in CHANNELWISE:
        assert result.slimmed.get_layer(f"conv_{name}").filters == 4, name
