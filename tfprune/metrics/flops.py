"""Count the multiply-accumulates (MACs) of a model, layer by layer.

The pruning literature reports "FLOPs" as multiply-accumulates: Li et al.,
"Pruning Filters for Efficient ConvNets", ICLR 2017
(https://arxiv.org/abs/1608.08710) give 1.25e8 FLOPs for ResNet-56 on
CIFAR-10, and He et al. give 3.8e9 for ResNet-50 at 224x224; both are MAC
counts. tfprune counts the same way, so its numbers compare with the papers.

What is counted, per call of a layer (``k`` = product of the kernel sizes,
``S_in``/``S_out`` = product of the input/output spatial sizes):

- `Conv1D`/`Conv2D`/`Conv3D`: ``k * C_in / groups * C_out * S_out``;
- `Conv1DTranspose`/`Conv2DTranspose`/`Conv3DTranspose`, counted per input
  position: ``k * C_in * C_out * S_in``;
- `DepthwiseConv1D`/`DepthwiseConv2D`: ``k * C_in * depth_multiplier * S_out``;
- `SeparableConv1D`/`SeparableConv2D`: the depthwise part
  ``k * C_in * M * S_out`` plus the pointwise part ``C_in * M * C_out * S_out``;
- `Dense`, on inputs of any rank: ``in * units * prod(leading non-batch dims)``.

Biases, activations, normalization, pooling, merges and every other layer
count 0: they are cheap next to the layers above, and BatchNormalization is
folded into the preceding convolution when the model is exported to TFLite.
Custom layers, and nested models that are not Functional or Sequential,
count 0 too: their internals cannot be traced.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from tfprune import errors
from tfprune.metrics import _trace

Shape = _trace.Shape
Mask = np.ndarray | None
Rule = Callable[[keras.layers.Layer, Shape, Shape, Mask, Mask, str], int]


def count_flops(
    model: keras.Model,
    *,
    input_shape: Any | None = None,
    effective: bool = False,
) -> int:
    """Return the multiply-accumulates (MACs) of one forward pass of `model`.

    This is what pruning papers call "FLOPs" (Li et al. 2017 count 1.25e8
    for ResNet-56), for one input sample. Conv, transposed conv, depthwise,
    separable and Dense layers are counted at every call site, including
    inside nested Functional/Sequential models and for shared layers called
    several times; every other layer counts 0 (see the module docstring).

    Args:
        model: A built Functional or Sequential `keras.Model`.
        input_shape: Optional shape of one input sample without the batch
            dimension, e.g. ``(224, 224, 3)`` (a list of shapes for several
            inputs). Needed when the model's inputs have unknown sizes;
            otherwise counts at that size instead of the model's own.
        effective: If True, a layer wrapped in a `keras.layers.Wrapper` that
            has an `input_mask` and/or `output_mask` (a vector over the
            channel axis, 1 = kept, 0 = pruned) is counted with the kept
            channels only: the theoretical MACs of the model after slimming
            (`slim`), computed before slimming. A wrapper's `kernel_mask`
            (column or weight granularity) scales its layer's count by the
            kept fraction: theoretical MACs, since a dense kernel does not
            skip zeros (see `_kernel_density`).

    Returns:
        The number of MACs, a Python int.

    The model is traced symbolically from its config (no data runs through
    it) and is not modified.

    Raises:
        UnsupportedModelError: If the model cannot be traced (subclassed, not
            built) or a counted layer has inputs of unknown size.
        PruningArgumentError: If `model` is not a `keras.Model`,
            `input_shape` does not fit the model, or a mask does not match
            its layer.

    Example:

    >>> inputs = keras.Input((32, 32, 3))
    >>> x = keras.layers.Conv2D(16, 3, padding="same")(inputs)
    >>> x = keras.layers.GlobalAveragePooling2D()(x)
    >>> model = keras.Model(inputs, keras.layers.Dense(10)(x))
    >>> count_flops(model) == 3 * 3 * 3 * 16 * 32 * 32 + 16 * 10
    True
    """
    return sum(
        flops_by_layer(
            model, input_shape=input_shape, effective=effective
        ).values()
    )


def flops_by_layer(
    model: keras.Model,
    *,
    input_shape: Any | None = None,
    effective: bool = False,
) -> dict[str, int]:
    """Return the MACs of each counted layer of `model`.

    Args:
        model: A built Functional or Sequential `keras.Model`.
        input_shape: As in `count_flops`.
        effective: As in `count_flops`.

    Returns:
        A dict from layer name to MACs, in graph order, for every layer of a
        counted type (Conv, transposed Conv, DepthwiseConv, SeparableConv,
        Dense, possibly wrapped). A layer inside a nested model is named
        ``"nested_model/layer"``. A layer called several times (a shared
        layer, or a layer of a nested model called several times) has the
        sum of its calls. The values sum to `count_flops(model)`.

    Raises:
        UnsupportedModelError: As in `count_flops`.
        PruningArgumentError: As in `count_flops`.
    """
    flops: dict[str, int] = collections.defaultdict(int)
    for site, in_shape, out_shape in _trace.layer_shapes(model, input_shape):
        layer, input_mask, output_mask = _unwrap(site.layer, effective)
        rule = _find_rule(layer)
        if rule is None:
            continue
        value = rule(
            layer,
            in_shape,
            out_shape,
            input_mask,
            output_mask,
            site.path,
        )
        if effective:
            value = int(round(value * _kernel_density(site.layer)))
        flops[site.path] += value
    return dict(flops)


def _kernel_density(layer: keras.layers.Layer) -> float:
    """Kept fraction of a wrapper's ``kernel_mask`` (1.0 without one).

    Column pruning removes a fraction ``pc`` of the im2col inner dimension,
    so a layer costs ``F (1 - pc)`` (with ``pr`` filters pruned too,
    ``F (1 - pr)(1 - pc) = F (1 - (pr + pc - pr pc))``, the SPP authors'
    count); weight pruning keeps ``F * density``. Both are theoretical: a
    dense kernel does not skip zeros.
    """
    while isinstance(layer, keras.layers.Wrapper):
        mask = getattr(layer, "kernel_mask", None)
        if mask is not None:
            values = np.asarray(keras.ops.convert_to_numpy(mask))
            return float(np.count_nonzero(values)) / values.size
        layer = layer.layer
    return 1.0


# --- wrappers and masks ----------------------------------------------------


def _unwrap(
    layer: keras.layers.Layer, effective: bool
) -> tuple[keras.layers.Layer, Mask, Mask]:
    """Return the innermost wrapped layer and, if `effective`, the masks.

    The outermost wrapper that has a mask wins.
    """
    masks: dict[str, Mask] = {"input_mask": None, "output_mask": None}
    while isinstance(layer, keras.layers.Wrapper):
        if effective:
            for attribute in masks:
                value = getattr(layer, attribute, None)
                if masks[attribute] is None and value is not None:
                    masks[attribute] = _mask_to_numpy(value, layer, attribute)
        layer = layer.layer
    return layer, masks["input_mask"], masks["output_mask"]


def _mask_to_numpy(
    value: Any, wrapper: keras.layers.Layer, attribute: str
) -> np.ndarray:
    mask = np.asarray(keras.ops.convert_to_numpy(value))
    if mask.ndim != 1:
        msg = (
            f"`{attribute}` of wrapper `{wrapper.name}` must be a vector over "
            f"the channel axis (1 = kept, 0 = pruned). Received a mask of "
            f"shape {mask.shape}."
        )
        raise errors.PruningArgumentError(msg)
    return np.asarray(mask != 0, dtype=bool)


def _kept(mask: Mask, channels: int, name: str, attribute: str) -> int:
    """Number of kept channels out of `channels` under `mask`."""
    if mask is None:
        return channels
    if mask.shape[0] != channels:
        msg = (
            f"`{attribute}` of layer `{name}` has {mask.shape[0]} entries but "
            f"the layer has {channels} channels on that axis."
        )
        raise errors.PruningArgumentError(msg)
    return int(np.count_nonzero(mask))


# --- shapes ----------------------------------------------------------------


def _prod(values: Any) -> int:
    return int(math.prod(values))


def _known(shape: Shape, name: str) -> tuple[int, ...]:
    """The non-batch dims of `shape`, which must all be known."""
    dims = shape[1:]
    known = tuple(dim for dim in dims if dim is not None)
    if len(known) != len(dims):
        msg = (
            f"Layer `{name}` has an input or output of unknown size "
            f"{shape}, so its MACs cannot be counted. Pass the size of one "
            "sample, e.g. `input_shape=(224, 224, 3)`."
        )
        raise errors.UnsupportedModelError(msg)
    return known


def _channels_and_space(
    layer: keras.layers.Layer, shape: Shape, name: str
) -> tuple[int, int]:
    """Return (channels, product of the spatial dims) of a conv tensor."""
    dims = _known(shape, name)
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return dims[0], _prod(dims[1:])
    return dims[-1], _prod(dims[:-1])


# --- rules -----------------------------------------------------------------


def _conv_flops(
    layer: Any,
    input_shape: Shape,
    output_shape: Shape,
    input_mask: Mask,
    output_mask: Mask,
    name: str,
) -> int:
    channels_in, _ = _channels_and_space(layer, input_shape, name)
    channels_out, space_out = _channels_and_space(layer, output_shape, name)
    kept_in = _kept(input_mask, channels_in, name, "input_mask")
    kept_out = _kept(output_mask, channels_out, name, "output_mask")
    kernel = _prod(layer.kernel_size)
    groups = getattr(layer, "groups", 1) or 1
    return int(kernel * kept_in * kept_out * space_out // groups)


def _conv_transpose_flops(
    layer: Any,
    input_shape: Shape,
    output_shape: Shape,
    input_mask: Mask,
    output_mask: Mask,
    name: str,
) -> int:
    channels_in, space_in = _channels_and_space(layer, input_shape, name)
    channels_out, _ = _channels_and_space(layer, output_shape, name)
    kept_in = _kept(input_mask, channels_in, name, "input_mask")
    kept_out = _kept(output_mask, channels_out, name, "output_mask")
    return _prod(layer.kernel_size) * kept_in * kept_out * space_in


def _depthwise_channels(
    layer: Any,
    channels_in: int,
    input_mask: Mask,
    output_mask: Mask,
    name: str,
) -> int:
    """Number of computed depthwise output channels.

    Output channel ``o`` reads input channel ``o // depth_multiplier``; it is
    computed if neither is pruned.
    """
    multiplier = layer.depth_multiplier
    kept = np.ones(channels_in * multiplier, dtype=bool)
    if input_mask is not None:
        _kept(input_mask, channels_in, name, "input_mask")
        kept &= np.repeat(input_mask, multiplier)
    if output_mask is not None and isinstance(
        layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
    ):
        _kept(output_mask, channels_in * multiplier, name, "output_mask")
        kept &= output_mask
    return int(np.count_nonzero(kept))


def _depthwise_flops(
    layer: Any,
    input_shape: Shape,
    output_shape: Shape,
    input_mask: Mask,
    output_mask: Mask,
    name: str,
) -> int:
    channels_in, _ = _channels_and_space(layer, input_shape, name)
    _, space_out = _channels_and_space(layer, output_shape, name)
    channels = _depthwise_channels(
        layer, channels_in, input_mask, output_mask, name
    )
    return _prod(layer.kernel_size) * channels * space_out


def _separable_flops(
    layer: Any,
    input_shape: Shape,
    output_shape: Shape,
    input_mask: Mask,
    output_mask: Mask,
    name: str,
) -> int:
    channels_in, _ = _channels_and_space(layer, input_shape, name)
    channels_out, space_out = _channels_and_space(layer, output_shape, name)
    middle = _depthwise_channels(layer, channels_in, input_mask, None, name)
    kept_out = _kept(output_mask, channels_out, name, "output_mask")
    depthwise = _prod(layer.kernel_size) * middle * space_out
    pointwise = middle * kept_out * space_out
    return depthwise + pointwise


def _dense_flops(
    layer: Any,
    input_shape: Shape,
    output_shape: Shape,
    input_mask: Mask,
    output_mask: Mask,
    name: str,
) -> int:
    dims_in = _known(input_shape, name)
    dims_out = _known(output_shape, name)
    kept_in = _kept(input_mask, dims_in[-1], name, "input_mask")
    kept_out = _kept(output_mask, dims_out[-1], name, "output_mask")
    return kept_in * kept_out * _prod(dims_in[:-1])


# Looked up along the MRO, so subclasses of these layers are counted too.
_RULES: dict[type, Rule] = {
    keras.layers.Conv1D: _conv_flops,
    keras.layers.Conv2D: _conv_flops,
    keras.layers.Conv3D: _conv_flops,
    keras.layers.Conv1DTranspose: _conv_transpose_flops,
    keras.layers.Conv2DTranspose: _conv_transpose_flops,
    keras.layers.Conv3DTranspose: _conv_transpose_flops,
    keras.layers.DepthwiseConv1D: _depthwise_flops,
    keras.layers.DepthwiseConv2D: _depthwise_flops,
    keras.layers.SeparableConv1D: _separable_flops,
    keras.layers.SeparableConv2D: _separable_flops,
    keras.layers.Dense: _dense_flops,
}


def _find_rule(layer: keras.layers.Layer) -> Rule | None:
    for cls in type(layer).__mro__:
        rule = _RULES.get(cls)
        if rule is not None:
            return rule
    return None
