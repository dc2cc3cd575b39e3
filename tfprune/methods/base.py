"""``PruningMethod``: the extension point every pruning method implements.

A method has up to three parts (docs/design.md#method-contract):

* an **importance**: :meth:`PruningMethod.scores`, one score per unit of a
  group, computed from the group's weights (and activations or gradients if
  the criterion needs them) by a pure function of :mod:`tfprune.criteria`;
* the shared **selection**: monotone top-k of the lowest scores, ``round_to``,
  per-group floors, uniform/global allocation and budgets
  (:mod:`tfprune.selection`, driven by the default :meth:`PruningMethod.update`);
* an optional **stateful** part for methods whose decision is not a top-k of
  scores: :meth:`PruningMethod.init` (build the run state from the method's
  variables) and :meth:`PruningMethod.update` (advance it at a step and
  decide keep flags). SPP keeps probabilities and sampled masks, StructADMM
  its ``Z``/``U``/``rho`` and phases, fuzzy pruning its alpha-cut count and
  stop flag, LRF its one-channel-at-a-time removal with compensation.

Every hook receives a :class:`~tfprune.methods.view.MethodView`: read-only
access to the pruning state plus the keep flags the method decides. The driver
(:class:`tfprune.Pruner`, run by :class:`tfprune.UpdatePruning`) commits them
to the masks after the hook returns. The other hooks:

* :meth:`PruningMethod.state_spec` declares extra per-layer state (SPP
  probabilities, ADMM ``Z``/``U``) created as non-trainable variables of each
  :class:`~tfprune.layers.PruningWrapper`, so it is saved in ``.keras`` files;
* :meth:`PruningMethod.training_masks` lets training use other masks than
  evaluation (SPP trains with sampled masks, evaluates with ``1[p < 1]``);
* :meth:`PruningMethod.penalty` adds a loss term from inside the wrapper
  (StructADMM's ``rho/2 ||W - Z + U||^2``) without touching ``compile``;
* :meth:`PruningMethod.num_to_prune` turns a target sparsity into a count
  (with a budget, the shared allocation decides);
* :meth:`PruningMethod.on_epoch_end` (per-epoch work),
  :meth:`PruningMethod.epoch_logs` (scalars for the epoch logs and
  TensorBoard), :meth:`PruningMethod.check_schedules` (refuses schedules a
  method cannot run with), :meth:`PruningMethod.default_schedule` (a schedule
  for ``prune`` calls without ``sparsity``/``schedule``).

Methods are Keras-serializable objects whose config is stored once per model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tfprune.selection import kept_count

if TYPE_CHECKING:
    from tfprune.graph import ChannelGroup
    from tfprune.layers import PruningWrapper
    from tfprune.methods.view import MethodView
    from tfprune.schedules import PruningSchedule


def filter_scores(view: MethodView, group: ChannelGroup, slice_scores, ord: int = 1) -> np.ndarray:
    """One score per unit of ``group`` from a score per filter of each producing slice.

    ``slice_scores(value, axis)`` scores the filters of one weight (``value``,
    indexed by ``axis``); :func:`tfprune.criteria.group_scores` combines the
    slices of coupled layers (``ord`` 1: sum, 2: root of the sum of squares).
    Score-only criteria (L1/L2, FPGM) are this plus their per-slice rule.
    """
    from tfprune import criteria
    from tfprune.graph import rules as rules_lib

    contributions = []
    for layer_path, weight, axis in view.group_slices(group, rules_lib.FILTER):
        values = slice_scores(view.weight_value(layer_path, weight), axis)
        contributions.append((values, view.local_units(group, layer_path, weight, axis)))
    scores = criteria.group_scores(contributions, group.num_channels, ord=ord)
    scores[view.graph.unread_units[np.asarray(group.units)]] = 0.0  # nothing reads them: prune first
    return scores


class PruningMethod:
    """Base class: schedule-driven, score-based selection of channels.

    Subclasses usually override :meth:`scores` only.

    Attributes:
        granularities: the ``granularity`` values of :func:`tfprune.prune`
            this method supports.
    """

    granularities: tuple[str, ...] = ("filter",)
    #: Whether ``prune(..., target=...)`` can drive this method: its
    #: selection goes through :meth:`tfprune.Pruner.apply_budget`.
    supports_budget: bool = True
    #: Whether :func:`tfprune.one_shot` can prune without training.
    supports_one_shot: bool = True

    def default_schedule(self, sparsity: float | None = None) -> PruningSchedule | None:
        """The schedule ``prune`` uses when given ``sparsity=s`` (or nothing).

        With ``s``: ``ConstantSparsity(s, begin_step=0, end_step=-1,
        frequency=1)``, i.e. the target is re-checked at every step from the
        first one. Without: None, meaning the method needs ``sparsity`` or
        ``schedule`` (methods that decide the count themselves override it).
        """
        if sparsity is None:
            return None
        from tfprune.schedules import ConstantSparsity

        return ConstantSparsity(sparsity, begin_step=0, end_step=-1, frequency=1)

    def accepts_group(self, group: ChannelGroup) -> bool:
        """Whether a model-wide ``sparsity``/``target`` should prune ``group``.

        Default: every group. LRF accepts only the groups between its convs
        and their P/Q layers.
        """
        del group
        return True

    def scores(self, view: MethodView, group: ChannelGroup) -> np.ndarray:
        """Importance of each unit of ``group`` (higher = keep)."""
        raise NotImplementedError

    def state_spec(self, wrapper: PruningWrapper) -> dict[str, tuple[tuple[int, ...], str, str]]:
        """Extra non-trainable variables ``{name: (shape, dtype, initializer)}``."""
        del wrapper
        return {}

    def training_masks(self, wrapper: PruningWrapper) -> dict[str, Any] | None:
        """Masks ``wrapper`` uses in training instead of its own, or None.

        Keys among ``"input_mask"``, ``"output_mask"``, ``"kernel_mask"``;
        values are variables of the same shape (e.g. SPP's per-step Bernoulli
        samples). Evaluation and export always use the wrapper's own,
        deterministic masks.
        """
        del wrapper
        return None

    def penalty(self, wrapper: PruningWrapper) -> Any:
        """Loss term added by ``wrapper`` in training, or None."""
        del wrapper
        return None

    def num_to_prune(self, view: MethodView, group: ChannelGroup, sparsity: float) -> int:
        """How many units of ``group`` should be pruned in total at ``sparsity``.

        With a budget, the count comes from the shared allocation
        (:meth:`tfprune.Pruner.budget_prune_count`).
        """
        if view.budget is not None:
            return view.budget_prune_count(self, group, sparsity)
        return group.num_channels - kept_count(group.num_channels, sparsity, view.round_to)

    def kernel_scores(self, view: MethodView, entry) -> np.ndarray:
        """Importance of each kernel group of a wrapper (``kernel_mask`` shape).

        Default: the L1 norm of each im2col column ``K[i, j, c, :]`` (column
        granularity) or ``|w|`` (weight granularity).
        """
        kernel = np.abs(view.kernel_value(entry))
        if entry.layer.kernel_granularity == "column":
            return kernel.sum(axis=-1, keepdims=True)
        return kernel

    def num_kernel_to_prune(self, view: MethodView, entry, sparsity: float) -> int:
        """How many kernel groups of ``entry`` to prune at ``sparsity``.

        ``ceil(sparsity * N_g)`` as in the SPP authors' code
        (docs/methods/spp.md#target-count), at most ``N_g - 1`` so a layer
        is never emptied.
        """
        total = int(np.prod(entry.layer.kernel_mask.shape))
        return min(total - 1, int(np.ceil(sparsity * total - 1e-9)))

    def init(self, view: MethodView) -> None:
        """Build the method's run state from its variables (default: nothing).

        Called once before the first :meth:`update` of a run, and again
        whenever the state was re-read from the model (a reloaded model, a
        new ``fit``). Methods with a stateful part load their NumPy working
        copies here (``view.run_state(self, build)``).
        """
        del view

    def update(self, view: MethodView, step: int) -> None:
        """Decide the keep flags of every group whose schedule fires at ``step``.

        Pruning is monotone: channels masked earlier stay masked (as in Li et
        al.'s one-way pruning and tfmot's schedules); each update masks the
        lowest-scored of the still-kept units until the group reaches the
        count given by :meth:`num_to_prune`. With a budget
        (``prune(..., target=...)``) the counts come from the shared
        allocation instead (:meth:`tfprune.Pruner.apply_budget`), at the
        fraction of the way to the target the schedule has reached. Kernel
        groups (column / weight granularity) are handled per layer, with
        :meth:`kernel_scores` and :meth:`num_kernel_to_prune`.
        """
        for entry in view.kernel_entries:
            should_prune, sparsity = view.kernel_schedule(entry)(step)
            if should_prune:
                self.prune_kernel(view, entry, float(sparsity))
        if view.budget is not None:
            progress = view.budget_progress(step)
            if progress is not None:
                view.apply_budget(self, progress, strict=False)
            return
        sparsities = {}
        for group in view.active_groups:
            should_prune, sparsity = view.schedule_of(group)(step)
            if should_prune:
                sparsities[group.id] = float(sparsity)
        self.prune_groups(view, sparsities)

    def one_shot(self, view: MethodView) -> None:
        """Prune at once to the final state of the schedules (or the budget).

        What :func:`tfprune.one_shot` runs, without training. Methods whose
        selection needs training (SPP's sampled masks, StructADMM's ADMM
        phase) refuse it (``supports_one_shot = False``).
        """
        for entry in view.kernel_entries:
            self.prune_kernel(view, entry, view.final_sparsity(view.kernel_schedule(entry)))
        if view.budget is not None:
            view.apply_budget(self, 1.0)
            return
        self.prune_groups(
            view, {g.id: view.final_sparsity(view.schedule_of(g)) for g in view.active_groups}
        )

    def prune_kernel(self, view: MethodView, entry, sparsity: float) -> None:
        """Mask the lowest-scored kernel groups of one wrapper up to ``sparsity``."""
        keep = view.kernel_keep(entry)
        extra = self.num_kernel_to_prune(view, entry, sparsity) - int((~keep).sum())
        if extra <= 0:
            return
        flat = keep.reshape(-1)
        scores = self.kernel_scores(view, entry).reshape(-1)
        candidates = np.flatnonzero(flat)
        order = candidates[np.argsort(scores[candidates], kind="stable")]
        flat[order[:extra]] = False
        view.set_kernel_keep(entry, keep)

    def prune_groups(self, view: MethodView, sparsities: dict[str, float]) -> None:
        """Mask the lowest-scored kept units of each group up to its sparsity."""
        for group in view.active_groups:
            if group.id not in sparsities:
                continue
            target = self.num_to_prune(view, group, sparsities[group.id])
            keep = view.group_keep(group)
            extra = target - int((~keep).sum())
            if extra <= 0:
                continue
            scores = self.scores(view, group)
            candidates = np.flatnonzero(keep)
            order = candidates[np.argsort(scores[candidates], kind="stable")]
            keep[order[:extra]] = False
            view.set_group_keep(group, keep)

    def on_epoch_end(self, view: MethodView, epoch: int) -> None:
        """Hook for methods with per-epoch updates (default: nothing)."""
        del view, epoch

    def check_schedules(self, schedules: list) -> None:
        """Raise a clear error if the method cannot run with ``schedules``.

        Called by :func:`tfprune.prune` with every schedule it assigns
        (default: any schedule is fine).
        """
        del schedules

    def epoch_logs(self, view: MethodView) -> dict[str, float]:
        """Scalars :class:`tfprune.UpdatePruning` adds to the epoch logs (default: none).

        ``keras.callbacks.TensorBoard`` (placed after ``UpdatePruning`` in
        the callbacks) writes them as scalars.
        """
        del view
        return {}

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PruningMethod:
        return cls(**config)
