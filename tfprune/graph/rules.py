"""Per-layer channel rules and their registry.

A rule says, for one call of a layer, how the channels of its output relate to
the channels of its inputs, and which weight slices index which channels.
Channels are tracked as *layouts*: a layout is an int array with one entry per
position of a tensor's last (channel) axis, holding the id of the channel item
at that position. A layer that creates channels (a conv's filters) makes a new
space of items; a pass-through layer (ReLU, pooling) returns its input layout;
an element-wise merge (Add) couples the items of its inputs; Concatenate joins
layouts; Flatten tiles a layout over the spatial positions.

Rules are looked up with ``isinstance`` over the layer class's MRO, so a rule
registered for ``keras.layers.Conv2D`` also covers its subclasses. Users add
rules for their own layers with :func:`register_rule`.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from tfprune import errors
from tfprune.graph.context import RuleContext

Layout = np.ndarray

# Roles of weight slices: "filter" slices produce a channel (used to score it),
# "input" slices read a channel, "bias"/"affine" are per-channel parameters.
FILTER, INPUT, BIAS, AFFINE = "filter", "input", "bias", "affine"


class LayerRule:
    """How one layer type propagates channels. Subclass and register it.

    Subclasses implement :meth:`trace`; layers whose constructor arguments
    depend on the channel count also override :meth:`slim_config`.
    """

    def trace(self, ctx: RuleContext) -> list[Layout]:
        """Record weight slices and couplings; return one layout per output."""
        raise NotImplementedError

    def slim_config(
        self, config: dict[str, Any], num_in: int | None, num_out: int | None
    ) -> dict[str, Any]:
        """Return the layer config for ``num_in``/``num_out`` kept channels."""
        del num_in, num_out
        return config

    def slim_call(
        self, config: dict[str, Any], args: Any, input_keep: np.ndarray
    ) -> tuple[dict[str, Any], Any]:
        """Config and recorded call ``args`` of a raw op in the slim model.

        For ops that index channel *positions* (``x[..., a:b]``,
        ``keras.ops.split``): ``input_keep`` flags the positions of the first
        input's channels that the slim model keeps. ``args`` is the call's
        recorded argument structure (tensors serialised, constants restored).
        Default: unchanged.
        """
        del input_keep
        return config, args


def _channels_last(layer: keras.layers.Layer) -> bool:
    data_format = getattr(layer, "data_format", "channels_last")
    return data_format in (None, "channels_last")


def _opaque(ctx: RuleContext) -> list[Layout]:
    """Pin every input and give every output a fresh pinned space."""
    for layout in ctx.input_layouts:
        ctx.pin(layout)
    return [ctx.pinned_space(ctx.output_channels(k)) for k in range(ctx.num_outputs)]


# Activations of ``keras.activations`` that act on each channel alone. Any
# other activation (softmax, log_softmax, sparsemax, glu, or a user's callable,
# whose behaviour tfprune cannot know) is treated as mixing channels.
_CHANNELWISE_ACTIVATIONS = (
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu",
    "silu", "swish", "hard_silu", "hard_swish", "sigmoid", "hard_sigmoid",
    "log_sigmoid", "sparse_sigmoid", "tanh", "hard_tanh", "tanh_shrink",
    "softplus", "softsign", "sparse_plus", "squareplus", "mish", "exponential",
    "hard_shrink", "soft_shrink", "threshold",
)
_channelwise_ids: set[int] = set()


def is_channelwise_activation(activation: Any) -> bool:
    """Whether ``activation`` (a layer's ``activation`` attribute) acts per channel.

    Only the functions of ``keras.activations`` named in
    ``_CHANNELWISE_ACTIVATIONS`` (compared by identity, so a user function
    called ``relu`` does not count) and ``None`` are; anything else is assumed
    to mix channels.
    """
    if activation is None:
        return True
    if not _channelwise_ids:
        for name in _CHANNELWISE_ACTIVATIONS:
            try:
                _channelwise_ids.add(id(keras.activations.get(name)))
            except ValueError:  # not in this Keras version
                continue
    return id(activation) in _channelwise_ids


def _activated(ctx: RuleContext, layout: Layout) -> list[Layout]:
    """The output layouts of a layer whose ``activation`` follows ``layout``.

    A channel-mixing activation (softmax over the channels, a user's
    callable) makes every output depend on every channel: the channels are
    pinned, and an activation that changes the width (glu) gets a fresh
    pinned layout.
    """
    if is_channelwise_activation(getattr(ctx.layer, "activation", None)):
        return [layout]
    ctx.pin(layout)
    width = ctx.output_channels()
    return [layout if width == len(layout) else ctx.pinned_space(width)]


class PassThroughRule(LayerRule):
    """Output channels are the input channels (activations, pooling, dropout...).

    Layers that are not channels-last are pinned instead, since their last axis
    is not the channel axis.
    """

    def trace(self, ctx):
        if not _channels_last(ctx.layer):
            return _opaque(ctx)
        return [ctx.input_layouts[0]]


class ChannelwiseRule(PassThroughRule):
    """Pass-through layer with per-channel weights along their last axis.

    Args:
        weights: names of the layer's per-channel weights (e.g. ``("alpha",)``
            for PReLU). A weight whose last axis does not match the channel
            count (shared over channels) is left alone.
    """

    def __init__(self, weights: tuple[str, ...] = ()):
        self.weights = tuple(weights)

    def trace(self, ctx):
        (layout,) = super().trace(ctx)
        for name in self.weights:
            ctx.weight(name, -1, layout, AFFINE, optional=True)
        return [layout]


class PinRule(LayerRule):
    """A layer that mixes all channels without weights: keep every channel."""

    def trace(self, ctx):
        return _opaque(ctx)


class ConvRule(LayerRule):
    """Conv1D/2D/3D: kernel ``(*k, C_in / groups, F)``, bias ``(F,)``.

    A grouped conv with one group per input channel (``groups == C_in``, how
    ConvNeXt writes its depthwise convs) is a depthwise conv: output
    ``c*M + m`` reads input ``c`` and both stay coupled. Other grouped convs
    would need equal pruning in every group: their channels are pinned.
    """

    def trace(self, ctx):
        layer = ctx.layer
        if not _channels_last(layer):
            return _opaque(ctx)
        layout = ctx.input_layouts[0]
        groups = getattr(layer, "groups", 1) or 1
        if groups == 1:
            out = ctx.new_space(layer.filters)
            ctx.weight("kernel", -2, layout, INPUT)
        elif groups == len(layout) and layer.filters % groups == 0:
            out = np.repeat(layout, layer.filters // groups)
        else:
            return _opaque(ctx)
        ctx.weight("kernel", -1, out, FILTER)
        ctx.weight("bias", 0, out, BIAS, optional=True)
        return _activated(ctx, out)

    def slim_config(self, config, num_in, num_out):
        groups = config.get("groups", 1) or 1
        if groups != 1:
            if num_out == config["filters"]:
                return config  # pinned grouped conv: unchanged
            return {**config, "filters": num_out, "groups": num_in}
        return {**config, "filters": num_out}


class ConvTransposeRule(ConvRule):
    """Conv{1,2,3}DTranspose: kernel ``(*k, F, C_in)``."""

    def trace(self, ctx):
        layer = ctx.layer
        if not _channels_last(layer) or (getattr(layer, "groups", 1) or 1) != 1:
            return _opaque(ctx)
        out = ctx.new_space(layer.filters)
        ctx.weight("kernel", -1, ctx.input_layouts[0], INPUT)
        ctx.weight("kernel", -2, out, FILTER)
        ctx.weight("bias", 0, out, BIAS, optional=True)
        return _activated(ctx, out)


class DepthwiseRule(LayerRule):
    """DepthwiseConv1D/2D: kernel ``(*k, C, M)``; output ``c*M + m`` reads ``c``.

    Removing input channel ``c`` removes its ``M`` outputs, so the output
    layout repeats every input item ``M`` times and both stay coupled.
    """

    def trace(self, ctx):
        layer = ctx.layer
        if not _channels_last(layer):
            return _opaque(ctx)
        layout = ctx.input_layouts[0]
        ctx.weight("kernel", -2, layout, FILTER)
        out = np.repeat(layout, layer.depth_multiplier)
        ctx.weight("bias", 0, out, BIAS, optional=True)
        return _activated(ctx, out)


class SeparableRule(ConvRule):
    """SeparableConv1D/2D: depthwise ``(*k, C, M)`` then pointwise ``(.., C*M, F)``."""

    def trace(self, ctx):
        layer = ctx.layer
        if not _channels_last(layer):
            return _opaque(ctx)
        layout = ctx.input_layouts[0]
        out = ctx.new_space(layer.filters)
        ctx.weight("depthwise_kernel", -2, layout, INPUT)
        ctx.weight("pointwise_kernel", -2, np.repeat(layout, layer.depth_multiplier), INPUT)
        ctx.weight("pointwise_kernel", -1, out, FILTER)
        ctx.weight("bias", 0, out, BIAS, optional=True)
        return _activated(ctx, out)


class DenseRule(LayerRule):
    """Dense on the last axis: kernel ``(C_in, units)``, bias ``(units,)``."""

    def trace(self, ctx):
        out = ctx.new_space(ctx.layer.units)
        ctx.weight("kernel", 0, ctx.input_layouts[0], INPUT)
        ctx.weight("kernel", 1, out, FILTER)
        ctx.weight("bias", 0, out, BIAS, optional=True)
        return _activated(ctx, out)

    def slim_config(self, config, num_in, num_out):
        return {**config, "units": num_out}


def _axes(layer: keras.layers.Layer, rank: int) -> list[int]:
    axis = layer.axis
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    return sorted(a % rank for a in axes)


class BatchNormRule(LayerRule):
    """BatchNormalization over the channel axis: per-channel gamma/beta/stats."""

    def trace(self, ctx):
        layout = ctx.input_layouts[0]
        rank = len(ctx.input_shapes[0])
        if _axes(ctx.layer, rank) != [rank - 1]:
            return _opaque(ctx)
        for name in ("gamma", "beta", "moving_mean", "moving_variance"):
            ctx.weight(name, 0, layout, AFFINE, optional=True)
        return [layout]


class LayerNormRule(LayerRule):
    """LayerNormalization: statistics over its axes.

    When the channel axis is normalised, every channel changes the mean and
    variance of the others, so removing one would change the result: the
    channels are pinned (kept). Otherwise the layer is channel-independent.
    """

    def trace(self, ctx):
        layout = ctx.input_layouts[0]
        rank = len(ctx.input_shapes[0])
        if rank - 1 in _axes(ctx.layer, rank):
            ctx.pin(layout)
            return [layout]
        return [layout]


class GroupNormRule(LayerRule):
    """GroupNormalization: statistics over the channels of each group.

    With one channel per group (``groups == -1`` or ``groups == C``, i.e.
    instance normalization) channels are independent and ``gamma``/``beta``
    are sliced; otherwise every channel of a group changes the statistics of
    the others, so the channels are pinned.
    """

    def trace(self, ctx):
        layout = ctx.input_layouts[0]
        layer = ctx.layer
        rank = len(ctx.input_shapes[0])
        if layer.axis % rank != rank - 1 or layer.groups not in (-1, len(layout)):
            return _opaque(ctx)
        for name in ("gamma", "beta"):
            ctx.weight(name, 0, layout, AFFINE, optional=True)
        return [layout]

    def slim_config(self, config, num_in, num_out):
        groups = config.get("groups", -1)
        if groups == -1 or num_out is None or num_out >= groups:
            return config  # instance norm with groups=-1, or pinned (all kept)
        return {**config, "groups": num_out}  # one group per kept channel


class UnitNormRule(LayerRule):
    """UnitNormalization: an L2 norm over the channel axis mixes channels."""

    def trace(self, ctx):
        layout = ctx.input_layouts[0]
        rank = len(ctx.input_shapes[0])
        if rank - 1 in _axes(ctx.layer, rank):
            ctx.pin(layout)
        return [layout]


class SoftmaxRule(LayerRule):
    """Softmax layer or ``keras.ops.softmax``/``log_softmax`` op.

    Over the channel axis (or over every axis, ``axis=None``) it mixes
    channels, so they are pinned.
    """

    def trace(self, ctx):
        layout = ctx.input_layouts[0]
        rank = len(ctx.input_shapes[0])
        axis = getattr(ctx.layer, "axis", -1)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if axis is None or rank - 1 in [a % rank for a in axes]:
            ctx.pin(layout)
        return [layout]


class ActivationRule(LayerRule):
    """``keras.layers.Activation``: pass-through for a channel-wise activation.

    Softmax, other channel-mixing activations and unknown callables pin the
    channels (see :func:`is_channelwise_activation`).
    """

    def trace(self, ctx):
        return _activated(ctx, ctx.input_layouts[0])


class MergeRule(LayerRule):
    """Element-wise merges (Add, Subtract, Multiply, Average, Maximum, Minimum).

    Inputs with the full channel count are coupled item by item; an input with
    a single channel that broadcasts (e.g. a spatial attention map) is pinned.
    """

    def trace(self, ctx):
        layouts = ctx.input_layouts
        width = max(len(layout) for layout in layouts)
        full = [layout for layout in layouts if len(layout) == width]
        for layout in layouts:
            if len(layout) != width:
                if len(layout) != 1:
                    msg = (
                        f"Layer `{ctx.path}` merges tensors with {len(layout)} "
                        f"and {width} channels; only equal counts or a "
                        "broadcast single channel can be traced."
                    )
                    raise errors.UnsupportedLayerError(msg)
                ctx.pin(layout)
        for other in full[1:]:
            ctx.union(full[0], other)
        return [full[0]]


class ConcatenateRule(LayerRule):
    """Concatenate along channels joins layouts; along another axis, couples."""

    def trace(self, ctx):
        rank = len(ctx.input_shapes[0])
        if ctx.layer.axis % rank == rank - 1:
            return [np.concatenate(ctx.input_layouts)]
        return MergeRule().trace(ctx)


class FlattenRule(LayerRule):
    """Flatten of ``(..., C)`` tiles the channel layout over spatial positions.

    Position ``s*C + c`` of the flat axis holds channel ``c``, so a Dense
    reading the flat axis has ``spatial x C`` input rows per channel group.
    """

    def trace(self, ctx):
        shape = ctx.input_shapes[0]
        spatial = shape[1:-1]
        if not _channels_last(ctx.layer) or any(d is None for d in spatial):
            return _opaque(ctx)
        return [np.tile(ctx.input_layouts[0], math.prod(spatial))]


class ReshapeRule(LayerRule):
    """Reshape that keeps the channel axis last, or flattens everything.

    ``(H, W, C) -> (H*W, C)`` or ``(C,) -> (1, 1, C)`` keep the layout;
    ``(H, W, C) -> (H*W*C,)`` tiles it like Flatten. Anything else mixes the
    channel axis with other axes and is pinned.
    """

    def trace(self, ctx):
        in_shape = ctx.input_shapes[0]
        target = tuple(ctx.layer.target_shape)
        layout = ctx.input_layouts[0]
        channels = in_shape[-1]
        if target[-1] == channels:
            return [layout]
        spatial = in_shape[1:-1]
        if len(target) == 1 and all(d is not None for d in spatial) and target[0] in (
            -1,
            math.prod(spatial) * channels,
        ):
            return [np.tile(layout, math.prod(spatial))]
        return _opaque(ctx)

    def slim_config(self, config, num_in, num_out):
        target = list(config["target_shape"])
        if target[-1] != -1:
            target[-1] = num_out
        return {**config, "target_shape": tuple(target)}


class PermuteRule(LayerRule):
    """Permute that keeps the last axis last passes channels through."""

    def trace(self, ctx):
        dims = tuple(ctx.layer.dims)
        if dims[-1] == len(dims):
            return [ctx.input_layouts[0]]
        return _opaque(ctx)


class NormalizationRule(ChannelwiseRule):
    """Preprocessing Normalization: per-channel mean/variance on the last axis."""

    def __init__(self):
        super().__init__(("mean", "variance"))

    def trace(self, ctx):
        rank = len(ctx.input_shapes[0])
        axis = ctx.layer.axis
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if [a % rank for a in axes] != [rank - 1]:
            return _opaque(ctx)
        config = ctx.layer.get_config()
        if any(np.size(config.get(key)) > 1 for key in ("mean", "variance")):
            # Constructor constants (not weights): slim cannot slice them.
            layout = ctx.input_layouts[0]
            ctx.pin(layout)
            return [layout]
        return super().trace(ctx)


class RescalingRule(PassThroughRule):
    """Rescaling: pass-through; a per-channel scale/offset pins the channels."""

    def trace(self, ctx):
        layout = ctx.input_layouts[0]
        config = ctx.layer.get_config()
        if any(np.size(config.get(key, 1)) > 1 for key in ("scale", "offset")):
            ctx.pin(layout)
        return [layout]


_REGISTRY: dict[type, LayerRule] = {}


class ElementwiseOpRule(MergeRule):
    """A raw Keras op applied element-wise (``x + y``, ``x * 0.5``, ``ops.relu``).

    Tensor operands are coupled like a merge layer (a single-channel operand
    that broadcasts is pinned). Non-tensor operands that are Python scalars
    are fine; any other constant (an array over the channels) would have to be
    sliced by ``slim``, so the channels are pinned instead.
    """

    def trace(self, ctx):
        if _has_array_constant(ctx.site.args) or _has_array_constant(ctx.site.kwargs):
            return _opaque(ctx)
        return super().trace(ctx)


def _has_array_constant(structure: Any) -> bool:
    if structure is None or isinstance(structure, (bool, int, float, str)):
        return False
    if isinstance(structure, dict):
        if structure.get("class_name") == "__keras_tensor__":
            return False
        if structure.get("class_name") == "__tuple__":
            return any(_has_array_constant(v) for v in structure["config"]["value"])
        if "class_name" in structure:  # a serialized constant (numpy array...)
            return True
        return any(_has_array_constant(v) for v in structure.values())
    if isinstance(structure, (list, tuple)):
        return any(_has_array_constant(v) for v in structure)
    return True


# Rules of Keras' own operations (``keras.ops.*``) that appear in Functional
# models as raw ops, looked up by class name (their classes are not public).
_ELEMENTWISE_OPS = (
    # binary, with broadcasting
    "Add", "Subtract", "Multiply", "Maximum", "Minimum",
    # unary (keras.ops.numpy)
    "Abs", "Absolute", "Negative", "Square", "Sqrt", "Exp", "Tanh",
    "Clip", "Copy", "Sign",
    # activations (keras.ops.nn)
    "Relu", "Relu6", "Sigmoid", "Silu", "HardSigmoid", "HardSilu", "Gelu",
    "Elu", "Selu", "Celu", "LeakyRelu", "Softplus", "Softsign", "LogSigmoid",
    "HardTanh", "TanhShrink", "Squareplus", "SparsePlus", "SparseSigmoid",
    "HardShrink", "SoftShrink", "Threshold",
)
def _kept_before(input_keep: np.ndarray, position: int) -> int:
    """Slim position of original channel position ``position``."""
    return int(np.count_nonzero(input_keep[:position]))


class GetItemRule(LayerRule):
    """``x[key]`` on a symbolic tensor (keras' ``GetItem`` op).

    A key that leaves the channel axis whole (``x[:, 1:]``, ``x[:, 0]``)
    passes the channels through; a contiguous slice of the channel axis
    (``x[..., :k]``, ``x[..., a:b]``, as Ghost modules do) keeps that sub-range
    of the input layout, and ``slim`` moves its bounds to the kept channels.
    Anything else on the channel axis (an index, a step, a tensor) is pinned.
    """

    def trace(self, ctx):
        layout = ctx.input_layouts[0]
        key = _expanded_key(ctx.site.args)
        if len(ctx.input_layouts) != 1 or key is None:
            return _opaque(ctx)
        start, stop, step = key[_last_axis(key)].indices(len(layout))
        if step != 1:
            return _opaque(ctx)
        return [layout[start:stop]]

    def slim_call(self, config, args, input_keep):
        key = _expanded_key(args)
        if key is None or input_keep.all():
            return config, args
        index = _last_axis(key)
        start, stop, _ = key[index].indices(len(input_keep))
        key[index] = slice(_kept_before(input_keep, start), _kept_before(input_keep, stop))
        return config, [args[0], tuple(key), *args[2:]]


def _expanded_key(args: Any) -> list[Any] | None:
    """The key of a ``GetItem`` call with one explicit entry per input axis.

    ``Ellipsis`` is expanded and missing trailing axes become ``slice(None)``;
    ``None`` (new axes) entries stay. Returns None unless the last input axis
    is indexed by a slice and stays the last axis of the result (no new axis
    after it), or for a key that is not plain ints, slices and ``None``.
    ``args`` is the recorded ``(tensor, key)`` of the call; the tensor's
    recorded shape gives the rank.
    """
    from tfprune.graph.trace import deserialize_constants

    rank = _recorded_rank(args)
    if rank is None or len(args) != 2:
        return None
    key = deserialize_constants(args[1])
    entries = list(key) if isinstance(key, (list, tuple)) else [key]
    allowed = (slice, int, type(Ellipsis), type(None))
    if any(isinstance(e, bool) or not isinstance(e, allowed) for e in entries):
        return None
    consuming = sum(1 for e in entries if e is not None and e is not Ellipsis)
    ellipses = [i for i, e in enumerate(entries) if e is Ellipsis]
    if len(ellipses) > 1 or consuming > rank:
        return None
    fill = [slice(None)] * (rank - consuming)
    if ellipses:
        entries = entries[: ellipses[0]] + fill + entries[ellipses[0] + 1 :]
    else:
        entries = entries + fill
    last = _last_axis(entries)
    if last is None or not isinstance(entries[last], slice) or None in entries[last + 1 :]:
        return None
    return entries


def _recorded_rank(args: Any) -> int | None:
    """Rank of the first recorded argument of a call, if it is a tensor."""
    if not isinstance(args, (list, tuple)) or not args or not isinstance(args[0], dict):
        return None
    shape = args[0].get("config", {}).get("shape")
    if args[0].get("class_name") != "__keras_tensor__" or shape is None:
        return None
    return len(shape)


def _last_axis(entries: list[Any]) -> int | None:
    """Position of the key entry that indexes the last input axis."""
    for position in range(len(entries) - 1, -1, -1):
        if entries[position] is not None:
            return position
    return None


class SplitRule(LayerRule):
    """``keras.ops.split``: along the channels, each output is a sub-range.

    The sections are contiguous ranges of the input layout; ``slim`` moves the
    split points to the kept channels. Along another axis every output has
    the input's channels.
    """

    def trace(self, ctx):
        layout = ctx.input_layouts[0]
        rank = len(ctx.input_shapes[0])
        if ctx.layer.axis % rank != rank - 1:
            return [layout] * ctx.num_outputs
        bounds = _split_bounds(ctx.layer.indices_or_sections, len(layout))
        return [layout[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def slim_call(self, config, args, input_keep):
        rank = _recorded_rank(args)
        if input_keep.all() or rank is None or config["axis"] % rank != rank - 1:
            return config, args
        bounds = _split_bounds(config["indices_or_sections"], len(input_keep))
        indices = [_kept_before(input_keep, b) for b in bounds[1:-1]]
        return {**config, "indices_or_sections": indices}, args


def _split_bounds(indices_or_sections: Any, size: int) -> list[int]:
    """``[0, *split points, size]`` of ``split(x, indices_or_sections)``."""
    if isinstance(indices_or_sections, int):
        step = size // indices_or_sections
        return [k * step for k in range(indices_or_sections)] + [size]
    return [0, *(int(i) for i in indices_or_sections), size]


class DivideOpRule(ElementwiseOpRule):
    """``x / y``: element-wise when the divisor is a constant.

    Dividing by a tensor would divide by the exact zeros of pruned channels in
    the masked model (inf * 0 = NaN downstream), so those channels are pinned.
    """

    def trace(self, ctx):
        if len(ctx.input_layouts) > 1 or not _first_arg_is_tensor(ctx.site.args):
            return _opaque(ctx)
        return super().trace(ctx)


def _first_arg_is_tensor(args: Any) -> bool:
    args = list(args or [])
    return bool(args) and isinstance(args[0], dict) and args[0].get("class_name") == "__keras_tensor__"


# f(0) is infinite (log, 1/x, x**-k): a pruned (zero) channel would poison the
# masked model with inf * 0 = NaN, so these ops keep their channels.
_PINNED_OPS = ("Log", "Log1p", "Reciprocal", "Power")

_OP_RULES: dict[str, LayerRule] = {
    **{name: ElementwiseOpRule() for name in _ELEMENTWISE_OPS},
    **{name: PinRule() for name in _PINNED_OPS},
    "Divide": DivideOpRule(),
    "TrueDivide": DivideOpRule(),
    "Softmax": SoftmaxRule(),
    "LogSoftmax": SoftmaxRule(),
    "GetItem": GetItemRule(),
    "Split": SplitRule(),
}


class LayerScaleRule(ChannelwiseRule):
    """ConvNeXt's ``LayerScale``: ``x * gamma`` with ``gamma`` of shape ``(C,)``.

    Channel-wise (Touvron et al. 2021, "Going deeper with image transformers",
    Sec. 3); its config holds the channel count (``projection_dim``).
    """

    def trace(self, ctx):
        (layout,) = super().trace(ctx)
        # The weight is created without a name: refer to it by object.
        ctx.weight(ctx.layer.gamma.name, -1, layout, AFFINE)
        return [layout]

    def slim_config(self, config, num_in, num_out):
        return {**config, "projection_dim": num_out}


class ScaledAddRule(MergeRule):
    """InceptionResNetV2's ``CustomScaleLayer``: ``inputs[0] + inputs[1] * scale``.

    An element-wise merge like ``Add`` when ``scale`` is a scalar; a
    per-channel constant would have to be sliced, so it is pinned instead.
    """

    def trace(self, ctx):
        if np.size(getattr(ctx.layer, "scale", 1.0)) != 1:
            return _opaque(ctx)
        return super().trace(ctx)


# keras.applications defines these layers in its private modules
# (keras.src.applications.convnext / .inception_resnet_v2) and exports them
# nowhere public, so tfprune cannot import them (house rule: public API only).
# They are matched by class name *and* defining module instead: a user class
# with the same name elsewhere does not match.
_APPLICATION_MODULE = "keras.src.applications."
_APPLICATION_RULES: dict[str, LayerRule] = {
    "LayerScale": LayerScaleRule(),
    "CustomScaleLayer": ScaledAddRule(),
}


def register_rule(layer_class: type, rule: LayerRule) -> None:
    """Register ``rule`` for ``layer_class`` and its subclasses.

    ``layer_class`` is a ``keras.layers.Layer`` subclass, or a
    ``keras.Operation`` subclass for a raw op used in a Functional model.

    Example:
        >>> tfprune.graph.register_rule(MyScale, ChannelwiseRule(("gamma",)))
    """
    if not isinstance(layer_class, type) or not issubclass(
        layer_class, (keras.layers.Layer, keras.Operation)
    ):
        msg = (
            "`layer_class` must be a subclass of keras.layers.Layer (or of "
            f"keras.Operation). Received: {layer_class!r}"
        )
        raise errors.PruningArgumentError(msg)
    if not isinstance(rule, LayerRule):
        msg = f"`rule` must be a tfprune LayerRule instance. Received: {rule!r}"
        raise errors.PruningArgumentError(msg)
    _REGISTRY[layer_class] = rule


def find_rule(layer: keras.layers.Layer | keras.Operation) -> LayerRule | None:
    """Return the rule for ``layer`` (most specific class first), or None.

    Raw Keras ops (``x + y``, ``keras.ops.relu(x)`` in a Functional model)
    that have no registered rule get the built-in rule of their op, if any;
    so do the private layers of ``keras.applications`` (ConvNeXt's
    ``LayerScale``, InceptionResNetV2's ``CustomScaleLayer``).
    """
    for cls in type(layer).__mro__:
        rule = _REGISTRY.get(cls)
        if rule is not None:
            return rule
    cls = type(layer)
    if not isinstance(layer, keras.layers.Layer) and cls.__module__.startswith("keras."):
        return _OP_RULES.get(cls.__name__)
    if cls.__module__.startswith(_APPLICATION_MODULE):
        return _APPLICATION_RULES.get(cls.__name__)
    return None


def matched_class(layer: keras.layers.Layer | keras.Operation) -> type | None:
    """The class of ``layer``'s MRO whose registered rule :func:`find_rule` uses."""
    for cls in type(layer).__mro__:
        if cls in _REGISTRY:
            return cls
    return None


def _register_builtin_rules() -> None:
    layers = keras.layers
    passthrough = PassThroughRule()
    for name in (
        "ReLU", "LeakyReLU", "ELU", "Identity", "Dropout", "SpatialDropout1D",
        "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
        "AlphaDropout", "ActivityRegularization", "MaxPooling1D", "MaxPooling2D",
        "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
        "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
        "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
        "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D",
        "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D",
        "Cropping3D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
        "ThresholdedReLU", "Masking",
        # spatial preprocessing / augmentation (identity or per-channel at inference)
        "Resizing", "CenterCrop", "RandomCrop", "RandomFlip", "RandomRotation",
        "RandomZoom", "RandomTranslation", "RandomBrightness", "RandomContrast",
    ):
        cls = getattr(layers, name, None)
        if cls is not None:
            register_rule(cls, passthrough)
    conv = ConvRule()
    for name in ("Conv1D", "Conv2D", "Conv3D"):
        register_rule(getattr(layers, name), conv)
    transpose = ConvTransposeRule()
    for name in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"):
        register_rule(getattr(layers, name), transpose)
    depthwise = DepthwiseRule()
    for name in ("DepthwiseConv1D", "DepthwiseConv2D"):
        register_rule(getattr(layers, name), depthwise)
    separable = SeparableRule()
    for name in ("SeparableConv1D", "SeparableConv2D"):
        register_rule(getattr(layers, name), separable)
    register_rule(layers.Dense, DenseRule())
    register_rule(layers.BatchNormalization, BatchNormRule())
    register_rule(layers.LayerNormalization, LayerNormRule())
    register_rule(layers.GroupNormalization, GroupNormRule())
    register_rule(layers.UnitNormalization, UnitNormRule())
    register_rule(layers.Softmax, SoftmaxRule())
    register_rule(layers.Activation, ActivationRule())
    register_rule(layers.PReLU, ChannelwiseRule(("alpha",)))
    merge = MergeRule()
    for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        register_rule(getattr(layers, name), merge)
    register_rule(layers.Concatenate, ConcatenateRule())
    register_rule(layers.Flatten, FlattenRule())
    register_rule(layers.Reshape, ReshapeRule())
    register_rule(layers.Permute, PermuteRule())
    register_rule(layers.Normalization, NormalizationRule())
    # Attention heads are not pruned yet: attention layers keep their input
    # and output channels (a transformer's MLP hidden layers stay prunable).
    pin = PinRule()
    for name in ("MultiHeadAttention", "GroupedQueryAttention", "Attention", "AdditiveAttention"):
        cls = getattr(layers, name, None)
        if cls is not None:
            register_rule(cls, pin)
    register_rule(layers.Rescaling, RescalingRule())


_register_builtin_rules()
