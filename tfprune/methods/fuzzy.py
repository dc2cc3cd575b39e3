"""Fuzzy pruning: importance / non-importance memberships and an alpha-cut.

Zhao, Li, Shang, "Fuzzy Pruning for Compression of Convolutional Neural
Networks", FUZZ-IEEE 2019, DOI 10.1109/FUZZ-IEEE.2019.8858894. Pruning a
*fixed ratio* of filters per iteration mis-prunes when the importance
distribution is imbalanced; instead every filter gets an importance and a
non-importance membership and an alpha-cut set selects the filters to prune,
so the *number* pruned at each step is decided by the cut.

**Reconstructed ("fuzzy-alpha-cut (reconstructed)").** Only the paper's
abstract could be read (docs/methods/fuzzy.md#what-is-reconstructed). The
score, the membership shapes, their breakpoints, the alpha values and the
iteration scheme below are tfprune's reconstruction, not the paper's:

* score ``s_f``: the L1 magnitude score of :class:`MagnitudePruning` (the
  per-weight mean ``|w|`` of every filter slice of a coupled group, summed)
  divided by its maximum over the group's still-kept filters, so ``s`` is in
  ``[0, 1]`` (the reconstruction's per-layer normalised L1 norm; for a group coupled
  by a residual ``Add`` the normalisation is per group); ``normalization=
  "minmax"`` is an option of this library;
* ``mu_I = Ramp(0.1, 0.5, increasing=True)``,
  ``mu_U = Ramp(0.1, 0.5, increasing=False)``, two independent objects (see
  :mod:`tfprune.criteria.fuzzy`; Gaussian and sigmoid shapes, or quantile
  breakpoints ``Q_0.25, Q_0.75``, are options);
* prune set ``P = {f : mu_U(s_f) >= alpha and mu_I(s_f) < alpha_importance}``
  (the alpha-cut of non-importance minus the alpha-cut of importance), with
  ``alpha = 0.9`` and ``alpha_importance = 0.1``;
* iteration: the cut runs at every step where the group's schedule fires
  (e.g. :class:`tfprune.schedules.IntervalSchedule`) while the model trains,
  instead of a prune / fine-tune loop with hard removal; pruning is
  one-way (masked filters stay masked) and the scores of masked filters are
  ignored.

Safety limits, applied in this order to ``|P|`` for each group (choices of
this library, the reconstruction only has the per-step one;
docs/methods/fuzzy.md#limits):

1. at most ``max_step_fraction`` of the group's kept filters per step, so at
   least ``ceil((1 - max_step_fraction) * kept)`` stay (spec: ``r_max=0.5``);
2. at most the sparsity returned by the schedule, and ``max_sparsity``, of
   the group's channels in total (``kept_count``, with ``round_to``);
3. at least ``round_to`` (or 1) filters stay, and with ``round_to`` the kept
   count is rounded *up* to a multiple of it, so a filter outside the cut
   is never pruned;
4. the filters pruned are those of the cut with the lowest scores.

Pruning stops for good (a flag saved with the model) when the model's
FLOPs after slimming (:func:`tfprune.metrics.count_flops` with
``effective=True``) reach ``target_flops`` -- the last step is trimmed, by
bisection on a common fraction of every group's cut, so that it does not
overshoot much -- or, with ``stop_when_empty``, when no group has a filter
in the cut at a pruning step.

**Budget fallback (a departure from the paper).** With
``tfprune.prune(..., target=...)`` the budget replaces ``target_flops``. The
alpha-cut alone can stall above it: late in pruning the cut holds a few
filters per group and ``round_to`` rounds every kept count back up, or the
cut is empty. So when the model is still above its budget and either the
schedule fires for the last time (an ``end_step >= 0``) or no group can
prune a filter at a step, the shared budget allocation
(:meth:`tfprune.Pruner.allocate_budget`, uniform, global or from
sensitivity) sets the kept counts, the filters with the lowest fuzzy scores
going first, and pruning stops; :meth:`FuzzyPruning.fell_back` tells (saved
with the model). While the cut makes progress, and without a budget, the rule
above is unchanged (docs/budgets.md#fuzzy-fallback).

Every pruning step is recorded per group (kept before, ``|I|``, ``|U|``,
``|P|``, pruned, kept after) in non-trainable variables of the group's
wrapper, so the history survives ``.keras`` save/load; see
:meth:`FuzzyPruning.report` and :meth:`FuzzyPruning.epoch_logs` (the scalars
:class:`tfprune.UpdatePruning` adds to the epoch logs, which
``keras.callbacks.TensorBoard`` writes).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from tfprune import errors, metrics, selection
from tfprune import schedules as schedules_lib
from tfprune.criteria import fuzzy as fz
from tfprune.methods.base import PruningMethod, kept_count
from tfprune.methods.magnitude import MagnitudePruning

if TYPE_CHECKING:
    from tfprune.graph import ChannelGroup
    from tfprune.pruner import Pruner

#: Columns of a history record.
FIELDS = ("step", "kept_before", "important", "unimportant", "cut", "pruned", "kept_after")
_HISTORY = "fuzzy_history"
_STOPPED = "fuzzy_stopped"
#: Values of the stop flag: stopped by the rule (target reached, empty cut),
#: or the budget met by :meth:`FuzzyPruning._fall_back`.
_STOPPED_BY_RULE, _STOPPED_BY_FALLBACK = 1.0, 2.0


def _owned_groups(wrapper) -> list[str]:
    return sorted(wrapper.spec.get("schedules", {}))


@keras.saving.register_keras_serializable(package="tfprune")
class FuzzyPruning(PruningMethod):
    """Fuzzy filter pruning (Zhao et al. 2019, reconstructed): an alpha-cut decides the count.

    See the module docstring for what is reconstructed and the exact rule.

    Args:
        alpha: alpha-cut level of the non-importance membership ``mu_U``.
        alpha_importance: alpha-cut level of the importance membership
            ``mu_I``; filters with ``mu_I >= alpha_importance`` are never
            pruned.
        memberships: ``"ramp"`` (default), ``"gaussian"`` or ``"sigmoid"``
            (both memberships of that shape, placed by ``breakpoints``), or
            a pair ``(mu_I, mu_U)`` / a dict ``{"importance": mu_I,
            "non_importance": mu_U}`` of
            :class:`tfprune.criteria.fuzzy.Membership` objects.
        breakpoints: ``(a, b)`` on normalised scores for a named shape, or
            ``"quantile"`` for ``(Q_0.25, Q_0.75)`` of the kept filters'
            scores. Ignored when ``memberships`` are objects.
        max_step_fraction: largest fraction of a group's kept filters pruned
            at one step (``r_max`` of the reconstruction), in ``(0, 1]``.
        max_sparsity: largest fraction of each group's channels pruned in
            total, in ``[0, 1)``, on top of the schedule's sparsity (also an
            upper bound); None: the schedule's only.
        target_flops: stop when the FLOPs (MACs) after slimming reach this:
            a fraction of the dense model's FLOPs (a number in ``(0, 1]``)
            or an absolute count (a number ``> 1``); None: no target.
        stop_when_empty: stop for good at the first pruning step where no
            group has a filter in the cut.
        normalization: ``"max"`` (the default: ``s / max s``) or
            ``"minmax"`` (``(s - min s) / (max s - min s)``, a choice of this
            library: it spreads the scores of a trained layer, whose filter
            norms are often all within a factor 1.5 of each other, over
            ``[0, 1]``, so that fixed breakpoints see the *shape* of the
            distribution), over the group's kept filters.
        ord: 1 (L1 score, the default) or 2.
        history_size: pruning steps recorded per group (the last ones).
    """

    # The cut decides each step, so there is no one-shot path. With
    # ``prune(..., target=...)`` the target replaces ``target_flops``.
    supports_one_shot = False

    def __init__(
        self,
        alpha: float = 0.9,
        alpha_importance: float = 0.1,
        memberships: Any = "ramp",
        breakpoints: Any = (0.1, 0.5),
        max_step_fraction: float = 0.5,
        max_sparsity: float | None = None,
        target_flops: float | None = None,
        stop_when_empty: bool = True,
        normalization: str = "max",
        ord: int = 1,
        history_size: int = 64,
    ):
        self.alpha = _unit("alpha", alpha)
        self.alpha_importance = _unit("alpha_importance", alpha_importance)
        self.breakpoints = _check_breakpoints(breakpoints)
        self.importance, self.non_importance = _memberships(memberships, self.breakpoints)
        self.max_step_fraction = _unit("max_step_fraction", max_step_fraction)
        if self.max_step_fraction == 0.0:
            msg = "Argument `max_step_fraction` must be > 0 (else nothing is ever pruned). Received: 0."
            raise errors.PruningArgumentError(msg)
        if max_sparsity is not None:
            max_sparsity = _unit("max_sparsity", max_sparsity)
            if max_sparsity >= 1.0:
                msg = f"Argument `max_sparsity` must be < 1. Received: max_sparsity={max_sparsity}."
                raise errors.PruningArgumentError(msg)
        self.max_sparsity = max_sparsity
        if target_flops is not None and (
            isinstance(target_flops, bool) or not isinstance(target_flops, numbers.Real) or not target_flops > 0
        ):
            msg = (
                "Argument `target_flops` must be None, a fraction of the dense FLOPs in (0, 1] "
                f"or an absolute FLOPs (MACs) count > 1. Received: target_flops={target_flops!r}."
            )
            raise errors.PruningArgumentError(msg)
        self.target_flops = None if target_flops is None else float(target_flops)
        if not isinstance(stop_when_empty, bool):
            msg = f"Argument `stop_when_empty` must be True or False. Received: {stop_when_empty!r}."
            raise errors.PruningArgumentError(msg)
        self.stop_when_empty = stop_when_empty
        if normalization not in ("max", "minmax"):
            msg = f'Argument `normalization` must be "max" or "minmax". Received: {normalization!r}.'
            raise errors.PruningArgumentError(msg)
        self.normalization = normalization
        self._magnitude = MagnitudePruning(ord)
        self.ord = ord
        if isinstance(history_size, bool) or not isinstance(history_size, numbers.Integral) or history_size < 1:
            msg = f"Argument `history_size` must be an integer >= 1. Received: history_size={history_size!r}."
            raise errors.PruningArgumentError(msg)
        self.history_size = int(history_size)
        self._dense_flops: dict[int, int] = {}
        self._last: dict[str, dict[str, int]] = {}

    # Pure selection ----------------------------------------------------------
    def memberships_of(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mu_I, mu_U)`` of normalised scores."""
        return self.importance(scores), self.non_importance(scores)

    def cut(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        """The fuzzy sets of normalised scores, as boolean masks.

        Returns:
            ``{"important": mu_I >= alpha_importance, "unimportant":
            mu_U >= alpha, "cut": unimportant and not important}``.
        """
        mu_i, mu_u = self.memberships_of(scores)
        important = fz.alpha_cut(mu_i, self.alpha_importance)
        unimportant = fz.alpha_cut(mu_u, self.alpha)
        return {"important": important, "unimportant": unimportant, "cut": unimportant & ~important}

    def normalise(self, scores: np.ndarray) -> np.ndarray:
        """Scores in ``[0, 1]``: ``s / max s`` or ``(s - min s) / (max s - min s)``.

        All ones (nothing unimportant) when the scores cannot be normalised
        (a maximum of 0, or all equal with ``"minmax"``).
        """
        scores = np.asarray(scores, dtype=np.float64)
        if scores.size == 0:
            return scores
        low = scores.min() if self.normalization == "minmax" else 0.0
        span = scores.max() - low
        return (scores - low) / span if span > 0 else np.ones_like(scores)

    def limit(
        self, num_channels: int, kept: int, in_cut: int, sparsity: float, round_to: int | None
    ) -> int:
        """How many of ``in_cut`` filters in the cut may be pruned now (safety limits 1-3)."""
        floor_total = kept_count(num_channels, sparsity, round_to)
        floor_step = max(1, math.ceil((1.0 - self.max_step_fraction) * kept - 1e-9))
        floor = max(floor_total, floor_step, round_to or 1)
        n = min(in_cut, max(0, kept - floor))
        return kept - _round_up(kept - n, kept, round_to)

    # PruningMethod ------------------------------------------------------------
    def scores(self, pruner: Pruner, group: ChannelGroup) -> np.ndarray:
        """L1 (or L2) magnitude scores, as :class:`MagnitudePruning`."""
        return self._magnitude.scores(pruner, group)

    def default_schedule(self, sparsity: float | None = None) -> schedules_lib.PruningSchedule:
        """Used when ``prune`` gets neither ``sparsity`` nor ``schedule``: every 100 steps.

        With ``sparsity=s``, the base class's schedule (``s`` is then a cap).
        """
        if sparsity is not None:
            return super().default_schedule(sparsity)
        cap = 0.9 if self.max_sparsity is None else self.max_sparsity
        return schedules_lib.IntervalSchedule(begin_step=0, end_step=-1, frequency=100, max_sparsity=cap)

    def state_spec(self, wrapper):
        owned = _owned_groups(wrapper)
        if not owned:
            return {}
        return {
            _HISTORY: ((len(owned), self.history_size, len(FIELDS)), "float32", "zeros"),
            _STOPPED: ((1,), "float32", "zeros"),
        }

    def decide(self, pruner: Pruner, group: ChannelGroup, sparsity: float) -> tuple[dict[str, int], np.ndarray]:
        """The cut of ``group`` now: its counts and the local units to prune, in order."""
        keep = pruner.group_keep(group)
        kept = np.flatnonzero(keep)
        s = self.normalise(self.scores(pruner, group)[kept])
        sets = self.cut(s)
        in_cut = kept[sets["cut"]]
        order = in_cut[np.argsort(s[sets["cut"]], kind="stable")]
        if pruner.budget is not None:  # the budget, not the schedule, bounds the total
            sparsity = 1.0
        cap = sparsity if self.max_sparsity is None else min(sparsity, self.max_sparsity)
        n = self.limit(group.num_channels, len(kept), len(order), cap, pruner.round_to)
        if pruner.max_group_sparsity is not None:  # the budget's per-group floor
            floor = selection.default_floor(group.num_channels, pruner.round_to, pruner.max_group_sparsity)
            n = min(n, max(0, len(kept) - floor))
        record = {
            "kept_before": len(kept),
            "important": int(sets["important"].sum()),
            "unimportant": int(sets["unimportant"].sum()),
            "cut": len(order),
            "pruned": n,
        }
        return record, order

    def num_to_prune(self, pruner: Pruner, group: ChannelGroup, sparsity: float) -> int:
        """Units of ``group`` pruned in total after the cut at ``sparsity`` (before a FLOPs trim)."""
        record, _ = self.decide(pruner, group, sparsity)
        return group.num_channels - record["kept_before"] + record["pruned"]

    def update(self, pruner: Pruner, step: int) -> None:
        fired = []
        for group in pruner.active_groups:
            should_prune, sparsity = pruner.schedule_of(group)(step)
            if should_prune:
                fired.append((group, float(sparsity)))
        if not fired or self.stopped(pruner):
            return
        target = self._target(pruner)
        if target is not None and self._cost(pruner) <= target:
            self._set_stopped(pruner)
            return
        decisions = [(group, *self.decide(pruner, group, sparsity)) for group, sparsity in fired]
        stalled = all(record["pruned"] == 0 for _, record, _ in decisions)
        if self.stop_when_empty and all(record["cut"] == 0 for _, record, _ in decisions):
            self._set_stopped(pruner)
        before = {group.id: pruner.group_keep(group) for group, _, _ in decisions}

        def apply(fraction: float) -> None:
            for group, record, order in decisions:
                keep = before[group.id].copy()
                n = record["pruned"]
                if fraction < 1.0:
                    kept = record["kept_before"]
                    n = kept - _round_up(kept - int(math.floor(fraction * n)), kept, pruner.round_to)
                keep[order[:n]] = False
                pruner.set_group_keep(group, keep)

        if any(record["pruned"] for _, record, _ in decisions):
            apply(1.0)
            if target is not None and self._cost(pruner) <= target:
                low, high = 0.0, 1.0  # cost(low) > target >= cost(high)
                for _ in range(8):
                    mid = 0.5 * (low + high)
                    apply(mid)
                    if self._cost(pruner) <= target:
                        high = mid
                    else:
                        low = mid
                apply(high)
                if pruner.budget is not None:
                    self._fill_to_budget(pruner, decisions, before, target)
                self._set_stopped(pruner)
        if (
            pruner.budget is not None
            and self._cost(pruner) > target
            and (stalled or _last_pruning_step(pruner.schedule_of(fired[0][0]), step))
        ):
            self._fall_back(pruner)
        for group, record, _ in decisions:
            keep = pruner.group_keep(group)
            record["pruned"] = int(before[group.id].sum() - keep.sum())
            record["kept_after"] = int(keep.sum())
            record["step"] = int(step)
            self._record(pruner, group, record)

    # Stop flag, history, report ----------------------------------------------
    def _owners(self, pruner: Pruner):
        return {id(w): w for w in (pruner.owner(g) for g in pruner.active_groups)}.values()

    def stopped(self, pruner: Pruner) -> bool:
        """Whether pruning has stopped for good (FLOPs target or empty cut)."""
        return any(
            float(keras.ops.convert_to_numpy(w.state[_STOPPED])[0]) > 0.5
            for w in self._owners(pruner)
            if _STOPPED in w.state
        )

    def _set_stopped(self, pruner: Pruner, value: float = _STOPPED_BY_RULE) -> None:
        for wrapper in self._owners(pruner):
            if _STOPPED in wrapper.state:
                wrapper.state[_STOPPED].assign(np.full((1,), value, np.float32))

    def fell_back(self, model_or_pruner: Any) -> bool:
        """Whether the budget was met by the shared allocation because the
        alpha-cut stalled (see :meth:`_fall_back`); takes the pruned model."""
        pruner = _as_pruner(model_or_pruner)
        return any(
            float(keras.ops.convert_to_numpy(w.state[_STOPPED])[0]) > 1.5
            for w in self._owners(pruner)
            if _STOPPED in w.state
        )

    def _fall_back(self, pruner: Pruner) -> None:
        """Meet the budget with the shared allocation, then stop for good.

        Called with a budget (``prune(..., target=...)``) when the model is
        still above it and either the schedule fires for the last time or
        the cut stalled (no group can prune a filter: the cut is empty, or
        ``round_to`` rounds every group's kept count back up). The alpha-cut
        alone would stop there above the target; instead
        :meth:`tfprune.Pruner.allocate_budget` (uniform, global or
        sensitivity allocation, as ``prune`` was asked) chooses each group's
        kept count, and within a group the filters with the lowest fuzzy
        scores (the L1 magnitudes the memberships are built on) go first;
        filters already pruned stay pruned. This departs from the paper
        (docs/budgets.md#fuzzy-fallback).
        """
        allocation = pruner.allocate_budget(self, 1.0, strict=False)
        for group in pruner.active_groups:
            pruner.set_group_keep(group, allocation.keep[group.id])
        self._set_stopped(pruner, _STOPPED_BY_FALLBACK)

    def _fill_to_budget(self, pruner: Pruner, decisions, before, target: float) -> None:
        """Give back, one rounding step at a time, the filters of the last cut
        that the budget still affords (the most important of them first), so
        the final cost lands just under the target rather than a trim step
        below it (:func:`tfprune.selection.refine`)."""
        candidates, counts = [], {}
        for group, _, order in decisions:
            keep_now = pruner.group_keep(group)
            scores = np.full(group.num_channels, np.inf)
            scores[order] = np.arange(len(order), dtype=np.float64)  # later in the cut = more important
            scores[keep_now] = np.inf
            candidates.append(
                selection.Candidate(
                    key=group.id,
                    units=np.asarray(group.units, dtype=np.int64),
                    scores=scores,
                    keep=before[group.id],
                    round_to=pruner.round_to,
                    floor=int(keep_now.sum()),
                )
            )
            counts[group.id] = int(keep_now.sum())
        metric = pruner.budget["target"].metric
        result = selection.refine(
            candidates, counts, lambda keep: pruner.cost_model.cost(metric, keep), target,
            base_keep=pruner.keep, tolerance=float("inf"),
        )
        for group, _, _ in decisions:
            pruner.set_group_keep(group, result.keep[group.id])

    def _cost(self, pruner: Pruner) -> float:
        """The cost the target is about: the budget's metric, or effective FLOPs."""
        if pruner.budget is not None:
            return pruner.budget_status()[0]
        return pruner.effective_flops()

    def _target(self, pruner: Pruner) -> float | None:
        if pruner.budget is not None:
            return pruner.budget_status()[1]
        if self.target_flops is None:
            return None
        if self.target_flops > 1.0:
            return self.target_flops
        key = id(pruner.model)
        if key not in self._dense_flops:
            self._dense_flops[key] = metrics.count_flops(pruner.model)
        return self.target_flops * self._dense_flops[key]

    def _record(self, pruner: Pruner, group: ChannelGroup, record: dict[str, int]) -> None:
        self._last[group.id] = dict(record)
        wrapper = pruner.owner(group)
        if _HISTORY not in wrapper.state:
            return
        index = _owned_groups(wrapper).index(group.id)
        history = np.array(keras.ops.convert_to_numpy(wrapper.state[_HISTORY]))
        rows = history[index]
        free = np.flatnonzero(rows[:, 1] == 0)  # kept_before is >= 1 in a used row
        if free.size:
            slot = int(free[0])
        else:
            rows[:-1] = rows[1:]
            slot = len(rows) - 1
        rows[slot] = [record[f] for f in FIELDS]
        wrapper.state[_HISTORY].assign(history)

    def report(self, model_or_pruner: Any) -> list[dict[str, Any]]:
        """Every recorded pruning step: one dict per group and step.

        Keys: ``group`` and :data:`FIELDS` (``step``, ``kept_before``,
        ``important`` = ``|{mu_I >= alpha_importance}|``, ``unimportant`` =
        ``|{mu_U >= alpha}|``, ``cut`` = ``|P|``, ``pruned``, ``kept_after``),
        counted over the filters kept before the step. Sorted by step, then
        group.
        """
        pruner = _as_pruner(model_or_pruner)
        rows = []
        for wrapper in self._owners(pruner):
            if _HISTORY not in wrapper.state:
                continue
            history = np.asarray(keras.ops.convert_to_numpy(wrapper.state[_HISTORY]))
            for index, group_id in enumerate(_owned_groups(wrapper)):
                for values in history[index]:
                    if values[1] > 0:
                        rows.append({"group": group_id, **{f: int(v) for f, v in zip(FIELDS, values)}})
        return sorted(rows, key=lambda r: (r["step"], r["group"]))

    @staticmethod
    def format_report(rows: Sequence[Mapping[str, Any]]) -> str:
        """A Markdown table of :meth:`report` rows."""
        lines = [
            "| step | group | kept before | important | unimportant | in cut | pruned | kept after |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['step']} | {r['group']} | {r['kept_before']} | {r['important']} | "
                f"{r['unimportant']} | {r['cut']} | {r['pruned']} | {r['kept_after']} |"
            )
        return "\n".join(lines) + "\n"

    def epoch_logs(self, pruner: Pruner) -> dict[str, float]:
        """Scalars of the last pruning step of each group (for TensorBoard).

        ``fuzzy/<group>/{important,unimportant,cut,kept}`` plus
        ``fuzzy/stopped``.
        """
        last = {}
        for row in self.report(pruner):
            last[row["group"]] = row
        logs: dict[str, float] = {}
        for group_id, row in last.items():
            for field in ("important", "unimportant", "cut"):
                logs[f"fuzzy/{group_id}/{field}"] = float(row[field])
            logs[f"fuzzy/{group_id}/kept"] = float(row["kept_after"])
        logs["fuzzy/stopped"] = float(self.stopped(pruner))
        logs["fuzzy/fallback"] = float(self.fell_back(pruner))
        return logs

    # Config ---------------------------------------------------------------------
    def get_config(self):
        return {
            "alpha": self.alpha,
            "alpha_importance": self.alpha_importance,
            "memberships": {
                "importance": keras.saving.serialize_keras_object(self.importance),
                "non_importance": keras.saving.serialize_keras_object(self.non_importance),
            },
            "breakpoints": list(self.breakpoints) if isinstance(self.breakpoints, tuple) else self.breakpoints,
            "max_step_fraction": self.max_step_fraction,
            "max_sparsity": self.max_sparsity,
            "target_flops": self.target_flops,
            "stop_when_empty": self.stop_when_empty,
            "normalization": self.normalization,
            "ord": self.ord,
            "history_size": self.history_size,
        }


def _unit(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        msg = f"Argument `{name}` must be a number in [0, 1]. Received: {name}={value!r}."
        raise errors.PruningArgumentError(msg)
    return float(value)


def _as_pruner(model_or_pruner: Any):
    from tfprune.methods.view import MethodView
    from tfprune.pruner import Pruner

    if isinstance(model_or_pruner, (Pruner, MethodView)):
        return model_or_pruner
    return Pruner(model_or_pruner)


def _last_pruning_step(schedule, step: int) -> bool:
    """Whether ``schedule``, firing at ``step``, never fires again.

    Known only for a schedule with an ``end_step >= 0`` and a ``frequency``
    (``IntervalSchedule``, ``ConstantSparsity``, ``PolynomialDecay``); an
    open-ended one (``end_step=-1``) has no last step.
    """
    config = schedule.get_config()
    end, frequency = config.get("end_step"), config.get("frequency")
    if end is None or frequency is None or int(end) < 0:
        return False
    return int(step) + int(frequency) > int(end)


def _round_up(keep: int, kept: int, round_to: int | None) -> int:
    """``keep`` rounded up to a multiple of ``round_to``, at most ``kept``."""
    if round_to and round_to > 1:
        keep = int(math.ceil(keep / round_to)) * round_to
    return min(keep, kept)


def _check_breakpoints(value: Any) -> tuple[float, float] | str:
    if isinstance(value, str):
        if value != "quantile":
            msg = f'Argument `breakpoints` must be a pair (a, b) or "quantile". Received: {value!r}.'
            raise errors.PruningArgumentError(msg)
        return value
    if (
        not isinstance(value, Sequence)
        or len(value) != 2
        or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
        or not value[0] < value[1]
    ):
        msg = (
            "Argument `breakpoints` must be a pair (a, b) of numbers with a < b "
            f'(normalised scores, e.g. (0.1, 0.5)) or "quantile". Received: breakpoints={value!r}.'
        )
        raise errors.PruningArgumentError(msg)
    return (float(value[0]), float(value[1]))


def _memberships(value: Any, breakpoints: tuple[float, float] | str) -> tuple[fz.Membership, fz.Membership]:
    if isinstance(value, str):
        shape = fz.SHAPES.get(value.lower())
        if shape is None:
            msg = (
                f"Argument `memberships` must be one of {sorted(fz.SHAPES)}, a pair "
                f"(mu_I, mu_U) of tfprune.criteria.fuzzy.Membership objects, or a dict "
                f'{{"importance": ..., "non_importance": ...}}. Received: {value!r}.'
            )
            raise errors.PruningArgumentError(msg)
        quantiles = breakpoints == "quantile"
        a, b = (0.25, 0.75) if quantiles else breakpoints
        return shape(a, b, increasing=True, quantiles=quantiles), shape(a, b, increasing=False, quantiles=quantiles)
    if isinstance(value, Mapping) and set(value) == {"importance", "non_importance"}:
        value = (value["importance"], value["non_importance"])
    if isinstance(value, Sequence) and len(value) == 2:
        try:
            return fz.get_membership(value[0]), fz.get_membership(value[1])
        except (TypeError, ValueError) as exc:
            msg = f"Argument `memberships`: {exc}"
            raise errors.PruningArgumentError(msg) from exc
    msg = (
        f"Argument `memberships` must be one of {sorted(fz.SHAPES)}, a pair (mu_I, mu_U) of "
        'Membership objects, or a dict {"importance": ..., "non_importance": ...}. '
        f"Received: {value!r}."
    )
    raise errors.PruningArgumentError(msg)
