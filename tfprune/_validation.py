"""Small argument checks shared by the public functions."""

from __future__ import annotations

import numbers

from tfprune import errors


def check_fraction(name: str, value: object, *, allow_one: bool = False) -> float:
    """Return ``value`` as a float in [0, 1) (or [0, 1]) or raise a clear error."""
    upper = "1]" if allow_one else "1)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = (
            f"Argument `{name}` must be a number in [0, {upper}. "
            f"Received: {name}={value!r} (type {type(value).__name__})."
        )
        raise errors.PruningArgumentError(msg)
    value = float(value)
    ok = 0.0 <= value <= 1.0 if allow_one else 0.0 <= value < 1.0
    if not ok:
        msg = (
            f"Argument `{name}` must be a fraction in [0, {upper}, "
            f"e.g. 0.5 to remove half of the channels. Received: {name}={value}."
        )
        raise errors.PruningArgumentError(msg)
    return value


def check_positive_int(name: str, value: object, *, allow_none: bool = False) -> int | None:
    """Return ``value`` as an int >= 1 (or None when allowed) or raise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        hint = " or None" if allow_none else ""
        msg = f"Argument `{name}` must be an integer >= 1{hint}. Received: {name}={value!r}."
        raise errors.PruningArgumentError(msg)
    return int(value)
