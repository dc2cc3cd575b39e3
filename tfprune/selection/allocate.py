"""Choose how many channels each group keeps so that a budget is met.

Pure NumPy: the caller describes each prunable group (its units, their
importance scores, which are still kept, its ``round_to`` and floor) and gives
a cost function over a boolean keep vector (see
:class:`tfprune.metrics.cost.CostModel`). Two allocations
(docs/budgets.md):

* ``uniform``: one pruning ratio ``s`` for every group (each keeps
  ``kept_count(n, s, round_to)`` channels), the smallest ``s`` whose cost is
  within the budget, found by bisection;
* ``global``: scores are normalised per group (:func:`normalize_scores`) and
  ranked across groups; one threshold ``t`` keeps, in every group, the units
  scoring at least ``t`` (rounded up to ``round_to``), the largest ``t``
  whose cost is within the budget. This is Torch-Pruning's global pruning
  (Fang et al., "DepGraph", CVPR 2023, Section 3.3 and its
  ``global_pruning=True``), with a cost budget instead of a channel ratio.

With ``cost_aware=True`` (latency budgets), ``global`` ranks each unit by its
value per unit of the budget's cost, the greedy ratio rule of the
latency-saliency knapsack of HALP (Shen et al., "Structural Pruning via
Latency-Saliency Knapsack", NeurIPS 2022, Section 3): a unit's value is its
normalised score times its group's *work* per unit (``work_fn``, e.g. the
MACs it computes; one if not given), its cost its group's marginal cost per
unit (each relative to the mean over groups). With ``work_fn`` = MACs and a
latency cost, channels are kept where a millisecond buys the most
(score-weighted) computation and cut where time is spent for little work; when
``work_fn`` is the cost itself the rule is plain ``global``.

Both then *fill*: while the budget allows, one more ``round_to`` step is
given back to a group (``uniform``: the most pruned group first; ``global``:
the group whose next units score highest), so that the cost lands as close
under the budget as the rounding allows. Pruning is monotone: a unit that is
no longer kept is never kept again; every group keeps at least its floor.
Within a group the lowest-scored kept units are removed first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from tfprune.selection.counts import feasible_counts, kept_count

NORMALIZATIONS = (None, "mean", "max", "sum", "standardize", "minmax")
ALLOCATIONS = ("uniform", "global")


@dataclasses.dataclass(frozen=True)
class Candidate:
    """What selection sees of one prunable group.

    Attributes:
        key: the group's id (returned as is).
        units: global unit indices of the group (int array, local order).
        scores: importance of each unit (higher = keep), local order.
        keep: which units are still kept (bool, local order).
        round_to: kept counts are multiples of this (or the full width).
        floor: the group never keeps fewer units than this.
    """

    key: str
    units: np.ndarray
    scores: np.ndarray
    keep: np.ndarray
    round_to: int | None = None
    floor: int = 1

    @property
    def size(self) -> int:
        return len(self.units)

    def choices(self) -> np.ndarray:
        """Kept counts this group can take, ascending."""
        return feasible_counts(self.size, int(self.keep.sum()), self.round_to, self.floor)

    def order(self) -> np.ndarray:
        """Local indices of the kept units, best first (stable)."""
        kept = np.flatnonzero(self.keep)
        return kept[np.argsort(-self.scores[kept], kind="stable")]


def normalize_scores(scores: np.ndarray, how: str | None) -> np.ndarray:
    """Scale one group's scores so that groups can be ranked together.

    The options are Torch-Pruning's group normalisations: ``None`` (raw),
    ``"mean"`` (``s / mean s``), ``"max"`` (``s / max s``), ``"sum"``
    (``s / sum s``), ``"standardize"`` (``(s - mean) / std``) and
    ``"minmax"`` (``(s - min) / (max - min)``).
    """
    s = np.asarray(scores, dtype=np.float64)
    if how is None:
        return s
    # Statistics over the finite scores only: methods score units they have
    # already removed as +inf (LRF), which would turn every score into 0/NaN.
    finite = np.isfinite(s)
    if how in NORMALIZATIONS and not finite.all():
        out = s.copy()
        if finite.any():
            out[finite] = normalize_scores(s[finite], how)
        return out
    eps = 1e-12
    if how == "mean":
        return s / (np.abs(s.mean()) + eps)
    if how == "max":
        return s / (np.abs(s.max()) + eps)
    if how == "sum":
        return s / (np.abs(s.sum()) + eps)
    if how == "standardize":
        return (s - s.mean()) / (s.std() + eps)
    if how == "minmax":
        return (s - s.min()) / (s.max() - s.min() + eps)
    msg = f"Unknown score normalization {how!r}; expected one of {NORMALIZATIONS}."
    raise ValueError(msg)


@dataclasses.dataclass(frozen=True)
class Allocation:
    """Result of :func:`allocate`.

    Attributes:
        keep: local keep flags of every candidate, by key.
        cost: the cost of the whole configuration.
        counts: kept units per candidate, by key.
    """

    keep: dict[str, np.ndarray]
    cost: float
    counts: dict[str, int]


class Unreachable(ValueError):
    """No configuration meets the budget; ``low``/``high`` are the nearest costs."""

    def __init__(self, budget: float, low: float | None, high: float | None, minimum: float):
        self.budget, self.low, self.high, self.minimum = budget, low, high, minimum
        super().__init__(f"budget {budget} unreachable (nearest: {low} / {high}; minimum {minimum})")


class _Search:
    """Keep vectors from per-candidate kept counts, and their cost."""

    def __init__(self, candidates: Sequence[Candidate], base_keep: np.ndarray, cost_fn):
        self.candidates = list(candidates)
        self.base_keep = base_keep
        self.cost_fn = cost_fn
        self.orders = [c.order() for c in self.candidates]
        self.choices = [c.choices() for c in self.candidates]
        self.evaluations = 0
        #: Divisor of each candidate's normalised scores (``cost_aware``).
        self.unit_costs = np.ones(len(self.candidates))

    def measure_unit_costs(self, work_fn=None, unit_cost_fn=None) -> None:
        """Set each candidate's score divisor: its cost per unit over its work per unit.

        Both are relative to the mean over candidates (1.0: average); see
        :meth:`relative_per_unit`. Without ``work_fn`` every unit's work is
        1; the cost is ``unit_cost_fn`` if given, else the budget's cost.
        """
        self.unit_costs = self.relative_per_unit(unit_cost_fn or self.cost_fn)
        if work_fn is not None:
            self.unit_costs = self.unit_costs / self.relative_per_unit(work_fn)

    def relative_per_unit(self, fn) -> np.ndarray:
        """What ``fn`` saves per unit cut when a candidate alone is cut from its full width to its floor.

        Measured with every candidate at its full width (units already
        pruned counted as kept), so the weights do not move as pruning
        proceeds: pruning is monotone, and a ranking that moved between the
        steps of a schedule would cut channels that a later step wants back.
        Relative to the mean over candidates, floored at 1e-3 (a group that
        saves nothing is never weighted more than 1000x the average); a
        group that cannot be cut gets 1.0.
        """
        full = self.base_keep.copy()
        for cand in self.candidates:
            full[cand.units] = True
        whole = float(fn(full))
        per_unit = np.full(len(self.candidates), np.nan)
        for i, cand in enumerate(self.candidates):
            removed = cand.size - cand.floor
            if removed > 0:
                trial = full.copy()
                trial[cand.units[cand.floor:]] = False
                per_unit[i] = max(whole - float(fn(trial)), 0.0) / removed
        finite = per_unit[np.isfinite(per_unit)]
        mean = float(finite.mean()) if finite.size else 0.0
        if mean <= 0:
            return np.ones(len(self.candidates))
        return np.where(np.isfinite(per_unit), np.maximum(per_unit, 1e-3 * mean) / mean, 1.0)

    def ranked_scores(self, normalize: str | None) -> list[np.ndarray]:
        """Normalised scores of every candidate, divided by its relative unit cost."""
        return [normalize_scores(c.scores, normalize) / w for c, w in zip(self.candidates, self.unit_costs)]

    def local_keep(self, index: int, count: int) -> np.ndarray:
        cand = self.candidates[index]
        keep = np.zeros(cand.size, dtype=bool)
        keep[self.orders[index][:count]] = True
        return keep

    def keep_vector(self, counts: Sequence[int]) -> np.ndarray:
        keep = self.base_keep.copy()
        for index, (cand, count) in enumerate(zip(self.candidates, counts)):
            keep[cand.units] = self.local_keep(index, count)
        return keep

    def cost(self, counts: Sequence[int]) -> float:
        self.evaluations += 1
        return float(self.cost_fn(self.keep_vector(counts)))

    def snap_down(self, index: int, count: float) -> int:
        """The largest choice <= count (or the smallest choice)."""
        choices = self.choices[index]
        pos = np.searchsorted(choices, count, side="right") - 1
        return int(choices[max(pos, 0)])

    def snap_up(self, index: int, count: float) -> int:
        """The smallest choice >= count (or the largest choice)."""
        choices = self.choices[index]
        pos = np.searchsorted(choices, count, side="left")
        return int(choices[min(pos, len(choices) - 1)])

    def next_up(self, index: int, count: int) -> int | None:
        choices = self.choices[index]
        pos = np.searchsorted(choices, count, side="right")
        return int(choices[pos]) if pos < len(choices) else None


def allocate(
    candidates: Sequence[Candidate],
    cost_fn: Callable[[np.ndarray], float],
    budget: float,
    *,
    base_keep: np.ndarray,
    allocation: str = "uniform",
    normalize: str | None = "mean",
    tolerance: float = 0.0,
    cost_aware: bool = False,
    work_fn: Callable[[np.ndarray], float] | None = None,
    unit_cost_fn: Callable[[np.ndarray], float] | None = None,
) -> Allocation:
    """Kept units of every candidate so that ``cost_fn(keep) <= budget``.

    Args:
        candidates: the prunable groups (:class:`Candidate`).
        cost_fn: cost of a boolean keep vector over all units (monotone:
            keeping more never costs less).
        budget: the largest acceptable cost.
        base_keep: keep vector of every unit (units of no candidate stay as
            they are).
        allocation: ``"uniform"`` or ``"global"`` (module docstring).
        normalize: per-group score normalisation for ``"global"``
            (:func:`normalize_scores`).
        tolerance: when the rounding leaves the cost more than this below
            the budget, the cheapest single step up that lands within
            ``budget + tolerance`` is taken.
        cost_aware: with ``"global"``, rank units by score per unit of
            cost (module docstring); ignored by ``"uniform"``.
        work_fn: with ``cost_aware``, what a unit's score is weighted by
            (a function of the keep vector like ``cost_fn``, e.g. MACs);
            ``None``: every unit's work is one.
        unit_cost_fn: with ``cost_aware``, the cost a unit's score is
            divided by, if not ``cost_fn`` (e.g. the latency table's summed
            layer times, which rank like the calibrated latency but do not
            bend where the calibration does).

    Raises:
        Unreachable: even the smallest configuration costs more than
            ``budget + tolerance``, or the rounding leaves no configuration
            within ``tolerance`` of the budget. ``low`` is the nearest cost
            under the budget, ``high`` the nearest over it.
    """
    if allocation not in ALLOCATIONS:
        msg = f"Unknown allocation {allocation!r}; expected one of {ALLOCATIONS}."
        raise ValueError(msg)
    search = _Search(candidates, base_keep, cost_fn)
    if cost_aware and allocation == "global":
        search.measure_unit_costs(work_fn, unit_cost_fn)
    smallest = [int(c[0]) for c in search.choices]
    current = [int(c[-1]) for c in search.choices]
    minimum = search.cost(smallest)
    if minimum > budget + tolerance:
        raise Unreachable(budget, None, minimum, minimum)
    if search.cost(current) <= budget:
        counts = current
    elif allocation == "uniform":
        counts = _uniform(search, budget)
    else:
        counts = _global(search, budget, normalize)
    return _finish(search, counts, budget, allocation, normalize, tolerance, minimum)


def refine(
    candidates: Sequence[Candidate],
    counts: dict[str, int],
    cost_fn: Callable[[np.ndarray], float],
    budget: float,
    *,
    base_keep: np.ndarray,
    tolerance: float = 0.0,
) -> Allocation:
    """Finish an allocation made elsewhere (e.g. from sensitivity curves).

    ``counts`` (kept units per candidate, within the budget) is filled with
    single rounding steps while the budget allows (most pruned group first),
    then checked against ``tolerance`` as in :func:`allocate`.
    """
    search = _Search(candidates, base_keep, cost_fn)
    start = [search.snap_down(i, counts[c.key]) for i, c in enumerate(search.candidates)]
    minimum = search.cost([int(c[0]) for c in search.choices])
    return _finish(search, start, budget, "uniform", None, tolerance, minimum)


def _finish(search, counts, budget, allocation, normalize, tolerance, minimum) -> Allocation:
    counts = _fill(search, counts, budget, allocation, normalize)
    cost = search.cost(counts)
    if budget - cost > tolerance:
        over = _nearest_over(search, counts, budget)
        if over is not None and over[1] <= budget + tolerance:
            counts, cost = over
        else:
            raise Unreachable(budget, cost, None if over is None else over[1], minimum)
    keep = {c.key: search.local_keep(i, counts[i]) for i, c in enumerate(search.candidates)}
    return Allocation(keep=keep, cost=cost, counts={c.key: counts[i] for i, c in enumerate(search.candidates)})


def _uniform(search: _Search, budget: float) -> list[int]:
    """Smallest common ratio whose configuration fits the budget."""

    def counts_at(ratio: float) -> list[int]:
        out = []
        for i, cand in enumerate(search.candidates):
            wanted = kept_count(cand.size, ratio, cand.round_to)
            out.append(search.snap_down(i, wanted))
        return out

    low, high = 0.0, 1.0  # cost(high) <= budget (smallest choices) is known
    for _ in range(30):
        mid = (low + high) / 2
        if search.cost(counts_at(mid)) <= budget:
            high = mid
        else:
            low = mid
    return counts_at(high)


def _global(search: _Search, budget: float, normalize: str | None) -> list[int]:
    """Largest common threshold on normalised scores that fits the budget."""
    normalized = search.ranked_scores(normalize)
    levels = np.unique(np.concatenate([z[c.keep] for z, c in zip(normalized, search.candidates)]))

    def counts_at(level_index: int) -> list[int]:
        threshold = levels[level_index] if level_index < len(levels) else np.inf
        return [
            search.snap_up(i, int(np.count_nonzero(z[c.keep] >= threshold)))
            for i, (z, c) in enumerate(zip(normalized, search.candidates))
        ]

    low, high = 0, len(levels)  # counts_at(len) = smallest choices: fits
    while low < high:
        mid = (low + high) // 2
        if search.cost(counts_at(mid)) <= budget:
            high = mid
        else:
            low = mid + 1
    return counts_at(high)


def _fill(search: _Search, counts: list[int], budget: float, allocation: str, normalize) -> list[int]:
    """Give back single rounding steps while the budget allows."""
    counts = list(counts)
    if allocation == "global":
        normalized = search.ranked_scores(normalize)
    blocked: set[int] = set()
    while True:
        options = []
        for i, cand in enumerate(search.candidates):
            up = search.next_up(i, counts[i])
            if up is None or i in blocked:
                continue
            if allocation == "uniform":
                priority = counts[i] / cand.size  # most pruned first
            else:
                added = search.orders[i][counts[i]:up]
                priority = -float(normalized[i][added].mean())  # best units first
            options.append((priority, i, up))
        if not options:
            return counts
        options.sort()
        for _, i, up in options:
            trial = list(counts)
            trial[i] = up
            if search.cost(trial) <= budget:
                counts = trial
                break
            blocked.add(i)
        else:
            return counts


def _nearest_over(search: _Search, counts: list[int], budget: float) -> tuple[list[int], float] | None:
    """The cheapest configuration one step above ``counts`` (cost > budget)."""
    best = None
    for i in range(len(search.candidates)):
        up = search.next_up(i, counts[i])
        if up is None:
            continue
        trial = list(counts)
        trial[i] = up
        cost = search.cost(trial)
        if best is None or cost < best[1]:
            best = (trial, cost)
    return best
