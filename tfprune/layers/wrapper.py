"""``PruningWrapper``: holds the channel masks of one layer and applies them.

Every wrapper *holds* the masks of the channels it touches (the keep
decision, saved with the model). Where a mask is *applied* is chosen by
:func:`tfprune.prune` from the channel graph (docs/design.md#mask-placement):
a pruned channel only has to be hidden from the layers that mix channels
(its consumers' ``input`` weights), so by default only those apply their
input mask, on the kernel's input rows (``kernel * mask``) when the kernel
is smaller than the activation, else on the activation. Producers, BatchNorm,
depthwise convs and other per-channel layers apply nothing: what they compute
for a pruned channel never reaches a consumer, so it gets exactly zero
gradient and the outputs equal the slim model's
(docs/design.md#masked-equals-slim). ``input_mask_at="activation"`` and
``output_mask_at="activation"`` (the defaults, for a wrapper made by hand or
saved before) give ``layer(x * input_mask) * output_mask``.

The wrapper holds *state* (masks, and any per-layer state a pruning method
declares); the *policy* (which channels to mask, when) lives in
:class:`tfprune.Pruner`, driven by the :class:`tfprune.UpdatePruning` callback.
"""

from __future__ import annotations

import inspect
from typing import Any

import keras
from keras import ops

from tfprune import errors
from tfprune.graph import rules as rules_lib


#: ``kernel_granularity`` values: none, im2col columns, single weights.
KERNEL_GRANULARITIES = (None, "column", "weight")

#: Where a held mask is applied: on the activation, on the kernel's input
#: rows (input mask of a Conv/Dense), or not at all (held only).
MASK_PLACES = ("activation", "kernel", None)


@keras.saving.register_keras_serializable(package="tfprune")
class PruningWrapper(keras.layers.Wrapper):
    """Masks the input and/or output channels of a wrapped layer.

    Args:
        layer: the layer to wrap (Conv, Dense, BatchNormalization, ...). It
            must take a single channels-last tensor.
        mask_input: create an ``input_mask`` over the input's last axis.
        mask_output: create an ``output_mask`` over the output's last axis.
        kernel_granularity: ``"column"`` or ``"weight"`` to also create a
            ``kernel_mask`` that multiplies the wrapped layer's ``kernel``:
            shape ``kernel.shape[:-1] + (1,)`` for im2col columns
            (``K[i, j, c, :]``, shared by all filters) or ``kernel.shape`` for
            single weights. The layer then runs with ``kernel * kernel_mask``
            through ``Layer.stateless_call``, so masked weights get exactly
            zero gradient and keep their value. Only layers with a ``kernel``
            (Conv, Dense) accept it.
        input_mask_at: where ``input_mask`` is applied: ``"activation"``
            (``x * input_mask``), ``"kernel"`` (the kernel's input rows, for
            Conv1D/2D/3D with ``groups=1``, their transposes and Dense), or
            None (held, not applied: the layer does not mix channels, e.g.
            BatchNormalization). See docs/design.md#mask-placement.
        output_mask_at: ``"activation"`` (``y * output_mask``) or None.
        spec: JSON-serialisable pruning configuration written by
            :func:`tfprune.prune`: the schedules of the groups this layer
            owns (``"schedules"``, by group id; ``"kernel_schedule"`` for
            column/weight granularity) and, in exactly one wrapper of the
            model (the first), the model-wide part (``"method"``,
            ``"granularity"``, ``"exclude"``, ``"round_to"``, ``"seed"``,
            ``"budget"``). :class:`tfprune.Pruner` reads it back, once per
            model, after the model is reloaded (docs/design.md#one-state).
        state_spec: the method's extra per-layer variables, ``{name: (shape,
            dtype, initializer)}``, recorded when the model is pruned so a
            reloaded wrapper recreates them without its method.
        method: the :class:`~tfprune.methods.PruningMethod` object, given by
            :func:`tfprune.prune` when it creates the wrapper (not saved: the
            model-wide ``spec`` holds its config).
        **kwargs: base layer arguments (``name`` defaults to the wrapped
            layer's name, so ``model.get_layer(name)`` keeps working).

    Call arguments:
        inputs: the layer input.
        training: when true, the :class:`tfprune.UpdatePruning` callback must
            be active; otherwise a :class:`MissingCallbackError` is raised.
    """

    def __init__(
        self,
        layer: keras.layers.Layer,
        mask_input: bool = True,
        mask_output: bool = True,
        spec: dict[str, Any] | None = None,
        kernel_granularity: str | None = None,
        state_spec: dict[str, Any] | None = None,
        method: Any = None,
        input_mask_at: str | None = "activation",
        output_mask_at: str | None = "activation",
        **kwargs: Any,
    ):
        kwargs.setdefault("name", layer.name)
        super().__init__(layer, **kwargs)
        if kernel_granularity not in KERNEL_GRANULARITIES:
            msg = (
                f"Argument `kernel_granularity` must be one of {KERNEL_GRANULARITIES}. "
                f"Received: kernel_granularity={kernel_granularity!r}."
            )
            raise errors.PruningArgumentError(msg)
        self.mask_input = bool(mask_input)
        self.mask_output = bool(mask_output)
        for name, value, allowed in (("input_mask_at", input_mask_at, MASK_PLACES),
                                     ("output_mask_at", output_mask_at, ("activation", None))):
            if value not in allowed:
                msg = f"Argument `{name}` must be one of {allowed}. Received: {name}={value!r}."
                raise errors.PruningArgumentError(msg)
        if input_mask_at == "kernel" and kernel_input_axis(layer) is None:
            msg = (
                f"Argument `input_mask_at='kernel'` needs a Conv1D/2D/3D (groups=1), "
                f"Conv*DTranspose or Dense layer; `{layer.name}` is a {type(layer).__name__}. "
                "Use input_mask_at='activation'."
            )
            raise errors.PruningArgumentError(msg)
        self.input_mask_at = input_mask_at if self.mask_input else None
        self.output_mask_at = output_mask_at if self.mask_output else None
        self.kernel_granularity = kernel_granularity
        self.spec = dict(spec or {})
        self.input_mask = None
        self.output_mask = None
        self.kernel_mask = None
        self.state: dict[str, keras.Variable] = {}
        self._state_spec = None if state_spec is None else {k: tuple(v) for k, v in state_spec.items()}
        # Not tracked by Keras (plain objects): the method given by prune,
        # and the model's one pruning state once a Pruner is built.
        self._given_method = method
        self._given_granularity = "filter"
        self._pruning_state = None
        self._callback_active = False
        try:
            params = inspect.signature(layer.call).parameters
            self._call_params = set(params)
        except (TypeError, ValueError):
            self._call_params = set()

    @property
    def tfprune_wrapped_layer(self) -> keras.layers.Layer:
        """The layer the channel rules look at (see tfprune.graph)."""
        return self.layer

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        if self.mask_input:
            self.input_mask = self.add_weight(
                name="input_mask", shape=(int(input_shape[-1]),),
                initializer="ones", trainable=False,
            )
        if self.mask_output:
            out_shape = self.compute_output_shape(input_shape)
            self.output_mask = self.add_weight(
                name="output_mask", shape=(int(out_shape[-1]),),
                initializer="ones", trainable=False,
            )
        if self.kernel_granularity is not None:
            kernel = getattr(self.layer, "kernel", None)
            if kernel is None:
                msg = (
                    f"Layer `{self.layer.name}` ({type(self.layer).__name__}) has no "
                    f"`kernel`, so it cannot be pruned at {self.kernel_granularity!r} "
                    "granularity. Exclude it, or use granularity='filter'."
                )
                raise errors.UnsupportedLayerError(msg)
            shape = tuple(kernel.shape)
            if self.kernel_granularity == "column":
                shape = shape[:-1] + (1,)
            self.kernel_mask = self.add_weight(
                name="kernel_mask", shape=shape, initializer="ones", trainable=False,
            )
        if self._state_spec is None:
            method = self.method
            declared = {} if method is None else method.state_spec(self)
            self._state_spec = {
                name: (tuple(int(d) for d in shape), str(keras.backend.standardize_dtype(dtype)),
                       keras.saving.serialize_keras_object(keras.initializers.get(initializer)))
                for name, (shape, dtype, initializer) in declared.items()
            }
        for name, (shape, dtype, initializer) in self._state_spec.items():
            self.state[name] = self.add_weight(
                name=name, shape=tuple(shape), dtype=dtype,
                initializer=keras.initializers.get(initializer), trainable=False,
            )
        self.built = True

    @property
    def holds_model_spec(self) -> bool:
        """Whether this wrapper holds the model-wide part of the spec."""
        return "method" in self.spec

    @property
    def pruning_granularity(self) -> str:
        """``granularity`` of the :func:`tfprune.prune` call that made this wrapper."""
        if self._pruning_state is not None:
            return self._pruning_state.granularity
        if self.kernel_granularity is not None:
            return self.kernel_granularity
        return self.spec.get("granularity", getattr(self, "_given_granularity", "filter"))

    @property
    def method(self):
        """The model's pruning method object (None before one is known).

        The one shared by every wrapper of the model: the pruning state's
        (:class:`tfprune.Pruner`) once it is built, else the object
        :func:`tfprune.prune` created the wrapper with, else (a reloaded
        model) the one described by this wrapper's spec, if it holds it.
        """
        if self._pruning_state is not None:
            return self._pruning_state.method
        if self._given_method is None and self.holds_model_spec:
            self._given_method = keras.saving.deserialize_keras_object(self.spec["method"])
        return self._given_method

    def call(self, inputs, training=None, **kwargs):
        if training is True and not self._callback_active:
            msg = (
                f"Layer `{self.name}` is wrapped for pruning but the model is "
                "being trained without the tfprune.UpdatePruning callback, so "
                "its masks would never be updated. Pass it to fit: "
                "`model.fit(..., callbacks=[tfprune.UpdatePruning()])`. To "
                "train without pruning, first call tfprune.strip_pruning(model) "
                "or tfprune.slim(model)."
            )
            raise errors.MissingCallbackError(msg)
        input_mask, output_mask, kernel_mask = self._masks(training)
        x = inputs
        if input_mask is not None and self.input_mask_at == "activation":
            x = x * ops.cast(input_mask, x.dtype)
        # Forward the call arguments the wrapped layer takes (e.g. BN's mask).
        kwargs = {k: v for k, v in kwargs.items() if k in self._call_params}
        if "training" in self._call_params:
            kwargs["training"] = training
        if input_mask is not None and self.input_mask_at == "kernel":
            rows = ops.reshape(input_mask, (-1,) + (1,) * (-1 - kernel_input_axis(self.layer)))
            kernel_mask = rows if kernel_mask is None else kernel_mask * rows
        if kernel_mask is None:
            y = self.layer(x, **kwargs)
        else:
            y = self._call_with_masked_kernel(x, kernel_mask, kwargs)
        if output_mask is not None and self.output_mask_at == "activation":
            y = y * ops.cast(output_mask, y.dtype)
        if training is True and self.method is not None:
            penalty = self.method.penalty(self)
            if penalty is not None:
                self.add_loss(penalty)
        return y

    def _masks(self, training):
        """(input, output, kernel) masks of this call.

        In training a method may substitute its own (SPP's sampled masks, see
        :meth:`tfprune.methods.PruningMethod.training_masks`); otherwise the
        deterministic masks are used (evaluation, ``predict``, export).
        """
        masks = (self.input_mask, self.output_mask, self.kernel_mask)
        if training is True and self.method is not None:
            substitute = self.method.training_masks(self)
            if substitute:
                masks = tuple(
                    substitute.get(name, mask) if mask is not None else None
                    for name, mask in zip(("input_mask", "output_mask", "kernel_mask"), masks)
                )
        return masks

    def _call_with_masked_kernel(self, x, kernel_mask, kwargs):
        kernel = self.layer.kernel

        def values(variables):
            # The kernel is trainable, or non-trainable in a frozen layer.
            return [v * ops.cast(kernel_mask, v.dtype) if v is kernel else v for v in variables]

        y, _ = self.layer.stateless_call(
            values(self.layer.trainable_variables), values(self.layer.non_trainable_variables), x, **kwargs
        )
        return y

    def compute_output_shape(self, input_shape):
        try:
            return self.layer.compute_output_shape(input_shape)
        except NotImplementedError:
            # A custom layer without compute_output_shape (e.g. ConvNeXt's
            # LayerScale): Keras infers it by running ``call`` symbolically.
            spec = self.layer.compute_output_spec(keras.KerasTensor(tuple(input_shape)))
            return tuple(spec.shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mask_input": self.mask_input,
                "mask_output": self.mask_output,
                "kernel_granularity": self.kernel_granularity,
                "input_mask_at": self.input_mask_at,
                "output_mask_at": self.output_mask_at,
                "spec": self.spec,
            }
        )
        if self._state_spec:
            config["state_spec"] = {name: list(value) for name, value in self._state_spec.items()}
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        layer = keras.saving.deserialize_keras_object(
            config.pop("layer"), custom_objects=custom_objects
        )
        return cls(layer, **config)


def kernel_input_axis(layer: keras.layers.Layer) -> int | None:
    """Axis of ``layer.kernel`` indexed by input channel, if masking it there is exact.

    -2 for Conv1D/2D/3D with ``groups=1`` (``(*k, C_in, F)``) and Dense
    (``(C_in, units)``); -1 for the transposed convs (``(*k, F, C_in)``);
    None for any other layer, subclasses included (their ``call`` may use the
    kernel differently), whose input mask is applied to the activation.
    """
    kind = type(layer)
    if (getattr(layer, "groups", 1) or 1) != 1:
        return None
    if kind in (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose):
        return -1
    if kind in (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.Dense):
        return -2
    return None


class _WrapperRule(rules_lib.LayerRule):
    """Channel rule of a PruningWrapper: the wrapped layer's rule."""

    def trace(self, ctx):
        rule = rules_lib.find_rule(ctx.layer)
        if rule is None:
            msg = f"Wrapped layer `{ctx.path}` ({type(ctx.layer).__name__}) has no channel rule."
            raise errors.UnsupportedLayerError(msg)
        return rule.trace(ctx)


rules_lib.register_rule(PruningWrapper, _WrapperRule())


def find_wrappers(model: keras.Model) -> list[PruningWrapper]:
    """Every PruningWrapper in ``model``, recursing into sub-models."""
    from tfprune.graph import iter_layers

    seen, out = set(), []
    for layer in iter_layers(model):
        if isinstance(layer, PruningWrapper) and id(layer) not in seen:
            seen.add(id(layer))
            out.append(layer)
    return out
