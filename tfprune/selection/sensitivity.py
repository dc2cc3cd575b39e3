"""Per-group kept counts that meet a cost budget, from sensitivity curves.

A sensitivity curve says how much a metric degrades when one coupled channel
group alone is pruned to a given sparsity (Li et al., "Pruning Filters for
Efficient ConvNets", ICLR 2017, Section 4.2, https://arxiv.org/abs/1608.08710:
layers that are sensitive to pruning are pruned less).
:func:`allocate_from_sensitivity` turns such curves into one width per group
so that a cost (FLOPs or parameters) meets a budget, with a greedy rule in the
spirit of NetAdapt (Yang et al., ECCV 2018, https://arxiv.org/abs/1804.03230,
Algorithm 1: each step shrinks the one layer whose reduction costs the least
accuracy). NetAdapt measures every candidate step by fine-tuning; here each
step's accuracy cost is read off the measured curves instead, so the whole
allocation takes no model evaluation.

The rule, exactly:

1. Every group starts at its full width ``n``. Its allowed widths are ``n``
   and every multiple of ``round_to`` (every integer without it) that is at
   least ``floor`` and below ``n``.
2. A group's *drop* at sparsity ``s`` is the metric lost against the dense
   model, ``dense - metric(s)`` (``metric(s) - dense`` when lower is better),
   linearly interpolated between the measured sparsities and extrapolated
   beyond the last one with the last segment's slope. The measured drops are
   first made non-decreasing in ``s`` (running maximum, starting at 0 for
   the dense point), so measurement noise never makes heavier pruning look
   better than lighter pruning.
3. While ``cost_fn(kept) > budget``: every group that can still shrink
   proposes its next smaller allowed width; a proposal's price is its
   increase in drop divided by the cost it saves (``cost_fn`` before minus
   after). The cheapest proposal is applied (ties: the larger saving, then
   the order of ``sizes``). Proposals that save no cost are skipped.

The sequence of configurations does not depend on ``budget``; the budget only
decides where it stops. So a larger budget never keeps fewer channels in any
group, and the result undershoots the budget by at most the saving of one step.
See docs/sensitivity.md.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from tfprune import errors

Curve = Sequence[tuple[float, float]]


def allocate_from_sensitivity(
    curves: Mapping[str, Curve],
    sizes: Mapping[str, int],
    cost_fn: Callable[[dict[str, int]], float],
    budget: float,
    round_to: int | None = None,
    floor: int | Mapping[str, int] = 1,
    *,
    higher_is_better: bool = True,
    dense: float | None = None,
) -> dict[str, int]:
    """Kept channels per group so that ``cost_fn(kept) <= budget`` (see module docstring).

    Args:
        curves: group id -> ``[(sparsity, metric), ...]``, sparsity in
            [0, 1) as the fraction of the group's channels removed. Each
            curve needs the dense point ``(0.0, dense_metric)`` (or pass
            ``dense``) and at least one other point.
            :meth:`tfprune.SensitivityResult.curves` returns this form.
        sizes: group id -> channel count, for every group ``cost_fn``
            needs. Groups without a curve keep their full width.
        cost_fn: cost of a configuration, ``cost_fn({group_id: kept})`` with
            every id of ``sizes`` (e.g. FLOPs or parameters). It must not
            increase when a group shrinks.
        budget: the target cost, in ``cost_fn``'s unit.
        round_to: kept counts are multiples of this, or the full width;
            None allows any count.
        floor: minimum kept channels of every group, or ``{group_id: min}``
            (groups not listed: 1).
        higher_is_better: direction of the metric (True for accuracy, False
            for a loss).
        dense: the dense model's metric, added as the point at sparsity 0
            of every curve (otherwise each curve must contain it).

    Returns:
        ``{group_id: kept}`` for every id of ``sizes``, in that order.

    Raises:
        PruningArgumentError: malformed arguments, or a budget below the
            cheapest reachable configuration (the message gives that cost and
            the reason: floors, ``round_to``, or groups without a curve).
    """
    sizes = _check_sizes(sizes)
    round_to = _check_round_to(round_to)
    drops = {
        gid: _drop_curve(gid, curve, higher_is_better=higher_is_better, dense=dense)
        for gid, curve in _check_curves(curves, sizes).items()
    }
    widths = {gid: _allowed_widths(gid, sizes[gid], round_to, _floor_of(floor, gid)) for gid in drops}
    budget = _check_budget(budget)

    kept = dict(sizes)
    level = {gid: len(w) - 1 for gid, w in widths.items()}  # index into widths[gid]
    cost = float(cost_fn(dict(kept)))
    if cost <= budget:
        return kept
    cheapest = {**sizes, **{gid: w[0] for gid, w in widths.items()}}
    reachable = float(cost_fn(dict(cheapest)))
    if reachable > budget:
        raise _budget_error(budget, reachable, cost, sizes, widths, round_to, floor)

    while cost > budget:
        best = None
        for gid, w in widths.items():
            if level[gid] == 0:
                continue
            n, narrower = sizes[gid], w[level[gid] - 1]
            trial = {**kept, gid: narrower}
            trial_cost = float(cost_fn(trial))
            saved = cost - trial_cost
            if not saved > 0:
                continue
            extra = drops[gid](1.0 - narrower / n) - drops[gid](1.0 - kept[gid] / n)
            key = (extra / saved, -saved)
            if best is None or key < best[0]:
                best = (key, gid, narrower, trial_cost)
        if best is None:
            msg = (
                f"Cannot meet the budget {budget:.6g}: the cost is stuck at {cost:.6g} "
                f"with kept={kept}, and no group's next narrower width lowers "
                "`cost_fn`. Check that `cost_fn` depends on the kept counts of "
                "the groups in `curves`."
            )
            raise errors.PruningArgumentError(msg)
        _, gid, narrower, cost = best
        kept[gid] = narrower
        level[gid] -= 1
    return kept


def _drop_curve(gid, curve, *, higher_is_better, dense) -> Callable[[float], float]:
    points = {}
    for point in curve:
        if len(point) != 2:
            msg = f"Curve of group `{gid}` must hold (sparsity, metric) pairs. Received: {point!r}."
            raise errors.PruningArgumentError(msg)
        s, m = (float(v) for v in point)
        if not (0.0 <= s < 1.0 and math.isfinite(m)):
            msg = (
                f"Curve of group `{gid}` has the point ({s}, {m}); sparsity must be "
                "in [0, 1) and the metric finite."
            )
            raise errors.PruningArgumentError(msg)
        points[s] = m
    if dense is not None:
        points[0.0] = float(dense)
    if 0.0 not in points or len(points) < 2:
        msg = (
            f"Curve of group `{gid}` needs the dense point (0.0, metric) and at "
            f"least one pruned point. Received sparsities {sorted(points)}. "
            "Pass `dense=` or use SensitivityResult.curves()."
        )
        raise errors.PruningArgumentError(msg)
    s = np.array(sorted(points))
    m = np.array([points[v] for v in s])
    drop = (m[0] - m) if higher_is_better else (m - m[0])
    drop = np.maximum.accumulate(np.maximum(drop, 0.0))
    slope = (drop[-1] - drop[-2]) / (s[-1] - s[-2])

    def at(sparsity: float) -> float:
        if sparsity <= s[-1]:
            return float(np.interp(sparsity, s, drop))
        return float(drop[-1] + slope * (sparsity - s[-1]))

    return at


def _allowed_widths(gid, n, round_to, floor) -> list[int]:
    step = round_to or 1
    low = max(floor, 1)
    first = -(-low // step) * step
    return [*range(first, n, step), n]


def _floor_of(floor, gid) -> int:
    value = floor.get(gid, 1) if isinstance(floor, Mapping) else floor
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        msg = f"Argument `floor` must be an integer >= 1 (or a dict of them). Received: {value!r} for group `{gid}`."
        raise errors.PruningArgumentError(msg)
    return int(value)


def _check_sizes(sizes) -> dict[str, int]:
    if not isinstance(sizes, Mapping) or not sizes:
        msg = f"Argument `sizes` must be a non-empty dict {{group_id: channels}}. Received: {sizes!r}."
        raise errors.PruningArgumentError(msg)
    for gid, n in sizes.items():
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            msg = f"Argument `sizes` must map group ids to channel counts >= 1. Received: {gid!r}: {n!r}."
            raise errors.PruningArgumentError(msg)
    return {gid: int(n) for gid, n in sizes.items()}


def _check_curves(curves, sizes) -> Mapping[str, Curve]:
    if not isinstance(curves, Mapping) or not curves:
        msg = f"Argument `curves` must be a non-empty dict {{group_id: [(sparsity, metric), ...]}}. Received: {curves!r}."
        raise errors.PruningArgumentError(msg)
    unknown = sorted(str(g) for g in curves if g not in sizes)
    if unknown:
        msg = f"Argument `curves` has groups without a size in `sizes`: {unknown}. Known groups: {sorted(map(str, sizes))}."
        raise errors.PruningArgumentError(msg)
    return curves


def _check_round_to(round_to) -> int | None:
    if round_to is None:
        return None
    if isinstance(round_to, bool) or not isinstance(round_to, numbers.Integral) or round_to < 1:
        msg = f"Argument `round_to` must be an integer >= 1 or None. Received: round_to={round_to!r}."
        raise errors.PruningArgumentError(msg)
    return int(round_to)


def _check_budget(budget) -> float:
    if isinstance(budget, bool) or not isinstance(budget, numbers.Real) or not math.isfinite(budget):
        msg = f"Argument `budget` must be a finite number (the target cost). Received: budget={budget!r}."
        raise errors.PruningArgumentError(msg)
    return float(budget)


def _budget_error(budget, reachable, dense_cost, sizes, widths, round_to, floor) -> errors.BudgetError:
    fixed = [gid for gid in sizes if gid not in widths]
    stuck = [gid for gid, w in widths.items() if len(w) == 1]
    reasons = [f"every group at its narrowest allowed width (floor={floor!r}, round_to={round_to!r})"]
    if stuck:
        reasons.append(f"groups that cannot shrink at all under round_to/floor: {stuck}")
    if fixed:
        reasons.append(f"groups without a sensitivity curve, kept whole: {fixed}")
    msg = (
        f"Cannot meet the budget {budget:.6g}: the cheapest reachable cost is "
        f"{reachable:.6g} ({_share(reachable, dense_cost)} the dense {dense_cost:.6g}), with "
        + "; ".join(reasons)
        + ". Raise the budget, lower `floor` or `round_to`, or measure the missing groups."
    )
    return errors.BudgetError(msg)


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%} of" if whole > 0 else "vs"
