"""``Target``: a FLOPs or parameter budget, relative or absolute."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from typing import Any

METRICS = ("flops", "params")


@dataclasses.dataclass(frozen=True)
class Target:
    """A budget for the pruned model.

    Attributes:
        metric: ``"flops"`` (multiply-accumulates, as :func:`tfprune.count_flops`)
            or ``"params"`` (as :func:`tfprune.count_params`).
        value: a fraction of the dense model's cost in ``(0, 1]``, or an
            absolute count (> 1), e.g. ``2e6`` MACs or ``1_000_000``
            parameters.

    ``Target.parse`` accepts what ``tfprune.prune(target=...)`` takes: a
    number (a FLOPs fraction or count), ``{"flops": 0.5}``,
    ``{"params": 1e6}``, the strings ``"flops=0.5"`` / ``"params=1e6"``, or a
    ``Target``.
    """

    metric: str
    value: float

    def __post_init__(self):
        if self.metric not in METRICS:
            msg = (
                f"A pruning target measures one of {METRICS}. Received: "
                f"{self.metric!r}. Example: target={{'flops': 0.5}}."
            )
            raise ValueError(msg)
        value = self.value
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 or value != value:
            msg = (
                f"A pruning target must be a positive number: a fraction of the "
                f"dense model in (0, 1] or an absolute count > 1. Received: "
                f"{self.metric}={value!r}."
            )
            raise ValueError(msg)
        object.__setattr__(self, "value", float(value))

    @property
    def relative(self) -> bool:
        """Whether ``value`` is a fraction of the dense model."""
        return self.value <= 1.0

    def absolute(self, dense: float) -> float:
        """The budget as a count, given the dense model's cost."""
        return self.value * dense if self.relative else self.value

    def describe(self, dense: float | None = None) -> str:
        """``"flops <= 0.5 x dense (4.68e+06)"``-style text for messages."""
        if self.relative:
            text = f"{self.metric} <= {self.value:g} x dense"
            return text if dense is None else f"{text} ({self.absolute(dense):.4g})"
        return f"{self.metric} <= {self.value:.6g}"

    def get_config(self) -> dict[str, Any]:
        return {"metric": self.metric, "value": self.value}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Target:
        return cls(**config)

    @classmethod
    def parse(cls, target: Any) -> Target:
        """A ``Target`` from any form ``prune(target=...)`` accepts."""
        if isinstance(target, Target):
            return target
        if isinstance(target, numbers.Real) and not isinstance(target, bool):
            return cls("flops", target)
        if isinstance(target, str) and "=" in target:
            metric, _, value = target.partition("=")
            try:
                number = float(value)
            except ValueError:
                number = value
            return cls(metric.strip().lower(), number)
        if isinstance(target, Mapping) and len(target) == 1:
            ((metric, value),) = target.items()
            return cls(str(metric).lower(), value)
        if isinstance(target, Mapping) and set(target) == {"metric", "value"}:
            return cls.from_config(target)
        msg = (
            "Argument `target` must be a FLOPs fraction (e.g. 0.5), "
            "{'flops': 0.5}, {'params': 1e6}, 'flops=0.5' or a "
            f"tfprune.Target. Received: target={target!r}."
        )
        raise ValueError(msg)
