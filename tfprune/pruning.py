"""``prune``: wrap a model for structured pruning inside ``model.fit``."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import keras
import numpy as np

from tfprune import _validation, errors, selection
from tfprune import methods as methods_lib
from tfprune import schedules as schedules_lib
from tfprune.graph import ChannelGraph, iter_layers, trace_model
from tfprune.graph import rules as rules_lib
from tfprune.graph import rebuild
from tfprune.layers import PruningWrapper, find_wrappers
from tfprune.layers.wrapper import kernel_input_axis
from tfprune.pruner import Pruner

#: ``filter``/``channel``: whole channels of coupled groups (physically removed
#: by ``slim``); ``column``/``weight``: im2col columns or single weights of
#: each Conv/Dense kernel (mask-only; FLOPs savings are theoretical).
GRANULARITIES = ("filter", "channel", "column", "weight")
KERNEL_GRANULARITIES = ("column", "weight")


def prune(
    model: keras.Model,
    method: str | methods_lib.PruningMethod = "l1",
    sparsity: float | Mapping[str, float] | None = None,
    *,
    schedule: Any = None,
    granularity: str = "filter",
    round_to: int | None = 8,
    exclude: Iterable[str] = (),
    seed: int | None = None,
    target: Any = None,
    allocation: str = "uniform",
    normalize: str | None = "mean",
    tolerance: float = 0.02,
    max_group_sparsity: float | None = None,
    **method_options: Any,
) -> keras.Model:
    """Return a copy of ``model`` whose prunable layers are wrapped for pruning.

    Channels are grouped with :class:`tfprune.graph.ChannelGraph` so coupled
    channels (residual adds, concatenations, depthwise convs, Flatten->Dense)
    are pruned together. Train the result with ``fit`` and the
    :class:`tfprune.UpdatePruning` callback, then :func:`tfprune.slim` it.
    The model's inputs and outputs are never pruned.

    Args:
        model: a built Functional or Sequential Keras 3 model, or a
            functional subclass (a ``keras.Model`` subclass that builds itself
            with the functional API in ``__init__``, e.g. a keras-hub
            backbone). It is not modified.
        method: ``"l1"`` (Li et al. 2017), ``"l2"``, ``"fpgm"`` (He et al.
            2019), ``"taylor"`` (Molchanov et al. 2019), ``"spp"`` (Wang et
            al. 2018), ``"admm"`` (StructADMM, Zhang et al. 2018),
            ``"fuzzy"`` (Zhao et al. 2019, reconstructed), ``"lrf"`` (Joo et
            al. 2021), a name added with :func:`tfprune.register_method`, or a
            :class:`tfprune.methods.PruningMethod`.
        sparsity: fraction of channels to remove from every group, in [0, 1),
            applied at the first training step; or ``{layer_name: fraction}``
            to prune only the groups produced by those layers. For methods
            that decide the count themselves (``"fuzzy"``) it is an upper
            bound.
        schedule: instead of ``sparsity``: a :class:`PruningSchedule` (or a
            tfmot ``PolynomialDecay``/``ConstantSparsity``), or
            ``{layer_name: schedule}``. Methods with a default schedule
            (``"fuzzy"``) need neither argument.
        granularity: what one pruned unit is (each method lists the ones
            it supports in ``method.granularities``):

            * ``"filter"``: whole output channels of coupled groups, scored
              by the filters that produce them; physically removed by
              :func:`tfprune.slim`.
            * ``"channel"``: the same coupled channels, scored by the input
              slices of the layers that read them (``K[:, :, c, :]``).
            * ``"column"``: im2col columns ``K[i, j, c, :]`` of every Conv
              kernel (SPP's default); mask-only.
            * ``"weight"``: single weights of every Conv and Dense kernel;
              mask-only.

            Column and weight sparsity keep every layer's shape:
            :func:`tfprune.strip_pruning` (or ``slim``) bakes the zeros in,
            and ``count_flops(effective=True)`` reports their FLOPs savings,
            which are theoretical (dense kernels do not skip zeros). Per-layer
            ``sparsity``/``schedule`` dicts then name Conv/Dense layers.
        round_to: keep the channel count of every pruned filter/channel
            group at a multiple of this (the nearest one, at least
            ``round_to``, at most the original count), or ``None`` to keep
            exactly ``round(n * (1 - sparsity))`` channels. Default 8,
            measured (``benchmarks/results/channel_widths.md``): with
            XNNPACK on x86 (8 fp32 lanes) a width costs nearly as much as
            the next multiple of 8 (median ratio 0.95), e.g. 17 channels ran
            2.1x slower than 16 and only 1.25x faster than 24. Groups with
            fewer than 8 channels, or that would round to their full width,
            are then not pruned; pass ``round_to=None`` (or 4) for tiny
            models.
        exclude: names of layers whose output channels (filters) are kept.
            Their input channels may still shrink when the layer feeding them
            is pruned. A layer without a channel rule must be excluded (or get
            a rule with :func:`tfprune.register_rule`); it is then opaque and
            its input channels are kept too.
        seed: seed for methods that draw random numbers.
        target: instead of ``sparsity``: a budget the pruned model must
            meet, decided across layers by the library. A FLOPs fraction of
            the dense model (``0.5`` = 2x fewer MACs), ``{"flops": 2e6}``
            (absolute MACs), ``{"params": 0.5}`` / ``{"params": 1e6}``,
            ``"params=0.5"`` or a :class:`tfprune.Target`. The final cost is
            at most the target and within ``tolerance`` of it, or
            :class:`tfprune.errors.BudgetError` says what is reachable. With
            a ``schedule``, its sparsity is read as progress
            (``s(step) / s_final``): the budget moves from the dense cost to
            the target along it; without one, the target is met at the
            first training step (or at once with :func:`tfprune.one_shot`).
            See docs/budgets.md.
        allocation: how a ``target`` is shared out: ``"uniform"`` (one
            ratio for every group, today's behaviour), ``"global"`` (scores
            normalised per group and ranked across groups, Torch-Pruning's
            global pruning), or a :class:`tfprune.SensitivityResult` (the
            groups whose measured metric drops least per unit of cost saved
            are cut first; see docs/sensitivity.md).
        normalize: per-group score normalisation for ``"global"``: None,
            ``"mean"``, ``"max"``, ``"sum"``, ``"standardize"``, ``"minmax"``.
        tolerance: how far below the target (a fraction of the dense cost)
            the rounding may leave the result; default 0.02.
        max_group_sparsity: with ``target``, the largest fraction of its
            channels any one group may lose, in [0, 1) (Torch-Pruning's
            ``max_pruning_ratio``); every group keeps at least
            ``ceil((1 - max_group_sparsity) * n)`` channels, rounded up to
            ``round_to``. ``None`` (default): only ``round_to`` (or one
            channel) is kept. A global or latency ranking can otherwise cut
            a whole stage down to its floor; 0.8 to 0.9 keeps every layer
            usable (docs/budgets.md, "Floors").
        **method_options: options of the method named by ``method`` (e.g.
            ``A=0.05, u=0.25`` for ``"spp"``); see each method's class.

    Returns:
        A new, uncompiled model with :class:`PruningWrapper` layers (same layer
        names). A functional subclass comes back as a plain Functional
        ``keras.Model`` with the same layer graph (its class, ``call``
        override and ``get_config`` are not kept). Compile it, then fit it with ``callbacks=[UpdatePruning()]``.

    Raises:
        PruningArgumentError: bad arguments (the message says which and why).
        UnsupportedLayerError: a layer without a channel rule; exclude it or
            register a rule.
        UnsupportedModelError: subclassed models.
    """
    if not isinstance(model, keras.Model):
        msg = f"Argument `model` must be a keras.Model. Received: {type(model).__name__}."
        raise errors.PruningArgumentError(msg)
    if find_wrappers(model):
        msg = (
            f"Model `{model.name}` is already wrapped for pruning. Call prune on "
            "the original model, or strip it first with tfprune.strip_pruning."
        )
        raise errors.PruningArgumentError(msg)
    _validation.check_no_tf_distribution(action="prune a model")
    _validation.check_finite_weights(model, action="prune")
    trace = trace_model(model)
    _check_input_dtypes(model, trace)
    method_obj = methods_lib.get(method, **method_options)
    supported = tuple(g for g in GRANULARITIES if g in method_obj.granularities)
    if granularity not in supported:
        msg = (
            f"Argument `granularity` must be one of {supported} for method "
            f"{type(method_obj).__name__}. Received: granularity={granularity!r}."
        )
        raise errors.PruningArgumentError(msg)
    round_to = _validation.check_positive_int("round_to", round_to, allow_none=True)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        msg = f"Argument `seed` must be an int or None. Received: seed={seed!r}."
        raise errors.PruningArgumentError(msg)
    exclude = _check_exclude(model, exclude, trace)
    if max_group_sparsity is not None and target is None:
        msg = (
            "Argument `max_group_sparsity` limits how far a `target` budget cuts each "
            "group; without `target`, `sparsity`/`schedule` already give every group's "
            f"fraction. Received: max_group_sparsity={max_group_sparsity!r}, target=None. "
            "Pass a `target`, or lower the sparsity itself."
        )
        raise errors.PruningArgumentError(msg)
    budget = None
    if target is not None:
        budget = _budget_argument(
            target, sparsity, granularity, allocation, normalize, tolerance, max_group_sparsity, method_obj
        )
        if schedule is None:  # the method's own rhythm, else prune at the first step
            schedule = method_obj.default_schedule() or schedules_lib.ConstantSparsity(
                0.5, begin_step=0, end_step=-1, frequency=1
            )
        if isinstance(schedule, Mapping) and not _looks_like_config(schedule):
            msg = (
                "With `target`, pass one `schedule` for the whole model (its "
                "sparsity is read as progress towards the target), not a "
                f"per-layer dict. Received: schedule={schedule!r}."
            )
            raise errors.PruningArgumentError(msg)
    if sparsity is None and schedule is None:
        schedule = method_obj.default_schedule()
    per_layer = _schedules_argument(sparsity, schedule, method_obj)
    method_obj.check_schedules(list(per_layer.values()))

    graph = ChannelGraph.build(model, exclude=exclude)
    base_spec = {
        "method": keras.saving.serialize_keras_object(method_obj),
        "granularity": granularity,
        "exclude": sorted(exclude),
        "round_to": round_to,
        "seed": seed,
    }
    if budget is not None:
        base_spec["budget"] = budget
    if granularity in KERNEL_GRANULARITIES:
        wrap = _kernel_wrapping(model, graph, per_layer, exclude, granularity)
    else:
        wrap = _channel_wrapping(model, graph, per_layer, round_to, method_obj)

    # The model-wide spec is held by one wrapper (the first one in model order).
    holder = next((id(e.layer) for e in graph.layers.values() if id(e.layer) in wrap), None)
    if holder is not None:
        wrap[holder]["spec"] = {**base_spec, **wrap[holder]["spec"]}

    def make_layer(layer):
        options = wrap.get(id(layer))
        copy = rebuild.fresh_copy(layer)
        if options is None:
            return copy
        wrapper = PruningWrapper(copy, method=method_obj, **options)
        wrapper._given_granularity = granularity
        return wrapper

    def set_weights(old, new):
        rebuild.copy_weights(old, new.layer if isinstance(new, PruningWrapper) else new)

    pruned = rebuild.clone(model, make_layer, set_weights)
    if budget is not None:
        # Fail now, not at the first training step, if the target is out of reach.
        pruner = Pruner(pruned)
        pruner.allocate_budget(method_obj, 1.0)
        if pruner.budget["target"].is_latency:
            # Measure the model the budget allocates and refit the latency model through it.
            pruner.correct_latency_model(method_obj)
            pruner.allocate_budget(method_obj, 1.0)
    elif granularity not in KERNEL_GRANULARITIES:
        _warn_unprunable(graph, per_layer, round_to, method_obj)
        _check_flops_target(pruned, method_obj, round_to)
    return pruned


def _check_flops_target(pruned: keras.Model, method_obj, round_to: int | None) -> None:
    """Refuse a method's own ``target_flops`` (SPP, fuzzy) below the reachable floor.

    The floor: every scheduled group cut to its default floor (``round_to``
    channels, or 1), costed by the pruner's :class:`~tfprune.metrics.CostModel`.
    """
    target = getattr(method_obj, "target_flops", None)
    if target is None:
        return
    pruner = Pruner(pruned)
    cost = pruner.cost_model
    dense = cost.dense("flops")
    absolute = target if target > 1.0 else target * dense
    keep = pruner.keep.copy()
    for group in pruner.active_groups:
        floor = selection.default_floor(group.num_channels, round_to)
        keep[np.array(group.units, dtype=np.int64)] = np.arange(group.num_channels) < floor
    lowest = cost.flops(keep)
    if absolute < lowest:
        msg = (
            f"target_flops={target:g} cannot be met: it asks for {absolute:,.0f} "
            f"MACs, but even with every prunable channel group cut to "
            f"{round_to or 1} channel(s) (round_to={round_to}) the model keeps "
            f"{lowest:,} of its {dense:,} MACs ({lowest / dense:.3g} of the dense "
            "model: layers that are excluded, pinned or not prunable stay whole). "
            f"Ask for target_flops >= {lowest / dense:.3g}, or lower round_to, or "
            "exclude fewer layers."
        )
        raise errors.BudgetError(msg, requested=absolute, reachable=(None, lowest, lowest))


def one_shot(model: keras.Model) -> keras.Model:
    """Prune a model returned by :func:`prune` to its final state now.

    No training: the method's scores are computed from the current weights
    and every group is pruned to the end of its schedule, or to the
    ``target`` budget. This is Li et al.'s one-shot pruning (prune, then
    fine-tune); fine-tune the result with ``fit`` and
    :class:`tfprune.UpdatePruning` (which keeps the masks), or
    :func:`tfprune.slim` it directly::

        pruned = tfprune.prune(model, "l1", target=0.5)   # 2x fewer FLOPs
        tfprune.one_shot(pruned)
        small = tfprune.slim(pruned)

    Args:
        model: a model returned by :func:`tfprune.prune` (its masks are set in
            place; the user's original model is never touched).

    Returns:
        ``model``, for chaining.

    Raises:
        PruningArgumentError: ``model`` is not wrapped for pruning, or its
            method selects channels only while training (SPP samples masks,
            StructADMM needs its ADMM phase).
        BudgetError: the target cannot be met.
    """
    pruner = Pruner(model)
    if not pruner.method.supports_one_shot:
        msg = (
            f"Method {type(pruner.method).__name__} cannot prune without "
            "training: its selection runs inside fit. Train the pruned model "
            "with `fit(..., callbacks=[tfprune.UpdatePruning()])` instead, or "
            "use a score-based method ('l1', 'l2') for one-shot pruning."
        )
        raise errors.PruningArgumentError(msg)
    pruner.one_shot()
    return model


def _budget_argument(target, sparsity, granularity, allocation, normalize, tolerance, max_group_sparsity, method_obj):
    """The ``budget`` entry of the wrappers' spec, validated."""
    if sparsity is not None:
        msg = (
            "Pass either `sparsity` (the same fraction of every group) or "
            "`target` (a FLOPs/params budget), not both. Received: "
            f"sparsity={sparsity!r}, target={target!r}."
        )
        raise errors.PruningArgumentError(msg)
    try:
        parsed = selection.Target.parse(target)
    except ValueError as exc:
        raise errors.PruningArgumentError(str(exc)) from None
    if not method_obj.supports_budget:
        msg = (
            f"Method {type(method_obj).__name__} does not take a `target` yet "
            "(its selection has not been ported to the shared budget "
            "allocation; see docs/budgets.md). Use `sparsity=`/`schedule=` "
            "with it, or a built-in method (all of them take one)."
        )
        raise errors.PruningArgumentError(msg)
    if getattr(method_obj, "target_flops", None) is not None:
        msg = (
            "Pass either the method's own `target_flops` or `target`, not "
            f"both. Received: target_flops={method_obj.target_flops!r}, "
            f"target={target!r}. `target` is the shared budget of every method."
        )
        raise errors.PruningArgumentError(msg)
    if granularity in KERNEL_GRANULARITIES:
        msg = (
            f"`target` prunes whole channels; granularity={granularity!r} is "
            "mask-only and its FLOPs savings are theoretical. Use "
            "granularity='filter' (or 'channel') with `target`, or `sparsity=` "
            "for column/weight pruning."
        )
        raise errors.PruningArgumentError(msg)
    sensitivity = None
    if hasattr(allocation, "curves") and hasattr(allocation, "higher_is_better"):  # a SensitivityResult
        sensitivity = {
            "curves": {key: [list(point) for point in curve] for key, curve in allocation.curves().items()},
            "higher_is_better": bool(allocation.higher_is_better),
        }
        allocation = "sensitivity"
    elif allocation not in selection.ALLOCATIONS:
        msg = (
            f"Argument `allocation` must be one of {selection.ALLOCATIONS} or a "
            "tfprune.SensitivityResult (from tfprune.sensitivity). Received: "
            f"allocation={allocation!r}."
        )
        raise errors.PruningArgumentError(msg)
    if normalize not in selection.NORMALIZATIONS:
        msg = (
            f"Argument `normalize` must be one of {selection.NORMALIZATIONS}. "
            f"Received: normalize={normalize!r}."
        )
        raise errors.PruningArgumentError(msg)
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) or not 0 <= tolerance < 1:
        msg = (
            "Argument `tolerance` must be a fraction of the dense cost in [0, 1), "
            f"e.g. 0.02. Received: tolerance={tolerance!r}."
        )
        raise errors.PruningArgumentError(msg)
    if max_group_sparsity is not None and (
        isinstance(max_group_sparsity, bool)
        or not isinstance(max_group_sparsity, numbers.Real)
        or not 0 <= max_group_sparsity < 1
    ):
        msg = (
            "Argument `max_group_sparsity` must be None or the largest fraction of "
            "its channels one group may lose, in [0, 1), e.g. 0.8 (every group keeps "
            f"at least 20 %). Received: max_group_sparsity={max_group_sparsity!r}."
        )
        raise errors.PruningArgumentError(msg)
    return {
        "target": parsed.get_config(),
        "allocation": allocation,
        "normalize": normalize,
        "tolerance": float(tolerance),
        "max_group_sparsity": None if max_group_sparsity is None else float(max_group_sparsity),
        **({"sensitivity": sensitivity} if sensitivity is not None else {}),
    }


def _warn_unprunable(graph, per_layer, round_to, method_obj) -> None:
    """Warn about groups a ``sparsity`` request leaves whole because of ``round_to``."""
    if not round_to or round_to <= 1:
        return
    left = []
    for group_id, schedule in _assign_schedules(graph, per_layer, method_obj).items():
        group = graph.group(group_id)
        final = Pruner.final_sparsity(schedule)
        if selection.unprunable_by_rounding(group.num_channels, final, round_to):
            left.append(f"{group_id} ({group.num_channels} channels)")
    if left:
        warnings.warn(
            f"round_to={round_to} leaves {len(left)} group(s) unpruned at the "
            f"requested sparsity, because rounding their kept count to a "
            f"multiple of {round_to} keeps every channel: {', '.join(left[:20])}"
            f"{' ...' if len(left) > 20 else ''}. Pass round_to=None (or a "
            "smaller value) to prune them, or a `target=` budget to let the "
            "library spend the cut elsewhere.",
            errors.RoundingWarning,
            stacklevel=3,
        )


def _channel_wrapping(model, graph, per_layer, round_to, method_obj) -> dict[int, dict[str, Any]]:
    """Wrapper options of every layer touched by a scheduled channel group."""
    group_schedules = _assign_schedules(graph, per_layer, method_obj)
    if not group_schedules:
        msg = (
            f"Model `{model.name}` has no prunable channel group: every channel "
            "is an input/output of the model, excluded, or coupled to one."
            + _channels_first_hint(graph)
        )
        if not graph.groups:
            msg += _why_nothing_prunable(graph)
        raise errors.PruningArgumentError(msg)

    sizes = {g.id: g.num_channels for g in graph.groups if g.id in group_schedules}
    if round_to and max(sizes.values()) <= round_to:
        widest = max(sizes, key=sizes.get)
        msg = (
            f"Nothing in model `{model.name}` can be pruned with round_to={round_to}: "
            f"channel counts are kept at multiples of {round_to} (at least {round_to}), "
            f"and no prunable group has more than {round_to} channels (the widest, "
            f"`{widest}`, has {sizes[widest]}). Pass round_to=None for exact counts, "
            f"or a smaller round_to."
        )
        raise errors.PruningArgumentError(msg)
    active = np.zeros(graph.num_units, dtype=bool)
    for group in graph.groups:
        if group.id in group_schedules:
            active[np.array(group.units, dtype=np.int64)] = True
    wrap: dict[int, dict[str, Any]] = {}
    for entry in graph.layers.values():
        if not entry.slices:
            continue
        touches_in = entry.input_layout is not None and active[graph.units(entry.input_layout)].any()
        touches_out = entry.output_layout is not None and active[graph.units(entry.output_layout)].any()
        if not (touches_in or touches_out):
            continue
        owned = {
            group.id: schedules_lib.serialize(group_schedules[group.id])
            for group in graph.groups
            if group.id in group_schedules and group.owner == entry.path
        }
        wrap[id(entry.layer)] = {
            "mask_input": bool(touches_in),
            "mask_output": bool(touches_out),
            "input_mask_at": _input_mask_place(graph, entry, active) if touches_in else None,
            "output_mask_at": None,
            "spec": {"schedules": owned},
        }
    return wrap


#: Batch size assumed when weighing a kernel mask (paid once per step) against
#: an activation mask (paid per sample): Keras' default ``batch_size``.
MASK_BATCH_HINT = 32


def _input_mask_place(graph: ChannelGraph, entry, active: np.ndarray) -> str | None:
    """Where a wrapper applies its input mask (docs/design.md#mask-placement).

    Only a layer that mixes channels (it has an ``input`` weight slice over a
    scheduled unit: Conv, Dense, SeparableConv, ...) must not see a pruned
    channel; every other layer reading one (BatchNorm, a depthwise conv, an
    activation) is per-channel, and what it computes for that channel reaches
    no mixing layer, so its mask is held but not applied. A mixing layer masks
    its kernel's input rows when the kernel has fewer elements than
    ``MASK_BATCH_HINT`` samples of its input, else the activation.
    """
    mixes = any(
        role == rules_lib.INPUT and active[graph.units(layout)].any()
        for _, _, layout, role in entry.slices
    )
    if not mixes:
        return None
    layer = entry.layer
    if kernel_input_axis(layer) is None:
        return "activation"
    try:
        per_sample = int(np.prod([d for d in layer.input.shape[1:]]))
    except (AttributeError, TypeError, ValueError):  # shared layer, unknown dims
        return "activation"
    kernel_size = int(np.prod(layer.kernel.shape))
    return "kernel" if kernel_size <= MASK_BATCH_HINT * per_sample else "activation"


_ATTENTION_LAYERS = ("MultiHeadAttention", "GroupedQueryAttention", "Attention", "AdditiveAttention")


def _why_nothing_prunable(graph: ChannelGraph) -> str:
    """The usual causes, named with the model's layers (transformers hit all three)."""

    def names(layers):
        shown = ", ".join(f"`{path}`" for path in layers[:3])
        return shown + (f" and {len(layers) - 3} more" if len(layers) > 3 else "")

    norms, attention, mixing = [], [], []
    for path, entry in graph.layers.items():
        layer = entry.layer
        while hasattr(layer, "tfprune_wrapped_layer"):
            layer = layer.tfprune_wrapped_layer
        if isinstance(layer, (keras.layers.LayerNormalization, keras.layers.UnitNormalization)):
            norms.append(path)
        elif isinstance(layer, keras.layers.Layer) and type(layer).__name__ in _ATTENTION_LAYERS:
            attention.append(path)
        elif not rules_lib.is_channelwise_activation(getattr(layer, "activation", None)):
            mixing.append(path)
    reasons = []
    if norms:
        reasons.append(
            f"channels that feed LayerNormalization over the channel axis ({names(norms)}) "
            "are kept, since every channel changes the others' normalisation: in a "
            "transformer the residual stream goes through LayerNormalization, so its "
            "width cannot shrink"
        )
    if attention:
        reasons.append(
            f"attention layers ({names(attention)}) are opaque: attention heads are not "
            "pruned yet, so their input and output channels are kept"
        )
    if mixing:
        reasons.append(
            f"layers with a channel-mixing or unknown activation ({names(mixing)}) keep "
            "their channels (use a keras.activations function such as 'gelu' or 'relu' "
            "for channels to be prunable)"
        )
    if not reasons:
        return ""
    return " Here: " + "; ".join(reasons) + "."


def kernel_prunable(layer: keras.layers.Layer, granularity: str) -> bool:
    """Whether ``layer``'s kernel can be pruned at ``granularity``.

    Columns (``K[i, j, c, :]``) exist in ordinary convolutions
    (Conv1D/2D/3D with ``groups=1``); single weights also in Dense layers.
    """
    convs = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
    if isinstance(layer, convs):
        return getattr(layer, "groups", 1) == 1
    return granularity == "weight" and isinstance(layer, keras.layers.Dense)


def _kernel_wrapping(model, graph, per_layer, exclude, granularity) -> dict[int, dict[str, Any]]:
    """Wrapper options for column/weight pruning of every Conv (and Dense) kernel."""
    wrap: dict[int, dict[str, Any]] = {}
    named = {name for name in per_layer if name is not None}
    for entry in graph.layers.values():
        layer, short = entry.layer, entry.path.split("/")[-1]
        if not kernel_prunable(layer, granularity) or short in exclude or entry.path in exclude:
            continue
        if None in per_layer:
            schedule = per_layer[None]
        else:
            name = entry.path if entry.path in per_layer else short
            if name not in per_layer:
                continue
            named.discard(name)
            schedule = per_layer[name]
        wrap[id(layer)] = {
            "mask_input": False,
            "mask_output": False,
            "kernel_granularity": granularity,
            "spec": {"kernel_schedule": schedules_lib.serialize(schedule)},
        }
    if named:
        kinds = "Conv layers" if granularity == "column" else "Conv or Dense layers"
        msg = (
            f"Layers {sorted(named)} cannot be pruned at granularity={granularity!r}: "
            f"they are not in model `{model.name}` or are not {kinds} (with groups=1)."
        )
        raise errors.PruningArgumentError(msg)
    if not wrap:
        msg = (
            f"Model `{model.name}` has no layer that can be pruned at "
            f"granularity={granularity!r} (Conv layers with groups=1"
            f"{'' if granularity == 'column' else ', Dense layers'}) outside `exclude`."
        )
        raise errors.PruningArgumentError(msg)
    return wrap


def _channels_first_hint(graph: ChannelGraph) -> str:
    """Why a model has no group, when its layers are ``channels_first``."""
    names = [
        entry.path
        for entry in graph.layers.values()
        if getattr(entry.layer, "data_format", None) == "channels_first"
    ]
    if not names:
        return ""
    return (
        f" Layers {names[:10]}{' ...' if len(names) > 10 else ''} use "
        "data_format='channels_first'; tfprune prunes the last (channels_last) "
        "axis only and keeps every channel of such layers. Build the model "
        "channels_last (the Keras default: keras.config.set_image_data_format"
        "('channels_last'), or omit data_format) and transpose the input "
        "instead, e.g. keras.layers.Permute((2, 3, 1)) for NCHW images."
    )


_CONVS = (
    keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
    keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose,
    keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D, keras.layers.SeparableConv2D,
)


def _check_input_dtypes(model: keras.Model, trace) -> None:
    """Refuse a non-float model input that goes straight into a convolution.

    Keras convolutions do not cast integer inputs (Dense, BatchNormalization
    and Rescaling do), so such a model fails at its first ``fit`` or export
    with a TensorFlow type error, pruned or not.
    """
    for tid, tensor in zip(trace.inputs, model.inputs):  # noqa: B905 (same order; never raise here)
        dtype = str(tensor.dtype)
        if "float" in dtype:
            continue
        for site in trace.sites:
            if tid in site.inputs and isinstance(site.layer, _CONVS):
                msg = (
                    f"Input `{tensor.name}` of model `{model.name}` has dtype {dtype} "
                    f"and goes straight into {type(site.layer).__name__} "
                    f"`{site.path}`, which needs a float input (Keras does not "
                    "cast integer tensors for convolutions), so the model cannot "
                    "be trained or exported, pruned or not. Cast the input first, "
                    "e.g. `x = keras.layers.Rescaling(1 / 255)(inputs)` for uint8 "
                    "images (it scales and casts to float32), then call the conv "
                    "on `x`."
                )
                raise errors.PruningArgumentError(msg)


def _check_exclude(model: keras.Model, exclude: Iterable[str], trace) -> set[str]:
    if isinstance(exclude, str):
        exclude = [exclude]
    exclude = set(exclude)
    names = {site.layer.name for site in trace.sites}
    names.update(layer.name for layer in iter_layers(model))
    unknown = sorted(e for e in exclude if e.split("/")[-1] not in names)
    if unknown:
        msg = (
            f"Argument `exclude` names layers that are not in model `{model.name}`: "
            f"{unknown}. Use layer names as shown by model.summary(); the model "
            f"has e.g. {sorted(names)[:10]}."
        )
        raise errors.PruningArgumentError(msg)
    return exclude


def _schedules_argument(sparsity, schedule, method_obj) -> dict[str | None, schedules_lib.PruningSchedule]:
    """``{layer_name or None (= every group): schedule}``."""
    if (sparsity is None) == (schedule is None):
        msg = (
            "Pass exactly one of `sparsity` (e.g. sparsity=0.5) or `schedule` "
            "(e.g. schedule=tfprune.schedules.PolynomialDecay(0.0, 0.5, 0, 1000)). "
            f"Received: sparsity={sparsity!r}, schedule={schedule!r}."
        )
        raise errors.PruningArgumentError(msg)
    if sparsity is not None:
        if isinstance(sparsity, Mapping):
            return {
                name: method_obj.default_schedule(_validation.check_fraction(f"sparsity[{name!r}]", value))
                for name, value in sparsity.items()
            }
        return {None: method_obj.default_schedule(_validation.check_fraction("sparsity", sparsity))}
    if isinstance(schedule, Mapping) and not _looks_like_config(schedule):
        return {name: schedules_lib.get(value) for name, value in schedule.items()}
    return {None: schedules_lib.get(schedule)}


def _looks_like_config(value: Mapping) -> bool:
    return "class_name" in value and "config" in value


def _assign_schedules(graph: ChannelGraph, per_layer, method_obj) -> dict[str, schedules_lib.PruningSchedule]:
    if None in per_layer:
        return {group.id: per_layer[None] for group in graph.groups if method_obj.accepts_group(group)}
    chosen: dict[str, tuple[str, schedules_lib.PruningSchedule]] = {}
    for name, schedule in per_layer.items():
        groups = [
            g
            for g in graph.groups
            if any(
                name in (m.layer, m.layer.split("/")[-1])
                for m in g.members
                if m.role == rules_lib.FILTER
            )
        ]
        if not groups:
            msg = (
                f"Layer `{name}` does not produce a prunable channel group: it is "
                "not in the model, has no filters, or its output channels are "
                "pinned (a model output, excluded, or coupled to one)."
            )
            raise errors.PruningArgumentError(msg)
        for group in groups:
            previous = chosen.get(group.id)
            if previous is not None and previous[1].get_config() != schedule.get_config():
                msg = (
                    f"Layers `{previous[0]}` and `{name}` are coupled (group "
                    f"`{group.id}`, e.g. through a residual Add) and must be "
                    "pruned alike, but were given different sparsities."
                )
                raise errors.PruningArgumentError(msg)
            chosen[group.id] = (name, schedule)
    return {gid: schedule for gid, (_, schedule) in chosen.items()}
