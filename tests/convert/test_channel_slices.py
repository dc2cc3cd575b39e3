"""Raw channel slices and splits: ``x[..., a:b]`` and ``keras.ops.split``.

The outputs are sub-ranges of the input's channels (Ghost modules, ViT class
tokens): they are coupled to those channels, and ``slim`` replays the op with
bounds moved to the kept channels.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers, ops

import tfprune

H = 8


def conv(x, filters, name, kernel=3):
    return layers.Conv2D(filters, kernel, padding="same", activation="relu", name=name)(x)


def head(x):
    return layers.Conv2D(4, 1, name="head")(x)


def slice_prefix():
    inputs = keras.Input((H, H, 3))
    x = conv(inputs, 16, "c1")
    return keras.Model(inputs, head(conv(x[..., :8], 8, "c2")))


def slice_middle_explicit_axes():
    inputs = keras.Input((H, H, 3))
    x = conv(inputs, 16, "c1")
    a = x[:, :, :, 4:12]
    b = x[..., -4:]
    return keras.Model(inputs, head(layers.Concatenate()([conv(a, 8, "c2"), b])))


def ghost_module():
    """GhostNet: cheap depthwise features concatenated, then cut to width."""
    inputs = keras.Input((H, H, 3))
    primary = conv(inputs, 8, "primary", kernel=1)
    cheap = layers.DepthwiseConv2D(3, padding="same", name="cheap")(primary)
    x = layers.Concatenate()([primary, cheap])[..., :12]
    return keras.Model(inputs, head(conv(x, 8, "c2")))


def slice_spatial_only():
    inputs = keras.Input((H, H, 3))
    x = conv(inputs, 8, "c1")
    return keras.Model(inputs, head(conv(x[:, 1:, :-1], 8, "c2")))


def split_sections():
    inputs = keras.Input((H, H, 3))
    x = conv(inputs, 16, "c1")
    a, b = ops.split(x, 2, axis=-1)
    return keras.Model(inputs, head(layers.Add()([conv(a, 8, "c2"), b])))


def split_indices():
    inputs = keras.Input((H, H, 3))
    x = conv(inputs, 16, "c1")
    a, b, c = ops.split(x, [4, 12], axis=-1)
    y = layers.Concatenate()([conv(a, 8, "ca"), conv(b, 8, "cb"), c])
    return keras.Model(inputs, head(y))


def split_spatial_axis():
    inputs = keras.Input((H, H, 3))
    x = conv(inputs, 8, "c1")
    top, bottom = ops.split(x, 2, axis=1)
    return keras.Model(inputs, head(conv(layers.Concatenate(axis=1)([bottom, top]), 8, "c2")))


CASES = {
    f.__name__: f
    for f in (
        slice_prefix,
        slice_middle_explicit_axes,
        ghost_module,
        slice_spatial_only,
        split_sections,
        split_indices,
        split_spatial_axis,
    )
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_slices_and_splits_slim_exactly(name, check_slim):
    keras.utils.set_random_seed(0)
    model = CASES[name]()
    check_slim(model)


def test_slice_is_coupled_to_its_input_channels():
    keras.utils.set_random_seed(0)
    model = slice_prefix()
    graph = tfprune.graph.ChannelGraph.build(model)
    # c1's first 8 channels feed c2; the other 8 are unused but still prunable.
    groups = graph.groups_of_layer("c2")
    assert any("c1" in g.layers for g in groups)


def test_excluded_slice_replays_in_slim(check_slim):
    """Excluding the slice (as the old error suggested) must still slim."""
    keras.utils.set_random_seed(0)
    model = slice_prefix()
    name = next(op.name for op in model.operations if type(op).__name__ == "GetItem")
    check_slim(model, exclude=[name])


def test_channel_index_is_pinned(check_slim):
    """``x[..., 0:8:2]`` (a step) cannot be moved: its input channels are kept."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((H, H, 3))
    x = conv(inputs, 8, "c1")
    y = conv(x[..., 0:8:2], 8, "c2")
    model = keras.Model(inputs, head(y))
    result = check_slim(model)
    assert result.slimmed.get_layer("c1").filters == 8
    assert result.slimmed.get_layer("c2").filters == 4


def test_channels_a_slice_drops_are_unread():
    keras.utils.set_random_seed(0)
    graph = tfprune.graph.ChannelGraph.build(slice_prefix())
    (group,) = [g for g in graph.groups if g.id == "c1"]
    assert graph.unread_units[np.asarray(group.units)].tolist() == [False] * 8 + [True] * 8
    assert not graph.unread_units[[u for g in graph.groups if g.id != "c1" for u in g.units]].any()


def test_unread_channels_are_pruned_before_live_ones(check_slim):
    """Random graphs seed 1186: the live channel had the smaller norm, so L1/L2
    masked it and kept the channel the slice drops; ``slim`` must keep the
    slice non-empty (one all-zero channel), so nothing was removed."""
    inputs = keras.Input((H, H, 3))
    x = layers.Conv2D(2, 3, padding="same", name="c1")(inputs)
    y = layers.GlobalAveragePooling2D()(x[..., 0:1])
    model = keras.Model(inputs, layers.Dense(3, name="dense")(y))
    kernel = np.ones((3, 3, 3, 2), "float32")
    kernel[..., 0] *= 0.01  # the channel the model uses has the smaller norm
    model.get_layer("c1").kernel.assign(kernel)
    result = check_slim(model)
    assert result.pruner.group_keep(result.pruner.graph.group("c1")).tolist() == [True, False]
    assert result.slimmed.get_layer("c1").filters == 1
