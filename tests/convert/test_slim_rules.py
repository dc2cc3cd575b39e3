"""Every channel rule: prune(0.5) -> masks -> slim(m)(x) == strip_pruning(m)(x).

One tiny model per layer rule (docs/design.md#masked-equals-slim: "tested on every layer
rule"). Every BatchNormalization gets random statistics, gamma and beta, so a
channel that is not masked after its normalization shows up as a mismatch.
The comparisons live in ``conftest.prune_and_compare``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers, ops

import tfprune
from tfprune import errors

H = 8  # spatial size of the image inputs



def conv_bn_relu(x, filters, name, kernel=3, **kwargs):
    x = layers.Conv2D(filters, kernel, padding="same", name=name, **kwargs)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def image_input(channels=3, size=H, name="image"):
    return keras.Input((size, size, channels), name=name)


def head(x, units=4):
    """A pinned model output: 1x1 conv (or Dense on vectors)."""
    if len(x.shape) == 2:
        return layers.Dense(units, name="head")(x)
    return layers.Conv2D(units, 1, name="head")(x)


def around(middle, filters=8, channels=3):
    """Input -> conv/bn/relu (prunable, 8 ch) -> ``middle`` -> head."""

    def build():
        inputs = image_input(channels)
        x = conv_bn_relu(inputs, filters, "c1")
        x = middle(x)
        return keras.Model(inputs, head(x))

    return build


# --- builders, one per rule -------------------------------------------------


def conv1d():
    inputs = keras.Input((16, 3))
    x = layers.Conv1D(8, 3, padding="same", name="c1")(inputs)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(8, 3, padding="same", name="c2", activation="relu")(x)
    x = layers.AveragePooling1D(2)(x)
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, layers.Dense(3, name="head")(x))


def conv2d():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = conv_bn_relu(x, 8, "c2", strides=2)
    return keras.Model(inputs, head(x))


def conv2d_no_bias():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1", use_bias=False)
    return keras.Model(inputs, head(x))


def conv3d():
    inputs = keras.Input((6, 6, 6, 2))
    x = layers.Conv3D(8, 3, padding="same", name="c1")(inputs)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling3D(2)(x)
    x = layers.Conv3D(6, 1, name="c2")(x)
    x = layers.GlobalAveragePooling3D()(x)
    return keras.Model(inputs, layers.Dense(3, name="head")(x))


def conv2d_transpose():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", name="up")(x)
    x = layers.BatchNormalization(name="up_bn")(x)
    x = layers.ReLU()(x)
    return keras.Model(inputs, head(x))


def conv1d_transpose():
    inputs = keras.Input((10, 3))
    x = layers.Conv1D(8, 3, padding="same", name="c1")(inputs)
    x = layers.Conv1DTranspose(8, 3, strides=2, padding="same", name="up")(x)
    x = layers.BatchNormalization()(x)
    return keras.Model(inputs, layers.Conv1D(3, 1, name="head")(x))


def depthwise(multiplier):
    def build():
        inputs = image_input()
        x = conv_bn_relu(inputs, 8, "c1")
        x = layers.DepthwiseConv2D(3, depth_multiplier=multiplier, padding="same", name="dw")(x)
        x = layers.BatchNormalization(name="dw_bn")(x)
        x = layers.ReLU()(x)
        return keras.Model(inputs, head(x))

    return build


def grouped_depthwise():
    """ConvNeXt-style depthwise conv: Conv2D(C * M, groups=C)."""
    inputs = image_input()
    x = layers.Conv2D(8, 3, padding="same", name="c0")(inputs)
    x = layers.Conv2D(8, 3, padding="same", groups=2, name="grouped")(x)  # pinned
    x = conv_bn_relu(x, 8, "c1")
    x = layers.Conv2D(16, 3, padding="same", groups=8, name="dw")(x)
    x = layers.BatchNormalization(name="dw_bn")(x)
    return keras.Model(inputs, head(x))


def depthwise1d():
    inputs = keras.Input((12, 3))
    x = layers.Conv1D(8, 3, padding="same", name="c1")(inputs)
    x = layers.DepthwiseConv1D(3, depth_multiplier=2, padding="same", name="dw")(x)
    x = layers.BatchNormalization()(x)
    return keras.Model(inputs, layers.Conv1D(3, 1, name="head")(x))


def separable():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = layers.SeparableConv2D(8, 3, depth_multiplier=2, padding="same", name="sep")(x)
    x = layers.BatchNormalization(name="sep_bn")(x)
    x = layers.ReLU()(x)
    return keras.Model(inputs, head(x))


def separable1d():
    inputs = keras.Input((12, 3))
    x = layers.Conv1D(8, 3, padding="same", name="c1")(inputs)
    x = layers.SeparableConv1D(8, 3, padding="same", name="sep")(x)
    x = layers.BatchNormalization()(x)
    return keras.Model(inputs, layers.Conv1D(3, 1, name="head")(x))


def dense_2d():
    inputs = keras.Input((12,))
    x = layers.Dense(16, name="d1")(inputs)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU()(x)
    x = layers.Dense(8, name="d2", activation="tanh")(x)
    return keras.Model(inputs, layers.Dense(3, name="head")(x))


def dense_3d():
    inputs = keras.Input((5, 12))
    x = layers.Dense(16, name="d1")(inputs)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.ReLU()(x)
    x = layers.Dense(8, name="d2")(x)
    return keras.Model(inputs, layers.Dense(3, name="head")(x))


def batchnorm_no_scale():
    inputs = image_input()
    x = layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    x = layers.BatchNormalization(center=True, scale=False, name="bn1")(x)
    x = layers.ReLU()(x)
    x = layers.Conv2D(8, 3, padding="same", name="c2")(x)
    x = layers.BatchNormalization(center=False, scale=True, name="bn2")(x)
    return keras.Model(inputs, head(x))


def layernorm_prunable_elsewhere():
    """LN over channels pins c1; c2 (after the LN) stays prunable."""
    inputs = image_input()
    x = layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    x = layers.LayerNormalization(name="ln")(x)
    x = conv_bn_relu(x, 8, "c2")
    return keras.Model(inputs, head(x))


def layernorm_other_axis():
    """LN over a spatial axis does not mix channels: c1 stays prunable."""
    inputs = keras.Input((6, 5))
    x = layers.Dense(8, name="c1")(inputs)
    x = layers.LayerNormalization(axis=1, name="ln")(x)
    return keras.Model(inputs, layers.Dense(3, name="head")(x))


def group_norm_instance(groups):
    def middle(x):
        norm = layers.GroupNormalization(
            groups=groups, beta_initializer=keras.initializers.RandomUniform(-1, 1), name="gn"
        )
        return norm(layers.Conv2D(8, 3, padding="same", name="c_pre")(x))

    return around(middle)


def group_norm_grouped():
    """GroupNormalization(groups=2) pins c1; c2 stays prunable."""

    def middle(x):
        x = layers.GroupNormalization(groups=2, name="gn")(x)
        return conv_bn_relu(x, 8, "c2")

    return around(middle)()


def unit_norm():
    def middle(x):
        x = layers.UnitNormalization(name="unit")(x)
        return conv_bn_relu(x, 8, "c2")

    return around(middle)()


def augmentation_input():
    inputs = keras.Input((H + 2, H + 2, 3))
    x = layers.RandomFlip()(inputs)
    x = layers.RandomRotation(0.1)(x)
    x = layers.RandomZoom(0.1)(x)
    x = layers.RandomContrast(0.1)(x)
    x = layers.RandomBrightness(0.1)(x)
    x = layers.CenterCrop(H, H)(x)
    x = layers.Resizing(H, H)(x)
    x = conv_bn_relu(x, 8, "c1")
    return keras.Model(inputs, head(x))


def activation(make):
    return around(lambda x: make()(x))


def prelu_shared():
    return around(lambda x: layers.PReLU(shared_axes=[1, 2], name="prelu")(x))()


def prelu_channelwise():
    def middle(x):
        prelu = layers.PReLU(alpha_initializer=keras.initializers.RandomUniform(-0.5, 0.5), name="prelu")
        return prelu(layers.Conv2D(8, 1, name="c_pre")(x))

    return around(middle)()


def softmax_mid():
    """A channel softmax pins c1's channels; c2 stays prunable."""

    def middle(x):
        x = layers.Softmax(name="softmax")(x)
        return conv_bn_relu(x, 8, "c2")

    return around(middle)()


def activation_softmax_mid():
    def middle(x):
        x = layers.Activation("softmax", name="act_softmax")(x)
        return conv_bn_relu(x, 8, "c2")

    return around(middle)()


def pooling(pool):
    def build():
        inputs = image_input()
        x = conv_bn_relu(inputs, 8, "c1")
        x = pool()(x)
        if len(x.shape) == 2:
            x = layers.Dense(8, name="d_mid", activation="relu")(x)
        else:
            x = conv_bn_relu(x, 8, "c2")
        return keras.Model(inputs, head(x))

    return build


def flatten_dense():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.Dense(16, name="fc", activation="relu")(x)
    return keras.Model(inputs, layers.Dense(3, name="head")(x))


def reshape_flat_dense():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = layers.AveragePooling2D(2)(x)
    x = layers.Reshape((-1,), name="flat")(x)
    return keras.Model(inputs, layers.Dense(3, name="head")(x))


def reshape_tokens_dense():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = layers.Reshape((H * H, 8), name="tokens")(x)
    x = layers.Dense(8, name="proj")(x)
    return keras.Model(inputs, layers.Dense(3, name="head")(x))


def squeeze_excite(x, name, keepdims=False, dense=True, rescale="reshape"):
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=keepdims, name=f"{name}_gap")(x)
    if not keepdims:
        s = layers.Reshape((1, 1, channels), name=f"{name}_reshape")(s)
    if dense:
        s = layers.Dense(4, activation="relu", name=f"{name}_reduce")(s)
        s = layers.Dense(channels, activation="sigmoid", name=f"{name}_expand")(s)
    else:
        s = layers.Conv2D(4, 1, activation="relu", name=f"{name}_reduce")(s)
        s = layers.Conv2D(channels, 1, name=f"{name}_expand")(s)
        s = layers.Activation("sigmoid", name=f"{name}_sigmoid")(s)
    return layers.Multiply(name=f"{name}_mul")([x, s])


def se_reshape():
    return around(lambda x: squeeze_excite(x, "se", keepdims=False, dense=False))()


def se_keepdims_dense():
    return around(lambda x: squeeze_excite(x, "se", keepdims=True, dense=True))()


def se_keepdims_conv():
    return around(lambda x: squeeze_excite(x, "se", keepdims=True, dense=False))()


def dropout_like(make):
    return around(lambda x: conv_bn_relu(make()(x), 8, "c2"))


def spatial(make):
    return around(lambda x: conv_bn_relu(make()(x), 8, "c2"))


def merge(make):
    def build():
        inputs = image_input()
        a = conv_bn_relu(inputs, 8, "c1")
        b = layers.Conv2D(8, 3, padding="same", name="c2")(a)
        b = layers.BatchNormalization(name="c2_bn")(b)
        x = make()([a, b])
        x = layers.ReLU()(x)
        x = conv_bn_relu(x, 8, "c3")
        return keras.Model(inputs, head(x))

    return build


def merge_three():
    inputs = image_input()
    a = conv_bn_relu(inputs, 8, "c1")
    b = conv_bn_relu(a, 8, "c2")
    c = conv_bn_relu(a, 8, "c3")
    x = layers.Add()([a, b, c])
    return keras.Model(inputs, head(x))


def spatial_attention():
    """Multiply by a 1-channel map (broadcast): the map's channel is pinned."""
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    attention = layers.Conv2D(1, 1, activation="sigmoid", name="attn")(x)
    x = layers.Multiply()([x, attention])
    x = conv_bn_relu(x, 8, "c2")
    return keras.Model(inputs, head(x))


def concat_channels():
    inputs = image_input()
    a = conv_bn_relu(inputs, 8, "c1")
    b = conv_bn_relu(inputs, 6, "c2")
    x = layers.Concatenate(name="cat")([a, b])
    x = conv_bn_relu(x, 8, "c3")
    return keras.Model(inputs, head(x))


def concat_densenet():
    """DenseNet-style: concat of the input of a block and its output, twice."""
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "stem")
    for i in range(2):
        y = layers.BatchNormalization(name=f"b{i}_bn")(x)
        y = layers.ReLU()(y)
        y = layers.Conv2D(4, 3, padding="same", name=f"b{i}_conv")(y)
        x = layers.Concatenate(name=f"b{i}_cat")([x, y])
    return keras.Model(inputs, head(x))


def concat_spatial():
    inputs = image_input()
    a = conv_bn_relu(inputs, 8, "c1")
    b = conv_bn_relu(inputs, 8, "c2")
    x = layers.Concatenate(axis=1, name="cat")([a, b])
    x = conv_bn_relu(x, 8, "c3")
    return keras.Model(inputs, head(x))


def rescaling_input():
    inputs = image_input()
    x = layers.Rescaling(1.0 / 255, offset=-0.5, name="rescale")(inputs)
    x = conv_bn_relu(x, 8, "c1")
    return keras.Model(inputs, head(x))


def normalization_input():
    inputs = image_input()
    norm = layers.Normalization(mean=[0.4, 0.5, 0.6], variance=[0.2, 0.3, 0.1], name="norm")
    x = conv_bn_relu(norm(inputs), 8, "c1")
    return keras.Model(inputs, head(x))


def normalization_adapted_mid():
    """Normalization inside the network: per-channel mean/variance sliced."""
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    norm = layers.Normalization(name="norm")
    norm.adapt(np.random.default_rng(0).normal(1.0, 2.0, (16, H, H, 8)).astype("float32"))
    x = conv_bn_relu(norm(x), 8, "c2")
    return keras.Model(inputs, head(x))


def nested_functional():
    inner_in = keras.Input((H, H, 8))
    y = conv_bn_relu(inner_in, 8, "inner_c")
    y = layers.Add(name="inner_add")([inner_in, y])
    inner = keras.Model(inner_in, y, name="block")
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = inner(x)
    x = conv_bn_relu(x, 8, "c2")
    return keras.Model(inputs, head(x))


def nested_sequential():
    inner = keras.Sequential(
        [
            keras.Input((H, H, 8)),
            layers.Conv2D(8, 3, padding="same", name="seq_c"),
            layers.BatchNormalization(name="seq_bn"),
            layers.ReLU(),
        ],
        name="seq_block",
    )
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = inner(x)
    return keras.Model(inputs, head(x))


def nested_called_twice():
    """One functional sub-model called at two sites (a shared sub-model)."""
    inner_in = keras.Input((H, H, 8))
    inner = keras.Model(inner_in, conv_bn_relu(inner_in, 8, "shared_c"), name="shared_block")
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    a = inner(x)
    b = inner(conv_bn_relu(x, 8, "c2"))
    x = layers.Concatenate()([a, b])
    return keras.Model(inputs, head(x))


def shared_layer():
    inputs = image_input()
    a = conv_bn_relu(inputs, 8, "c1")
    b = conv_bn_relu(inputs, 8, "c2")
    shared = layers.Conv2D(8, 3, padding="same", name="shared")
    x = layers.Add()([shared(a), shared(b)])
    x = layers.ReLU()(x)
    x = conv_bn_relu(x, 8, "c3")
    return keras.Model(inputs, head(x))


def sequential_model():
    return keras.Sequential(
        [
            keras.Input((H, H, 3)),
            layers.Conv2D(8, 3, padding="same", name="c1"),
            layers.BatchNormalization(name="bn1"),
            layers.ReLU(),
            layers.Conv2D(8, 3, padding="same", name="c2"),
            layers.BatchNormalization(name="bn2"),
            layers.ReLU(),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(3, name="head"),
        ],
        name="seq",
    )


def multi_input_output():
    a_in = keras.Input((H, H, 3), name="a")
    b_in = keras.Input((H, H, 2), name="b")
    a = conv_bn_relu(a_in, 8, "ca")
    b = conv_bn_relu(b_in, 8, "cb")
    x = layers.Concatenate()([a, b])
    x = conv_bn_relu(x, 8, "c2")
    out1 = layers.Conv2D(4, 1, name="head1")(x)
    out2 = layers.Dense(2, name="head2")(layers.GlobalAveragePooling2D()(a))
    return keras.Model([a_in, b_in], [out1, out2])


def permute():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = layers.Permute((2, 1, 3), name="perm")(x)
    x = conv_bn_relu(x, 8, "c2")
    return keras.Model(inputs, head(x))


def raw_ops():
    """Raw keras ops in a Functional model (MobileNetV3 / ConvNeXt style)."""
    inputs = image_input()
    a = conv_bn_relu(inputs, 8, "c1")
    hard_sigmoid = layers.ReLU(6.0)(a + 3.0) * (1.0 / 6.0)
    a = layers.Multiply()([a, hard_sigmoid])
    b = layers.Conv2D(8, 3, padding="same", name="c2")(a)
    b = layers.BatchNormalization(name="c2_bn")(b)
    x = ops.relu(a + b)
    x = conv_bn_relu(x, 8, "c3")
    return keras.Model(inputs, head(x))


CASES = {
    "conv1d_pool1d": conv1d,
    "conv2d": conv2d,
    "conv2d_no_bias": conv2d_no_bias,
    "conv3d": conv3d,
    "conv1d_transpose": conv1d_transpose,
    "conv2d_transpose": conv2d_transpose,
    "depthwise_m1": depthwise(1),
    "depthwise_m2": depthwise(2),
    "depthwise1d_m2": depthwise1d,
    "grouped_conv_depthwise": grouped_depthwise,
    "separable2d": separable,
    "separable1d": separable1d,
    "dense_2d": dense_2d,
    "dense_3d": dense_3d,
    "batchnorm_center_scale_off": batchnorm_no_scale,
    "layernorm_channels": layernorm_prunable_elsewhere,
    "layernorm_other_axis": layernorm_other_axis,
    "group_norm_instance": group_norm_instance(-1),
    "group_norm_instance_explicit_groups": group_norm_instance(8),
    "group_norm_grouped": group_norm_grouped,
    "unit_normalization": unit_norm,
    "augmentation_input": augmentation_input,
    "relu": activation(lambda: layers.ReLU(max_value=6.0)),
    "activation_relu": activation(lambda: layers.Activation("relu")),
    "activation_sigmoid": activation(lambda: layers.Activation("sigmoid")),
    "activation_softmax": activation_softmax_mid,
    "softmax": softmax_mid,
    "prelu_channelwise": prelu_channelwise,
    "prelu_shared_axes": prelu_shared,
    "leaky_relu": activation(lambda: layers.LeakyReLU(0.2)),
    "elu": activation(lambda: layers.ELU()),
    "max_pooling": pooling(lambda: layers.MaxPooling2D(2)),
    "average_pooling": pooling(lambda: layers.AveragePooling2D(2)),
    "global_max_pooling": pooling(lambda: layers.GlobalMaxPooling2D()),
    "global_average_pooling": pooling(lambda: layers.GlobalAveragePooling2D()),
    "global_average_pooling_keepdims": pooling(lambda: layers.GlobalAveragePooling2D(keepdims=True)),
    "flatten_dense": flatten_dense,
    "reshape_flat_dense": reshape_flat_dense,
    "reshape_tokens_dense": reshape_tokens_dense,
    "squeeze_excite_reshape": se_reshape,
    "squeeze_excite_keepdims_dense": se_keepdims_dense,
    "squeeze_excite_keepdims_conv": se_keepdims_conv,
    "dropout": dropout_like(lambda: layers.Dropout(0.5)),
    "spatial_dropout2d": dropout_like(lambda: layers.SpatialDropout2D(0.5)),
    "gaussian_noise": dropout_like(lambda: layers.GaussianNoise(0.1)),
    "zero_padding2d": spatial(lambda: layers.ZeroPadding2D(1)),
    "cropping2d": spatial(lambda: layers.Cropping2D(1)),
    "upsampling2d": spatial(lambda: layers.UpSampling2D(2)),
    "add": merge(layers.Add),
    "subtract": merge(layers.Subtract),
    "multiply": merge(layers.Multiply),
    "average": merge(layers.Average),
    "maximum": merge(layers.Maximum),
    "minimum": merge(layers.Minimum),
    "add_three": merge_three,
    "multiply_spatial_attention": spatial_attention,
    "concatenate_channels": concat_channels,
    "concatenate_densenet": concat_densenet,
    "concatenate_spatial_axis": concat_spatial,
    "rescaling_input": rescaling_input,
    "normalization_input": normalization_input,
    "normalization_mid": normalization_adapted_mid,
    "nested_functional": nested_functional,
    "nested_sequential": nested_sequential,
    "nested_called_twice": nested_called_twice,
    "shared_layer": shared_layer,
    "sequential": sequential_model,
    "permute": permute,
    "multi_input_output": multi_input_output,
    "raw_ops": raw_ops,
}


@pytest.mark.parametrize("build", [CASES[k] for k in sorted(CASES)], ids=sorted(CASES))
def test_slim_matches_strip(build, check_slim, randomized):
    keras.utils.set_random_seed(0)
    model = randomized(build())
    result = check_slim(model)
    # Something was physically removed from every model above.
    assert result.slimmed.count_params() < model.count_params()


# --- models where nothing can be pruned ------------------------------------


def pinned_layernorm():
    inputs = image_input()
    x = layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    x = layers.LayerNormalization(name="ln")(x)
    return keras.Model(inputs, head(x))


def pinned_softmax():
    inputs = image_input()
    x = layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    x = layers.Activation("softmax")(x)
    return keras.Model(inputs, head(x))


def pinned_rescaling_per_channel():
    inputs = image_input()
    x = layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    x = layers.Rescaling(scale=np.linspace(0.5, 1.5, 8).tolist(), name="scale")(x)
    return keras.Model(inputs, head(x))


def pinned_normalization_constants():
    """Normalization(mean=..., variance=...) holds constants, not weights."""
    inputs = image_input()
    x = layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    norm = layers.Normalization(mean=np.linspace(0, 1, 8).tolist(), variance=[2.0] * 8)
    return keras.Model(inputs, head(norm(x)))


def pinned_single_layer():
    inputs = image_input()
    return keras.Model(inputs, head(inputs))


@pytest.mark.parametrize(
    "build",
    [
        pinned_layernorm,
        pinned_softmax,
        pinned_rescaling_per_channel,
        pinned_normalization_constants,
        pinned_single_layer,
    ],
    ids=lambda f: f.__name__,
)
def test_pinned_only_model_raises(build):
    model = build()
    with pytest.raises(errors.PruningArgumentError, match="no prunable channel group"):
        tfprune.prune(model, "l1", sparsity=0.5, round_to=None)


def test_excluded_layer_is_kept(check_slim, randomized):
    keras.utils.set_random_seed(0)
    model = randomized(conv2d())
    result = check_slim(model, exclude=["c1"])
    # c1's filters are kept; c2's are halved.
    assert result.slimmed.get_layer("c1").filters == 8
    assert result.slimmed.get_layer("c2").filters == 4


def test_slim_widths(check_slim, randomized):
    """Physical widths after slim: coupled layers shrink together."""
    keras.utils.set_random_seed(0)
    result = check_slim(randomized(merge(layers.Add)()))
    slimmed = result.slimmed
    # c1 and c2 are coupled by the Add (one group of 8): both keep 4.
    assert slimmed.get_layer("c1").filters == 4
    assert slimmed.get_layer("c2").filters == 4
    assert slimmed.get_layer("c3").filters == 4
    assert slimmed.get_layer("head").filters == 4  # output pinned

    result = check_slim(randomized(depthwise(2)()))
    dw = result.slimmed.get_layer("dw")
    assert result.slimmed.get_layer("c1").filters == 4
    assert dw.depth_multiplier == 2
    assert dw.get_weights()[0].shape == (3, 3, 4, 2)

    result = check_slim(randomized(flatten_dense()))
    fc = result.slimmed.get_layer("fc")
    # 4 of 8 channels kept at each of the 4x4 positions after pooling.
    assert fc.get_weights()[0].shape == (4 * 4 * 4, 8)


def test_slim_loads_without_tfprune(tmp_path, check_slim, randomized):
    """A slimmed model is a plain Keras model (saved and loaded back)."""
    keras.utils.set_random_seed(0)
    result = check_slim(randomized(se_keepdims_dense()))
    path = tmp_path / "slim.keras"
    result.slimmed.save(path)
    assert "tfprune" not in result.slimmed.to_json()
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        np.asarray(loaded(result.x)), np.asarray(result.y_slim), rtol=0, atol=1e-6
    )


def test_fully_pruned_branch_keeps_one_zero_channel(check_slim, randomized):
    """A group spanning a Concatenate can lose every channel of one branch.

    As in InceptionResNetV2: the concatenated branches feed a residual merge,
    so all of their channels form one group, ranked together. A branch whose
    filters are all weaker than the others' is pruned entirely; Keras cannot
    build Conv2D(filters=0), so slim keeps one channel with zero weights.
    """
    keras.utils.set_random_seed(0)
    tiny = keras.initializers.RandomNormal(stddev=1e-3)
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c0")
    a = layers.Conv2D(6, 3, padding="same", name="branch_a")(x)
    b = layers.Conv2D(2, 3, padding="same", kernel_initializer=tiny, name="branch_b")(x)
    b = layers.BatchNormalization(name="branch_b_bn")(b)
    cat = layers.Concatenate()([a, b])
    up = layers.Conv2D(8, 1, kernel_initializer=tiny, name="up")(x)
    x = layers.Add()([cat, up])
    model = randomized(keras.Model(inputs, head(layers.ReLU()(x))))
    result = check_slim(model)
    keep = result.pruner.keep
    branch_b = result.pruner.graph.layers["branch_b"]
    assert not keep[result.pruner.graph.units(branch_b.output_layout)].any()
    assert result.slimmed.get_layer("branch_b").filters == 1
    assert result.slimmed.get_layer("branch_a").filters == 4  # 4 of 8 kept, all in a
