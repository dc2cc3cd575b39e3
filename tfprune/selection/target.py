"""``Target``: a FLOPs, parameter or latency budget, relative or absolute."""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from typing import Any

METRICS = ("flops", "params", "latency", "latency_ms")
#: Measured LiteRT latency: ``latency`` is a fraction of the dense model's,
#: ``latency_ms`` milliseconds (docs/budgets.md, "Latency budgets").
LATENCY_METRICS = ("latency", "latency_ms")
QUANTIZATIONS = (None, "int8")


@dataclasses.dataclass(frozen=True)
class Target:
    """A budget for the pruned model.

    Attributes:
        metric: ``"flops"`` (multiply-accumulates, as :func:`tfprune.count_flops`)
            or ``"params"`` (as :func:`tfprune.count_params`).
            or ``"latency"`` / ``"latency_ms"`` (LiteRT latency at batch 1,
            measured per layer: :mod:`tfprune.latency`).
        value: a fraction of the dense model's cost in ``(0, 1]``, or an
            absolute count (> 1), e.g. ``2e6`` MACs or ``1_000_000``
            parameters. ``latency`` is always a fraction of the dense
            model's measured latency, ``latency_ms`` always milliseconds.
        threads: interpreter threads the latency is measured with.
        quantize: ``None`` (float32) or ``"int8"`` (full integer), for latency.

    ``Target.parse`` accepts what ``tfprune.prune(target=...)`` takes: a
    number (a FLOPs fraction or count), ``{"flops": 0.5}``,
    ``{"params": 1e6}``, ``{"latency": 0.5, "threads": 2}``,
    ``{"latency_ms": 3.0, "quantize": "int8"}``, the strings
    ``"flops=0.5"`` / ``"params=1e6"`` / ``"latency=0.5"``, or a ``Target``.
    """

    metric: str
    value: float
    threads: int = 1
    quantize: str | None = None

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
        if self.metric == "latency" and self.value > 1.0:
            msg = (
                "A `latency` target is a fraction of the dense model's measured "
                f"latency in (0, 1]. Received: latency={value!r}. For milliseconds "
                f"use {{'latency_ms': {value!r}}}."
            )
            raise ValueError(msg)
        threads = self.threads
        if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads < 1:
            msg = f"`threads` of a latency target must be a positive int. Received: threads={threads!r}."
            raise ValueError(msg)
        if self.quantize not in QUANTIZATIONS:
            msg = f"`quantize` of a latency target must be one of {QUANTIZATIONS}. Received: quantize={self.quantize!r}."
            raise ValueError(msg)
        if self.metric not in LATENCY_METRICS and (threads != 1 or self.quantize is not None):
            msg = (
                f"`threads` and `quantize` only apply to latency targets; a {self.metric} "
                f"target does not depend on them. Received: threads={threads!r}, quantize={self.quantize!r}."
            )
            raise ValueError(msg)
        object.__setattr__(self, "threads", int(threads))

    @property
    def relative(self) -> bool:
        """Whether ``value`` is a fraction of the dense model."""
        if self.metric in LATENCY_METRICS:
            return self.metric == "latency"
        return self.value <= 1.0

    @property
    def is_latency(self) -> bool:
        """Whether the target is a measured latency."""
        return self.metric in LATENCY_METRICS

    def absolute(self, dense: float) -> float:
        """The budget as a count, given the dense model's cost."""
        return self.value * dense if self.relative else self.value

    def describe(self, dense: float | None = None) -> str:
        """``"flops <= 0.5 x dense (4.68e+06)"``-style text for messages."""
        setting = ""
        if self.is_latency:
            setting = f" (LiteRT, {self.threads} thread(s), {self.quantize or 'float32'}, ms)"
        if self.relative:
            text = f"{self.metric} <= {self.value:g} x dense"
            return (text if dense is None else f"{text} ({self.absolute(dense):.4g})") + setting
        return f"{self.metric} <= {self.value:.6g}{setting}"

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"metric": self.metric, "value": self.value}
        if self.is_latency:
            config.update(threads=self.threads, quantize=self.quantize)
        return config

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
        if isinstance(target, Mapping) and {"metric", "value"} <= set(target):
            return cls.from_config(target)
        if isinstance(target, Mapping):
            settings = {k: target[k] for k in ("threads", "quantize") if k in target}
            rest = {k: v for k, v in target.items() if k not in settings}
            if len(rest) == 1:
                ((metric, value),) = rest.items()
                return cls(str(metric).lower(), value, **settings)
        msg = (
            "Argument `target` must be a FLOPs fraction (e.g. 0.5), "
            "{'flops': 0.5}, {'params': 1e6}, {'latency': 0.5, 'threads': 1}, "
            "{'latency_ms': 3.0}, 'flops=0.5' or a "
            f"tfprune.Target. Received: target={target!r}."
        )
        raise ValueError(msg)
