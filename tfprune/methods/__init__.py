"""Pruning methods. ``get("l1")`` returns a method object; ``register_method`` adds one."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import keras

from tfprune import errors
from tfprune.methods.admm import StructADMM
from tfprune.methods.base import PruningMethod, kept_count
from tfprune.methods.fpgm import GeometricMedianPruning
from tfprune.methods.fuzzy import FuzzyPruning
from tfprune.methods.lrf import LinearReplaceable
from tfprune.methods.magnitude import MagnitudePruning
from tfprune.methods.spp import StructuredProbabilisticPruning, spp_increment, spp_update
from tfprune.methods.taylor import TaylorPruning

__all__ = [
    "FuzzyPruning",
    "GeometricMedianPruning",
    "MagnitudePruning",
    "PruningMethod",
    "StructADMM",
    "StructuredProbabilisticPruning",
    "LinearReplaceable",
    "TaylorPruning",
    "get",
    "kept_count",
    "register_method",
    "spp_increment",
    "spp_update",
]

#: ``name -> (class or factory, bound options)``; ``prune(model, name,
#: **options)`` builds ``class(**{**bound, **options})``.
_FACTORIES: dict[str, tuple[Callable[..., PruningMethod], dict[str, Any]]] = {
    "l1": (MagnitudePruning, {"ord": 1}),
    "l2": (MagnitudePruning, {"ord": 2}),
    "spp": (StructuredProbabilisticPruning, {}),
    "fuzzy": (FuzzyPruning, {}),
    "lrf": (LinearReplaceable, {}),
    "admm": (StructADMM, {}),
    "fpgm": (GeometricMedianPruning, {}),
    "taylor": (TaylorPruning, {}),
}
_BUILTIN = frozenset(_FACTORIES)


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
        _check_serializable(type(identifier), type(identifier).__name__)
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
        method = cls(**{**defaults, **options})
    except (TypeError, ValueError) as exc:
        msg = f"Invalid option for pruning method {identifier!r}: {exc}"
        raise errors.PruningArgumentError(msg) from exc
    if not isinstance(method, PruningMethod):
        msg = (
            f"The factory registered as pruning method {key!r} returned a "
            f"{type(method).__name__}, not a tfprune.methods.PruningMethod."
        )
        raise errors.PruningArgumentError(msg)
    _check_serializable(type(method), key)
    return method


def register_method(
    name: str,
    cls_or_factory: Callable[..., PruningMethod],
    *,
    override: bool = False,
    **bound_options: Any,
) -> None:
    """Make ``tfprune.prune(model, name, ...)`` build ``cls_or_factory``.

    The method is stored in the ``.keras`` file as its Keras config, so its
    class must be registered as a Keras serializable (decorate it with
    ``@keras.saving.register_keras_serializable(package="...")``) and its
    ``get_config`` must return its constructor arguments; loading a saved
    model in a new process needs the module that defines (and registers) it
    to be imported first. Most methods override
    :meth:`~tfprune.methods.PruningMethod.scores` only, e.g.::

        @keras.saving.register_keras_serializable(package="my_pkg")
        class MaxAbs(tfprune.methods.PruningMethod):
            def scores(self, pruner, group):
                ...  # one score per unit of `group`, higher = keep

        tfprune.register_method("maxabs", MaxAbs)
        pruned = tfprune.prune(model, "maxabs", sparsity=0.5)

    Args:
        name: the method's name (case-insensitive).
        cls_or_factory: a :class:`PruningMethod` subclass, or a function
            returning an instance of one (its arguments become the options of
            ``prune``).
        override: allow replacing a built-in method (``"l1"``, ``"fpgm"``,
            ...). Re-registering a name added by ``register_method`` is
            always allowed.
        **bound_options: constructor arguments fixed for this name (as
            ``"l2"`` is :class:`MagnitudePruning` with ``ord=2``); ``prune``
            refuses them as options.

    Raises:
        PruningArgumentError: a bad name, a built-in name without
            ``override=True``, a class that is not a Keras-serializable
            :class:`PruningMethod`, or bound options it does not accept.
    """
    if not isinstance(name, str) or not name.strip():
        msg = f"Argument `name` must be a non-empty string. Received: name={name!r}."
        raise errors.PruningArgumentError(msg)
    key = name.strip().lower()
    if key in _BUILTIN and not override:
        msg = (
            f"{key!r} is a built-in pruning method. Pick another name, or pass "
            "override=True to replace it."
        )
        raise errors.PruningArgumentError(msg)
    if isinstance(cls_or_factory, type):
        if not issubclass(cls_or_factory, PruningMethod):
            msg = (
                "Argument `cls_or_factory` must be a subclass of "
                f"tfprune.methods.PruningMethod or a function returning one. Received: {cls_or_factory!r}."
            )
            raise errors.PruningArgumentError(msg)
        _check_serializable(cls_or_factory, key)
    elif not callable(cls_or_factory):
        msg = (
            "Argument `cls_or_factory` must be a PruningMethod subclass or a "
            f"function returning one. Received: {cls_or_factory!r}."
        )
        raise errors.PruningArgumentError(msg)
    try:
        parameters = inspect.signature(cls_or_factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    unknown = sorted(set(bound_options) - set(parameters)) if not takes_any else []
    if unknown:
        msg = (
            f"Bound option(s) {unknown} are not arguments of {cls_or_factory!r}. "
            f"It accepts: {sorted(parameters) or 'no arguments'}."
        )
        raise errors.PruningArgumentError(msg)
    _FACTORIES[key] = (cls_or_factory, dict(bound_options))


def _check_serializable(cls: type, name: str) -> None:
    """Refuse a method class that a ``.keras`` file could not load back."""
    if keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is not cls:
        msg = (
            f"Pruning method {name!r} ({cls.__module__}.{cls.__qualname__}) is not "
            "registered as a Keras serializable, so a pruned model could not be "
            "saved and loaded. Decorate the class with "
            "@keras.saving.register_keras_serializable(package='your_package')."
        )
        raise errors.PruningArgumentError(msg)
