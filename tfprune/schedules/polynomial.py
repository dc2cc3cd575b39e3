"""`PolynomialDecay`: sparsity that ramps up fast, then levels off.

The gradual pruning schedule of Zhu & Gupta, "To prune, or not to prune:
exploring the efficacy of pruning for model compression", ICLR Workshop 2018,
https://arxiv.org/abs/1710.01878, with the formula of tfmot's
`PolynomialDecay`.
"""

from __future__ import annotations

import numbers
from typing import Any

import keras

from tfprune import _validation, errors
from tfprune.schedules import base


def _polynomial_sparsity(
    step: int,
    initial_sparsity: float,
    final_sparsity: float,
    begin_step: int,
    end_step: int,
    power: float,
) -> float:
    r"""Sparsity of the polynomial decay schedule at `step`.

    Implements Eq. (1) of Zhu & Gupta (2018), as written in tfmot:

    .. math::

        p = \mathrm{clip}\left(
            \frac{step - begin\_step}{end\_step - begin\_step}, 0, 1\right)

        s = final\_sparsity + (initial\_sparsity - final\_sparsity)
            (1 - p)^{power}

    Args:
        step: The training step.
        initial_sparsity: Sparsity at `begin_step` (and before).
        final_sparsity: Sparsity at `end_step` (and after).
        begin_step: Step at which the ramp starts.
        end_step: Step at which the ramp ends; > `begin_step`.
        power: Exponent of the decay.

    Returns:
        The sparsity `s`, a Python float.
    """
    progress = (step - begin_step) / (end_step - begin_step)
    progress = min(1.0, max(0.0, progress))
    return float(
        final_sparsity
        + (initial_sparsity - final_sparsity) * (1.0 - progress) ** power
    )


@keras.saving.register_keras_serializable(package="tfprune")
class PolynomialDecay(base.PruningSchedule):
    """Ramp the sparsity from `initial_sparsity` to `final_sparsity`.

    Between `begin_step` and `end_step` the sparsity follows
    ``final + (initial - final) * (1 - p) ** power`` with
    ``p = (step - begin_step) / (end_step - begin_step)`` clipped to
    `[0, 1]`: it grows fast at first, then levels off (Zhu & Gupta, 2018,
    https://arxiv.org/abs/1710.01878). The masks are updated at the steps
    ``begin_step, begin_step + frequency, ...`` up to and including
    `end_step`. Same semantics and formula as tfmot's `PolynomialDecay`.

    Args:
        initial_sparsity: Sparsity at `begin_step`, in `[0, 1)`.
        final_sparsity: Sparsity at `end_step` and after, in `[0, 1)`.
        begin_step: Step at which the ramp starts; an integer >= 0.
        end_step: Step at which the ramp ends; an integer > `begin_step`.
        power: Exponent of the decay, > 0. Defaults to 3.
        frequency: Update the masks every `frequency` steps, counted from
            `begin_step`. Defaults to 100.

    Raises:
        PruningArgumentError: If an argument is out of range.

    Example:

    >>> schedule = PolynomialDecay(0.0, 0.5, begin_step=0, end_step=100,
    ...                            frequency=10)
    >>> schedule(0)
    (True, 0.0)
    >>> schedule(50)
    (True, 0.4375)
    >>> should_prune, sparsity = schedule(51)
    >>> should_prune, round(sparsity, 4)
    (False, 0.4412)
    >>> schedule(200)
    (False, 0.5)
    """

    def __init__(
        self,
        initial_sparsity: float,
        final_sparsity: float,
        begin_step: int,
        end_step: int,
        power: float = 3,
        frequency: int = 100,
    ) -> None:
        self.initial_sparsity = _validation.check_fraction(
            "initial_sparsity", initial_sparsity
        )
        self.final_sparsity = _validation.check_fraction(
            "final_sparsity", final_sparsity
        )
        self.begin_step = base._check_step("begin_step", begin_step)
        self.end_step = base._check_end_step(
            end_step, self.begin_step, allow_never=False
        )
        if (
            isinstance(power, bool)
            or not isinstance(power, numbers.Real)
            or not power > 0
        ):
            msg = (
                "Argument `power` must be a number > 0 (3 gives the usual "
                "fast-then-slow ramp, 1 a linear one). "
                f"Received: power={power!r}."
            )
            raise errors.PruningArgumentError(msg)
        self.power: float = (
            int(power) if isinstance(power, numbers.Integral) else float(power)
        )
        self.frequency: int = base._check_frequency(frequency)

    def __call__(self, step: Any) -> tuple[bool, float]:
        """Return ``(should_prune, sparsity)`` at `step`."""
        step = base._to_step(step)
        should_prune = base._should_prune_in_interval(
            step, self.begin_step, self.end_step, self.frequency
        )
        sparsity = _polynomial_sparsity(
            step,
            self.initial_sparsity,
            self.final_sparsity,
            self.begin_step,
            self.end_step,
            self.power,
        )
        return should_prune, sparsity

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments."""
        return {
            "initial_sparsity": self.initial_sparsity,
            "final_sparsity": self.final_sparsity,
            "begin_step": self.begin_step,
            "end_step": self.end_step,
            "power": self.power,
            "frequency": self.frequency,
        }
