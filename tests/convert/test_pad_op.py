"""``keras.ops.pad`` as a raw op (keras-hub's ResNetV2 pads before strided convs)."""

from __future__ import annotations

import keras
import pytest

import tfprune


def _padded_cnn(**pad_kwargs) -> keras.Model:
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = keras.ops.pad(x, **pad_kwargs)
    x = keras.layers.Conv2D(8, 3, strides=2, name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="head")(x))


SPATIAL = [[0, 0], [1, 1], [1, 1], [0, 0]]


@pytest.mark.parametrize(
    "pad_kwargs",
    [{"pad_width": SPATIAL}, {"pad_width": SPATIAL, "mode": "reflect"}],
    ids=["zeros", "reflect"],
)
def test_spatial_pad_passes_channels_through(pad_kwargs, check_slim, randomized):
    keras.utils.set_random_seed(0)
    result = check_slim(randomized(_padded_cnn(**pad_kwargs)))
    assert result.slimmed.get_layer("conv1").filters == 4  # pruned through the pad


@pytest.mark.parametrize(
    "pad_kwargs",
    [
        {"pad_width": SPATIAL, "constant_values": 1.0},  # a zero channel would become 1
        {"pad_width": [[0, 0], [1, 1], [1, 1], [0, 2]]},  # pads the channel axis
    ],
    ids=["nonzero-constant", "channel-axis"],
)
def test_pad_that_changes_pruned_channels_keeps_them(pad_kwargs, check_slim, randomized):
    keras.utils.set_random_seed(0)
    result = check_slim(randomized(_padded_cnn(**pad_kwargs)))
    assert result.slimmed.get_layer("conv1").filters == 8  # kept whole
    assert result.slimmed.get_layer("conv2").filters == 4  # the rest still prunes
