"""Random Functional Keras models built from the layers tfprune supports.

Property-based graph tests (issue 16): a model is grown block by block from
one or two inputs, then ends in one or two heads. The blocks cover what
:mod:`tfprune.graph.rules` has rules for:

* convolutions of every kind (Conv1D/2D with random kernel, stride, padding,
  dilation and groups, DepthwiseConv, SeparableConv, Conv1D/2DTranspose);
* BatchNormalization and LayerNormalization (over channels or space);
* activations, element-wise or channel-mixing (``Activation("softmax")``,
  ``Softmax``), as layers or raw ``keras.ops`` calls;
* Add/Subtract/Multiply/Average/Maximum/Minimum and ``x + y`` residuals,
  Concatenate (including a tensor concatenated with itself), squeeze-excite
  and spatial attention (broadcast Multiply);
* pooling, padding, cropping and up-sampling; Flatten / Reshape -> Dense,
  token Reshape -> Dense;
* nested Functional and Sequential sub-models, a layer shared between two
  call sites, a second input (image, sequence or vector), two outputs.

Constructs tfprune does not support yet are behind :class:`Features` flags
(off by default), so a test can switch them on when they land.

Models are tiny (inputs 8..16 on a side, 2..24 channels per conv), and every
bias, normalization statistic and PReLU slope is random, so a channel that is
removed by ``slim`` but still contributes to the masked model shows up as a
mismatch.

The same builder is driven by two sources of randomness:

* :func:`case_from_seed`: NumPy, for benchmarks (a failure is reproduced from
  its seed);
* :func:`case_from_choices` of a list of ints drawn by the hypothesis
  strategy :func:`choices`, for tests (hypothesis shrinks a failing list
  towards a small model). hypothesis is imported only by :func:`choices`.

Every case carries a ``recipe``: one line per layer call, printed in its
``repr`` (and so in hypothesis' falsifying example).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from tfprune.graph import iter_layers

#: Sides of the spatial inputs, channels of a conv, and the widest tensor.
MIN_SIDE, MAX_SIDE = 8, 16
MAX_FILTERS = 24
MAX_CHANNELS = 48
#: Methods drawn for a case (filter granularity), with ``round_to`` values.
METHODS = ("l1", "l2", "spp", "fuzzy", "admm")
SPARSITIES = (0.25, 0.4, 0.5, 0.6, 0.75)
ROUND_TO = (None, 2, 4, 8)

_ELEMENTWISE = ("relu", "sigmoid", "tanh", "swish", "gelu", "elu", "softplus", "hard_sigmoid")
_MIXING = ("softmax", "log_softmax")

_CONV = {1: layers.Conv1D, 2: layers.Conv2D}
_DEPTHWISE = {1: layers.DepthwiseConv1D, 2: layers.DepthwiseConv2D}
_SEPARABLE = {1: layers.SeparableConv1D, 2: layers.SeparableConv2D}
_TRANSPOSE = {1: layers.Conv1DTranspose, 2: layers.Conv2DTranspose}
_MAX_POOL = {1: layers.MaxPooling1D, 2: layers.MaxPooling2D}
_AVG_POOL = {1: layers.AveragePooling1D, 2: layers.AveragePooling2D}
_GAP = {1: layers.GlobalAveragePooling1D, 2: layers.GlobalAveragePooling2D}
_GMP = {1: layers.GlobalMaxPooling1D, 2: layers.GlobalMaxPooling2D}
_UP = {1: layers.UpSampling1D, 2: layers.UpSampling2D}
_PAD = {1: layers.ZeroPadding1D, 2: layers.ZeroPadding2D}
_CROP = {1: layers.Cropping1D, 2: layers.Cropping2D}


@dataclasses.dataclass(frozen=True)
class Features:
    """Constructs the generator may use beyond the always-on ones.

    A construct tfprune does not support yet stays off by default, so the
    property test stays green; switch it on once it is supported.

    Attributes:
        channel_slices: ``x[..., a:b]`` and ``keras.ops.split`` on the
            channel axis, ``x[:, 1:]`` on a spatial one.
        mixing_layer_activations: ``Conv``/``Dense(activation="softmax")``
            (a channel-mixing activation inside a layer).
        functional_subclasses: ``keras.Model`` subclasses that build
            themselves with the functional API in ``__init__`` (keras-hub
            backbones), as the whole model and as nested blocks.
    """

    channel_slices: bool = True
    mixing_layer_activations: bool = True
    functional_subclasses: bool = True


@dataclasses.dataclass
class PruneConfig:
    """How a case is pruned: the arguments of :func:`tfprune.prune` and how
    the masks are applied (``fit_steps == 0``: ``Pruner(pruned).step(0)``;
    otherwise that many eager ``fit`` steps with ``UpdatePruning``)."""

    method: str
    sparsity: float
    round_to: int | None
    exclude: tuple[str, ...] = ()
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    fit_steps: int = 0
    seed: int = 0

    def prune_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``tfprune.prune(model, **kwargs)``."""
        kwargs: dict[str, Any] = {
            "method": self.method,
            "round_to": self.round_to,
            "exclude": list(self.exclude),
            "seed": self.seed,
            **self.options,
        }
        if self.method == "admm":
            from tfprune.schedules import ADMMSchedule

            # ADMM at step 0, hard prune at step 1, then masked retraining.
            kwargs["schedule"] = ADMMSchedule(self.sparsity, admm_steps=1, update_every=1)
        else:
            kwargs["sparsity"] = self.sparsity
        return kwargs


@dataclasses.dataclass(repr=False)
class RandomCase:
    """A random model, a batch of inputs for it, and how to prune it."""

    model: keras.Model
    inputs: Any
    config: PruneConfig
    recipe: list[str]
    seed: int | None = None

    def describe(self) -> str:
        """The recipe (one line per layer call) and the prune config."""
        head = f"seed={self.seed} " if self.seed is not None else ""
        lines = [f"{head}model `{self.model.name}` ({type(self.model).__name__}):"]
        lines += [f"  {line}" for line in self.recipe]
        lines.append(f"  prune: {self.config}")
        return "\n".join(lines)

    __repr__ = describe


# --------------------------------------------------------------------------
# Sources of randomness
# --------------------------------------------------------------------------


class _Source:
    """Draws built on :meth:`integer`; each shrinks to its first option / False."""

    def integer(self, low: int, high: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def choice(self, options):
        options = list(options)
        return options[self.integer(0, len(options) - 1)]

    def chance(self, p: float) -> bool:
        return self.integer(0, 99) >= round(100 * (1 - p))


class _NumpySource(_Source):
    def __init__(self, seed: int):
        self._rng = np.random.default_rng(seed)

    def integer(self, low: int, high: int) -> int:
        """Uniform in ``[low, high]``."""
        return int(self._rng.integers(low, high + 1))


class _ChoicesSource(_Source):
    """Replays a list of non-negative ints (drawn by hypothesis); 0 once it runs out.

    hypothesis shrinks the list towards shorter lists of smaller ints, i.e.
    towards first options, lower counts and left-out extras: smaller models.
    """

    def __init__(self, choices):
        self._choices = list(choices)
        self._next = 0

    def integer(self, low: int, high: int) -> int:
        value = self._choices[self._next] if self._next < len(self._choices) else 0
        self._next += 1
        return low + value % (high - low + 1)


# --------------------------------------------------------------------------
# Functional subclasses (gated by Features.functional_subclasses)
# --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="tfprune_testing")
class FunctionalBlock(keras.Model):
    """Conv -> BatchNorm -> ReLU as a ``keras.Model`` subclass built in ``__init__``.

    The pattern of keras-hub backbones: the constructor takes
    hyper-parameters, builds a functional graph and passes its inputs and
    outputs to ``keras.Model.__init__``.
    """

    def __init__(self, input_shape, filters, kernel_size=3, **kwargs):
        inputs = keras.Input(tuple(input_shape))
        conv = _CONV[len(input_shape) - 1]
        x = conv(filters, kernel_size, padding="same")(inputs)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        super().__init__(inputs=inputs, outputs=x, **kwargs)
        self.block_input_shape = tuple(input_shape)
        self.filters = filters
        self.kernel_size = kernel_size

    def get_config(self):
        return {
            "name": self.name,
            "input_shape": self.block_input_shape,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
        }


@keras.saving.register_keras_serializable(package="tfprune_testing")
class FunctionalNet(keras.Model):
    """A whole generated model as a ``keras.Model`` subclass of the functional API."""

    def __init__(self, inputs, outputs, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)


# --------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------


def _spatial(x) -> tuple[int, ...]:
    return tuple(x.shape[1:-1])


def _channels(x) -> int:
    return int(x.shape[-1])


def _rank(x) -> int:
    return len(x.shape) - 2


def _fmt(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


class _Builder:
    """Grows one random model; every layer call is written to ``recipe``."""

    def __init__(self, src, features: Features):
        self.src = src
        self.features = features
        self.recipe: list[str] = []
        self._count = 0
        self._labels: dict[int, str] = {}
        self.pool: list[Any] = []  # earlier spatial tensors (skips, extra heads)
        self.vectors: list[Any] = []  # side-input vectors joined at a head
        self.side_images: list[Any] = []  # second image input, joined by a block
        self.depth = 0  # nesting level of sub-models

    # -- recording ---------------------------------------------------------
    def name(self, kind: str) -> str:
        self._count += 1
        return f"{kind}{self._count}"

    def label(self, tensor) -> str:
        return self._labels.get(id(tensor), "?")

    def _record(self, out, name: str, text: str, inputs) -> None:
        items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if isinstance(out, (list, tuple)):
            name = f"{name}_out"
            for k, tensor in enumerate(out):
                self._labels[id(tensor)] = f"{name}[{k}]"
        self.recipe.append(f"{name} = {text}({', '.join(self.label(t) for t in items)})")
        self._labels[id(out)] = name

    def input(self, shape, kind: str):
        name = self.name(kind)
        tensor = keras.Input(shape, name=name)
        self.recipe.append(f"{name} = Input({shape})")
        self._labels[id(tensor)] = name
        return tensor

    def add(self, cls, inputs, **kwargs):
        """Call a new ``cls(**kwargs)`` layer on ``inputs``."""
        layer = cls(name=self.name(cls.__name__.lower()), **kwargs)
        return self.call(layer, inputs, f"{cls.__name__}({_fmt(kwargs)})")

    def call(self, layer, inputs, text: str | None = None):
        """Call an existing layer (a shared one, or a sub-model)."""
        out = layer(inputs)
        self._record(out, layer.name, text or f"{layer.name}", inputs)
        return out

    def op(self, text: str, fn, *inputs):
        """A raw ``keras.ops`` call on symbolic tensors, e.g. ``x + y``."""
        out = fn(*inputs)
        name = self.name("op")
        self.recipe.append(f"{name} = {text.format(*[self.label(t) for t in inputs])}")
        self._labels[id(out)] = name
        return out

    # -- geometry ----------------------------------------------------------
    def geometry(self, x, *, causal: bool = False) -> dict[str, Any]:
        """Random kernel, stride, dilation and padding that keep a side >= 2."""
        src, side = self.src, min(_spatial(x))
        kernel = src.choice([k for k in (1, 2, 3, 5) if k <= side])
        mode = src.choice(["plain", "plain", "stride", "dilate"])
        strides = 2 if mode == "stride" and side >= 4 else 1
        dilation = 2 if mode == "dilate" and kernel > 1 and 2 * kernel - 1 <= side else 1
        paddings = ["same", "valid"] + (["causal"] if causal and strides == 1 else [])
        padding = src.choice(paddings)
        if padding == "valid" and (side - (kernel - 1) * dilation - 1) // strides + 1 < 2:
            padding = "same"
        return {"kernel_size": kernel, "strides": strides, "padding": padding, "dilation_rate": dilation}

    def activation_name(self, allow_mixing: bool) -> str | None:
        names = [None, *_ELEMENTWISE] + (list(_MIXING) if allow_mixing else [])
        return self.src.choice(names)

    # -- blocks on spatial tensors (rank 1: sequences, rank 2: images) ------
    def conv(self, x, filters: int | None = None, **fixed):
        src, c_in, rank = self.src, _channels(x), _rank(x)
        kwargs = self.geometry(x, causal=rank == 1)
        kwargs.update(fixed)
        kwargs["filters"] = filters or src.integer(2, MAX_FILTERS)
        if filters is None and src.chance(0.12):
            divisors = [g for g in range(2, c_in + 1) if c_in % g == 0]
            if divisors:
                groups = src.choice(divisors)
                kwargs["groups"] = groups
                kwargs["filters"] = groups * src.integer(1, max(1, MAX_FILTERS // groups))
        kwargs["use_bias"] = src.chance(0.8)
        kwargs["activation"] = self.activation_name(self.features.mixing_layer_activations)
        return self.add(_CONV[rank], x, **kwargs)

    def depthwise(self, x):
        src, rank = self.src, _rank(x)
        kwargs = self.geometry(x)
        multiplier = src.integer(1, 2) if 2 * _channels(x) <= MAX_CHANNELS else 1
        return self.add(_DEPTHWISE[rank], x, depth_multiplier=multiplier, use_bias=src.chance(0.8), **kwargs)

    def separable(self, x):
        src, rank = self.src, _rank(x)
        kwargs = self.geometry(x)
        multiplier = src.integer(1, 2) if 2 * _channels(x) <= MAX_CHANNELS else 1
        return self.add(
            _SEPARABLE[rank], x, filters=src.integer(2, MAX_FILTERS), depth_multiplier=multiplier, **kwargs
        )

    def transpose(self, x):
        """Transposed conv (no dilation: TF's CPU kernels do not support it)."""
        src, rank, side = self.src, _rank(x), max(_spatial(x))
        strides = 2 if 2 * side <= MAX_SIDE and src.chance(0.6) else 1
        kernel = src.choice([1, 2, 3])
        padding = src.choice(["same", "valid"])
        if padding == "valid" and (side - 1) * strides + kernel > MAX_SIDE + 2:
            padding = "same"
        return self.add(
            _TRANSPOSE[rank], x, filters=src.integer(2, MAX_FILTERS), kernel_size=kernel,
            strides=strides, padding=padding,
        )

    def norm(self, x):
        src = self.src
        if src.chance(0.7):
            return self.add(layers.BatchNormalization, x, center=src.chance(0.9), scale=src.chance(0.9))
        rank, c = _rank(x), _channels(x)
        if src.chance(0.25):
            groups = src.choice([g for g in range(1, c + 1) if c % g == 0])
            return self.add(layers.GroupNormalization, x, groups=groups)
        axis = src.choice([-1, -1, list(range(1, rank + 1)), list(range(1, rank + 2))])
        return self.add(layers.LayerNormalization, x, axis=axis)

    def activation(self, x):
        src = self.src
        kind = src.choice(["layer", "layer", "relu6", "leaky", "prelu", "softmax", "op", "dropout"])
        if kind == "dropout":
            spatial = {1: layers.SpatialDropout1D, 2: layers.SpatialDropout2D}[_rank(x)]
            return self.add(src.choice([layers.Dropout, spatial]), x, rate=0.2)
        if kind == "layer":
            return self.add(layers.Activation, x, activation=src.choice(_ELEMENTWISE + _MIXING))
        if kind == "relu6":
            return self.add(layers.ReLU, x, max_value=6.0)
        if kind == "leaky":
            return self.add(layers.LeakyReLU, x, negative_slope=0.2)
        if kind == "prelu":
            shared = src.choice([None, list(range(1, _rank(x) + 1))])
            return self.add(layers.PReLU, x, shared_axes=shared)
        if kind == "softmax":
            return self.add(layers.Softmax, x, axis=-1)
        which = src.choice(["relu", "sigmoid", "scale", "softmax"])
        if which == "relu":
            return self.op("ops.relu({})", ops.relu, x)
        if which == "sigmoid":
            return self.op("ops.sigmoid({})", ops.sigmoid, x)
        if which == "softmax":
            return self.op("ops.softmax({})", ops.softmax, x)
        return self.op("{} * 0.5 + 1.0", lambda t: t * 0.5 + 1.0, x)

    def residual(self, x):
        src, c = self.src, _channels(x)
        y = self.conv(x, filters=c, kernel_size=src.choice([1, 3]), strides=1, padding="same", dilation_rate=1)
        if src.chance(0.5):
            y = self.norm(y)
        operands = [x, y]
        if src.chance(0.2):
            operands.append(self.conv(x, filters=c, kernel_size=1, strides=1, padding="same", dilation_rate=1))
        merge = src.choice(["Add", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "+", "*"])
        if merge in ("Subtract", "+", "*"):
            operands = operands[:2]
        if merge == "+":
            return self.op("{} + {}", lambda a, b: a + b, *operands)
        if merge == "*":
            return self.op("{} * {}", lambda a, b: a * b, *operands)
        return self.add(getattr(layers, merge), operands)

    def concat(self, x):
        src, branches = self.src, []
        for _ in range(src.integer(2, 3)):
            kind = src.choice(["identity", "conv", "pool"])
            if kind == "identity":
                branches.append(x)
            elif kind == "pool":
                pooled = self.add(_MAX_POOL[_rank(x)], x, pool_size=3, strides=1, padding="same")
                branches.append(pooled)
            else:
                branches.append(self.conv(x, filters=src.integer(2, 12), strides=1, padding="same", dilation_rate=1))
        if sum(_channels(b) for b in branches) > MAX_CHANNELS:
            branches = branches[:1] + [self.conv(x, filters=4, kernel_size=1, strides=1, padding="same",
                                                 dilation_rate=1)]
        if src.chance(0.15) and 2 * max(_spatial(x)) <= MAX_SIDE:
            # Along a spatial axis: the branches' channels are coupled instead.
            same = [b if _channels(b) == _channels(x) else self.conv(b, filters=_channels(x), kernel_size=1)
                    for b in branches[:2]]
            return self.add(layers.Concatenate, same, axis=1)
        return self.add(layers.Concatenate, branches, axis=-1)

    def squeeze_excite(self, x):
        src, c, rank = self.src, _channels(x), _rank(x)
        if src.chance(0.25):  # spatial attention: a 1-channel map, broadcast
            attention = self.add(_CONV[rank], x, filters=1, kernel_size=1, activation="sigmoid")
            return self.add(layers.Multiply, [x, attention])
        keepdims = src.chance(0.5)
        s = self.add(_GAP[rank], x, keepdims=keepdims)
        if not keepdims:
            s = self.add(layers.Reshape, s, target_shape=(1,) * rank + (c,))
        hidden = src.integer(2, 8)
        if src.chance(0.5):
            s = self.add(layers.Dense, s, units=hidden, activation="relu")
            s = self.add(layers.Dense, s, units=c, activation="sigmoid")
        else:
            s = self.add(_CONV[rank], s, filters=hidden, kernel_size=1, activation="relu")
            s = self.add(_CONV[rank], s, filters=c, kernel_size=1)
            s = self.op("ops.sigmoid({})", ops.sigmoid, s)
        return self.add(layers.Multiply, [x, s])

    def resample(self, x):
        src, rank, low, high = self.src, _rank(x), min(_spatial(x)), max(_spatial(x))
        options = []
        if low >= 4:
            options += ["max", "avg"]
        if 2 * high <= MAX_SIDE:
            options.append("up")
        if high + 2 <= MAX_SIDE:
            options.append("pad")
        if low >= 6:
            options.append("crop")
        if rank == 2:
            options.append("permute")
        if not options:
            return x
        kind = src.choice(options)
        if kind == "permute":  # swap H and W: channels stay last
            return self.add(layers.Permute, x, dims=(2, 1, 3))
        if kind in ("max", "avg"):
            cls = _MAX_POOL[rank] if kind == "max" else _AVG_POOL[rank]
            return self.add(cls, x, pool_size=2, padding=src.choice(["valid", "same"]))
        if kind == "up":
            if rank == 2 and src.chance(0.3):
                return self.add(_UP[rank], x, size=2, interpolation="bilinear")
            return self.add(_UP[rank], x, size=2)
        amount = src.choice([1, (1, 0)]) if rank == 1 else src.choice([1, ((1, 0), (0, 1))])
        return self.add(_PAD[rank] if kind == "pad" else _CROP[rank], x,
                        **{"padding" if kind == "pad" else "cropping": amount})

    def shared(self, x):
        """One conv called twice: on ``x`` and on its own (activated) output."""
        src, c, rank = self.src, _channels(x), _rank(x)
        layer = _CONV[rank](c, src.choice([1, 3]), padding="same", name=self.name("shared_conv"))
        y = self.call(layer, x, f"{_CONV[rank].__name__}({c}, padding='same')")
        y = self.activation(y)
        z = self.call(layer, y, f"{layer.name}  # shared")
        if src.chance(0.5):
            return self.add(layers.Add, [y, z])
        return z

    def submodel(self, x):
        src = self.src
        kinds = ["functional", "functional", "sequential"]
        if self.features.functional_subclasses:
            kinds.append("subclass")
        kind = src.choice(kinds)
        if kind == "sequential":
            c, rank = src.integer(2, MAX_FILTERS), _rank(x)
            seq = keras.Sequential(
                [_CONV[rank](c, 3, padding="same"), layers.BatchNormalization(), layers.ReLU()],
                name=self.name("seq"),
            )
            return self.call(seq, x, f"Sequential([Conv({c}, 3, padding='same'), BatchNormalization(), ReLU()])")
        if kind == "subclass":
            block = FunctionalBlock(x.shape[1:], src.integer(2, MAX_FILTERS), name=self.name("block"))
            return self.call(block, x, f"FunctionalBlock({tuple(x.shape[1:])}, {block.filters})")
        name = self.name("sub")
        self.recipe.append(f"{name} = Model(  # nested")
        inner_in = self.input(tuple(x.shape[1:]), f"{name}_in")
        saved_pool, self.pool = self.pool, []
        self.depth += 1
        y = inner_in
        for _ in range(src.integer(1, 3)):
            options = [self.conv, self.norm, self.activation, self.residual, self.squeeze_excite, self.concat,
                       self.pointwise_dense]
            if self.depth < 2:
                options.append(self.submodel)
            y = src.choice(options)(y)
        outputs = [y]
        if src.chance(0.25):  # two outputs, merged by the caller
            outputs.append(self.activation(y))
        self.depth -= 1
        self.pool = saved_pool
        sub = keras.Model(inner_in, outputs if len(outputs) > 1 else y, name=name)
        self.recipe.append(")")
        if src.chance(0.25):  # the sub-model shared by two call sites
            first = self.call(sub, x, name)
            second = self.call(sub, self.activation(x), f"{name}  # shared")
            if len(outputs) > 1:
                first, second = first[0], second[1]
            return self.add(layers.Add, [first, second])
        out = self.call(sub, x, name)
        if len(outputs) > 1:
            return self.add(src.choice([layers.Add, layers.Concatenate]), list(out))
        return out

    def pointwise_dense(self, x):
        """Dense on a spatial tensor: a 1x1 conv over the last axis."""
        return self.add(
            layers.Dense, x, units=self.src.integer(2, MAX_FILTERS),
            activation=self.activation_name(self.features.mixing_layer_activations),
        )

    def join_side_image(self, x):
        """Merge the second image input into the main branch (Concatenate or Add)."""
        side = self.side_images.pop()
        if _spatial(side) != _spatial(x):
            self.side_image_to_vector(side)
            return x
        src = self.src
        if src.chance(0.5):
            y = self.conv(side, filters=src.integer(2, 12), strides=1, padding="same", dilation_rate=1)
            return self.add(layers.Concatenate, [x, y], axis=-1)
        y = self.conv(side, filters=_channels(x), strides=1, padding="same", dilation_rate=1)
        return self.add(layers.Add, [x, y])

    def side_image_to_vector(self, side) -> None:
        """Conv -> global pooling of a side image, joined to the main branch at the head."""
        y = self.conv(side, strides=1, dilation_rate=1)
        self.vectors.append(self.add(_GAP[_rank(y)], y))

    def channel_slice(self, x):
        """Slices and splits: ``x[..., a:b]``, ``ops.split`` on channels, or a spatial slice."""
        src, c = self.src, _channels(x)
        kind = src.choice(["range", "split", "spatial"])
        if kind == "spatial" and _spatial(x)[0] >= 4:  # e.g. dropping a class token
            return self.op("{}[:, 1:]", lambda t: t[:, 1:], x)
        if c < 2:
            return x
        parts = [n for n in (2, 3) if c % n == 0]
        if kind == "split" and parts:
            n = src.choice(parts)
            pieces = ops.split(x, n, axis=-1)
            name = self.name("split")
            for k, piece in enumerate(pieces):
                self._record(piece, f"{name}_{k}", f"ops.split({n}, axis=-1)[{k}]", x)
            last = self.conv(pieces[-1], filters=c // n, strides=1, padding="same", dilation_rate=1)
            if src.chance(0.5):  # Ghost-module style: keep a part, transform a part
                return self.add(layers.Concatenate, [*pieces[:-1], last], axis=-1)
            return self.add(layers.Add, [pieces[0], last])
        start = src.integer(0, c - 2)
        stop = src.integer(start + 1, c)
        return self.op(f"{{}}[..., {start}:{stop}]", lambda t: t[..., start:stop], x)

    def blocks(self, x) -> list:
        found = [
            self.conv, self.conv, self.depthwise, self.separable, self.norm, self.activation,
            self.residual, self.concat, self.squeeze_excite, self.resample, self.shared, self.submodel,
            self.pointwise_dense,
        ]
        if 2 * max(_spatial(x)) <= MAX_SIDE + 4:
            found.append(self.transpose)
        if self.side_images:
            found += [self.join_side_image] * 3
        if self.features.channel_slices:
            found.append(self.channel_slice)
        return found

    # -- heads -------------------------------------------------------------
    def dense_tail(self, v, units: int):
        src = self.src
        if src.chance(0.4):
            hidden = self.add(
                layers.Dense, v, units=src.integer(2, MAX_FILTERS),
                activation=self.activation_name(self.features.mixing_layer_activations),
            )
            if src.chance(0.4):
                hidden = self.add(src.choice([layers.BatchNormalization, layers.LayerNormalization]), hidden)
            v = hidden
        return self.add(layers.Dense, v, units=units)

    def head(self, x):
        src, rank, units = self.src, _rank(x), self.src.integer(2, 5)
        kind = src.choice(["gap", "gap", "gmp", "flatten", "reshape", "tokens", "conv"])
        if self.vectors and kind not in ("gap", "gmp"):
            kind = "gap"
        if kind == "conv":
            return self.add(_CONV[rank], x, filters=units, kernel_size=1)
        if kind == "tokens" and rank == 2:
            h, w = _spatial(x)
            t = self.add(layers.Reshape, x, target_shape=(h * w, _channels(x)))
            t = self.add(layers.Dense, t, units=src.integer(2, 12))
            return self.add(layers.Dense, self.add(layers.GlobalAveragePooling1D, t), units=units)
        if kind in ("flatten", "reshape", "tokens"):
            if math.prod(_spatial(x)) > 16 and min(_spatial(x)) >= 4:
                x = self.add(_MAX_POOL[rank], x, pool_size=2)
            if kind == "reshape":
                v = self.add(layers.Reshape, x, target_shape=(-1,))
            else:
                v = self.add(layers.Flatten, x)
            return self.dense_tail(v, units)
        v = self.add(_GAP[rank] if kind == "gap" else _GMP[rank], x)
        if self.vectors:
            v = self.add(layers.Concatenate, [v, *self.vectors])
            self.vectors = []
        return self.dense_tail(v, units)

    def side_input(self, kind: str):
        """A second model input: an image joined by a block, or a vector at the head."""
        src = self.src
        if kind == "vector":
            v = self.input((src.integer(2, 8),), "vector")
            self.vectors.append(self.add(layers.Dense, v, units=src.integer(2, 12), activation="relu"))
            return v
        length = src.integer(MIN_SIDE, MAX_SIDE)
        seq = self.input((length, src.integer(1, 4)), "sequence")
        y = seq
        for _ in range(src.integer(1, 2)):
            y = src.choice([self.conv, self.depthwise, self.norm, self.resample])(y)
        self.vectors.append(self.add(_GAP[1], y))
        return seq


def _build(src, features: Features, name: str) -> tuple[keras.Model, list[str]]:
    builder = _Builder(src, features)
    rank = 2 if src.chance(0.8) else 1
    sides = tuple(src.integer(MIN_SIDE, MAX_SIDE) for _ in range(rank))
    main = builder.input((*sides, src.integer(1, 4)), "image" if rank == 2 else "sequence")
    inputs = [main]
    extra = src.choice(["none", "none", "none", "image", "vector", "sequence"])
    if extra == "image" and rank == 2:
        side = builder.input((*sides, src.integer(1, 4)), "image")
        builder.side_images.append(side)
        inputs.append(side)
    elif extra in ("vector", "sequence"):
        inputs.append(builder.side_input(extra))
    x = builder.conv(main, strides=1, dilation_rate=1)
    for _ in range(src.integer(1, 6)):
        x = src.choice(builder.blocks(x))(x)
        builder.pool.append(x)
    while builder.side_images:
        builder.side_image_to_vector(builder.side_images.pop())
    outputs = [builder.head(x)]
    if builder.pool and src.chance(0.25):
        aux = src.choice(builder.pool)
        # An earlier tensor as a second output, raw (its channels are then
        # pinned while later layers still read them) or through its own head.
        outputs.append(aux if src.chance(0.4) else builder.head(aux))
    model_inputs = inputs if len(inputs) > 1 else inputs[0]
    model_outputs = outputs if len(outputs) > 1 else outputs[0]
    if len(outputs) > 1 and src.chance(0.3):
        model_outputs = {f"out{k}": y for k, y in enumerate(outputs)}
    if features.functional_subclasses and src.chance(0.3):
        model = FunctionalNet(model_inputs, model_outputs, name=name)
    else:
        model = keras.Model(model_inputs, model_outputs, name=name)
    return model, builder.recipe


def randomize_weights(model: keras.Model, seed: int) -> keras.Model:
    """Every weight of ``model`` drawn from ``seed`` (in place).

    Kernels are normal with standard deviation ``1 / sqrt(fan_in)``; biases,
    normalization statistics and PReLU slopes are random too (Keras
    initialises biases and betas to 0 and gammas to 1, so a channel removed
    by ``slim`` but still used by the masked model could go unnoticed).
    Drawing everything here, not with Keras' initializers, makes a case
    depend on its seed only.
    """
    rng = np.random.default_rng(seed)
    ranges = {
        "bias": (-0.5, 0.5), "beta": (-0.5, 0.5), "gamma": (0.5, 1.5), "moving_mean": (-0.5, 0.5),
        "moving_variance": (0.5, 1.5), "alpha": (-0.5, 0.5),
    }
    for layer in iter_layers(model):
        if isinstance(layer, keras.Model):
            continue
        for variable in layer.weights:
            short = variable.path.split("/")[-1]
            shape = tuple(variable.shape)
            if short in ranges:
                value = rng.uniform(*ranges[short], shape)
            else:
                fan_in = math.prod(shape[:-1]) if len(shape) > 1 else 1
                value = rng.normal(0.0, 1.0 / math.sqrt(max(fan_in, 1)), shape)
            variable.assign(value.astype(variable.dtype))
    return model


def _prune_config(src, model: keras.Model, method: str | None) -> PruneConfig:
    method = method or src.choice(METHODS)
    options: dict[str, Any] = {}
    fit_steps = 0
    if method == "spp":
        options = {"A": src.choice([0.5, 1.0])}  # p reaches 1 within the few fit steps
        fit_steps = 2
    elif method == "admm":
        options = {"rho": 0.2, "rho_factor": 1.3, "rho_max": 2.0}
        fit_steps = 2
    elif method == "fuzzy":
        # Random filters have similar norms: min-max scores make the cut prune some.
        options = src.choice([{}, {"normalization": "minmax"}, {"breakpoints": "quantile"}])
    if method in ("l1", "l2", "fuzzy") and src.chance(0.15):
        fit_steps = 2
    exclude: tuple[str, ...] = ()
    if src.chance(0.15):
        names = sorted(
            layer.name for layer in iter_layers(model)
            if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Dense))
        )
        if names:
            exclude = (src.choice(names),)
    return PruneConfig(
        method=method, sparsity=src.choice(SPARSITIES), round_to=src.choice(ROUND_TO),
        exclude=exclude, options=options, fit_steps=fit_steps, seed=src.integer(0, 3),
    )


def sample_inputs(model: keras.Model, batch: int, seed: int):
    """A standard-normal batch for every input of ``model``."""
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(batch, *t.shape[1:])).astype("float32") for t in model.inputs]
    return xs if len(xs) > 1 else xs[0]


def _case(src, features: Features, seed: int | None, method: str | None) -> RandomCase:
    weight_seed = src.integer(0, 2**31 - 1)
    keras.backend.clear_session()
    model, recipe = _build(src, features, name="random_net")
    randomize_weights(model, weight_seed)
    config = _prune_config(src, model, method)
    inputs = sample_inputs(model, batch=2 * config.fit_steps or 2, seed=weight_seed)
    return RandomCase(model=model, inputs=inputs, config=config, recipe=recipe, seed=seed)


def case_from_seed(seed: int, features: Features = Features(), method: str | None = None) -> RandomCase:
    """The random case of ``seed`` (the same model, weights and config every time).

    ``method``: one of :data:`METHODS`, or None to draw it.
    """
    return _case(_NumpySource(seed), features, seed, method)


def case_from_choices(choices, features: Features = Features(), method: str | None = None) -> RandomCase:
    """The random case of a list of non-negative ints (see :func:`choices`)."""
    return _case(_ChoicesSource(choices), features, None, method)


def choices(size: int = 160):
    """A hypothesis strategy of choice lists for :func:`case_from_choices`.

    The model is built from the list in the test body, not inside the
    strategy (Keras draws from Python's ``random`` when it creates layers,
    which hypothesis forbids in strategies). Needs ``pip install hypothesis``.
    """
    try:
        from hypothesis import strategies as st
    except ImportError as exc:  # pragma: no cover - depends on the environment
        msg = (
            "tfprune.testing.random_models.choices() needs the `hypothesis` package, "
            "which is not installed. Install it with `pip install 'hypothesis>=6.100,<7'` "
            "(or the project's test extra: `pip install -e .[test]`), or use "
            "case_from_seed(seed), which needs only NumPy."
        )
        raise ImportError(msg) from exc
    return st.lists(st.integers(0, 1023), min_size=size, max_size=size)
