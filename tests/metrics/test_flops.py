"""Tests of `tfprune.metrics.count_flops` and `flops_by_layer`.

Every expected value is computed by hand from the layer's MAC formula.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfprune import errors, metrics

layers = keras.layers


def _model(input_shape, *layer_list):
    inputs = keras.Input(input_shape)
    x = inputs
    for layer in layer_list:
        x = layer(x)
    return keras.Model(inputs, x)


# --- one layer type at a time ------------------------------------------


@pytest.mark.parametrize(
    ("input_shape", "layer", "expected"),
    [
        # k*k * C_in * C_out * H_out * W_out; valid 3x3 on 10x10 -> 8x8.
        ((10, 10, 3), layers.Conv2D(4, 3), 9 * 3 * 4 * 8 * 8),
        # "same", stride 2: 10x10 -> 5x5; bias adds nothing.
        (
            (10, 10, 3),
            layers.Conv2D(4, 3, strides=2, padding="same"),
            9 * 3 * 4 * 5 * 5,
        ),
        (
            (10, 10, 3),
            layers.Conv2D(4, (3, 1), use_bias=False),
            3 * 3 * 4 * 8 * 10,
        ),
        # Dilation 2: effective 5x5 receptive field, still 9 taps: 6x6 out.
        ((10, 10, 3), layers.Conv2D(4, 3, dilation_rate=2), 9 * 3 * 4 * 6 * 6),
        # Groups: C_in / groups per filter.
        ((8, 8, 6), layers.Conv2D(4, 3, groups=2), 9 * (6 // 2) * 4 * 6 * 6),
        ((20, 3), layers.Conv1D(5, 4), 4 * 3 * 5 * 17),
        ((20, 3), layers.Conv1D(5, 4, padding="causal"), 4 * 3 * 5 * 20),
        ((6, 6, 6, 2), layers.Conv3D(3, 3), 27 * 2 * 3 * 4 * 4 * 4),
        # Transposed: k * C_in * C_out per *input* position.
        ((5, 5, 3), layers.Conv2DTranspose(4, 3, strides=2), 9 * 3 * 4 * 5 * 5),
        (
            (7, 2),
            layers.Conv1DTranspose(3, 5, strides=2, padding="same"),
            5 * 2 * 3 * 7,
        ),
        ((3, 3, 3, 2), layers.Conv3DTranspose(2, 2, strides=2), 8 * 2 * 2 * 27),
        # Depthwise: k * C_in * M * H_out * W_out.
        ((10, 10, 3), layers.DepthwiseConv2D(3), 9 * 3 * 8 * 8),
        (
            (10, 10, 3),
            layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
            9 * 3 * 2 * 10 * 10,
        ),
        (
            (20, 4),
            layers.DepthwiseConv1D(5, depth_multiplier=3),
            5 * 4 * 3 * 16,
        ),
        # Separable: depthwise + pointwise.
        (
            (10, 10, 3),
            layers.SeparableConv2D(8, 3),
            9 * 3 * 8 * 8 + 3 * 8 * 8 * 8,
        ),
        (
            (10, 10, 3),
            layers.SeparableConv2D(
                8, 3, depth_multiplier=2, strides=2, padding="same"
            ),
            9 * 6 * 5 * 5 + 6 * 8 * 5 * 5,
        ),
        ((20, 4), layers.SeparableConv1D(6, 3), 3 * 4 * 18 + 4 * 6 * 18),
        # Dense on any rank: in * units * prod(leading non-batch dims).
        ((7,), layers.Dense(5), 7 * 5),
        ((4, 7), layers.Dense(5), 4 * 7 * 5),
        ((3, 4, 7), layers.Dense(5, use_bias=False), 3 * 4 * 7 * 5),
    ],
    ids=lambda value: (
        type(value).__name__ if isinstance(value, layers.Layer) else None
    ),
)
def test_single_layer(input_shape, layer, expected):
    model = _model(input_shape, layer)
    assert metrics.count_flops(model) == expected
    assert metrics.flops_by_layer(model) == {layer.name: expected}


def test_channels_first_conv():
    layer = layers.Conv2D(4, 3, data_format="channels_first")
    model = _model((3, 10, 12), layer)
    assert metrics.count_flops(model) == 9 * 3 * 4 * 8 * 10


def test_other_layers_count_zero():
    inputs = keras.Input((8, 8, 3))
    x = layers.BatchNormalization()(inputs)
    x = layers.ReLU()(x)
    y = layers.MaxPooling2D()(x)
    z = layers.AveragePooling2D(2)(x)
    x = layers.Add()([y, z])
    x = layers.Concatenate()([x, x])
    x = layers.Dropout(0.5)(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, x)
    assert metrics.count_flops(model) == 0
    assert metrics.flops_by_layer(model) == {}


def test_small_cnn_and_breakdown():
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="c1")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw")(x)
    x = layers.SeparableConv2D(12, 3, padding="same", name="sep")(x)
    x = layers.Conv2DTranspose(5, 3, strides=2, name="up")(x)
    x = layers.Conv2D(6, 3, name="c2")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(7, name="fc")(x)
    model = keras.Model(inputs, outputs)
    expected = {
        "c1": 9 * 3 * 8 * 8 * 8,  # 16x16 -> 8x8
        "dw": 9 * 16 * 6 * 6,  # 8x8 -> 6x6, 8 * 2 channels
        "sep": 9 * 16 * 6 * 6 + 16 * 12 * 6 * 6,
        "up": 9 * 12 * 5 * 6 * 6,  # 6x6 -> 13x13
        "c2": 9 * 5 * 6 * 11 * 11,
        "fc": 11 * 11 * 6 * 7,
    }
    breakdown = metrics.flops_by_layer(model)
    assert breakdown == expected
    assert list(breakdown) == list(expected)  # graph order
    assert metrics.count_flops(model) == sum(expected.values())


def test_sequential_model():
    model = keras.Sequential(
        [
            keras.Input((10, 10, 3)),
            layers.Conv2D(4, 3),
            layers.Flatten(),
            layers.Dense(2),
        ]
    )
    assert metrics.count_flops(model) == 9 * 3 * 4 * 64 + 256 * 2


def test_sequential_built_without_input():
    model = keras.Sequential([layers.Dense(4), layers.Dense(2)])
    model.build((None, 3))
    assert metrics.count_flops(model) == 3 * 4 + 4 * 2


# --- graph structure -------------------------------------------------------


def test_nested_functional_and_sequential_submodels():
    block_inputs = keras.Input((8, 8, 4))
    block_outputs = layers.Conv2D(4, 3, padding="same", name="conv")(
        block_inputs
    )
    block = keras.Model(block_inputs, block_outputs, name="block")
    head = keras.Sequential(
        [layers.GlobalAveragePooling2D(), layers.Dense(3, name="fc")],
        name="head",
    )
    inputs = keras.Input((8, 8, 4))
    outputs = head(block(inputs))
    model = keras.Model(inputs, outputs)
    conv = 9 * 4 * 4 * 8 * 8
    assert metrics.flops_by_layer(model) == {
        "block/conv": conv,
        "head/fc": 4 * 3,
    }
    assert metrics.count_flops(model) == conv + 12

    # One level deeper.
    outer_inputs = keras.Input((8, 8, 4))
    outer = keras.Model(outer_inputs, model(outer_inputs), name="outer")
    nested_name = model.name
    assert metrics.flops_by_layer(outer) == {
        f"{nested_name}/block/conv": conv,
        f"{nested_name}/head/fc": 12,
    }


def test_nested_model_called_twice_counts_twice():
    block_inputs = keras.Input((6, 6, 2))
    block = keras.Model(
        block_inputs,
        layers.Conv2D(2, 3, padding="same", name="conv")(block_inputs),
        name="block",
    )
    inputs = keras.Input((6, 6, 2))
    model = keras.Model(inputs, block(block(inputs)))
    once = 9 * 2 * 2 * 36
    assert metrics.flops_by_layer(model) == {"block/conv": 2 * once}


def test_shared_layer_called_twice_counts_twice():
    shared = layers.Conv2D(3, 3, padding="same", name="shared")
    first = keras.Input((8, 8, 3))
    second = keras.Input((4, 4, 3))  # same layer, other spatial size
    x = shared(first)
    x = layers.Conv2D(3, 1, name="mid")(x)
    x = shared(x)  # second call fed by a layer listed after `shared`
    y = shared(second)
    model = keras.Model([first, second], [x, y])
    expected_shared = 9 * 3 * 3 * (64 + 64 + 16)
    assert metrics.flops_by_layer(model) == {
        "shared": expected_shared,
        "mid": 3 * 3 * 64,
    }


def test_shared_dense_on_inputs_of_different_rank():
    shared = layers.Dense(4, name="fc")
    a = keras.Input((5,))
    b = keras.Input((3, 5))
    model = keras.Model([a, b], [shared(a), shared(b)])
    assert metrics.count_flops(model) == 5 * 4 + 3 * 5 * 4


def test_functional_ops_between_layers():
    inputs = keras.Input((6, 6, 2))
    x = layers.Conv2D(2, 1, name="conv")(inputs)
    x = keras.ops.add(x, inputs)
    x = keras.ops.reshape(x, (-1, 72))
    outputs = layers.Dense(2, name="fc")(x)
    model = keras.Model(inputs, outputs)
    assert metrics.flops_by_layer(model) == {"conv": 2 * 2 * 36, "fc": 72 * 2}


def test_dict_inputs():
    a = keras.Input((4,), name="a")
    b = keras.Input((6,), name="b")
    x = layers.Concatenate()(
        [layers.Dense(3, name="fa")(a), layers.Dense(5, name="fb")(b)]
    )
    model = keras.Model({"a": a, "b": b}, layers.Dense(2, name="out")(x))
    assert metrics.flops_by_layer(model) == {"fa": 12, "fb": 30, "out": 16}


def test_counting_does_not_modify_the_model():
    shared = layers.Dense(3)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, shared(shared(inputs)))
    before = model.get_config()
    metrics.count_flops(model, input_shape=(3,))
    metrics.flops_by_layer(model)
    assert model.get_config() == before
    assert len(model.layers) == 2


# --- input sizes -----------------------------------------------------------


def test_input_shape_counts_at_another_size():
    model = _model((32, 32, 3), layers.Conv2D(8, 3, padding="same"))
    assert metrics.count_flops(model) == 9 * 3 * 8 * 32 * 32
    assert metrics.count_flops(model, input_shape=(16, 16, 3)) == (
        9 * 3 * 8 * 16 * 16
    )


def test_unknown_spatial_size_needs_input_shape():
    model = _model((None, None, 3), layers.Conv2D(8, 3))
    with pytest.raises(errors.UnsupportedModelError, match="input_shape"):
        metrics.count_flops(model)
    assert metrics.count_flops(model, input_shape=(10, 10, 3)) == (
        9 * 3 * 8 * 8 * 8
    )


def test_backbone_with_unknown_size_inside_a_sized_model():
    backbone = _model((None, None, 3), layers.Conv2D(8, 3, name="conv"))
    inputs = keras.Input((12, 12, 3))
    x = backbone(inputs, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(2, name="fc")(x))
    assert metrics.flops_by_layer(model) == {
        f"{backbone.name}/conv": 9 * 3 * 8 * 10 * 10,
        "fc": 16,
    }


@pytest.mark.parametrize(
    "input_shape",
    [(1, 10, 10, 3), (10, 10), [(10, 10, 3), (10, 10, 3)], "224", 5],
)
def test_input_shape_that_does_not_fit(input_shape):
    model = _model((None, None, 3), layers.Conv2D(8, 3))
    with pytest.raises(errors.PruningArgumentError, match="input_shape"):
        metrics.count_flops(model, input_shape=input_shape)


def test_subclassed_model_is_rejected():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2D(2, 3)

        def call(self, x):
            return self.conv(x)

    model = Net()
    model(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(errors.UnsupportedModelError, match="subclassed"):
        metrics.count_flops(model)


def test_unbuilt_sequential_is_rejected():
    model = keras.Sequential([layers.Dense(2)])
    with pytest.raises(errors.UnsupportedModelError, match="not built"):
        metrics.count_flops(model)


def test_not_a_model_is_rejected():
    with pytest.raises(errors.PruningArgumentError, match="keras.Model"):
        metrics.count_flops(layers.Dense(2))


# --- ResNet-50 ---------------------------------------------------------------


def _resnet50_macs(size=224, classes=1000):
    """MACs of keras.applications.ResNet50 (v1), derived from its layers.

    conv1 is 7x7/2 (after zero padding 3): size/2. The max pool (3x3/2 after
    padding 1) halves again. Each stage's first block has the stride on its
    first 1x1 conv and a 1x1 projection shortcut; the head is a 2048 x
    classes Dense.
    """
    side = size // 2
    macs = 7 * 7 * 3 * 64 * side * side
    side //= 2
    channels = 64
    for blocks, filters, stride in (
        (3, 64, 1),
        (4, 128, 2),
        (6, 256, 2),
        (3, 512, 2),
    ):
        side //= stride
        area = side * side
        for block in range(blocks):
            macs += channels * filters * area  # 1x1 reduce
            macs += 9 * filters * filters * area  # 3x3
            macs += filters * 4 * filters * area  # 1x1 expand
            if block == 0:
                macs += channels * 4 * filters * area  # projection shortcut
            channels = 4 * filters
    return macs + channels * classes


def test_resnet50(resnet50):
    flops = metrics.count_flops(resnet50)
    assert flops == _resnet50_macs()
    # He et al. (2016) give 3.8e9 multiply-adds; tools commonly report
    # 3.86e9-4.1e9 depending on what they include. TensorFlow's profiler
    # counts 2 * 3,857,973,248 float ops for the Conv2D + MatMul ops of this
    # very model, i.e. exactly the MACs derived above.
    assert abs(flops - 3.86e9) / 3.86e9 < 0.02
    breakdown = metrics.flops_by_layer(resnet50)
    assert breakdown["conv1_conv"] == 7 * 7 * 3 * 64 * 112 * 112
    assert breakdown["predictions"] == 2048 * 1000
    conv_layers = [
        layer.name
        for layer in resnet50.layers
        if isinstance(layer, layers.Conv2D)
    ]
    assert set(breakdown) == {*conv_layers, "predictions"}


# --- effective (masked) FLOPs ----------------------------------------------


def test_effective_conv_counts_kept_channels(masked_wrapper):
    inputs = keras.Input((10, 10, 4))
    wrapper = masked_wrapper(
        layers.Conv2D(6, 3),
        input_mask=[1, 0, 1, 1],
        output_mask=[1, 1, 0, 0, 1, 0],
        name="wrapped",
    )
    model = keras.Model(inputs, wrapper(inputs))
    assert metrics.count_flops(model) == 9 * 4 * 6 * 64
    assert metrics.count_flops(model, effective=True) == 9 * 3 * 3 * 64
    assert metrics.flops_by_layer(model, effective=True) == {
        "wrapped": 9 * 3 * 3 * 64
    }


def test_effective_with_only_one_mask(masked_wrapper):
    inputs = keras.Input((10, 10, 4))
    only_out = masked_wrapper(
        layers.Conv2D(6, 3), output_mask=[1, 1, 0, 0, 0, 0]
    )
    only_in = masked_wrapper(layers.Conv2D(5, 1), input_mask=[1, 0, 0, 0, 0, 0])
    model = keras.Model(inputs, only_in(only_out(inputs)))
    assert metrics.count_flops(model, effective=True) == (
        9 * 4 * 2 * 64 + 1 * 5 * 64
    )


def test_effective_dense_after_flatten(masked_wrapper):
    inputs = keras.Input((2, 2, 3))
    x = layers.Flatten()(inputs)  # 12 features
    mask = [1, 0] * 6
    wrapper = masked_wrapper(
        layers.Dense(5), input_mask=mask, output_mask=[1, 1, 1, 0, 0]
    )
    model = keras.Model(inputs, wrapper(x))
    assert metrics.count_flops(model) == 12 * 5
    assert metrics.count_flops(model, effective=True) == 6 * 3


def test_effective_depthwise_and_separable(masked_wrapper):
    inputs = keras.Input((10, 10, 3))
    depthwise = masked_wrapper(
        layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
        input_mask=[1, 0, 1],
        # Channels 2, 3 read input 1 (pruned); channel 5 is pruned itself.
        output_mask=[1, 1, 1, 1, 1, 0],
    )
    separable = masked_wrapper(
        layers.SeparableConv2D(4, 3, padding="same"),
        input_mask=[1, 1, 0, 0, 1, 0],
        output_mask=[0, 1, 1, 0],
    )
    model = keras.Model(inputs, separable(depthwise(inputs)))
    area = 100
    assert metrics.count_flops(model) == (
        9 * 6 * area + 9 * 6 * area + 6 * 4 * area
    )
    assert metrics.count_flops(model, effective=True) == (
        9 * 3 * area  # depthwise: channels 0, 1, 4
        + 9 * 3 * area
        + 3 * 2 * area  # separable: 3 in, 2 out
    )


def test_effective_transpose_conv(masked_wrapper):
    inputs = keras.Input((5, 5, 4))
    wrapper = masked_wrapper(
        layers.Conv2DTranspose(6, 3, strides=2),
        input_mask=[1, 1, 0, 0],
        output_mask=[1, 0, 0, 0, 0, 1],
    )
    model = keras.Model(inputs, wrapper(inputs))
    assert metrics.count_flops(model, effective=True) == 9 * 2 * 2 * 25


def test_effective_ignores_plain_layers_and_default_is_dense(masked_wrapper):
    inputs = keras.Input((6,))
    wrapped = masked_wrapper(layers.Dense(4), output_mask=[0, 0, 0, 1])
    model = keras.Model(inputs, layers.Dense(3)(wrapped(inputs)))
    assert metrics.count_flops(model) == 6 * 4 + 4 * 3
    assert metrics.count_flops(model, effective=True) == 6 * 1 + 4 * 3


def test_wrapper_without_masks_counts_inner_layer():
    inputs = keras.Input((4, 7))
    wrapper = layers.TimeDistributed(layers.Dense(5), name="td")
    model = keras.Model(inputs, wrapper(inputs))
    assert metrics.flops_by_layer(model, effective=True) == {"td": 4 * 7 * 5}


def test_wrapped_layer_in_nested_model(masked_wrapper):
    block_inputs = keras.Input((4, 4, 2))
    wrapper = masked_wrapper(
        layers.Conv2D(4, 1), output_mask=[1, 0, 0, 0], name="w"
    )
    block = keras.Model(block_inputs, wrapper(block_inputs), name="block")
    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, block(inputs))
    assert metrics.flops_by_layer(model, effective=True) == {
        "block/w": 2 * 1 * 16
    }


def test_mask_of_wrong_length_is_rejected(masked_wrapper):
    inputs = keras.Input((10, 10, 4))
    wrapper = masked_wrapper(layers.Conv2D(6, 3), output_mask=[1, 0, 1])
    model = keras.Model(inputs, wrapper(inputs))
    with pytest.raises(errors.PruningArgumentError, match="output_mask"):
        metrics.count_flops(model, effective=True)
    assert metrics.count_flops(model) == 9 * 4 * 6 * 64


def test_mask_must_be_a_vector(masked_wrapper):
    inputs = keras.Input((4,))
    wrapper = masked_wrapper(layers.Dense(2))
    model = keras.Model(inputs, wrapper(inputs))
    # Bypass Keras' state tracking: the layer is already built.
    object.__setattr__(wrapper, "input_mask", np.ones((4, 2)))
    with pytest.raises(errors.PruningArgumentError, match="vector"):
        metrics.count_flops(model, effective=True)
