"""StructADMM: structured pruning with ADMM inside ``model.fit``.

Zhang, Ye, Zhang, Ma, Liu, Zhang, Tang, Ma, Lin, Fardad, Wang, "StructADMM: A
Systematic, High-Efficiency Framework of Structured Weight Pruning for DNNs",
arXiv 1807.11091 (docs/methods/admm.md). The problem
``min f(W) s.t. W_i in S_i`` (``S_i``: at most ``k_i`` non-zero groups) is
split with ``Z_i = W_i`` and solved with scaled ADMM (Section 3 of the paper,
docs/methods/admm.md#problem):

* **W-step**: ordinary training of ``f(W) + sum_i rho/2 ||W_i - Z_i + U_i||_F^2``;
  the penalty is added by each :class:`~tfprune.layers.PruningWrapper`
  (``add_loss``), so the user's ``compile``/``fit`` are unchanged, and its
  gradient is ``rho (W - Z + U)``;
* every ``update_every`` steps, **Z-step** ``Z <- Proj_S(W + U)`` (the exact
  Euclidean projection, :mod:`tfprune.criteria.admm`) and **U-step**
  ``U <- U + W - Z``; then ``rho <- min(rho * rho_factor, rho_max)``;
* init ``Z = Proj_S(W)``, ``U = 0`` (authors' group's code);
* **hard prune** at the end of the ADMM phase: masks = support of
  ``Proj_S(W)`` (docs/methods/admm.md#choice-mask), the weights outside are set to zero;
* **masked retraining**: the penalty is multiplied by a 0/1 variable that is
  now 0 (no retrace), the masks stay fixed;
* optional **progressive** stages (several targets in the schedule): each
  stage repeats ADMM + hard prune + retraining from the previous stage's
  pruned model; units pruned earlier are outside every later projection's
  support, so their zeros stay frozen.

The phase timing is a :class:`tfprune.schedules.ADMMSchedule`.

Choices where the sources are ambiguous (docs/methods/admm.md#choices):

1. ``rho`` schedule: ``rho <- min(rho * rho_factor, rho_max)`` at every
   Z/U update (Ye et al.'s ``multi_rho``); ``rho_factor=1`` is the constant
   Caffe schedule. One ``rho`` for every layer.
2. Hard-prune mask from ``Proj_S(W)``, not ``supp(Z)``.
3. Filter groups: ``Z``/``U`` and the norm cover the filter slices (the
   kernels that produce the channel: every conv feeding a residual ``Add``
   of the group, jointly); bias and BatchNorm ``gamma``/``beta`` are not
   penalized, and are removed with the channel at the hard prune (the
   wrapper's channel masks zero them, ``slim`` removes them).
4. Coupled channels share one projection: the group's joint L2 norm over all
   its member slices decides which units are kept in all of them.
5. One target sparsity per group / layer (the schedule's); a dict of
   schedules sets per-layer targets, but every schedule must have the same
   phase timing.
6. Structured types (filter, channel, column) prune conv layers, plus any
   Dense layer whose channels the graph groups; ``"weight"`` also prunes
   Dense kernels (as the Caffe prototxt does for FC layers).

Granularities:

* ``"filter"``: a unit of a coupled channel group, constrained through its
  filter slices (``K[..., f]`` of every producer). Physically removed by
  :func:`tfprune.slim`.
* ``"channel"``: the same coupled channels, constrained through their
  *input* slices (``K[..., c, :]`` of every consumer: "at most ``beta``
  non-zero input channels", the analogue of channel-wise sparsity that no
  code of the authors implements, docs/methods/admm.md#channel-wise).
  Removing an input channel of
  all consumers removes the channel, so it is also physically removed.
* ``"column"`` / ``"weight"``: per Conv (and Dense for weights) kernel, the
  im2col columns ``K[i, j, c, :]`` / single weights, projected per layer.
  Mask-only: the FLOPs savings are theoretical
  (``count_flops(effective=True)``).

Positions of a penalized weight that no constraint covers (e.g. filters of a
group that has no schedule) are projected onto the unconstrained set:
``Z = W + U``, which is exact ADMM for them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
from keras import ops

from tfprune import errors
from tfprune.criteria import admm as proj
from tfprune.graph import rules as rules_lib
from tfprune.methods.base import PruningMethod
from tfprune.schedules.admm import ADMM, BEFORE, RETRAIN, ADMMSchedule

#: Values of the ``admm_phase`` state variable.
PHASE_NONE, PHASE_ADMM, PHASE_PRUNED = 0, 1, 2
_SCALARS = ("admm_rho", "admm_on", "admm_phase", "admm_stage", "admm_last_update")


@dataclasses.dataclass
class _UnitConstraint:
    group: Any
    schedule: ADMMSchedule
    slices: list[tuple[tuple[str, str], int, np.ndarray]]  # ((path, weight), axis, local units)


@dataclasses.dataclass
class _KernelConstraint:
    entry: Any
    schedule: ADMMSchedule
    key: tuple[str, str]


@dataclasses.dataclass
class _Context:
    pruner: Any
    timing: ADMMSchedule
    units: list[_UnitConstraint]
    kernels: list[_KernelConstraint]
    weights: dict[tuple[str, str], tuple[Any, Any, Any]]  # key -> (W, Z, U) variables
    wrappers: list[Any]
    phase: int
    stage: int
    last_update: int
    rho: float


def penalized_weights(wrapper) -> list[str]:
    """Names of the wrapped layer's weights that get ``Z``/``U`` state."""
    granularity = wrapper.pruning_granularity
    if wrapper.kernel_mask is not None:
        return ["kernel"]
    if (granularity == "filter" and wrapper.mask_output) or (granularity == "channel" and wrapper.mask_input):
        return [v.name for v in wrapper.layer.trainable_weights if len(v.shape) >= 2]
    return []


@keras.saving.register_keras_serializable(package="tfprune")
class StructADMM(PruningMethod):
    """ADMM structured pruning (filter, channel, column or weight groups).

    Use with a :class:`tfprune.schedules.ADMMSchedule`::

        schedule = tfprune.schedules.ADMMSchedule.from_epochs(
            0.5, steps_per_epoch, admm_epochs=4, update_epochs=1)
        pruned = tfprune.prune(model, "admm", schedule=schedule, rho=1e-3)

    Args:
        rho: initial penalty weight ``rho`` (1e-3 for CIFAR,
            docs/methods/admm.md#hyper-parameters; the
            loss scale matters, see the README).
        rho_factor: ``rho`` is multiplied by this at every Z/U update
            (1.3 in Ye et al.; 1.0 keeps it constant).
        rho_max: cap of ``rho`` (default 0.1).
    """

    # Selection needs training (or its own procedure): one_shot refuses it.
    supports_one_shot = False

    granularities = ("filter", "channel", "column", "weight")

    def __init__(self, rho: float = 1e-3, rho_factor: float = 1.3, rho_max: float = 0.1):
        for name, value in (("rho", rho), ("rho_factor", rho_factor), ("rho_max", rho_max)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
                msg = f"Argument `{name}` must be a positive number. Received: {name}={value!r}."
                raise ValueError(msg)
        if rho_factor < 1:
            msg = f"Argument `rho_factor` must be >= 1 (rho never decreases). Received: rho_factor={rho_factor}."
            raise ValueError(msg)
        if rho_max < rho:
            msg = f"Argument `rho_max` must be >= `rho`. Received: rho={rho}, rho_max={rho_max}."
            raise ValueError(msg)
        self.rho = float(rho)
        self.rho_factor = float(rho_factor)
        self.rho_max = float(rho_max)
        #: ``{"step", "stage", "residual", "rho"}`` after every Z/U update of this process.
        self.history: list[dict[str, float]] = []
        self._context: _Context | None = None
        self._penalty_vars: dict[int, list] = {}

    # Wrapper side ----------------------------------------------------------
    def state_spec(self, wrapper):
        spec = {name: ((), "float32", "zeros") for name in _SCALARS}
        spec["admm_last_update"] = ((), "float32", keras.initializers.Constant(-1.0))
        for name in penalized_weights(wrapper):
            variable = next(v for v in wrapper.layer.trainable_weights if v.name == name)
            shape = tuple(variable.shape)
            spec[f"admm_z_{name}"] = (shape, variable.dtype, "zeros")
            spec[f"admm_u_{name}"] = (shape, variable.dtype, "zeros")
        return spec

    def penalty(self, wrapper):
        """``admm_on * rho/2 * sum ||W - Z + U||_F^2`` over the wrapper's penalized weights."""
        triples = self._penalty_vars.get(id(wrapper))
        if triples is None:
            triples = [
                (next(v for v in wrapper.layer.trainable_weights if v.name == name),
                 wrapper.state[f"admm_z_{name}"], wrapper.state[f"admm_u_{name}"])
                for name in penalized_weights(wrapper)
            ]
            self._penalty_vars[id(wrapper)] = triples
        if not triples:
            return None
        total = None
        for w, z, u in triples:
            term = ops.sum(ops.square(w - z + u))
            total = term if total is None else total + term
        coef = 0.5 * wrapper.state["admm_rho"] * wrapper.state["admm_on"]
        return ops.cast(coef, total.dtype) * total

    # Pruner side -------------------------------------------------------------
    def scores(self, pruner, group):
        """L2 norms of the group's filters (the norm the projection ranks by),
        used to share a ``target`` budget between groups."""
        from tfprune.methods.magnitude import MagnitudePruning

        return MagnitudePruning(ord=2).scores(pruner, group)

    def check_schedules(self, schedules):
        bad = [s for s in schedules if not isinstance(s, ADMMSchedule)]
        if bad:
            msg = (
                "StructADMM runs in phases (ADMM, hard prune, masked retraining), "
                "so it needs a tfprune.schedules.ADMMSchedule. Received: "
                f"{bad[0]!r}. Pass e.g. schedule=tfprune.schedules.ADMMSchedule("
                "0.5, admm_steps=2000, update_every=500) (or "
                "ADMMSchedule.from_epochs(0.5, steps_per_epoch, admm_epochs=4)) "
                "instead of `sparsity`."
            )
            raise errors.PruningArgumentError(msg)
        timings = {tuple(sorted(s.timing().items())) for s in schedules}
        stages = {s.num_stages for s in schedules}
        if len(timings) > 1 or len(stages) > 1:
            msg = (
                "Every ADMMSchedule of one model must have the same phase timing "
                "(admm_steps, update_every, retrain_steps, begin_step and number of "
                "stages), since Z/U updates and the hard prune happen for all layers "
                f"at once; only the targets may differ. Received: {schedules}."
            )
            raise errors.PruningArgumentError(msg)

    def _build_context(self, pruner) -> _Context:
        granularity = pruner.granularity
        role = rules_lib.INPUT if granularity == "channel" else rules_lib.FILTER
        schedules = [pruner.schedule_of(g) for g in pruner.active_groups]
        schedules += [pruner.kernel_schedule(e) for e in pruner.kernel_entries]
        self.check_schedules(schedules)
        weights: dict[tuple[str, str], tuple[Any, Any, Any]] = {}

        def register(path: str, weight: str) -> tuple[str, str]:
            key = (path, weight)
            if key not in weights:
                wrapper = pruner.wrapper(path)
                if f"admm_z_{weight}" not in wrapper.state:
                    msg = f"Layer `{path}` has no ADMM state for `{weight}`; re-create the model with tfprune.prune."
                    raise errors.PruningArgumentError(msg)
                weights[key] = (pruner.weight_variable(path, weight),
                                wrapper.state[f"admm_z_{weight}"], wrapper.state[f"admm_u_{weight}"])
            return key

        units = []
        for group in pruner.active_groups:
            slices = [
                (register(path, weight), axis, pruner.local_units(group, path, weight, axis))
                for path, weight, axis in pruner.group_slices(group, role)
            ]
            units.append(_UnitConstraint(group, pruner.schedule_of(group), slices))
        kernels = [
            _KernelConstraint(e, pruner.kernel_schedule(e), register(e.path, "kernel"))
            for e in pruner.kernel_entries
        ]
        wrappers = [e.layer for e in pruner.entries]
        first = wrappers[0].state
        read = {name: float(ops.convert_to_numpy(first[name])) for name in _SCALARS}
        return _Context(
            pruner=pruner, timing=schedules[0], units=units, kernels=kernels, weights=weights,
            wrappers=wrappers, phase=int(read["admm_phase"]), stage=int(read["admm_stage"]),
            last_update=int(read["admm_last_update"]), rho=read["admm_rho"],
        )

    def init(self, pruner) -> None:
        """Read the phase, stage, rho and last update back from the state variables."""
        self._context = self._build_context(pruner)

    def context(self, pruner) -> _Context:
        """The method's view of ``pruner`` (rebuilt from the state variables per Pruner)."""
        if self._context is None or self._context.pruner is not pruner:
            self._context = self._build_context(pruner)
        return self._context

    def _set_scalars(self, ctx: _Context, **values: float) -> None:
        for wrapper in ctx.wrappers:
            for name, value in values.items():
                wrapper.state[name].assign(value)

    def _values(self, ctx: _Context, which: str) -> dict[tuple[str, str], np.ndarray]:
        index = {"w": 0, "z": 1, "u": 2}[which]
        return {k: np.asarray(ops.convert_to_numpy(v[index])) for k, v in ctx.weights.items()}

    def project(self, pruner, values, stage: int):
        """``Proj_S(values)`` for stage ``stage``: (projected values, keep per constraint).

        ``values`` maps ``(layer path, weight)`` to arrays of every penalized
        weight. Units / kernel groups already pruned stay outside the support.
        """
        ctx = self.context(pruner)
        out = {k: v.copy() for k, v in values.items()}
        keeps = []
        for c in ctx.units:
            sparsity = c.schedule.targets[stage]
            k = c.group.num_channels - self.num_to_prune(pruner, c.group, sparsity)
            slices = [(values[key], axis, local) for key, axis, local in c.slices]
            keep = proj.top_k_keep(proj.joint_unit_norms(slices, c.group.num_channels), k, pruner.group_keep(c.group))
            for key, axis, local in c.slices:
                out[key] = proj.zero_units(out[key], axis, local, keep)
            keeps.append(keep)
        for c in ctx.kernels:
            sparsity = c.schedule.targets[stage]
            total = int(np.prod(c.entry.layer.kernel_mask.shape))
            k = total - self.num_kernel_to_prune(pruner, c.entry, sparsity)
            out[c.key], keep = proj.project_kernel(
                values[c.key], c.entry.layer.kernel_granularity, k, pruner.kernel_keep(c.entry)
            )
            keeps.append(keep)
        return out, keeps

    @staticmethod
    def _relative_residual(w: dict, z: dict) -> float:
        num = sum(float(np.square(w[k] - z[k]).sum()) for k in w)
        den = sum(float(np.square(w[k]).sum()) for k in w)
        return float(np.sqrt(num / den)) if den > 0 else 0.0

    def _assign(self, ctx: _Context, which: str, values: dict) -> None:
        index = {"w": 0, "z": 1, "u": 2}[which]
        for key, value in values.items():
            ctx.weights[key][index].assign(value)

    def _start_stage(self, ctx: _Context, stage: int, step: int) -> None:
        w = self._values(ctx, "w")
        z, _ = self.project(ctx.pruner, w, stage)
        self._assign(ctx, "z", z)
        self._assign(ctx, "u", {k: np.zeros_like(v) for k, v in w.items()})
        ctx.phase, ctx.stage, ctx.last_update, ctx.rho = PHASE_ADMM, stage, step, self.rho
        self._set_scalars(ctx, admm_rho=self.rho, admm_on=1.0, admm_phase=PHASE_ADMM,
                          admm_stage=stage, admm_last_update=step)

    def _update(self, ctx: _Context, step: int) -> None:
        w, u = self._values(ctx, "w"), self._values(ctx, "u")
        z, _ = self.project(ctx.pruner, {k: w[k] + u[k] for k in w}, ctx.stage)
        self._assign(ctx, "z", z)
        self._assign(ctx, "u", {k: u[k] + w[k] - z[k] for k in w})
        self.history.append({"step": step, "stage": ctx.stage, "residual": self._relative_residual(w, z),
                             "rho": ctx.rho})
        ctx.rho = min(ctx.rho * self.rho_factor, max(self.rho_max, ctx.rho))
        ctx.last_update = step
        self._set_scalars(ctx, admm_rho=ctx.rho, admm_last_update=step)

    def _hard_prune(self, ctx: _Context, stage: int) -> None:
        pruner = ctx.pruner
        w = self._values(ctx, "w")
        projected, keeps = self.project(pruner, w, stage)
        for c, keep in zip(ctx.units, keeps[: len(ctx.units)]):
            pruner.set_group_keep(c.group, keep)
        for c, keep in zip(ctx.kernels, keeps[len(ctx.units):]):
            pruner.set_kernel_keep(c.entry, keep)
        self._assign(ctx, "w", projected)
        self._assign(ctx, "z", projected)
        self._assign(ctx, "u", {k: np.zeros_like(v) for k, v in w.items()})
        ctx.phase = PHASE_PRUNED
        self._set_scalars(ctx, admm_on=0.0, admm_phase=PHASE_PRUNED)

    def update(self, pruner, step):
        ctx = self.context(pruner)
        phase, stage = ctx.timing.locate(step)
        if phase == BEFORE:
            return
        progress = -1 if ctx.phase == PHASE_NONE else 2 * ctx.stage + (ctx.phase - 1)
        if progress < 2 * stage:
            self._start_stage(ctx, stage, step)
        if phase == ADMM and ctx.timing.is_update_step(step) and step > ctx.last_update:
            self._update(ctx, step)
        if phase == RETRAIN and ctx.phase == PHASE_ADMM:
            self._hard_prune(ctx, stage)

    def primal_residual(self, pruner) -> float:
        """``||W - Z||_F / ||W||_F`` over every penalized weight (current values)."""
        ctx = self.context(pruner)
        return self._relative_residual(self._values(ctx, "w"), self._values(ctx, "z"))

    def epoch_logs(self, pruner):
        """``admm_primal_residual`` (``||W - Z|| / ||W||``, 0 outside the ADMM
        phase) and ``admm_rho`` (the current rho, 0 when the penalty is off)."""
        ctx = self.context(pruner)
        if ctx.phase != PHASE_ADMM:
            return {"admm_primal_residual": 0.0, "admm_rho": 0.0}
        return {"admm_primal_residual": self.primal_residual(pruner), "admm_rho": ctx.rho}

    def get_config(self):
        return {"rho": self.rho, "rho_factor": self.rho_factor, "rho_max": self.rho_max}
