"""`IntervalSchedule`: *when* to prune, for methods that decide *how much*."""

from __future__ import annotations

from typing import Any

import keras

from tfprune import _validation
from tfprune.schedules import base


@keras.saving.register_keras_serializable(package="tfprune")
class IntervalSchedule(base.PruningSchedule):
    """Fire every `frequency` steps in ``[begin_step, end_step]``; cap at `max_sparsity`.

    For methods whose selection rule decides the number of pruned channels
    (fuzzy pruning's alpha-cut), the schedule only says when the rule runs;
    the returned sparsity is an upper bound on the fraction of each group's
    channels that may be pruned in total, not a target. Methods that treat
    the sparsity as a target (L1/L2) would prune straight to `max_sparsity`
    at `begin_step`, like `ConstantSparsity`.

    Args:
        begin_step: First step at which the rule runs. Defaults to 0.
        end_step: Last step at which it may run, or -1 (until the end of
            training). Defaults to -1.
        frequency: Run every `frequency` steps from `begin_step`.
            Defaults to 100.
        max_sparsity: Largest fraction of a group's channels that may be
            pruned, in `[0, 1)`. Defaults to 0.9.

    Example:

    >>> schedule = IntervalSchedule(begin_step=10, end_step=30, frequency=10, max_sparsity=0.8)
    >>> schedule(10), schedule(15), schedule(30), schedule(40)
    ((True, 0.8), (False, 0.8), (True, 0.8), (False, 0.8))
    """

    def __init__(
        self,
        begin_step: int = 0,
        end_step: int = -1,
        frequency: int = 100,
        max_sparsity: float = 0.9,
    ) -> None:
        self.begin_step = base._check_step("begin_step", begin_step)
        self.end_step = base._check_end_step(end_step, self.begin_step, allow_never=True)
        self.frequency: int = base._check_frequency(frequency)
        self.max_sparsity = _validation.check_fraction("max_sparsity", max_sparsity)

    def __call__(self, step: Any) -> tuple[bool, float]:
        """Return ``(should_prune, max_sparsity)`` at `step`."""
        step = base._to_step(step)
        should_prune = base._should_prune_in_interval(step, self.begin_step, self.end_step, self.frequency)
        return should_prune, self.max_sparsity

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "begin_step": self.begin_step,
            "end_step": self.end_step,
            "frequency": self.frequency,
            "max_sparsity": self.max_sparsity,
        }
