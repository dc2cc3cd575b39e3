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
        if value == 1.0 and "sparsity" in name:
            msg += (
                " A sparsity of 1 would remove every channel of a layer, and a "
                "layer cannot have zero channels: use at most e.g. 0.9, or "
                "remove the layer from the model."
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


def describe_non_finite(name: str, value) -> str | None:
    """``"`name` (2 NaN, 0 inf of 576 values; first at index (0, 1))"``, or None if finite."""
    import numpy as np

    value = np.asarray(value)
    finite = np.isfinite(value)
    if finite.all():
        return None
    where = tuple(int(i) for i in np.argwhere(~finite)[0])
    return (
        f"`{name}` ({int(np.isnan(value).sum())} NaN, {int(np.isinf(value).sum())} inf "
        f"of {value.size} values; first at index {where})"
    )


#: How to recover from NaN or inf weights (both errors end with it).
_DIVERGED_FIX = (
    "Training probably diverged (lower the learning rate, check the inputs and the loss), "
    "or the weights file is damaged: restore weights from a checkpoint taken before the "
    "NaNs appeared."
)


def check_finite_weights(model, *, action: str) -> None:
    """Raise if any floating-point weight of ``model`` holds NaN or inf.

    Channel scores computed from such weights are meaningless (a NaN norm
    sorts anywhere), so the channels removed would be arbitrary.

    Args:
        model: a Keras model.
        action: what was about to happen, for the message (e.g. "prune").
    """
    import keras

    bad = []
    for variable in model.weights:
        if "float" not in str(variable.dtype):
            continue
        found = describe_non_finite(variable.path, keras.ops.convert_to_numpy(variable))
        if found:
            bad.append(found)
    if bad:
        msg = (
            f"Cannot {action} model `{model.name}`: {len(bad)} weight(s) hold NaN "
            f"or infinite values: {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}. "
            f"Channel scores need finite weights. {_DIVERGED_FIX}"
        )
        raise errors.PruningArgumentError(msg)


def check_finite_scored_weight(layer_path: str, weight: str, value) -> None:
    """Raise :class:`~tfprune.errors.NonFiniteWeightsError` if a weight about to be scored is not finite.

    ``prune`` checks the model it is given (:func:`check_finite_weights`);
    this catches weights that became NaN or inf later, in ``fit``, before a
    pruning step ranks channels by them.
    """
    found = describe_non_finite(f"{layer_path}/{weight}", value)
    if found:
        msg = (
            f"Cannot rank the channels of layer `{layer_path}`: its weight {found} "
            "became NaN or infinite during training, and channels ranked by NaN scores "
            "would be removed arbitrarily. Add keras.callbacks.TerminateOnNaN() to the "
            f"callbacks to stop at the first NaN loss. {_DIVERGED_FIX}"
        )
        raise errors.NonFiniteWeightsError(msg)


def check_no_tf_distribution(*, action: str) -> None:
    """Refuse a ``tf.distribute`` strategy in scope when Keras does not run on TensorFlow.

    Under JAX or PyTorch, Keras creates its variables and trains without
    TensorFlow, so a ``tf.distribute`` strategy would be silently ignored:
    every replica would train and prune alone. TensorFlow is never imported
    here; if it is not loaded, no strategy can be in scope.
    """
    import sys

    import keras

    backend = keras.backend.backend()
    tf = sys.modules.get("tensorflow")
    if backend == "tensorflow" or tf is None or not hasattr(tf, "distribute"):
        return
    if tf.distribute.has_strategy():
        strategy = type(tf.distribute.get_strategy()).__name__
        msg = (
            f"Cannot {action} under a tf.distribute strategy ({strategy}) with the Keras "
            f"backend {backend!r}: tf.distribute only distributes TensorFlow-backend "
            "models, so this one would train and prune on each replica alone. Set "
            "KERAS_BACKEND=tensorflow to train with tf.distribute (docs/distributed.md), "
            "or call it outside `strategy.scope()` (docs/backends.md)."
        )
        raise errors.PruningArgumentError(msg)
