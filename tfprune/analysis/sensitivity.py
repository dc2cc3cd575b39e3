"""``sensitivity``: the metric of a model with each coupled channel group pruned alone.

Li et al., "Pruning Filters for Efficient ConvNets", ICLR 2017, Section 4.2
(https://arxiv.org/abs/1608.08710) prune each layer alone at growing ratios
and evaluate, to find the layers that are sensitive to pruning. tfprune probes
*channel groups* instead of layers: all the layers whose channels are coupled
(e.g. every convolution feeding one residual stream) are pruned together,
because only that is a model ``slim`` can build. Probing one of them alone
would mask a channel in one branch while the others still carry it, which
mis-ranks residual-coupled layers.

The user's model is copied once (:func:`tfprune.prune` wraps every group);
each probe then only rewrites the copy's masks (:class:`tfprune.Pruner`),
evaluates it in inference mode, and restores the masks. Design notes and
the allocation rule: docs/sensitivity.md.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import keras
import numpy as np

from tfprune import _validation, errors
from tfprune import methods as methods_lib
from tfprune.analysis.result import GroupSensitivity, SensitivityResult
from tfprune.graph import rules as rules_lib
from tfprune.methods.base import kept_count
from tfprune.metrics import flops_by_layer
from tfprune.pruner import Pruner
from tfprune.pruning import prune

#: Metric names (or name endings) where a lower value is better.
_LOWER_IS_BETTER = ("loss", "error", "crossentropy", "mse", "mae", "mape", "msle", "hinge", "divergence")


def sensitivity(
    model: keras.Model,
    data: Any,
    sparsities: Sequence[float] = (0.25, 0.5, 0.75),
    *,
    metric: str | Callable[[keras.Model, Any], float] | None = None,
    higher_is_better: bool | None = None,
    method: str | methods_lib.PruningMethod = "l1",
    round_to: int | None = None,
    exclude: Iterable[str] = (),
    groups: Iterable[str] | None = None,
    batches: int | None = None,
    batch_size: int = 32,
    verbose: int = 0,
) -> SensitivityResult:
    """Measure ``metric`` with each coupled channel group pruned alone.

    For every channel group of ``model`` (see :class:`tfprune.ChannelGraph`)
    and every sparsity, the group's lowest-scored channels (by ``method``'s
    scores on the model's weights) are masked in *all* of its layers at once,
    the metric is evaluated on ``data`` in inference mode, and the group is
    restored before the next probe. Each distinct width is evaluated once
    (the full width, e.g. sparsity 0, is the dense model: not re-evaluated).

    Args:
        model: a built Functional or Sequential model; it is not modified.
        data: held-out data: ``(x, y)`` (or ``(x, y, sample_weight)``)
            arrays, or a re-iterable dataset (``tf.data.Dataset``,
            ``keras.utils.PyDataset``) yielding batches. It is read once per
            probe, so it must yield the same batches every time (no
            reshuffling). With a ``metric`` callable, anything that callable
            accepts.
        sparsities: fractions of each group's channels to remove, in [0, 1).
        metric: what to measure:

            * None: the model's first compiled metric (e.g. ``"accuracy"``),
              or its loss when it was compiled without metrics;
            * a name returned by ``model.evaluate(..., return_dict=True)``,
              e.g. ``"loss"``;
            * a callable ``metric(model, data) -> float``, called with the
              masked copy; use its inference outputs
              (``model(x, training=False)`` or ``model.predict``).

            The model must be compiled unless ``metric`` is a callable.
        higher_is_better: direction of the metric. Default: False for names
            that look like a loss or an error (``"loss"``, ``"mse"``, ...),
            True otherwise and for callables (return e.g. an accuracy, or
            pass ``higher_is_better=False``).
        method: whose scores choose the channels: ``"l1"`` (Li et al. 2017),
            ``"l2"``, or any method with a ``scores`` function.
        round_to: kept counts at multiples of this, as in :func:`tfprune.prune`.
            Default None: exactly ``round(n * (1 - s))`` channels, so the
            curves sample the requested sparsities.
        exclude: layers whose output channels are never pruned, as in
            :func:`tfprune.prune`.
        groups: measure only these groups (group ids, or names of layers
            producing them); default every prunable group.
        batches: evaluate on the first ``batches`` batches of ``data`` only.
        batch_size: batch size for array ``data``.
        verbose: 1 prints one line per group.

    Returns:
        A :class:`tfprune.SensitivityResult` (table, ``to_json``,
        ``to_markdown``, ``plot``, ``allocate``).

    Raises:
        PruningArgumentError: bad arguments, an uncompiled model without a
            ``metric`` callable, or a method that has no per-channel scores.
    """
    if not isinstance(model, keras.Model):
        msg = f"Argument `model` must be a keras.Model. Received: {type(model).__name__}."
        raise errors.PruningArgumentError(msg)
    sparsities = _check_sparsities(sparsities)
    batches = _validation.check_positive_int("batches", batches, allow_none=True)
    batch_size = _validation.check_positive_int("batch_size", batch_size)
    evaluate, compile_config = _metric_function(model, data, metric, batches, batch_size)

    method_obj = methods_lib.get(method)
    method_name = method if isinstance(method, str) else type(method_obj).__name__
    if type(method_obj).scores is methods_lib.PruningMethod.scores:
        msg = (
            f"Method {method_name!r} has no per-channel scores, so it cannot rank a "
            "group's channels for a sensitivity probe. Use method='l1' or 'l2'."
        )
        raise errors.PruningArgumentError(msg)
    pruned = prune(model, method_obj, sparsity=0.0, round_to=round_to, exclude=exclude)
    if compile_config is not None:
        pruned.compile_from_config(compile_config)
    pruner = Pruner(pruned)
    chosen = _select_groups(pruner.active_groups, groups)

    dense_values = evaluate(pruned)
    name, value_of = _pick_metric(metric, dense_values)
    if higher_is_better is None:
        higher_is_better = not _looks_lower_is_better(name)
    dense = value_of(dense_values)
    shares = _flops_shares(model, chosen)

    rows = []
    for group in chosen:
        scores = np.asarray(pruner.method.scores(pruner.view, group), dtype=np.float64)
        order = np.argsort(scores, kind="stable")
        n = group.num_channels
        kept = tuple(kept_count(n, s, pruner.round_to) for s in sparsities)
        measured: dict[int, float] = {n: dense}  # the full width is the dense model
        try:
            for k in kept:
                if k in measured:
                    continue
                keep = np.ones(n, dtype=bool)
                keep[order[: n - k]] = False
                pruner.set_group_keep(group, keep)
                pruner.write_masks()
                measured[k] = value_of(evaluate(pruned))
        finally:
            pruner.set_group_keep(group, np.ones(n, dtype=bool))
            pruner.write_masks()
        producers = tuple(dict.fromkeys(m.layer for m in group.members if m.role == rules_lib.FILTER))
        row = GroupSensitivity(
            id=str(group.id),
            producers=producers,
            channels=n,
            flops_share=shares.get(group.id),
            kept=kept,
            values=tuple(measured[k] for k in kept),
        )
        rows.append(row)
        if verbose:
            cells = ", ".join(f"{s:g}: {v:.4f}" for s, v in zip(sparsities, row.values))
            print(f"sensitivity {row.id} ({n} channels): {name} {cells} (dense {dense:.4f})")
    return SensitivityResult(
        metric=name,
        higher_is_better=bool(higher_is_better),
        dense=dense,
        sparsities=sparsities,
        groups=tuple(rows),
        method=method_name,
        round_to=pruner.round_to,
    )


def _check_sparsities(sparsities) -> tuple[float, ...]:
    if isinstance(sparsities, numbers.Real):
        sparsities = (sparsities,)
    values = [_validation.check_fraction(f"sparsities[{i}]", s) for i, s in enumerate(sparsities)]
    if not values:
        msg = "Argument `sparsities` must list at least one fraction, e.g. (0.25, 0.5, 0.75). Received: ()."
        raise errors.PruningArgumentError(msg)
    return tuple(sorted(set(values)))


def _metric_function(model, data, metric, batches, batch_size):
    """``(evaluate(model) -> dict | float, compile config or None)``."""
    if isinstance(metric, keras.metrics.Metric):
        msg = (
            f"Argument `metric` is a keras.metrics.Metric ({type(metric).__name__}); pass "
            "its name as compiled (e.g. metric='accuracy') or a callable "
            "metric(model, data) -> float."
        )
        raise errors.PruningArgumentError(msg)
    if callable(metric):
        return (lambda m: float(metric(m, data))), None
    if metric is not None and not isinstance(metric, str):
        msg = (
            "Argument `metric` must be None, a metric name (e.g. 'accuracy', 'loss') "
            f"or a callable metric(model, data) -> float. Received: {metric!r}."
        )
        raise errors.PruningArgumentError(msg)
    if not getattr(model, "compiled", False):
        msg = (
            f"Model `{model.name}` is not compiled, so it has no loss or metric to "
            "evaluate. Compile it first (model.compile(loss=..., metrics=['accuracy'])) "
            "or pass metric=callable(model, data) -> float."
        )
        raise errors.PruningArgumentError(msg)
    if hasattr(data, "__next__") and not hasattr(data, "element_spec"):
        msg = (
            "Argument `data` is an iterator, which the first evaluation would "
            "consume. Pass arrays (x, y), a tf.data.Dataset or a keras.utils.PyDataset."
        )
        raise errors.PruningArgumentError(msg)
    if isinstance(data, (tuple, list)):
        if not 2 <= len(data) <= 3:
            msg = f"Argument `data` as a tuple must be (x, y) or (x, y, sample_weight). Received {len(data)} items."
            raise errors.PruningArgumentError(msg)
        x, y, *weights = data
        kwargs = {"x": x, "y": y, "sample_weight": weights[0] if weights else None, "batch_size": batch_size}
    else:
        kwargs = {"x": data}

    def evaluate(m):
        return m.evaluate(**kwargs, steps=batches, verbose=0, return_dict=True)

    return evaluate, model.get_compile_config()


def _pick_metric(metric, dense_values):
    """``(name, value_of(evaluate output) -> float)``."""
    if callable(metric):
        name = getattr(metric, "__name__", type(metric).__name__)
        return name, float
    if metric is None:
        others = [k for k in dense_values if k != "loss"]
        metric = others[0] if others else "loss"
    if metric not in dense_values:
        msg = (
            f"Argument `metric`={metric!r} is not reported by model.evaluate; it "
            f"returns {sorted(dense_values)}. Compile the model with that metric "
            "or pass a callable."
        )
        raise errors.PruningArgumentError(msg)
    return metric, lambda values: float(values[metric])


def _looks_lower_is_better(name: str) -> bool:
    lowered = name.lower()
    return any(lowered == key or lowered.endswith(key) for key in _LOWER_IS_BETTER)


def _select_groups(active, wanted):
    if wanted is None:
        return list(active)
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    chosen, missing = [], []
    for name in wanted:
        found = [
            g
            for g in active
            if str(g.id) == name
            or any(name in (m.layer, m.layer.split("/")[-1]) for m in g.members if m.role == rules_lib.FILTER)
        ]
        if not found:
            missing.append(name)
        chosen.extend(g for g in found if g not in chosen)
    if missing:
        msg = (
            f"Argument `groups` names no prunable group: {missing}. Use group ids "
            f"or producing layer names; the groups are {[str(g.id) for g in active]}."
        )
        raise errors.PruningArgumentError(msg)
    return [g for g in active if g in chosen]


def _flops_shares(model, groups) -> dict[str, float]:
    """Share of the dense FLOPs in layers that read or write each group's channels."""
    try:
        per_layer = flops_by_layer(model)
    except errors.TfpruneError:
        return {}  # e.g. unknown input sizes: the table leaves the column empty
    total = sum(per_layer.values())
    if not total:
        return {}
    return {g.id: sum(per_layer.get(layer, 0) for layer in g.layers) / total for g in groups}
