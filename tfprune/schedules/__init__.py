"""Pruning schedules: when to update the masks, and to which sparsity.

A schedule is called with the training step and returns
``(should_prune, sparsity)``, the contract of tfmot's schedules. `get()` also
accepts tfmot's own `PolynomialDecay` and `ConstantSparsity` objects (without
importing tfmot, which would switch the process to Keras 2).
"""

from __future__ import annotations

import numbers
from typing import Any

import keras

from tfprune import errors
from tfprune.schedules.admm import ADMMSchedule
from tfprune.schedules.base import PruningSchedule
from tfprune.schedules.constant import ConstantSparsity
from tfprune.schedules.interval import IntervalSchedule
from tfprune.schedules.polynomial import PolynomialDecay

__all__ = [
    "ADMMSchedule",
    "ConstantSparsity",
    "IntervalSchedule",
    "PolynomialDecay",
    "PruningSchedule",
    "deserialize",
    "get",
    "serialize",
]

# Class names accepted in a config dict without a `registered_name` (tfmot's
# envelope `{"class_name": "PolynomialDecay", "config": {...}}`), which are
# also the two tfmot classes `get()` converts.
_BUILTIN_SCHEDULES: dict[str, type[PruningSchedule]] = {
    "ConstantSparsity": ConstantSparsity,
    "PolynomialDecay": PolynomialDecay,
}
_TFMOT_MODULE = "tensorflow_model_optimization"


def serialize(schedule: PruningSchedule) -> dict[str, Any]:
    """Return the Keras serialization of `schedule` (a JSON-able dict).

    Args:
        schedule: A `PruningSchedule`.

    Returns:
        The dict of `keras.saving.serialize_keras_object(schedule)`.

    Raises:
        PruningArgumentError: If `schedule` is not a `PruningSchedule`.
    """
    if not isinstance(schedule, PruningSchedule):
        msg = (
            "Argument `schedule` must be a tfprune `PruningSchedule`. "
            f"Received: schedule={schedule!r} (type {type(schedule).__name__})."
        )
        raise errors.PruningArgumentError(msg)
    serialized: dict[str, Any] = keras.saving.serialize_keras_object(schedule)
    return serialized


def deserialize(
    config: dict[str, Any], custom_objects: dict[str, Any] | None = None
) -> PruningSchedule:
    """Create a schedule from a config dict.

    Args:
        config: Either the output of `serialize()` (or of
            `keras.saving.serialize_keras_object`), or a
            ``{"class_name": ..., "config": {...}}`` dict as written by
            tfmot's `get_config()`.
        custom_objects: Optional mapping of class names to user-defined
            `PruningSchedule` subclasses that are not registered with
            `keras.saving.register_keras_serializable`.

    Returns:
        A `PruningSchedule`.

    Raises:
        PruningArgumentError: If `config` does not describe a schedule.
    """
    if (
        not isinstance(config, dict)
        or "class_name" not in config
        or not isinstance(config.get("config"), dict)
    ):
        msg = (
            "Argument `config` must be a dict with keys 'class_name' and "
            "'config', as returned by `tfprune.schedules.serialize`. "
            f"Received: config={config!r}."
        )
        raise errors.PruningArgumentError(msg)
    try:
        schedule = keras.saving.deserialize_keras_object(
            config,
            custom_objects={**_BUILTIN_SCHEDULES, **(custom_objects or {})},
        )
    except (TypeError, ValueError) as error:
        if isinstance(error, errors.TfpruneError):
            raise
        msg = (
            f"Could not deserialize a pruning schedule from config={config!r}: "
            f"{error}"
        )
        raise errors.PruningArgumentError(msg) from error
    if not isinstance(schedule, PruningSchedule):
        msg = (
            "Argument `config` must describe a tfprune `PruningSchedule`. "
            f"Received a config of class_name={config['class_name']!r}, which "
            f"gives an object of type {type(schedule).__name__}."
        )
        raise errors.PruningArgumentError(msg)
    return schedule


def _is_tfmot_schedule(identifier: object) -> bool:
    """Whether `identifier` is a schedule object of tfmot (duck typing)."""
    return _TFMOT_MODULE in type(identifier).__module__ and callable(
        getattr(identifier, "get_config", None)
    )


def _from_tfmot(schedule: Any) -> PruningSchedule:
    """Convert a tfmot `PolynomialDecay`/`ConstantSparsity` through its config.

    tfmot 0.8 writes ``{"class_name": name, "config": {...}}`` with the
    constructor arguments as keys, the same names tfprune uses.
    """
    name = type(schedule).__name__
    if name not in _BUILTIN_SCHEDULES:
        msg = (
            f"Cannot convert the tfmot schedule {name} to a tfprune schedule: "
            "only tfmot's PolynomialDecay and ConstantSparsity are supported. "
            "Write a `tfprune.schedules.PruningSchedule` subclass instead."
        )
        raise errors.PruningArgumentError(msg)
    config = schedule.get_config()
    inner = config.get("config", config) if isinstance(config, dict) else None
    if not isinstance(inner, dict):
        msg = (
            f"Cannot read the config of the tfmot schedule {name}: expected "
            "a dict {'class_name': ..., 'config': {...}}. "
            f"Received: {config!r}."
        )
        raise errors.PruningArgumentError(msg)
    return _BUILTIN_SCHEDULES[name].from_config(dict(inner))


def get(identifier: Any) -> PruningSchedule:
    """Return a tfprune schedule for `identifier`.

    Args:
        identifier: One of
            - a tfprune `PruningSchedule`, returned as is;
            - a float sparsity in `[0, 1)`: ``ConstantSparsity(identifier,
              begin_step=0, frequency=1)``, i.e. prune to that sparsity at
              every step;
            - a config dict, see `deserialize()`;
            - a tfmot `PolynomialDecay` or `ConstantSparsity` object,
              converted to the tfprune schedule with the same config
              (tfmot is not imported).

    Returns:
        A `PruningSchedule`.

    Raises:
        PruningArgumentError: If `identifier` is none of the above.

    Example:

    >>> schedule = get(0.5)
    >>> type(schedule).__name__, schedule(0), schedule(1)
    ('ConstantSparsity', (True, 0.5), (True, 0.5))
    """
    if isinstance(identifier, PruningSchedule):
        return identifier
    if isinstance(identifier, numbers.Real) and not isinstance(
        identifier, bool
    ):
        return ConstantSparsity(float(identifier), begin_step=0, frequency=1)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if _is_tfmot_schedule(identifier):
        return _from_tfmot(identifier)
    msg = (
        "Could not interpret a pruning schedule from "
        f"{identifier!r} (type {type(identifier).__name__}). Expected a "
        "tfprune `PruningSchedule` (e.g. `tfprune.schedules.PolynomialDecay"
        "(0.0, 0.5, begin_step=0, end_step=1000)`), a float sparsity in "
        "[0, 1), a config dict from `tfprune.schedules.serialize`, or a tfmot "
        "`PolynomialDecay`/`ConstantSparsity`."
    )
    raise errors.PruningArgumentError(msg)
