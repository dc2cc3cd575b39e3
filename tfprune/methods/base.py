"""``PruningMethod``: the extension point every pruning method implements.

A method decides *which* channels of each group are masked and *when*. It is
called by :class:`tfprune.Pruner` through hooks that match what the seed
methods need (see research/methods-spec.md):

* :meth:`PruningMethod.on_train_batch_begin` runs before every training step
  (SPP resamples its masks there; the magnitude baseline updates on schedule
  steps);
* :meth:`PruningMethod.on_epoch_end` (StructADMM's periodic Z/U update);
* :meth:`PruningMethod.state_spec` declares extra per-layer state (SPP
  probabilities, ADMM ``Z``/``U``) created as non-trainable variables of each
  :class:`~tfprune.layers.PruningWrapper`, so it is saved in ``.keras`` files;
* :meth:`PruningMethod.penalty` adds a loss term from inside the wrapper
  (StructADMM's ``rho/2 ||W - Z + U||^2``) without touching ``compile``;
* :meth:`PruningMethod.num_to_prune` turns a target sparsity into a count
  (fuzzy pruning overrides it to let an alpha-cut decide);
* :meth:`PruningMethod.epoch_logs` returns scalars for the epoch logs
  (TensorBoard), :meth:`PruningMethod.default_schedule` a schedule for
  ``prune`` calls without ``sparsity``/``schedule``.

Methods are Keras-serializable objects whose config is stored in the wrappers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tfprune.graph import ChannelGroup
    from tfprune.layers import PruningWrapper
    from tfprune.pruner import Pruner


def kept_count(num_channels: int, sparsity: float, round_to: int | None) -> int:
    """Channels to keep out of ``num_channels`` at ``sparsity``.

    ``round(num_channels * (1 - sparsity))``, at least 1; with ``round_to`` the
    count is rounded to the nearest multiple of ``round_to`` (at least
    ``round_to``, at most ``num_channels``) so that widths stay fast on
    SIMD/XNNPACK kernels.
    """
    keep = max(1, int(round(num_channels * (1.0 - sparsity))))
    if round_to and round_to > 1:
        keep = max(round_to, int(round(keep / round_to)) * round_to)
    return min(keep, num_channels)


class PruningMethod:
    """Base class: schedule-driven, score-based selection of channels.

    Subclasses usually override :meth:`scores` only.

    Attributes:
        granularities: the ``granularity`` values of :func:`tfprune.prune`
            this method supports.
    """

    granularities: tuple[str, ...] = ("filter",)

    def scores(self, pruner: Pruner, group: ChannelGroup) -> np.ndarray:
        """Importance of each unit of ``group`` (higher = keep)."""
        raise NotImplementedError

    def state_spec(self, wrapper: PruningWrapper) -> dict[str, tuple[tuple[int, ...], str, str]]:
        """Extra non-trainable variables ``{name: (shape, dtype, initializer)}``."""
        del wrapper
        return {}

    def penalty(self, wrapper: PruningWrapper) -> Any:
        """Loss term added by ``wrapper`` in training, or None."""
        del wrapper
        return None

    def num_to_prune(self, pruner: Pruner, group: ChannelGroup, sparsity: float) -> int:
        """How many units of ``group`` should be pruned in total at ``sparsity``."""
        return group.num_channels - kept_count(group.num_channels, sparsity, pruner.round_to)

    def on_train_batch_begin(self, pruner: Pruner, step: int) -> None:
        """Update the masks of every group whose schedule fires at ``step``.

        Pruning is monotone: channels masked earlier stay masked (as in Li et
        al.'s one-way pruning and tfmot's schedules); each update masks the
        lowest-scored of the still-kept units until the group reaches the
        count given by :meth:`num_to_prune`.
        """
        changed = False
        for group in pruner.active_groups:
            should_prune, sparsity = pruner.schedule_of(group)(step)
            if not should_prune:
                continue
            target = self.num_to_prune(pruner, group, float(sparsity))
            keep = pruner.group_keep(group)
            already = int((~keep).sum())
            extra = target - already
            if extra <= 0:
                continue
            scores = self.scores(pruner, group)
            candidates = np.flatnonzero(keep)
            order = candidates[np.argsort(scores[candidates], kind="stable")]
            keep[order[:extra]] = False
            pruner.set_group_keep(group, keep)
            changed = True
        if changed:
            pruner.write_masks()

    def on_epoch_end(self, pruner: Pruner, epoch: int) -> None:
        """Hook for methods with per-epoch updates (default: nothing)."""
        del pruner, epoch

    def epoch_logs(self, pruner: Pruner) -> dict[str, float]:
        """Scalars :class:`tfprune.UpdatePruning` adds to the epoch logs (default: none).

        ``keras.callbacks.TensorBoard`` (placed after ``UpdatePruning`` in
        the callbacks) writes them as scalars.
        """
        del pruner
        return {}

    def default_schedule(self) -> Any:
        """Schedule used when ``prune`` gets neither ``sparsity`` nor ``schedule``.

        None (the default) means the method needs one of them.
        """
        return None

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PruningMethod:
        return cls(**config)
