"""Pruning methods. ``get("l1")`` returns a method object."""

from __future__ import annotations

from typing import Any

from tfprune import errors
from tfprune.methods.base import PruningMethod, kept_count
from tfprune.methods.magnitude import MagnitudePruning

__all__ = ["MagnitudePruning", "PruningMethod", "get", "kept_count"]

_FACTORIES = {
    "l1": lambda: MagnitudePruning(ord=1),
    "l2": lambda: MagnitudePruning(ord=2),
}


def get(identifier: Any) -> PruningMethod:
    """A method from its name (``"l1"``, ``"l2"``) or an instance."""
    if isinstance(identifier, PruningMethod):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _FACTORIES:
        return _FACTORIES[identifier.lower()]()
    msg = (
        f"Unknown pruning method {identifier!r}. Expected one of "
        f"{sorted(_FACTORIES)} or a tfprune.methods.PruningMethod instance."
    )
    raise errors.PruningArgumentError(msg)
