"""`PruningSchedule`: when to prune, and to which sparsity.

A schedule keeps the contract of `tensorflow_model_optimization` (tfmot):
calling it with the current training step returns a pair
``(should_prune, sparsity)``. The step is a plain Python integer, so a
schedule is evaluated eagerly by the pruning callback, outside the compiled
training step; the result is a Python ``bool`` and a Python ``float``.
"""

from __future__ import annotations

import abc
import numbers
import operator
from typing import Any, cast

import keras

from tfprune import _validation, errors


@keras.saving.register_keras_serializable(package="tfprune")
class PruningSchedule(abc.ABC):
    """Base class of pruning schedules.

    A schedule answers two questions for a training step: should the masks be
    updated at this step, and what fraction of the channels (the sparsity, in
    `[0, 1)`) should be pruned. Subclasses implement `__call__` and
    `get_config`; `from_config` is `cls(**config)`.

    The contract is the one of tfmot's `PruningSchedule`, so a tfmot
    `PolynomialDecay` or `ConstantSparsity` can be given wherever tfprune
    takes a schedule (see `tfprune.schedules.get`). Unlike tfmot, a tfprune
    schedule is evaluated eagerly, in Python, and returns Python values, not
    tensors.

    Example:

    >>> from tfprune import schedules
    >>> schedule = schedules.ConstantSparsity(0.5, begin_step=10, frequency=5)
    >>> schedule(15)
    (True, 0.5)
    >>> schedule(16)
    (False, 0.5)
    """

    @abc.abstractmethod
    def __call__(self, step: Any) -> tuple[bool, float]:
        """Return ``(should_prune, sparsity)`` at training step `step`.

        Args:
            step: The current training step: a Python int, or a numpy or
                eager tensor scalar (converted with `int()`).

        Returns:
            A pair ``(should_prune, sparsity)``: a Python bool (whether the
            masks are updated at this step) and a Python float in `[0, 1)`.
        """

    @abc.abstractmethod
    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments as a flat, JSON-able dict."""

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> PruningSchedule:
        """Create a schedule from the output of `get_config()`."""
        return cls(**config)

    def __repr__(self) -> str:
        arguments = ", ".join(
            f"{k}={v!r}" for k, v in self.get_config().items()
        )
        return f"{type(self).__name__}({arguments})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PruningSchedule) or type(other) is not type(
            self
        ):
            return NotImplemented
        return self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash(
            (type(self).__name__, tuple(sorted(self.get_config().items())))
        )


def _to_step(step: Any) -> int:
    """Convert a training step (int, numpy or eager tensor scalar) to int."""
    if isinstance(step, (bool, str, bytes)):
        msg = f"Argument `step` must be an integer. Received: step={step!r}."
        raise errors.PruningArgumentError(msg)
    try:
        return operator.index(step)
    except (TypeError, AttributeError):
        pass
    value: int | None = None
    whole = False
    cause: Exception | None = None
    try:
        value = int(step)
        whole = float(step) == value
    except (TypeError, ValueError, AttributeError) as error:
        cause = error
    if not isinstance(value, int):
        # Also the case of a symbolic tensor inside `tf.function`, where
        # AutoGraph turns `int(step)` into a cast.
        msg = (
            "Argument `step` must be an integer, a numpy integer or an eager "
            "tensor scalar. Schedules are evaluated in Python, outside the "
            "compiled training step: pass e.g. "
            "`int(model.optimizer.iterations.numpy())`. "
            f"Received: step={step!r} (type {type(step).__name__})."
        )
        raise errors.PruningArgumentError(msg) from cause
    if not whole:
        msg = (
            f"Argument `step` must be a whole number. Received: step={step!r}."
        )
        raise errors.PruningArgumentError(msg)
    return value


def _check_step(name: str, value: object) -> int:
    """Return `value` as an int >= 0 or raise a clear error."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < 0
    ):
        msg = (
            f"Argument `{name}` must be an integer >= 0 (a training step). "
            f"Received: {name}={value!r}."
        )
        raise errors.PruningArgumentError(msg)
    return int(value)


def _check_frequency(value: object) -> int:
    """Return `value` as an int >= 1 or raise a clear error."""
    # Never None: `allow_none` is False.
    return cast(int, _validation.check_positive_int("frequency", value))


def _check_end_step(
    end_step: object, begin_step: int, *, allow_never: bool
) -> int:
    """Return `end_step` as an int, checked against `begin_step`.

    With `allow_never`, `end_step=-1` means "never ends" and any other value
    must be >= `begin_step`; otherwise it must be > `begin_step`.
    """
    if isinstance(end_step, bool) or not isinstance(end_step, numbers.Integral):
        msg = (
            f"Argument `end_step` must be an integer. "
            f"Received: end_step={end_step!r}."
        )
        raise errors.PruningArgumentError(msg)
    end_step = int(end_step)
    if allow_never:
        if end_step != -1 and end_step < begin_step:
            msg = (
                "Argument `end_step` must be -1 (prune until the end of "
                "training) or >= `begin_step`. "
                f"Received: begin_step={begin_step}, end_step={end_step}."
            )
            raise errors.PruningArgumentError(msg)
    elif end_step <= begin_step:
        msg = (
            "Argument `end_step` must be > `begin_step`: the sparsity ramps "
            "from `begin_step` to `end_step`. To prune at a constant sparsity "
            "with no end, use `ConstantSparsity`. "
            f"Received: begin_step={begin_step}, end_step={end_step}."
        )
        raise errors.PruningArgumentError(msg)
    return end_step


def _should_prune_in_interval(
    step: int, begin_step: int, end_step: int, frequency: int
) -> bool:
    """Return whether the masks are updated at `step` (tfmot's rule).

    Pruning happens when ``begin_step <= step <= end_step`` (with
    ``end_step == -1`` meaning the interval never ends) and
    ``(step - begin_step) % frequency == 0``.

    Args:
        step: The current training step.
        begin_step: First step at which pruning may happen.
        end_step: Last step at which pruning may happen, or -1 for never.
        frequency: Prune every `frequency` steps, counted from `begin_step`.

    Returns:
        A Python bool.
    """
    in_interval = step >= begin_step and (end_step < 0 or step <= end_step)
    return in_interval and (step - begin_step) % frequency == 0
