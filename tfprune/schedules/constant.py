"""`ConstantSparsity`: the same target sparsity at every pruning step."""

from __future__ import annotations

from typing import Any

import keras

from tfprune import _validation
from tfprune.schedules import base


@keras.saving.register_keras_serializable(package="tfprune")
class ConstantSparsity(base.PruningSchedule):
    """Prune to a constant sparsity every `frequency` steps.

    The masks are updated at the steps ``begin_step, begin_step + frequency,
    ...`` up to and including `end_step` (``end_step=-1``: until the end of
    training), always to `target_sparsity`. Same semantics as tfmot's
    `ConstantSparsity`, except that `begin_step` defaults to 0.

    Args:
        target_sparsity: Fraction of the channels to prune, in `[0, 1)`.
        begin_step: First step at which the masks are updated. Defaults to 0.
        end_step: Last step at which the masks may be updated, or -1 to keep
            updating them until the end of training. Defaults to -1.
        frequency: Update the masks every `frequency` steps, counted from
            `begin_step`. Defaults to 100.

    Raises:
        PruningArgumentError: If an argument is out of range.

    Example:

    >>> schedule = ConstantSparsity(0.5, begin_step=100, frequency=50)
    >>> schedule(99), schedule(100), schedule(120), schedule(150)
    ((False, 0.5), (True, 0.5), (False, 0.5), (True, 0.5))
    """

    def __init__(
        self,
        target_sparsity: float,
        begin_step: int = 0,
        end_step: int = -1,
        frequency: int = 100,
    ) -> None:
        self.target_sparsity = _validation.check_fraction(
            "target_sparsity", target_sparsity
        )
        self.begin_step = base._check_step("begin_step", begin_step)
        self.end_step = base._check_end_step(
            end_step, self.begin_step, allow_never=True
        )
        self.frequency: int = base._check_frequency(frequency)

    def __call__(self, step: Any) -> tuple[bool, float]:
        """Return ``(should_prune, target_sparsity)`` at `step`."""
        step = base._to_step(step)
        should_prune = base._should_prune_in_interval(
            step, self.begin_step, self.end_step, self.frequency
        )
        return should_prune, self.target_sparsity

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "target_sparsity": self.target_sparsity,
            "begin_step": self.begin_step,
            "end_step": self.end_step,
            "frequency": self.frequency,
        }
