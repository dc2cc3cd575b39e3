"""Pruning methods. ``get("l1")`` returns a method object."""

from __future__ import annotations

import inspect
from typing import Any

from tfprune import errors
from tfprune.methods.admm import StructADMM
from tfprune.methods.base import PruningMethod, kept_count
from tfprune.methods.fuzzy import FuzzyPruning
from tfprune.methods.lrf import LinearReplaceable
from tfprune.methods.magnitude import MagnitudePruning
from tfprune.methods.spp import StructuredProbabilisticPruning, spp_increment, spp_update

__all__ = [
    "FuzzyPruning",
    "MagnitudePruning",
    "PruningMethod",
    "StructADMM",
    "StructuredProbabilisticPruning",
    "LinearReplaceable",
    "get",
    "kept_count",
    "spp_increment",
    "spp_update",
]

#: ``name -> (class, default options)``; ``prune(model, name, **options)``
#: builds ``class(**{**defaults, **options})``.
_FACTORIES: dict[str, tuple[type[PruningMethod], dict[str, Any]]] = {
    "l1": (MagnitudePruning, {"ord": 1}),
    "l2": (MagnitudePruning, {"ord": 2}),
    "spp": (StructuredProbabilisticPruning, {}),
    "fuzzy": (FuzzyPruning, {}),
    "lrf": (LinearReplaceable, {}),
    "admm": (StructADMM, {}),
}


def get(identifier: Any, **options: Any) -> PruningMethod:
    """A method from its name (``"l1"``, ``"l2"``, ...) or an instance.

    ``options`` are the method's constructor arguments (e.g. ``A=0.05`` for
    SPP); they are only accepted with a name.
    """
    if isinstance(identifier, PruningMethod):
        if options:
            msg = (
                f"Method options {sorted(options)} were given together with a "
                f"{type(identifier).__name__} instance. Pass them to its "
                "constructor instead, or pass the method by name."
            )
            raise errors.PruningArgumentError(msg)
        return identifier
    key = identifier.lower() if isinstance(identifier, str) else None
    if key not in _FACTORIES:
        msg = (
            f"Unknown pruning method {identifier!r}. Expected one of "
            f"{sorted(_FACTORIES)} or a tfprune.methods.PruningMethod instance."
        )
        raise errors.PruningArgumentError(msg)
    cls, defaults = _FACTORIES[key]
    accepted = [
        name for name, p in inspect.signature(cls).parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in defaults
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        msg = (
            f"Unknown option(s) {unknown} for pruning method {identifier!r}. "
            f"It accepts: {accepted or 'no options'}."
        )
        raise errors.PruningArgumentError(msg)
    try:
        return cls(**{**defaults, **options})
    except (TypeError, ValueError) as exc:
        msg = f"Invalid option for pruning method {identifier!r}: {exc}"
        raise errors.PruningArgumentError(msg) from exc
