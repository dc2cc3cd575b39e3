"""Channel rules: which slices are coupled into one group (docs/design.md#coupled-channels).

The numerical side (slim == strip on every rule) is in
tests/convert/test_slim_rules.py; here the *structure* of the groups is
checked where it matters, plus the errors for unknown layers and models.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers, ops

import tfprune
from tfprune import errors
from tfprune.graph import ChannelGraph, PassThroughRule, WeightSlice, rules

H = 8



def conv_bn_relu(x, filters, name, **kwargs):
    x = layers.Conv2D(filters, 3, padding="same", name=name, **kwargs)(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def image_input(channels=3):
    return keras.Input((H, H, channels), name="image")


def head(x):
    return layers.Conv2D(4, 1, name="head")(x)


def group_of(graph: ChannelGraph, layer: str):
    """The single group whose filters are produced by ``layer``."""
    found = [
        g for g in graph.groups
        if any(m.layer == layer and m.role == rules.FILTER for m in g.members)
    ]
    assert len(found) == 1, f"{layer}: {[g.id for g in found]}"
    return found[0]


def filter_layers(group) -> set[str]:
    return {m.layer for m in group.members if m.role == rules.FILTER}


def units(graph, layer, side="input"):
    entry = graph.layers[layer]
    layout = entry.input_layout if side == "input" else entry.output_layout
    return graph.units(layout)


# --- coupling ---------------------------------------------------------------


def test_conv_bn_group_members():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    (group,) = graph.groups
    assert group.id == "c1"
    assert group.num_channels == 8
    assert set(group.members) == {
        WeightSlice("c1", "kernel", -1, rules.FILTER),
        WeightSlice("c1", "bias", 0, rules.BIAS),
        WeightSlice("c1_bn", "gamma", 0, rules.AFFINE),
        WeightSlice("c1_bn", "beta", 0, rules.AFFINE),
        WeightSlice("c1_bn", "moving_mean", 0, rules.AFFINE),
        WeightSlice("c1_bn", "moving_variance", 0, rules.AFFINE),
        WeightSlice("head", "kernel", -2, rules.INPUT),
    }


@pytest.mark.parametrize(
    "merge", [layers.Add, layers.Subtract, layers.Multiply, layers.Average, layers.Maximum, layers.Minimum]
)
def test_residual_merge_couples_both_convs(merge):
    inputs = image_input()
    a = conv_bn_relu(inputs, 8, "c1")
    b = layers.Conv2D(8, 3, padding="same", name="c2")(a)
    x = merge(name="merge")([a, b])
    x = conv_bn_relu(x, 8, "c3")
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    group = group_of(graph, "c1")
    assert filter_layers(group) == {"c1", "c2"}
    assert group.num_channels == 8  # one unit = filter k of c1 *and* of c2
    np.testing.assert_array_equal(units(graph, "c1", "output"), units(graph, "c2", "output"))
    # c2 reads the stream it writes to: its input rows are in the same group.
    assert WeightSlice("c2", "kernel", -2, rules.INPUT) in group.members
    assert len(graph.groups) == 2  # {c1, c2} and c3


def test_raw_op_add_couples_like_add_layer():
    """``a + b`` on symbolic tensors (ConvNeXt's residual) couples like Add."""
    inputs = image_input()
    a = conv_bn_relu(inputs, 8, "c1")
    b = layers.Conv2D(8, 3, padding="same", name="c2")(a)
    x = ops.relu(a + b) * 0.5 + 1.0  # scalars do not pin anything
    x = conv_bn_relu(x, 8, "c3")
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    assert filter_layers(group_of(graph, "c1")) == {"c1", "c2"}
    assert len(graph.groups) == 2


def test_raw_op_with_array_constant_is_pinned():
    inputs = image_input()
    a = layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    x = a * np.linspace(0.5, 1.5, 8).astype("float32")
    x = conv_bn_relu(x, 8, "c2")
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    assert [g.id for g in graph.groups] == ["c2"]


def test_ops_with_infinite_value_at_zero_are_pinned():
    """log(0), 1/0 and x / tensor would turn pruned zeros into inf * 0 = NaN."""
    x = image_input()
    a = layers.Conv2D(8, 3, padding="same", name="scaled")(x)
    b = layers.Conv2D(8, 1, name="logged")(a / 6.0)  # divide by a constant: fine
    c = ops.log(ops.abs(b) + 1.0)
    d = layers.Conv2D(8, 1, name="divided")(c)
    e = d / (ops.abs(d) + 1.0)
    graph = ChannelGraph.build(keras.Model(x, head(e)))
    assert filter_layers(group_of(graph, "scaled")) == {"scaled"}
    producers = set().union(*(filter_layers(g) for g in graph.groups))
    assert producers == {"scaled"}  # `logged` and `divided` keep their channels


def test_broadcast_multiply_of_squeeze_excite():
    """GAP(keepdims) -> Dense -> sigmoid -> Multiply couples x with the SE expand."""
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    s = layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = layers.Dense(4, activation="relu", name="se_reduce")(s)
    s = layers.Dense(8, activation="sigmoid", name="se_expand")(s)
    x = layers.Multiply()([x, s])
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    group = group_of(graph, "c1")
    assert filter_layers(group) == {"c1", "se_expand"}
    assert WeightSlice("se_reduce", "kernel", 0, rules.INPUT) in group.members
    assert filter_layers(group_of(graph, "se_reduce")) == {"se_reduce"}


def test_spatial_attention_single_channel_is_pinned():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    attention = layers.Conv2D(1, 1, activation="sigmoid", name="attn")(x)
    x = layers.Multiply()([x, attention])
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    assert [g.id for g in graph.groups] == ["c1"]
    assert filter_layers(graph.groups[0]) == {"c1"}


def test_concatenate_channels_covers_both_inputs():
    inputs = image_input()
    a = conv_bn_relu(inputs, 8, "c1")
    b = conv_bn_relu(inputs, 6, "c2")
    x = layers.Concatenate(name="cat")([a, b])
    x = conv_bn_relu(x, 8, "c3")
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    g1, g2 = group_of(graph, "c1"), group_of(graph, "c2")
    assert g1.id != g2.id  # independent budgets
    c3_in = units(graph, "c3")
    assert len(c3_in) == 14
    np.testing.assert_array_equal(c3_in[:8], units(graph, "c1", "output"))
    np.testing.assert_array_equal(c3_in[8:], units(graph, "c2", "output"))
    for g in (g1, g2):
        assert WeightSlice("c3", "kernel", -2, rules.INPUT) in g.members


def test_concatenate_other_axis_couples_inputs():
    inputs = image_input()
    a = conv_bn_relu(inputs, 8, "c1")
    b = conv_bn_relu(inputs, 8, "c2")
    x = layers.Concatenate(axis=1, name="cat")([a, b])
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    assert filter_layers(group_of(graph, "c1")) == {"c1", "c2"}


@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_couples_with_producing_conv(multiplier):
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = layers.DepthwiseConv2D(3, depth_multiplier=multiplier, padding="same", name="dw")(x)
    x = layers.BatchNormalization(name="dw_bn")(x)
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    (group,) = graph.groups
    assert group.num_channels == 8
    assert WeightSlice("dw", "kernel", -2, rules.FILTER) in group.members
    assert WeightSlice("dw", "bias", 0, rules.BIAS) in group.members
    assert WeightSlice("dw_bn", "gamma", 0, rules.AFFINE) in group.members
    # Output c*M + m reads input channel c.
    np.testing.assert_array_equal(
        units(graph, "dw", "output"), np.repeat(units(graph, "c1", "output"), multiplier)
    )


def test_separable_reads_repeated_depthwise_channels():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = layers.SeparableConv2D(6, 3, depth_multiplier=2, padding="same", name="sep")(x)
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    group = group_of(graph, "c1")
    assert WeightSlice("sep", "depthwise_kernel", -2, rules.INPUT) in group.members
    assert WeightSlice("sep", "pointwise_kernel", -2, rules.INPUT) in group.members
    assert group_of(graph, "sep").num_channels == 6


def test_flatten_dense_expands_channel_by_spatial():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = layers.MaxPooling2D(2)(x)  # 4x4x8
    x = layers.Flatten()(x)
    x = layers.Dense(16, name="fc")(x)
    graph = ChannelGraph.build(keras.Model(inputs, layers.Dense(3, name="out")(x)))
    fc_in = units(graph, "fc")
    assert len(fc_in) == 4 * 4 * 8
    # Row s*C + c of the Dense kernel belongs to channel c.
    np.testing.assert_array_equal(fc_in, np.tile(units(graph, "c1", "output"), 16))
    group = group_of(graph, "c1")
    assert WeightSlice("fc", "kernel", 0, rules.INPUT) in group.members
    assert group.num_channels == 8


def test_reshape_squeeze_excite_keeps_layout():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    s = layers.GlobalAveragePooling2D()(x)
    s = layers.Reshape((1, 1, 8))(s)
    s = layers.Conv2D(4, 1, activation="relu", name="se_reduce")(s)
    s = layers.Conv2D(8, 1, activation="sigmoid", name="se_expand")(s)
    x = layers.Multiply()([x, s])
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    np.testing.assert_array_equal(units(graph, "se_reduce"), units(graph, "c1", "output"))
    assert filter_layers(group_of(graph, "c1")) == {"c1", "se_expand"}


def test_dense_on_3d_input():
    inputs = keras.Input((5, 12))
    x = layers.Dense(16, name="d1")(inputs)
    graph = ChannelGraph.build(keras.Model(inputs, layers.Dense(3, name="out")(x)))
    assert group_of(graph, "d1").num_channels == 16


def test_shared_layer_couples_its_call_sites():
    inputs = image_input()
    a = conv_bn_relu(inputs, 8, "c1")
    b = conv_bn_relu(inputs, 8, "c2")
    shared = layers.Conv2D(6, 3, padding="same", name="shared")
    x = layers.Concatenate()([shared(a), shared(b)])
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    # Both calls read input row k of the same kernel: c1 and c2 are coupled.
    assert filter_layers(group_of(graph, "c1")) == {"c1", "c2"}
    # Both calls produce the same 6 filters: one group of 6, not 12.
    assert group_of(graph, "shared").num_channels == 6


def test_nested_functional_and_sequential_paths():
    inner_in = keras.Input((H, H, 8))
    y = layers.Conv2D(8, 3, padding="same", name="inner_c")(inner_in)
    y = layers.Add(name="inner_add")([inner_in, y])
    block = keras.Model(inner_in, y, name="block")
    seq = keras.Sequential(
        [keras.Input((H, H, 8)), layers.Conv2D(8, 1, name="seq_c"), layers.ReLU()], name="seq"
    )
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = seq(block(x))
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    assert "block/inner_c" in graph.layer_paths()
    assert "seq/seq_c" in graph.layer_paths()
    # The residual Add inside the sub-model couples c1 (outside) and inner_c.
    assert filter_layers(group_of(graph, "c1")) == {"c1", "block/inner_c"}
    assert group_of(graph, "seq/seq_c").id == "seq/seq_c"


def test_sequential_model():
    model = keras.Sequential(
        [keras.Input((H, H, 3)), layers.Conv2D(8, 3, name="c1"), layers.ReLU(),
         layers.Flatten(), layers.Dense(3, name="out")]
    )
    graph = ChannelGraph.build(model)
    assert [g.id for g in graph.groups] == ["c1"]
    assert len(units(graph, "out")) == 6 * 6 * 8


# --- pinning ----------------------------------------------------------------


@pytest.mark.parametrize(
    "mixer",
    [
        lambda: layers.LayerNormalization(),
        lambda: layers.Softmax(),
        lambda: layers.Activation("softmax"),
        lambda: layers.Rescaling(scale=[0.5] * 8),
        lambda: layers.Normalization(mean=[0.5] * 8, variance=[2.0] * 8),
        lambda: layers.GroupNormalization(groups=2),
        lambda: layers.UnitNormalization(),
    ],
    ids=[
        "layernorm", "softmax", "activation_softmax", "rescaling_per_channel",
        "normalization_constants", "group_norm_grouped", "unit_norm",
    ],
)
def test_channel_mixing_layers_pin(mixer):
    inputs = image_input()
    x = layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    x = mixer()(x)
    x = conv_bn_relu(x, 8, "c2")
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    assert [g.id for g in graph.groups] == ["c2"]


def test_layernorm_on_other_axis_does_not_pin():
    inputs = keras.Input((6, 5))
    x = layers.Dense(8, name="d1")(inputs)
    x = layers.LayerNormalization(axis=1)(x)
    graph = ChannelGraph.build(keras.Model(inputs, layers.Dense(3, name="out")(x)))
    assert [g.id for g in graph.groups] == ["d1"]


@pytest.mark.parametrize(
    ("shared_axes", "sliced"), [(None, True), ([1, 2], True), ([1, 2, 3], False)]
)
def test_prelu_alpha(shared_axes, sliced):
    inputs = image_input()
    x = layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    x = layers.PReLU(shared_axes=shared_axes, name="prelu")(x)
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    member = WeightSlice("prelu", "alpha", -1, rules.AFFINE)
    assert (member in group_of(graph, "c1").members) is sliced


def test_inputs_and_outputs_are_pinned():
    inputs = image_input()
    x = layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    graph = ChannelGraph.build(keras.Model(inputs, x))
    assert graph.groups == []


def test_exclude_pins_layer_channels():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = conv_bn_relu(x, 8, "c2")
    model = keras.Model(inputs, head(x))
    assert [g.id for g in ChannelGraph.build(model).groups] == ["c1", "c2"]
    # An excluded layer keeps its own output channels (its filters).
    assert [g.id for g in ChannelGraph.build(model, exclude=["c2"]).groups] == ["c1"]
    assert [g.id for g in ChannelGraph.build(model, exclude=["c2_bn"]).groups] == ["c1"]
    assert [g.id for g in ChannelGraph.build(model, exclude=["c1", "c2"]).groups] == []


# --- unknown layers, registration, unsupported models ------------------------


class Scale2(keras.layers.Layer):
    """A custom layer without a tfprune rule (element-wise)."""

    def call(self, x):
        return x * 2.0


def custom_layer_model():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = Scale2(name="my_scale")(x)
    x = conv_bn_relu(x, 8, "c2")
    return keras.Model(inputs, head(x))



def test_unknown_layer_error_is_clear():
    model = custom_layer_model()
    with pytest.raises(errors.UnsupportedLayerError) as info:
        tfprune.prune(model, "l1", sparsity=0.5, round_to=None)
    message = str(info.value)
    assert "my_scale" in message
    assert "Scale2" in message
    assert "exclude" in message
    assert "register_rule" in message
    assert isinstance(info.value, ValueError)


def test_unknown_layer_excluded(check_slim_small):
    model = custom_layer_model()
    graph = ChannelGraph.build(model, exclude=["my_scale"])
    assert [g.id for g in graph.groups] == ["c2"]  # c1 feeds the excluded layer
    pruned = check_slim_small(model, exclude=["my_scale"])
    assert pruned.get_layer("c1").filters == 8
    assert pruned.get_layer("c2").filters == 4


def test_unknown_layer_registered(registry_snapshot, check_slim_small):
    tfprune.register_rule(Scale2, PassThroughRule())
    model = custom_layer_model()
    graph = ChannelGraph.build(model)
    assert [g.id for g in graph.groups] == ["c1", "c2"]
    slimmed = check_slim_small(model)
    assert slimmed.get_layer("c1").filters == 4


def test_unknown_raw_op_error():
    inputs = image_input()
    x = layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    x = ops.flip(x, axis=-1)  # reverses the channels: no rule
    with pytest.raises(errors.UnsupportedLayerError) as info:
        ChannelGraph.build(keras.Model(inputs, head(x)))
    message = str(info.value)
    assert "`flip`" in message
    assert "register_rule(type(op)" in message


def test_raw_op_rule_registered(registry_snapshot, check_slim_small):
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = ops.floor(x * 4.0)  # element-wise, but no built-in rule
    x = conv_bn_relu(x, 8, "c2")
    model = keras.Model(inputs, head(x))
    with pytest.raises(errors.UnsupportedLayerError, match="floor"):
        ChannelGraph.build(model)
    (op,) = [op for op in model.operations if op.name.startswith("floor")]
    tfprune.register_rule(type(op), PassThroughRule())
    assert [g.id for g in ChannelGraph.build(model).groups] == ["c1", "c2"]
    check_slim_small(model)


def test_register_rule_rejects_non_layers():
    with pytest.raises(errors.PruningArgumentError):
        tfprune.register_rule(int, PassThroughRule())
    with pytest.raises(errors.PruningArgumentError):
        tfprune.register_rule(Scale2, object())


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(8, 3)
        self.out = layers.Dense(2)

    def call(self, x):
        return self.out(ops.mean(self.conv(x), axis=(1, 2)))


def test_subclassed_model_raises():
    model = Subclassed()
    model(np.zeros((1, H, H, 3), "float32"))
    with pytest.raises(errors.UnsupportedModelError, match="subclassed"):
        tfprune.prune(model, "l1", sparsity=0.5, round_to=None)
    with pytest.raises(errors.UnsupportedModelError, match="Functional"):
        ChannelGraph.build(model)


def test_subclassed_sub_model_raises():
    sub = Subclassed()
    inputs = image_input()
    model = keras.Model(inputs, sub(inputs))
    with pytest.raises(errors.UnsupportedModelError, match="subclassed"):
        ChannelGraph.build(model)


@pytest.fixture
def check_slim_small():
    """prune(0.5) -> step(0) -> slim; checks slim == strip; returns slim."""

    def check(model, exclude=()):
        x = np.random.default_rng(0).uniform(size=(2, H, H, 3)).astype("float32")
        pruned = tfprune.prune(model, "l1", sparsity=0.5, exclude=exclude, round_to=None)
        tfprune.Pruner(pruned).step(0)
        stripped = tfprune.strip_pruning(pruned)
        slimmed = tfprune.slim(pruned)
        y_strip = np.asarray(stripped(x))
        tol = 1e-5 * np.abs(y_strip).max()
        assert np.abs(np.asarray(slimmed(x)) - y_strip).max() <= tol
        assert np.abs(np.asarray(pruned(x)) - y_strip).max() <= tol
        assert slimmed.count_params() < model.count_params()
        return slimmed

    return check


def test_grouped_conv_one_group_per_channel_is_depthwise():
    """ConvNeXt writes depthwise convs as Conv2D(C, groups=C)."""
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = layers.Conv2D(16, 3, padding="same", groups=8, name="dw")(x)
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    group = group_of(graph, "c1")
    assert WeightSlice("dw", "kernel", -1, rules.FILTER) in group.members
    np.testing.assert_array_equal(
        units(graph, "dw", "output"), np.repeat(units(graph, "c1", "output"), 2)
    )


def test_grouped_conv_is_pinned():
    inputs = image_input()
    x = conv_bn_relu(inputs, 8, "c1")
    x = layers.Conv2D(8, 3, padding="same", groups=2, name="grouped")(x)
    x = conv_bn_relu(x, 8, "c2")
    graph = ChannelGraph.build(keras.Model(inputs, head(x)))
    assert [g.id for g in graph.groups] == ["c2"]


def test_channels_first_layers_are_pinned():
    inputs = keras.Input((3, H, H))
    x = layers.Conv2D(8, 3, padding="same", data_format="channels_first", name="c1")(inputs)
    x = layers.Conv2DTranspose(8, 3, data_format="channels_first", name="up")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(6, name="fc")(x)
    graph = ChannelGraph.build(keras.Model(inputs, layers.Dense(2, name="out")(x)))
    assert [g.id for g in graph.groups] == ["fc"]
