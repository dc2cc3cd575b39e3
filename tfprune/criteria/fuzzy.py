"""Fuzzy membership functions and alpha-cuts (pure NumPy, no graph knowledge).

Zhao, Li, Shang, "Fuzzy Pruning for Compression of Convolutional Neural
Networks", FUZZ-IEEE 2019, DOI 10.1109/FUZZ-IEEE.2019.8858894, give every
filter two fuzzy memberships, *importance* ``mu_I`` and *non-importance*
``mu_U``, and prune the filters selected by an alpha-cut. Only the abstract
of that paper could be read (docs/methods/fuzzy.md#what-is-reconstructed):
**the exact membership functions, their breakpoints and the alpha values
are not known**. What is here is tfprune's reconstruction:

* linear ramps (the shape a citing paper, Yun et al. 2023, attributes to
  Zhao et al.)::

      mu_I(s) = 0 (s <= a),  (s - a)/(b - a) (a < s < b),  1 (s >= b)
      mu_U(s) = 1 (s <= a),  (b - s)/(b - a) (a < s < b),  0 (s >= b)

  with fixed breakpoints (default ``a = 0.1, b = 0.5`` on scores normalised
  to ``[0, 1]``), or breakpoints at score quantiles (``Q_0.25, Q_0.75``, the
  variant of Yun et al.);
* the alpha-cut ``^alpha A = {x | A(x) >= alpha}`` (standard definition);
* alternative shapes, since the original ones are unknown: a general
  :class:`Trapezoid`, a Gaussian shoulder (:class:`Gaussian`) and a logistic
  (:class:`Sigmoid`), all placed by the same two breakpoints ``(a, b)``.

Every membership is an independent object: ``mu_U`` is *not* defined as
``1 - mu_I``, so the two functions can have different shapes and
breakpoints (our reading of "two membership functions";
docs/methods/fuzzy.md#choice-independent).

Breakpoints are either fixed score values or, with ``quantiles=True``,
quantile levels in ``[0, 1]`` turned into score values on the scores the
function is evaluated on (``numpy.quantile``, linear interpolation).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import keras
import numpy as np

from tfprune import errors

__all__ = [
    "Gaussian",
    "Membership",
    "Ramp",
    "Sigmoid",
    "Trapezoid",
    "alpha_cut",
    "get_membership",
]


def alpha_cut(membership: np.ndarray, alpha: float) -> np.ndarray:
    """The alpha-cut ``{x | A(x) >= alpha}`` as a boolean mask.

    Args:
        membership: membership degrees ``A(x)`` in ``[0, 1]``.
        alpha: the cut level, in ``[0, 1]``.

    Returns:
        ``membership >= alpha``, a boolean array of the same shape.
    """
    alpha = _check_unit("alpha", alpha)
    return np.asarray(membership, dtype=np.float64) >= alpha


def _check_unit(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        msg = f"Argument `{name}` must be a number in [0, 1]. Received: {name}={value!r}."
        raise errors.PruningArgumentError(msg)
    return float(value)


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        msg = f"Argument `{name}` must be a finite number. Received: {name}={value!r}."
        raise errors.PruningArgumentError(msg)
    return float(value)


class Membership:
    """Base class: a fuzzy membership function of normalised scores.

    Subclasses implement :meth:`evaluate` on score values with the breakpoints
    already resolved. ``__call__`` resolves quantile breakpoints first.

    Args:
        quantiles: if True, the breakpoints are quantile levels in ``[0, 1]``
            of the scores the function is called on, not score values.
    """

    #: Names of the constructor arguments that are breakpoints.
    breakpoint_names: tuple[str, ...] = ()

    def __init__(self, quantiles: bool = False):
        if not isinstance(quantiles, bool):
            msg = f"Argument `quantiles` must be True or False. Received: quantiles={quantiles!r}."
            raise errors.PruningArgumentError(msg)
        self.quantiles = quantiles

    def _check_breakpoints(self) -> None:
        values = [getattr(self, n) for n in self.breakpoint_names]
        given = [(n, v) for n, v in zip(self.breakpoint_names, values) if v is not None]
        for name, value in given:
            if self.quantiles:
                _check_unit(name, value)
            else:
                _check_number(name, value)
        for (n1, v1), (n2, v2) in zip(given, given[1:]):
            if v2 < v1:
                order = " <= ".join(n for n, _ in given)
                msg = (
                    f"{type(self).__name__} breakpoints must satisfy {order}. "
                    f"Received: {n1}={v1!r}, {n2}={v2!r}."
                )
                raise errors.PruningArgumentError(msg)

    def breakpoints(self, scores: np.ndarray) -> dict[str, float | None]:
        """The breakpoints as score values for ``scores``."""
        values = {n: getattr(self, n) for n in self.breakpoint_names}
        if not self.quantiles:
            return values
        scores = np.asarray(scores, dtype=np.float64).ravel()
        if scores.size == 0:
            return {n: (None if v is None else 0.0) for n, v in values.items()}
        return {n: (None if v is None else float(np.quantile(scores, v))) for n, v in values.items()}

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Membership degrees in ``[0, 1]`` of every score."""
        scores = np.asarray(scores, dtype=np.float64)
        return np.clip(self.evaluate(scores, **self.breakpoints(scores)), 0.0, 1.0)

    def evaluate(self, scores: np.ndarray, **breakpoints: float | None) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"quantiles": self.quantiles}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Membership:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.get_config() == other.get_config()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))


def _ramp(scores: np.ndarray, low: float, high: float) -> np.ndarray:
    """0 at or below ``low``, 1 at or above ``high``, linear in between."""
    if high <= low:  # degenerate: a step at `low` (both breakpoints equal)
        return (scores >= low).astype(np.float64)
    return np.clip((scores - low) / (high - low), 0.0, 1.0)


@keras.saving.register_keras_serializable(package="tfprune")
class Trapezoid(Membership):
    """Trapezoid: 0 up to ``a``, rises to 1 at ``b``, 1 up to ``c``, 0 from ``d``.

    ``a``/``b`` may both be None (no rising edge: 1 from minus infinity) and
    ``c``/``d`` may both be None (no falling edge: 1 up to plus infinity), so
    shoulders are trapezoids too. Breakpoints must be ordered
    ``a <= b <= c <= d``; an edge with equal breakpoints is a step.

    Args:
        a, b: start and end of the rising edge, or both None.
        c, d: start and end of the falling edge, or both None.
        quantiles: breakpoints are quantile levels of the scores.
    """

    breakpoint_names = ("a", "b", "c", "d")

    def __init__(self, a=None, b=None, c=None, d=None, quantiles: bool = False):
        super().__init__(quantiles)
        if (a is None) != (b is None) or (c is None) != (d is None):
            msg = (
                "Trapezoid breakpoints come in pairs: give both `a` and `b` (rising "
                "edge) or neither, and both `c` and `d` (falling edge) or neither. "
                f"Received: a={a!r}, b={b!r}, c={c!r}, d={d!r}."
            )
            raise errors.PruningArgumentError(msg)
        if a is None and c is None:
            msg = "Trapezoid needs at least one edge: give (a, b), (c, d) or both."
            raise errors.PruningArgumentError(msg)
        self.a, self.b, self.c, self.d = a, b, c, d
        self._check_breakpoints()

    def evaluate(self, scores, a=None, b=None, c=None, d=None):
        mu = np.ones_like(scores)
        if a is not None:
            mu = np.minimum(mu, _ramp(scores, a, b))
        if c is not None:
            mu = np.minimum(mu, 1.0 - _ramp(scores, c, d))
        return mu

    def get_config(self):
        return {"a": self.a, "b": self.b, "c": self.c, "d": self.d, **super().get_config()}


class _Shoulder(Membership):
    """A monotone membership placed by two breakpoints ``a <= b``.

    ``increasing=True`` (an *importance* shape) is low below ``a`` and 1 at
    or above ``b``; ``increasing=False`` (a *non-importance* shape) is the
    mirror image: 1 at or below ``a`` and low above ``b``.
    """

    breakpoint_names = ("a", "b")

    def __init__(self, a: float, b: float, increasing: bool = True, quantiles: bool = False):
        super().__init__(quantiles)
        if not isinstance(increasing, bool):
            msg = f"Argument `increasing` must be True or False. Received: increasing={increasing!r}."
            raise errors.PruningArgumentError(msg)
        self.a, self.b, self.increasing = a, b, increasing
        self._check_breakpoints()

    def evaluate(self, scores, a=None, b=None):
        if self.increasing:
            return self.rising(scores, a, b)
        # Mirror image: mu_U(s) = rising(a + b - s), 1 at s <= a, low at s >= b.
        return self.rising(a + b - scores, a, b)

    def rising(self, scores: np.ndarray, a: float, b: float) -> np.ndarray:
        raise NotImplementedError

    def get_config(self):
        return {"a": self.a, "b": self.b, "increasing": self.increasing, **super().get_config()}


@keras.saving.register_keras_serializable(package="tfprune")
class Ramp(_Shoulder):
    """Linear ramp (the reconstructed default of the fuzzy pruning method).

    ``increasing=True``: 0 at or below ``a``, ``(s - a)/(b - a)`` between,
    1 at or above ``b`` (``mu_I``). ``increasing=False``: 1 at or below
    ``a``, ``(b - s)/(b - a)`` between, 0 at or above ``b`` (``mu_U``).
    Equal to ``Trapezoid(a, b)`` and ``Trapezoid(c=a, d=b)`` respectively.

    Args:
        a, b: breakpoints, ``a <= b`` (``a == b`` is a step).
        increasing: rising (importance) or falling (non-importance).
        quantiles: breakpoints are quantile levels of the scores.
    """

    def rising(self, scores, a, b):
        return _ramp(scores, a, b)


@keras.saving.register_keras_serializable(package="tfprune")
class Gaussian(_Shoulder):
    """Gaussian shoulder: ``exp(-(s - b)^2 / (2 sigma^2))`` below ``b``, 1 above.

    ``sigma = (b - a) / width``, so the value at ``a`` is
    ``exp(-width^2 / 2)`` (0.011 for the default ``width=3``), not exactly 0.
    Falling version (``increasing=False``): 1 at or below ``a``, the mirrored
    Gaussian above.

    Args:
        a, b: breakpoints, ``a < b``.
        increasing: rising (importance) or falling (non-importance).
        width: number of standard deviations between ``a`` and ``b``.
        quantiles: breakpoints are quantile levels of the scores.
    """

    def __init__(self, a, b, increasing=True, width: float = 3.0, quantiles=False):
        super().__init__(a, b, increasing, quantiles)
        if _check_number("width", width) <= 0:
            msg = f"Argument `width` must be > 0. Received: width={width!r}."
            raise errors.PruningArgumentError(msg)
        self.width = float(width)

    def rising(self, scores, a, b):
        if b <= a:
            return (scores >= b).astype(np.float64)
        sigma = (b - a) / self.width
        return np.where(scores >= b, 1.0, np.exp(-np.square(scores - b) / (2.0 * sigma**2)))

    def get_config(self):
        return {**super().get_config(), "width": self.width}


@keras.saving.register_keras_serializable(package="tfprune")
class Sigmoid(_Shoulder):
    """Logistic ``1 / (1 + exp(-k (s - (a + b) / 2)))``, 0.5 midway.

    The slope ``k`` puts the value ``edge`` at ``a`` and ``1 - edge`` at
    ``b`` (default ``edge=0.05``). Falling version: its mirror image.

    Args:
        a, b: breakpoints, ``a < b``.
        increasing: rising (importance) or falling (non-importance).
        edge: value at ``a`` (rising), in ``(0, 0.5)``.
        quantiles: breakpoints are quantile levels of the scores.
    """

    def __init__(self, a, b, increasing=True, edge: float = 0.05, quantiles=False):
        super().__init__(a, b, increasing, quantiles)
        if not 0.0 < _check_number("edge", edge) < 0.5:
            msg = f"Argument `edge` must be in (0, 0.5). Received: edge={edge!r}."
            raise errors.PruningArgumentError(msg)
        self.edge = float(edge)

    def rising(self, scores, a, b):
        if b <= a:
            return (scores >= b).astype(np.float64)
        k = 2.0 * math.log((1.0 - self.edge) / self.edge) / (b - a)
        return 1.0 / (1.0 + np.exp(-k * (scores - 0.5 * (a + b))))

    def get_config(self):
        return {**super().get_config(), "edge": self.edge}


#: Shapes selectable by name.
SHAPES: dict[str, type[_Shoulder]] = {"ramp": Ramp, "gaussian": Gaussian, "sigmoid": Sigmoid}


def get_membership(identifier: Any) -> Membership:
    """A membership object from an instance or a Keras config dict."""
    if isinstance(identifier, Membership):
        return identifier
    if isinstance(identifier, dict):
        obj = keras.saving.deserialize_keras_object(identifier)
        if isinstance(obj, Membership):
            return obj
    msg = (
        "Expected a tfprune.criteria.fuzzy.Membership (Ramp, Trapezoid, Gaussian, "
        f"Sigmoid) or its serialized config. Received: {identifier!r}."
    )
    raise errors.PruningArgumentError(msg)
