"""``Pruner``: the one pruning state of a wrapped model.

It joins the channel graph, the wrappers' masks and the method. There is one
per model: ``Pruner(model)`` builds it from one trace the first time and
returns the same object afterwards (re-reading the masks from the model's
variables), so the callback, ``one_shot``, ``slim``, ``make_plan`` and the
reports share one graph, one cost model and one method object
(docs/design.md#one-state). It is rebuilt from the wrapped model alone (the
wrappers' ``spec`` carries the method, the schedules, the exclusions and
``round_to``), so a model loaded from a ``.keras`` file resumes pruning
exactly where it stopped.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np

from tfprune import _validation, errors, selection
from tfprune import schedules as schedules_lib
from tfprune.graph import ChannelGraph, ChannelGroup
from tfprune.layers import PruningWrapper, find_wrappers


#: Attribute of a wrapped model holding ``(wrapper ids, Pruner)``.
_STATE_ATTR = "_tfprune_pruning_state"


def _model_spec(model: keras.Model, wrappers: list[PruningWrapper]) -> tuple[dict, PruningWrapper]:
    """The model-wide spec, held by exactly one wrapper (the first made by prune)."""
    holders = [w for w in wrappers if w.holds_model_spec]
    if len(holders) != 1:
        msg = (
            f"Model `{model.name}` has {len(holders)} PruningWrapper layers holding a "
            "pruning method, expected exactly 1: it was not made by one "
            "tfprune.prune call (wrapped models cannot be mixed or nested). Prune the "
            "original model once with tfprune.prune."
        )
        raise errors.PruningArgumentError(msg)
    return holders[0].spec, holders[0]


class Pruner:
    """The pruning state of a wrapped model.

    Attributes:
        model: the wrapped model.
        graph: its :class:`~tfprune.graph.ChannelGraph`.
        method: the :class:`~tfprune.methods.PruningMethod` in use.
        active_groups: groups that have a schedule (the others are kept).
        round_to: keep channel counts at multiples of this (or None).
    """

    def __new__(cls, model: keras.Model):
        wrappers = find_wrappers(model) if isinstance(model, keras.Model) else []
        if not wrappers:
            name = getattr(model, "name", type(model).__name__)
            msg = (
                f"Model `{name}` has no PruningWrapper layers, so there is "
                "nothing to prune. Create the pruned model with "
                "`tfprune.prune(model, ...)` and train that one."
            )
            raise errors.PruningArgumentError(msg)
        signature = tuple(id(w) for w in wrappers)
        cached = getattr(model, _STATE_ATTR, None)
        if cached is not None and cached[0] == signature and type(cached[1]) is cls:
            return cached[1]
        self = super().__new__(cls)
        self._initialized = False
        self._wrappers = wrappers
        object.__setattr__(model, _STATE_ATTR, (signature, self))
        return self

    def __init__(self, model: keras.Model):
        if self._initialized:
            self.sync()
            return
        self._initialized = True
        wrappers = self._wrappers
        spec, holder = _model_spec(model, wrappers)
        self.model = model
        self._holder = holder
        self.exclude = list(spec.get("exclude", []))
        self.round_to = spec.get("round_to")
        self.granularity = spec.get("granularity", "filter")
        self.seed = spec.get("seed")
        budget = spec.get("budget")
        #: ``{"target": Target, "allocation", "normalize", "tolerance", "max_group_sparsity"}`` or None.
        self.budget = None if budget is None else {**budget, "target": selection.Target.from_config(budget["target"])}
        #: The largest fraction of its channels a group may lose to a budget (None: no limit).
        self.max_group_sparsity = None if budget is None else budget.get("max_group_sparsity")
        self._cost_model = None
        self._applied_progress = None
        self._budget_cache: dict = {}
        self._allocation_cache = None
        self._run_states: dict[int, object] = {}
        #: The one method object of the model (the wrappers read it from here).
        self.method = holder.method
        self.graph = ChannelGraph.build(model, exclude=self.exclude)
        self.entries = [
            e for e in self.graph.layers.values() if isinstance(e.layer, PruningWrapper)
        ]
        self._entry_by_path = {e.path: e for e in self.graph.layers.values()}
        self._schedules: dict[str, schedules_lib.PruningSchedule] = {}
        self._kernel_schedules: dict[str, schedules_lib.PruningSchedule] = {}
        for entry in self.entries:
            for group_id, config in entry.layer.spec.get("schedules", {}).items():
                self._schedules[group_id] = schedules_lib.deserialize(config)
            if "kernel_schedule" in entry.layer.spec:
                self._kernel_schedules[entry.path] = schedules_lib.deserialize(entry.layer.spec["kernel_schedule"])
            entry.layer._pruning_state = self
        self.active_groups: list[ChannelGroup] = [
            g for g in self.graph.groups if g.id in self._schedules
        ]
        #: Wrappers with a ``kernel_mask`` (column/weight granularity), by path.
        self.kernel_entries = [e for e in self.entries if e.layer.kernel_mask is not None]
        self._local = np.full(self.graph.num_units, -1, dtype=np.int64)
        for group in self.graph.groups:
            self._local[np.array(group.units, dtype=np.int64)] = np.arange(group.num_channels)
        self.keep = np.ones(self.graph.num_units, dtype=bool)
        self._view = None
        self._method_ready = False
        self._read_masks()

    def sync(self) -> None:
        """Re-read the keep flags from the masks and drop per-run caches.

        ``Pruner(model)`` calls it when it returns the model's existing state:
        the variables may have changed since (``load_weights``,
        ``BackupAndRestore``, a user's assignment).
        """
        self.keep[:] = True
        self._read_masks()
        self._applied_progress = None
        self._budget_cache = {}
        self._run_states = {}
        self._method_ready = False

    # State <-> masks --------------------------------------------------------
    # ``self.keep`` and ``self._kernel_keep`` are the working copy a method
    # edits; the mask variables are the committed state, written by
    # :meth:`write_masks` (the driver calls it after the method's update).
    def _read_masks(self) -> None:
        self._written = {}
        for entry in self.entries:
            wrapper = entry.layer
            for variable, layout in (
                (wrapper.input_mask, entry.input_layout),
                (wrapper.output_mask, entry.output_layout),
            ):
                if variable is None or layout is None:
                    continue
                mask = np.asarray(keras.ops.convert_to_numpy(variable))
                self._written[id(variable)] = mask.astype("float32")
                self.keep[self.graph.units(layout)[mask < 0.5]] = False
        self._kernel_keep = {}
        for entry in self.kernel_entries:
            mask = np.asarray(keras.ops.convert_to_numpy(entry.layer.kernel_mask)).astype("float32")
            self._written[id(entry.layer.kernel_mask)] = mask
            self._kernel_keep[entry.path] = mask > 0.5
        self._remember_committed()

    def _remember_committed(self) -> None:
        self._committed = (self.keep.copy(), {path: k.copy() for path, k in self._kernel_keep.items()})

    def _unchanged_since_commit(self) -> bool:
        """Whether the keep flags equal the masks last read or written (O(units))."""
        keep, kernel_keep = self._committed
        return np.array_equal(keep, self.keep) and all(
            np.array_equal(kernel_keep[path], k) for path, k in self._kernel_keep.items()
        )

    def masks_for(self, entry) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The (input, output) masks of a wrapper entry under ``self.keep``."""
        wrapper = entry.layer
        mask_in = self.graph.keep_mask(self.keep, entry.input_layout) if wrapper.input_mask is not None else None
        mask_out = self.graph.keep_mask(self.keep, entry.output_layout) if wrapper.output_mask is not None else None
        return mask_in, mask_out

    def layer_masks(self, layer_path: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The (input, output) masks of a wrapped layer under the working keep flags."""
        entry = self._entry_by_path[layer_path]
        return self.masks_for(entry) if isinstance(entry.layer, PruningWrapper) else (None, None)

    def write_masks(self) -> int:
        """Commit the keep flags: assign the masks they imply to every wrapper.

        Only masks that differ from what was last read or written are
        assigned, so a step on which the method changed nothing costs no
        variable write (nor mask computation: a step of a finished
        schedule costs one comparison of the keep flags). Returns the number
        of variables assigned.
        """
        if self._unchanged_since_commit():
            return 0
        pending = []
        for entry in self.entries:
            for variable, mask in zip((entry.layer.input_mask, entry.layer.output_mask), self.masks_for(entry)):
                if mask is not None:
                    pending.append((variable, mask))
        for entry in self.kernel_entries:
            pending.append((entry.layer.kernel_mask, self._kernel_keep[entry.path].astype("float32")))
        written = 0
        for variable, mask in pending:
            last = self._written.get(id(variable))
            if last is not None and np.array_equal(last, mask):
                continue
            variable.assign(mask)
            self._written[id(variable)] = mask
            written += 1
        self._remember_committed()
        return written

    # Group helpers for methods ---------------------------------------------
    def schedule_of(self, group: ChannelGroup) -> schedules_lib.PruningSchedule:
        """The schedule that drives ``group``."""
        return self._schedules[group.id]

    def owner(self, group: ChannelGroup) -> PruningWrapper:
        """The wrapper whose ``spec`` holds the group's schedule (its first producer)."""
        return self._entry_by_path[group.owner].layer

    def group_keep(self, group: ChannelGroup) -> np.ndarray:
        """Copy of the keep flags of the group's units (local order)."""
        return self.keep[np.array(group.units, dtype=np.int64)].copy()

    def set_keep(self, keep: np.ndarray) -> None:
        """Set the keep flags of every unit at once (call write_masks after)."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != self.keep.shape:
            msg = f"Internal: keep flags of shape {keep.shape}, expected {self.keep.shape}."
            raise ValueError(msg)
        self.keep[:] = keep

    def run_state(self, method, build):
        """Per-run working state of ``method`` (built once by ``build()``).

        For what a method recomputes from its Keras variables when training
        starts (SPP's probabilities as NumPy); what must survive a save stays
        in the wrappers' variables.
        """
        key = id(method)
        if key not in self._run_states:
            self._run_states[key] = build()
        return self._run_states[key]

    def set_group_keep(self, group: ChannelGroup, keep: np.ndarray) -> None:
        """Set the keep flags of the group's units (call write_masks after)."""
        self.keep[np.array(group.units, dtype=np.int64)] = keep

    # Budgets -----------------------------------------------------------------
    @property
    def cost_model(self):
        """FLOPs/params of the slim model for any keep vector (built once)."""
        if self._cost_model is None:
            from tfprune.metrics.cost import CostModel

            target = None if self.budget is None else self.budget["target"]
            references = () if self.budget is None else self.budget.get("latency_references", ())
            self._cost_model = CostModel.build(self.model, self.graph, target=target, round_to=self.round_to,
                                               latency_references=references)
        return self._cost_model

    def correct_latency_model(self, method, rounds: int = 3) -> list[dict[str, float]]:
        """Time the models a latency budget allocates and refit the latency model through them.

        The lookup table's sum of layer times is mapped to milliseconds
        through two measured whole models, the dense one and one with every
        group at half width; a target far from half width, or an
        allocation shaped unlike the uniform half-width model, is then read
        off a line drawn far from it. NetAdapt (Yang et al., ECCV 2018,
        Section 3.2) measures every proposal it considers; this measures a
        few: the allocation at the target (with the method's current
        scores) is slimmed, exported and timed, added to the measured
        models the prediction goes through
        (:meth:`tfprune.latency.LatencyModel.calibrate`), and the target is
        allocated again, up to ``rounds`` times, until the measured model is
        within the budget's tolerance of its prediction (or the allocation
        no longer changes). The final allocation is then read between
        measurements next to it; when the last model timed is still off
        its prediction by more than the tolerance, a
        :class:`tfprune.errors.BudgetWarning` gives both. ``prune`` calls this for every latency
        target. The references' kept counts are saved in the model's
        pruning spec, so a reloaded model rebuilds the same prediction
        (from the table's cache, without timing again).

        Returns:
            One ``{"predicted_ms", "measured_ms"}`` per model timed: the
            fit's prediction before it was redrawn, and the measurement.
        """
        from tfprune.latency.model import counts_of_keep

        if self.budget is None or not self.budget["target"].is_latency:
            msg = "correct_latency_model needs a model pruned with a latency target (target={'latency': r})."
            raise errors.PruningArgumentError(msg)
        latency = self.cost_model.latency
        tolerance_ms = self.budget["tolerance"] * latency.dense_ms
        steps, counts, off = [], None, False
        for _ in range(rounds):
            allocation = self.allocate_budget(method, 1.0)
            keep = self.keep.copy()
            for group in self.active_groups:
                keep[np.array(group.units, dtype=np.int64)] = allocation.keep[group.id]
            measured_counts, counts = counts, counts_of_keep(self.graph, keep)
            if keep.all() or counts == measured_counts:
                break  # nothing cut, or the model already measured
            predicted = latency.predict(keep)
            measured = latency.measure_and_calibrate(self.model, self.graph, keep)
            steps.append({"predicted_ms": float(predicted), "measured_ms": measured})
            references = [*self.budget.get("latency_references", ()), counts]
            self.budget["latency_references"] = references
            self._holder.spec["budget"] = {**self._holder.spec["budget"], "latency_references": references}
            self._allocation_cache = None
            self._budget_cache = {}
            off = abs(measured - predicted) > tolerance_ms
            if not off:
                break
        if off:
            # The allocation kept is read between timings that disagree with the table.
            warnings.warn(
                f"The latency target was allocated {len(steps)} times and each allocation timed; the last ran "
                f"at {measured / latency.dense_ms:.3f} of the dense model where {predicted / latency.dense_ms:.3f} "
                f"was predicted (tolerance {self.budget['tolerance']}). The allocation kept is fitted through these "
                "timings and may miss the target by as much: time it with `tfprune.compare_latency` after "
                "`tfprune.slim`, or prune to a slightly lower target.",
                errors.BudgetWarning,
                stacklevel=3,
            )
        return steps

    @staticmethod
    def final_sparsity(schedule) -> float:
        """The sparsity a schedule ends at (its largest, for ADMM-style lists)."""
        config = schedule.get_config()
        for key in ("final_sparsity", "target_sparsity", "max_sparsity"):
            value = config.get(key)
            if value is not None:
                return float(max(value) if isinstance(value, (list, tuple)) else value)
        return float(schedule(10**12)[1])

    def budget_progress(self, step: int) -> float | None:
        """Fraction of the way to the budget at ``step``, or None if no update.

        With ``target=`` every group shares one schedule; its sparsity is read
        as progress, ``s(step) / s_final`` (docs/budgets.md).
        """
        if not self.active_groups:
            return None
        schedule = self.schedule_of(self.active_groups[0])
        should_prune, sparsity = schedule(step)
        if not should_prune:
            return None
        return self._progress(schedule, sparsity)

    def _progress(self, schedule, sparsity: float) -> float:
        """A schedule's sparsity read as progress towards the budget, in [0, 1]."""
        final = self.final_sparsity(schedule)
        return 1.0 if final <= 0 else min(1.0, float(sparsity) / final)

    def candidates(self, method) -> list[selection.Candidate]:
        """The active groups as :class:`tfprune.selection.Candidate`, scored by ``method``."""
        out = []
        for group in self.active_groups:
            out.append(
                selection.Candidate(
                    key=group.id,
                    units=np.array(group.units, dtype=np.int64),
                    scores=np.asarray(method.scores(self.view, group), dtype=np.float64),
                    keep=self.group_keep(group),
                    round_to=self.round_to,
                    floor=selection.default_floor(group.num_channels, self.round_to, self.max_group_sparsity),
                )
            )
        return out

    def allocate_budget(self, method, progress: float = 1.0, *, strict: bool = True) -> selection.Allocation:
        """Kept units of every group meeting the budget at ``progress`` (0..1).

        The budget moves linearly from the dense cost (progress 0) to the
        target (progress 1). With ``strict`` (``prune``'s early check,
        :func:`tfprune.one_shot`) a final budget that cannot be met within
        the tolerance raises :class:`tfprune.errors.BudgetError`; inside
        ``fit`` the nearest configuration under the budget is used and a
        :class:`tfprune.errors.BudgetWarning` says how far it is.
        """
        budget = self.budget
        target = budget["target"]
        cost_model = self.cost_model
        dense = cost_model.dense(target.metric)
        goal = target.absolute(dense)
        current = float(dense - progress * (dense - goal))
        final = progress >= 1.0
        tolerance = budget["tolerance"] * dense if final and strict else float("inf")
        try:
            if budget["allocation"] == "sensitivity":
                result = self._allocate_from_sensitivity(method, target.metric, current, tolerance)
            else:
                candidates = self.candidates(method)
                # The same question gets the same answer: prune's early check
                # and one_shot (or two calls at one step) allocate once.
                key = (current, tolerance, self.keep.tobytes(), *(c.scores.tobytes() for c in candidates))
                cached = self._allocation_cache
                if cached is not None and cached[0] == key:
                    result = cached[1]
                else:
                    result = selection.allocate(
                        candidates,
                        lambda keep: cost_model.cost(target.metric, keep),
                        current,
                        base_keep=self.keep,
                        allocation=budget["allocation"],
                        normalize=budget["normalize"],
                        tolerance=tolerance,
                        # Latency: keep the channels whose measured milliseconds
                        # buy the most score-weighted MACs (docs/budgets.md).
                        cost_aware=target.is_latency,
                        work_fn=cost_model.flops if target.is_latency else None,
                        unit_cost_fn=cost_model.latency.parts if target.is_latency else None,
                    )
                    self._allocation_cache = (key, result)
        except selection.Unreachable as exc:
            raise self._budget_error(exc, target, dense) from None
        if final and not strict and abs(result.cost - goal) > budget["tolerance"] * dense:
            warnings.warn(
                f"The pruning target {target.describe(dense)} is not met: the "
                f"pruned model costs {result.cost:.6g} ({result.cost / dense:.3f} x dense) "
                f"under the constraints (round_to={self.round_to}, floors, channels "
                "already pruned).",
                errors.BudgetWarning,
                stacklevel=2,
            )
        return result

    def _allocate_from_sensitivity(self, method, metric: str, budget: float, tolerance: float) -> selection.Allocation:
        """Counts from measured sensitivity curves, refined to the budget;
        which units go within a group follows the method's scores."""
        measured = self.budget["sensitivity"]
        candidates = self.candidates(method)
        sizes = {c.key: int(c.keep.sum()) for c in candidates}

        def cost_of(counts):
            keep = self.keep.copy()
            for c in candidates:
                local = np.zeros(c.size, dtype=bool)
                local[c.order()[: counts[c.key]]] = True
                keep[c.units] = local
            return self.cost_model.cost(metric, keep)

        counts = selection.allocate_from_sensitivity(
            {key: [tuple(p) for p in curve] for key, curve in measured["curves"].items() if key in sizes},
            sizes,
            cost_of,
            budget,
            self.round_to,
            {c.key: c.floor for c in candidates},
            higher_is_better=measured["higher_is_better"],
        )
        return selection.refine(
            candidates, counts, lambda keep: self.cost_model.cost(metric, keep), budget,
            base_keep=self.keep, tolerance=tolerance,
        )

    def apply_budget(self, method, progress: float = 1.0, *, strict: bool = True) -> None:
        """Set the keep flags to the budget at ``progress`` (the driver commits them).

        A repeated call at the progress already applied does nothing (a
        constant schedule fires at every step).
        """
        if progress == self._applied_progress:
            return
        allocation = self.allocate_budget(method, progress, strict=strict)
        for group in self.active_groups:
            self.set_group_keep(group, allocation.keep[group.id])
        self._applied_progress = progress

    def budget_status(self) -> tuple[float, float, float]:
        """``(cost now, target, dense)`` under the budget's metric."""
        target = self.budget["target"]
        dense = self.cost_model.dense(target.metric)
        return float(self.cost_model.cost(target.metric, self.keep)), target.absolute(dense), float(dense)

    def warn_if_budget_unmet(self, step: int) -> None:
        """Warn when the schedule has ended but the model is not at its target.

        Methods that prune gradually (SPP raises probabilities step by step)
        may need more steps than the schedule; a run that stops early must
        not pass for a finished one.
        """
        if self.budget is None or not self.active_groups:
            return
        schedule = self.schedule_of(self.active_groups[0])
        if self.final_sparsity(schedule) - float(schedule(step)[1]) > 1e-9:
            return  # still ramping: nothing is due yet
        cost, goal, dense = self.budget_status()
        if cost > goal + self.budget["tolerance"] * dense:
            warnings.warn(
                f"Training stopped at step {step} with the model at {cost / dense:.3f} x "
                f"dense {self.budget['target'].metric}, above its target "
                f"{self.budget['target'].describe(dense)}: {type(self.method).__name__} "
                "has not reached it: it is still pruning, or its own rule stopped it "
                "(e.g. fuzzy pruning's alpha-cut became empty). Train for more steps "
                "(fit again with UpdatePruning: it resumes), or use a faster schedule.",
                errors.BudgetWarning,
                stacklevel=2,
            )

    def budget_prune_count(self, method, group: ChannelGroup, sparsity: float) -> int:
        """Units of ``group`` to prune in total under the budget, for methods
        that prune towards a count over several steps (SPP, StructADMM, LRF).

        ``sparsity`` is the group's schedule value, read as progress. One
        allocation is computed per step and state (cached until the keep flags
        or the progress change, and cleared by :meth:`step`).
        """
        progress = self._progress(self.schedule_of(group), sparsity)
        key = (progress, self.keep.tobytes())
        cached = self._budget_cache.get(key)
        if cached is None:
            cached = self.allocate_budget(method, progress, strict=False).counts
            self._budget_cache = {key: cached}
        return group.num_channels - cached[group.id]

    def _budget_error(self, exc, target, dense) -> errors.BudgetError:
        def share(value):
            return "none" if value is None else f"{value:.6g} ({value / dense:.3f} x dense)"

        if exc.low is None:
            limit = self.max_group_sparsity
            floors = f"at least {self.round_to or 1} channel(s) per group"
            if limit is not None:
                floors += f" and {1 - limit:.0%} of each group's channels (max_group_sparsity={limit:g})"
            why = (
                f"the smallest model reachable keeps {share(exc.minimum)}: every "
                f"prunable group at its floor (round_to={self.round_to}, {floors}); the model's inputs, "
                "outputs, excluded layers and channels coupled to them are never pruned"
            )
            fix = "Ask for a larger target, pass a smaller round_to (or None), or exclude fewer layers."
            if limit is not None:
                fix = "Ask for a larger target, raise max_group_sparsity, pass a smaller round_to, or exclude fewer layers."
        else:
            why = (
                f"with round_to={self.round_to} the nearest reachable costs are "
                f"{share(exc.low)} below and {share(exc.high)} above, both farther "
                f"than the tolerance ({self.budget['tolerance']:.0%} of dense)"
            )
            fix = "Ask for a reachable target, pass a smaller round_to, or a larger `tolerance`."
        msg = f"The pruning target {target.describe(dense)} cannot be met: {why}. {fix}"
        return errors.BudgetError(msg, requested=exc.budget, reachable=(exc.low, exc.high, exc.minimum))

    # Kernel (column / weight) helpers -------------------------------------
    def kernel_schedule(self, entry) -> schedules_lib.PruningSchedule:
        """The schedule that drives the kernel mask of a wrapper entry."""
        return self._kernel_schedules[entry.path]

    def kernel_keep(self, entry) -> np.ndarray:
        """Copy of the keep flags of a wrapper's kernel groups (``kernel_mask`` shape)."""
        return self._kernel_keep[entry.path].copy()

    def set_kernel_keep(self, entry, keep: np.ndarray) -> None:
        """Set the keep flags of a wrapper's kernel groups (call write_masks after)."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != self._kernel_keep[entry.path].shape:
            msg = f"Internal: kernel keep flags of shape {keep.shape}, expected {self._kernel_keep[entry.path].shape}."
            raise ValueError(msg)
        self._kernel_keep[entry.path] = keep.copy()

    def kernel_value(self, entry) -> np.ndarray:
        """Current (unmasked) kernel of a wrapper's layer, as NumPy."""
        value = np.asarray(keras.ops.convert_to_numpy(entry.layer.layer.kernel))
        _validation.check_finite_scored_weight(entry.path, "kernel", value)
        return value

    def group_slices(self, group: ChannelGroup, role: str) -> list[tuple[str, str, int]]:
        """(layer path, weight name, axis) of the group's slices with ``role``."""
        return [(m.layer, m.weight, m.axis) for m in group.members if m.role == role]

    def _slice_layout(self, layer_path: str, weight: str, axis: int) -> np.ndarray:
        for name, slice_axis, layout, _ in self._entry_by_path[layer_path].slices:
            if name == weight and slice_axis == axis:
                return layout
        msg = f"No slice {weight}[axis={axis}] in layer `{layer_path}`."
        raise KeyError(msg)

    def local_units(self, group: ChannelGroup, layer_path: str, weight: str, axis: int) -> np.ndarray:
        """Local unit index of every position of a slice (-1: other group)."""
        units = self.graph.units(self._slice_layout(layer_path, weight, axis))
        local = self._local[units]
        in_group = np.isin(units, np.array(group.units, dtype=np.int64))
        return np.where(in_group, local, -1)

    def layer(self, layer_path: str) -> keras.layers.Layer:
        """The (possibly wrapped) layer at ``layer_path``."""
        return self._entry_by_path[layer_path].layer

    def wrapper(self, layer_path: str) -> PruningWrapper:
        """The PruningWrapper at ``layer_path`` (KeyError if it is not wrapped)."""
        layer = self._entry_by_path[layer_path].layer
        if not isinstance(layer, PruningWrapper):
            msg = f"Layer `{layer_path}` is not wrapped for pruning."
            raise KeyError(msg)
        return layer

    def weight_variable(self, layer_path: str, weight: str) -> keras.Variable:
        """The variable ``weight`` of a (wrapped) layer."""
        layer = self._entry_by_path[layer_path].layer
        inner = getattr(layer, "tfprune_wrapped_layer", layer)
        for variable in inner.weights:
            if variable.name == weight:
                return variable
        msg = f"Layer `{layer_path}` has no weight `{weight}`."
        raise KeyError(msg)

    def weight_value(self, layer_path: str, weight: str) -> np.ndarray:
        """Current value of a weight of a (wrapped) layer, as NumPy."""
        layer = self._entry_by_path[layer_path].layer
        inner = getattr(layer, "tfprune_wrapped_layer", layer)
        for variable in inner.weights:
            if variable.name == weight:
                value = np.asarray(keras.ops.convert_to_numpy(variable))
                _validation.check_finite_scored_weight(layer_path, weight, value)
                return value
        msg = f"Layer `{layer_path}` has no weight `{weight}`."
        raise KeyError(msg)

    # Driving ----------------------------------------------------------------
    def set_callback_active(self, active: bool) -> None:
        """Allow (or forbid) training the wrappers."""
        for entry in self.entries:
            entry.layer._callback_active = active

    @property
    def view(self):
        """The :class:`~tfprune.methods.view.MethodView` the method's hooks receive."""
        if self._view is None:
            from tfprune.methods.view import MethodView

            self._view = MethodView(self)
        return self._view

    def _init_method(self) -> None:
        if not self._method_ready:
            self.method.init(self.view)
            self._method_ready = True

    def step(self, step: int) -> None:
        """Run the method's update at optimizer step ``step``, then commit the keep flags."""
        self._budget_cache = {}
        self._init_method()
        self.method.update(self.view, int(step))
        self.write_masks()

    def end_epoch(self, epoch: int) -> dict[str, float]:
        """Run the method's end-of-epoch update, commit, and return its epoch logs."""
        self._init_method()
        self.method.on_epoch_end(self.view, int(epoch))
        self.write_masks()
        return self.method.epoch_logs(self.view)

    def one_shot(self) -> None:
        """Prune at once to the final state (:func:`tfprune.one_shot`), then commit."""
        self._budget_cache = {}
        self._init_method()
        self.method.one_shot(self.view)
        self.write_masks()

    def pruned_fraction(self) -> float:
        """Fraction of the prunable units that are masked.

        Units are the active groups' channels, or the kernel groups (columns
        or weights) for kernel granularities.
        """
        units = [u for g in self.active_groups for u in g.units]
        pruned = int((~self.keep[np.array(units, dtype=np.int64)]).sum()) if units else 0
        total = len(units)
        for entry in self.kernel_entries:
            keep = self.kernel_keep(entry)
            pruned += int((~keep).sum())
            total += keep.size
        return pruned / total if total else 0.0
