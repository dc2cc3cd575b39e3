"""SPP: Structured Probabilistic Pruning (Wang, Zhang, Wang, Hu, BMVC 2018).

"Structured Probabilistic Pruning for Convolutional Neural Network
Acceleration", arXiv 1709.06994. Every weight group ``g`` (an im2col column
``K[i, j, c, :]`` of a conv kernel, the paper's default, or a whole coupled
filter group) carries a pruning probability ``p_g``, starting at 0:

* at every schedule update the active groups of a layer (or coupled group) are
  ranked by ascending L1 norm and ``p_g <- clip(p_g + Delta(r_g), 0, 1)``
  (:func:`spp_increment`, the centrosymmetric exponential increment);
* a group whose ``p`` reaches 1 is removed for good (``N_p += 1``); a group
  whose ``p`` falls is being recovered;
* at every training step a fresh mask ``m_g ~ Bernoulli(1 - p_g)`` is drawn
  (Monte Carlo sampling), so masked weights get no gradient that step and can
  come back later;
* a layer stops pruning once ``N_t = ceil(R * N_g)`` groups have ``p = 1``
  (for filter groups: the count of :func:`~tfprune.methods.kept_count`, with
  ``round_to``, as for the L1 baseline); its mask then freezes at
  ``1[p < 1]``. With ``target_flops`` every layer stops as soon as the model's
  FLOPs reach the target (the paper's "4x speed-up").

Choices where the sources disagree or are silent (docs/methods/spp.md#choices):

1. Importance is the current L1 norm (``decay=0``, the authors' final
   branch); ``decay=0.9`` gives their earlier accumulated ``h <- d h + s``.
2. ``alpha = ln(2/u) / N_r`` uses the *remaining* count ``N_r = N_t - N_p``
   (the authors' code), recomputed at every update.
3. Evaluation (``evaluate``, ``predict``, validation during ``fit``, export)
   uses the deterministic mask ``1[p < 1]``; only training samples.
4. Masks multiply the computation (``kernel * mask`` for columns, the
   channel activations for filters), so masked weights get exactly zero
   gradient. Decoupled weight decay (AdamW) still shrinks them.
5. Both global (``target_flops``) and per-layer ratios are supported.
6. Sampling is group-wise (one draw per group, the final default).
7. Columns own no bias; filter groups mask bias and BatchNorm through the
   channel masks, like every filter method here.

The schedule decides *when* ``p`` is updated (its frequency is the paper's
update interval ``t``) and the target ratio ``R`` at that step, so a
``PolynomialDecay`` ramp composes with SPP. ``prune(model, "spp",
sparsity=R)`` updates every ``interval`` steps.

Reproducibility: the masks drawn at step ``k`` depend only on ``(seed, k)`` and
the probabilities, which are Keras variables; resuming from a ``.keras`` file
therefore repeats the run exactly. ``seed=None`` behaves as ``seed=0``. Under
``tf.distribute`` the masks are drawn once on the host and assigned to the
mirrored variables, so every replica uses the same mask.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from tfprune import _validation
from tfprune._assign import BatchAssigner
from tfprune import schedules as schedules_lib
from tfprune.methods.base import PruningMethod
from tfprune.methods.magnitude import MagnitudePruning

if TYPE_CHECKING:
    from tfprune.pruner import Pruner

#: Largest exponent fed to ``exp`` in :func:`spp_increment` (no overflow).
_MAX_EXPONENT = 60.0


def spp_increment(rank: Any, remaining: int, A: float = 0.05, u: float = 0.25) -> np.ndarray:
    """The centrosymmetric exponential increment ``Delta(r)`` of SPP.

    With ``alpha = ln(2/u) / N_r`` and ``r_c = -ln(u) / alpha``::

        Delta(r) = A exp(-alpha r)                      if r <  r_c
        Delta(r) = 2uA - A exp(-alpha (2 r_c - r))      if r >= r_c

    (the authors' Caffe code, ``ProbPruneCol``; the third-party quote of the
    paper's Eq. 3 is the same at the first update). The curve is
    point-symmetric about ``(r_c, uA)`` with ``Delta(0) = A``,
    ``Delta(r_c) = uA`` and ``Delta(N_r) = 0``: exactly the ``N_r`` lowest
    ranks gain probability. The exponent is clipped so large ranks do not
    overflow (their increment is then very negative, and ``p`` is clipped at
    0 by the caller).

    Args:
        rank: rank(s) ``r`` (0 = least important), any shape.
        remaining: ``N_r > 0``, the number of groups still to remove.
        A: the increment of the least important group, ``A > 0``.
        u: ``Delta(r_c) / A``, in (0, 1).
    """
    if remaining <= 0:
        msg = f"`remaining` (N_r) must be positive. Received: {remaining!r}."
        raise ValueError(msg)
    r = np.asarray(rank, dtype=np.float64)
    alpha = math.log(2.0 / u) / remaining
    center = -math.log(u) / alpha
    low = A * np.exp(np.minimum(-alpha * r, _MAX_EXPONENT))
    high = 2.0 * u * A - A * np.exp(np.minimum(-alpha * (2.0 * center - r), _MAX_EXPONENT))
    return np.where(r < center, low, high)


def spp_update(p: np.ndarray, scores: np.ndarray, target: int, A: float, u: float) -> np.ndarray:
    """One SPP probability update of a layer's groups (docs/methods/spp.md#update).

    Groups with ``p == 1`` are permanently pruned and skipped. The active
    ones are ranked by ascending ``scores`` (stable for ties) and get
    ``Delta(rank)`` with ``N_r = target - #permanent``; ``p`` is clipped to
    [0, 1]. Only ranks below ``N_r`` may gain probability, so the permanent
    count never exceeds ``target``.

    Returns the new probabilities (a copy); unchanged when ``N_r <= 0``.
    """
    p = np.asarray(p, dtype=np.float64).copy()
    permanent = p >= 1.0
    remaining = int(target) - int(permanent.sum())
    if remaining <= 0:
        return p
    active = np.flatnonzero(~permanent)
    order = active[np.argsort(np.asarray(scores)[active], kind="stable")]
    ranks = np.arange(len(order))
    delta = spp_increment(ranks, remaining, A, u)
    delta[ranks >= remaining] = np.minimum(delta[ranks >= remaining], 0.0)
    p[order] = np.clip(p[order] + delta, 0.0, 1.0)
    return p


class _RunState:
    """SPP's NumPy view of the probabilities while a pruner drives it."""

    def __init__(self, prob_units: np.ndarray, prob_kernel: dict[str, np.ndarray],
                 score_units: np.ndarray, score_kernel: dict[str, np.ndarray]):
        self.prob_units = prob_units
        self.prob_kernel = prob_kernel
        self.score_units = score_units
        self.score_kernel = score_kernel
        self.dense_flops: int | None = None
        self.flops_done = False
        #: Every layer finished and its samples written as the final masks.
        self.samples_final = False
        self._assigners: dict[str, BatchAssigner] = {}
        self._last: dict[str, np.ndarray] = {}

    def assign(self, key: str, pairs: list) -> None:
        """Assign ``[(variable, value)]`` in one call; skip if nothing changed.

        ``key`` names a fixed list of variables (one traced function each).
        """
        flat = np.concatenate([np.asarray(v, dtype=np.float32).reshape(-1) for _, v in pairs])
        last = self._last.get(key)
        if last is not None and np.array_equal(last, flat):
            return
        if key not in self._assigners:
            self._assigners[key] = BatchAssigner([variable for variable, _ in pairs])
        self._assigners[key]([value for _, value in pairs])
        self._last[key] = flat


@keras.saving.register_keras_serializable(package="tfprune")
class StructuredProbabilisticPruning(PruningMethod):
    """SPP (Wang et al., BMVC 2018): probabilistic, recoverable group pruning.

    Use through :func:`tfprune.prune`::

        pruned = tfprune.prune(model, "spp", sparsity=0.5, granularity="column")
        pruned = tfprune.prune(model, "spp", sparsity=0.75, target_flops=0.25)

    Args:
        A: increment of the least important group per update (paper: 0.05).
        u: ``Delta(r_c) / A`` of the increment curve (paper: 0.25).
        decay: ``d`` of the accumulated importance ``h <- d h + s``
            (0: the current L1 norm, the authors' final choice).
        interval: update interval ``t`` (steps) of the schedule that
            ``prune(sparsity=...)`` builds; the authors' solver default is 1,
            a third-party port uses 180.
        target_flops: stop every layer once the model's FLOPs (MACs, of the
            deterministic masks) are at most this fraction of the unpruned
            model's, e.g. 0.25 for the paper's "4x speed-up". Per-layer
            ratios (``sparsity``) are then upper bounds.

    See the module docstring for the algorithm and the documented choices.
    """

    # Selection needs training (or its own procedure): one_shot refuses it.
    supports_one_shot = False

    granularities = ("filter", "column")

    def __init__(
        self,
        A: float = 0.05,
        u: float = 0.25,
        decay: float = 0.0,
        interval: int = 1,
        target_flops: float | None = None,
    ):
        if not (isinstance(A, (int, float)) and 0 < A <= 1):
            msg = f"Argument `A` must be a number in (0, 1] (paper: 0.05). Received: A={A!r}."
            raise ValueError(msg)
        if not (isinstance(u, (int, float)) and 0 < u < 1):
            msg = f"Argument `u` must be a number in (0, 1) (paper: 0.25). Received: u={u!r}."
            raise ValueError(msg)
        if not (isinstance(decay, (int, float)) and 0 <= decay < 1):
            msg = f"Argument `decay` must be in [0, 1) (0 or 0.9 in the paper's code). Received: decay={decay!r}."
            raise ValueError(msg)
        if target_flops is not None and not (isinstance(target_flops, (int, float)) and 0 < target_flops <= 1):
            msg = (
                "Argument `target_flops` must be a fraction of the unpruned FLOPs in (0, 1], "
                f"e.g. 0.25 for a 4x reduction, or None. Received: target_flops={target_flops!r}."
            )
            raise ValueError(msg)
        self.A = float(A)
        self.u = float(u)
        self.decay = float(decay)
        self.interval = _validation.check_positive_int("interval", interval)
        self.target_flops = None if target_flops is None else float(target_flops)
        self._magnitude = MagnitudePruning(ord=1)

    # Construction -----------------------------------------------------------
    def default_schedule(self, sparsity: float | None = None) -> schedules_lib.PruningSchedule | None:
        """Update towards ``sparsity`` every ``interval`` steps from step 0."""
        if sparsity is None:
            return None
        return schedules_lib.ConstantSparsity(sparsity, begin_step=0, end_step=-1, frequency=self.interval)

    def state_spec(self, wrapper):
        # Sampled masks only where the wrapper applies a mask
        # (docs/design.md#mask-placement); p lives with the producers.
        spec = {}
        if wrapper.output_mask is not None:
            shape = tuple(wrapper.output_mask.shape)
            spec["spp_prob"] = (shape, "float32", "zeros")
            if wrapper.output_mask_at is not None:
                spec["spp_sample_out"] = (shape, "float32", "ones")
        if wrapper.input_mask is not None and wrapper.input_mask_at is not None:
            spec["spp_sample_in"] = (tuple(wrapper.input_mask.shape), "float32", "ones")
        if wrapper.kernel_mask is not None:
            shape = tuple(wrapper.kernel_mask.shape)
            spec["spp_prob_kernel"] = (shape, "float32", "zeros")
            spec["spp_sample_kernel"] = (shape, "float32", "ones")
        if self.decay:
            for name in [n for n in spec if n.startswith("spp_prob")]:
                spec[name.replace("prob", "score")] = (spec[name][0], "float32", "zeros")
        return spec

    def training_masks(self, wrapper):
        state = wrapper.state
        return {
            key: state[name]
            for key, name in (
                ("input_mask", "spp_sample_in"),
                ("output_mask", "spp_sample_out"),
                ("kernel_mask", "spp_sample_kernel"),
            )
            if name in state
        }

    def scores(self, pruner: Pruner, group) -> np.ndarray:
        """L1 norms of the group's filters: the ranking SPP's increments use."""
        return self._magnitude.scores(pruner, group)

    # Driving ----------------------------------------------------------------
    def init(self, pruner: Pruner) -> None:
        """Load ``p`` (and ``h``) from the wrappers' variables."""
        self._run_state(pruner)

    def update(self, pruner: Pruner, step: int) -> None:
        """Update ``p`` where a schedule fires, decide ``1[p < 1]``, draw this step's samples."""
        run = self._run_state(pruner)
        changed = self._update_probabilities(pruner, run, step)
        if changed:
            run.samples_final = False
            self._write_probabilities(pruner, run)
            if self.target_flops is not None and not run.flops_done:
                run.flops_done = self._flops_reached(pruner, run)
        self._write_samples(pruner, run, step)

    def _run_state(self, pruner: Pruner) -> _RunState:
        return pruner.run_state(self, lambda: self._load_run_state(pruner))

    def _load_run_state(self, pruner: Pruner) -> _RunState:
        """p and h as NumPy, read back from the wrappers' variables."""
        prob = np.zeros(pruner.graph.num_units)
        score = np.zeros(pruner.graph.num_units)
        for entry in pruner.entries:
            state = entry.layer.state
            if "spp_prob" in state:
                units = pruner.graph.units(entry.output_layout)
                prob[units] = np.maximum(prob[units], _numpy(state["spp_prob"]))
                if "spp_score" in state:
                    score[units] = _numpy(state["spp_score"])
        prob_kernel = {e.path: _numpy(e.layer.state["spp_prob_kernel"]).astype(np.float64)
                       for e in pruner.kernel_entries}
        score_kernel = {e.path: _numpy(e.layer.state["spp_score_kernel"]).astype(np.float64)
                        if "spp_score_kernel" in e.layer.state else np.zeros(prob_kernel[e.path].shape)
                        for e in pruner.kernel_entries}
        run = _RunState(prob, prob_kernel, score, score_kernel)
        if self.target_flops is not None:
            run.flops_done = self._flops_reached(pruner, run)
        return run

    def _update_probabilities(self, pruner: Pruner, run: _RunState, step: int) -> bool:
        """Apply ``Delta`` to every layer whose schedule fires; True if p changed."""
        if run.flops_done:
            return False
        changed = False
        for group in pruner.active_groups:
            should, sparsity = pruner.schedule_of(group)(step)
            if not should:
                continue
            units = np.asarray(group.units, dtype=np.int64)
            target = self.num_to_prune(pruner, group, float(sparsity))
            scores = self._importance(run.score_units, units, self._magnitude.scores(pruner, group))
            new = spp_update(run.prob_units[units], scores, target, self.A, self.u)
            changed |= not np.array_equal(new, run.prob_units[units])
            run.prob_units[units] = new
        for entry in pruner.kernel_entries:
            should, sparsity = pruner.kernel_schedule(entry)(step)
            if not should:
                continue
            p = run.prob_kernel[entry.path]
            target = self.num_kernel_to_prune(pruner, entry, float(sparsity))
            scores = self._importance(run.score_kernel[entry.path].reshape(-1), slice(None),
                                      self.kernel_scores(pruner, entry).reshape(-1))
            new = spp_update(p.reshape(-1), scores, target, self.A, self.u).reshape(p.shape)
            changed |= not np.array_equal(new, p)
            run.prob_kernel[entry.path] = new
        return changed

    def _importance(self, store: np.ndarray, index, current: np.ndarray) -> np.ndarray:
        """``s`` (decay 0) or the accumulated ``h <- d h + s`` (kept in ``store``)."""
        if not self.decay:
            return current
        store[index] = self.decay * store[index] + current
        return store[index]

    def _write_probabilities(self, pruner: Pruner, run: _RunState) -> None:
        """Persist p (and h) in the wrappers' variables; decide the masks ``1[p < 1]``."""
        pruner.set_keep(run.prob_units < 1.0)
        pairs = []
        for entry in pruner.entries:
            state = entry.layer.state
            if "spp_prob" in state:
                pairs.append((state["spp_prob"], pruner.graph.keep_mask(run.prob_units, entry.output_layout)))
            if "spp_score" in state:
                pairs.append((state["spp_score"], pruner.graph.keep_mask(run.score_units, entry.output_layout)))
        for entry in pruner.kernel_entries:
            state, prob = entry.layer.state, run.prob_kernel[entry.path]
            pruner.set_kernel_keep(entry, prob < 1.0)
            pairs.append((state["spp_prob_kernel"], prob))
            if "spp_score_kernel" in state:
                pairs.append((state["spp_score_kernel"], run.score_kernel[entry.path]))
        if pairs:
            run.assign("state", pairs)

    def _write_samples(self, pruner: Pruner, run: _RunState, step: int) -> None:
        """Draw ``m ~ Bernoulli(1 - p)`` for every unfinished layer (Monte Carlo step).

        One generator seeded with ``(seed, step)`` draws every layer's masks
        in a fixed order, so a run (and a resumed run) is reproducible.
        """
        finished = [self._finished(pruner, g, run.prob_units[np.asarray(g.units, dtype=np.int64)], run, step)
                    for g in pruner.active_groups]
        kernel_finished = [self._kernel_finished(pruner, e, run.prob_kernel[e.path], run, step)
                           for e in pruner.kernel_entries]
        if all(finished) and all(kernel_finished) and run.samples_final:
            return  # the samples are the final masks already: no per-step work
        rng = np.random.default_rng([int(pruner.seed or 0), int(step)])
        sample = np.ones(pruner.graph.num_units, dtype=bool)
        for group, done in zip(pruner.active_groups, finished, strict=True):
            units = np.asarray(group.units, dtype=np.int64)
            p = run.prob_units[units]
            draw = rng.random(len(units))
            if done:
                sample[units] = p < 1.0
            else:
                sample[units] = (draw >= p) & (p < 1.0)
        pairs = []
        for entry in pruner.entries:
            state = entry.layer.state
            if "spp_sample_out" in state:
                pairs.append((state["spp_sample_out"], pruner.graph.keep_mask(sample, entry.output_layout)))
            if "spp_sample_in" in state:
                pairs.append((state["spp_sample_in"], pruner.graph.keep_mask(sample, entry.input_layout)))
        for entry, done in zip(pruner.kernel_entries, kernel_finished, strict=True):
            p = run.prob_kernel[entry.path]
            draw = rng.random(p.shape)
            keep = p < 1.0 if done else (draw >= p) & (p < 1.0)
            pairs.append((entry.layer.state["spp_sample_kernel"], keep))
        if pairs:
            run.assign("samples", pairs)
        run.samples_final = all(finished) and all(kernel_finished)

    def _finished(self, pruner, group, p, run, step) -> bool:
        if run.flops_done:
            return True
        _, sparsity = pruner.schedule_of(group)(step)
        return int((p >= 1.0).sum()) >= self.num_to_prune(pruner, group, float(sparsity))

    def _kernel_finished(self, pruner, entry, p, run, step) -> bool:
        if run.flops_done:
            return True
        _, sparsity = pruner.kernel_schedule(entry)(step)
        return int((p >= 1.0).sum()) >= self.num_kernel_to_prune(pruner, entry, float(sparsity))

    def _flops_reached(self, pruner: Pruner, run: _RunState) -> bool:
        from tfprune import metrics  # metrics imports graph only; late to keep methods light

        if run.dense_flops is None:
            run.dense_flops = metrics.count_flops(pruner.model)
        return pruner.effective_flops() <= self.target_flops * run.dense_flops

    def epoch_logs(self, pruner: Pruner) -> dict[str, float]:
        """Progress scalars: removed fraction, mean ``p``, FLOPs ratio.

        The FLOPs ratio is ``count_flops(effective=True) / count_flops`` of
        the deterministic masks; with column granularity it is named
        ``spp/flops_ratio_theoretical``, since zeroed columns only save time
        with an im2col-gather kernel, which LiteRT does not have.
        """
        from tfprune import metrics

        run = self._run_state(pruner)
        probs = [run.prob_units[np.asarray(g.units, dtype=np.int64)] for g in pruner.active_groups]
        probs += [p.reshape(-1) for p in run.prob_kernel.values()]
        if not probs:
            return {}
        p = np.concatenate(probs)
        if run.dense_flops is None:
            run.dense_flops = metrics.count_flops(pruner.model)
        ratio = pruner.effective_flops() / run.dense_flops
        name = "spp/flops_ratio_theoretical" if pruner.kernel_entries else "spp/flops_ratio"
        return {
            "spp/removed_fraction": float((p >= 1.0).mean()),
            "spp/mean_probability": float(p.mean()),
            name: float(ratio),
        }

    def get_config(self) -> dict[str, Any]:
        return {
            "A": self.A,
            "u": self.u,
            "decay": self.decay,
            "interval": self.interval,
            "target_flops": self.target_flops,
        }


def _numpy(variable) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float64)


__all__ = ["StructuredProbabilisticPruning", "spp_increment", "spp_update"]
