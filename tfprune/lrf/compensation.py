"""Weights Compensation on Keras layers (Joo et al., AAAI 2021).

Given a layer ``producer`` (Conv/Dense) whose output feeds a *linear* layer
``consumer`` (Conv/Dense, no non-linearity or normalization in between),
channel ``i`` of the producer is regressed on its other filters,
``w_i = sum_j lambda_j w_j + eps``, and the consumer's input rows are updated
``K[.., j, :] += lambda_j K[.., i, :]``; channel ``i`` is then removed (its
consumer rows zeroed, and masked if the layers are pruning wrappers). The
consumer's output changes by ``K[.., i, :] (eps * x)`` only.
"""

from __future__ import annotations

import keras
import numpy as np

from tfprune import errors
from tfprune.criteria import linear_replaceability as lr


def _inner(layer):
    return getattr(layer, "tfprune_wrapped_layer", layer)


def _kernel(layer, role: str):
    inner = _inner(layer)
    kernel = getattr(inner, "kernel", None)
    if kernel is None or not isinstance(inner, (keras.layers.Dense, keras.layers.Conv2D, keras.layers.Conv1D,
                                                keras.layers.Conv3D)):
        msg = (
            f"Weights Compensation needs a Dense or Conv {role} layer with a `kernel`. "
            f"Received layer `{layer.name}` ({type(inner).__name__})."
        )
        raise errors.PruningArgumentError(msg)
    if getattr(inner, "groups", 1) != 1:
        msg = f"Weights Compensation needs a conv with groups=1; `{layer.name}` has groups={inner.groups}."
        raise errors.PruningArgumentError(msg)
    return kernel


def compensate(producer, consumer, channel: int, *, keep: np.ndarray | None = None) -> np.ndarray:
    """Remove output channel ``channel`` of ``producer``, compensating ``consumer``.

    Args:
        producer: a Dense/Conv layer (or a :class:`tfprune.PruningWrapper` of
            one) whose output feeds ``consumer`` directly and linearly (the
            producer's own activation must be linear).
        consumer: a Dense/Conv layer (or wrapper) reading that output.
        channel: the producer output channel to remove.
        keep: boolean flags of the producer's channels that may replace it
            (default: all, or the wrapper's output mask).

    Returns:
        ``lambda``: the coefficients (length ``C``, zero at ``channel`` and at
        channels not kept) that were added into the consumer.

    Raises:
        PruningArgumentError: unsupported layers, a non-linear producer, or a
            producer bias that cannot be compensated exactly (the consumer
            has no bias or is not 1x1/Dense).
    """
    w_var, k_var = _kernel(producer, "producer"), _kernel(consumer, "consumer")
    inner = _inner(producer)
    if inner.get_config().get("activation") not in (None, "linear"):
        msg = (
            f"Producer `{producer.name}` has activation "
            f"{inner.get_config().get('activation')!r}; Weights Compensation needs a linear producer."
        )
        raise errors.PruningArgumentError(msg)
    w = np.asarray(keras.ops.convert_to_numpy(w_var))
    k = np.asarray(keras.ops.convert_to_numpy(k_var))
    n = w.shape[-1]
    if k.shape[-2] != n:
        msg = f"Consumer `{consumer.name}` reads {k.shape[-2]} channels, but producer `{producer.name}` makes {n}."
        raise errors.PruningArgumentError(msg)
    if not 0 <= int(channel) < n:
        msg = f"Argument `channel` must be in [0, {n}). Received: channel={channel!r}."
        raise errors.PruningArgumentError(msg)
    channel = int(channel)
    if keep is None:
        mask = getattr(producer, "output_mask", None)
        keep = np.ones(n, bool) if mask is None else np.asarray(keras.ops.convert_to_numpy(mask)) > 0.5
    keep = np.asarray(keep, dtype=bool).copy()
    keep[channel] = True
    kept = np.flatnonzero(keep)
    others = kept[kept != channel]
    coefficients = np.zeros(n)
    if len(others):
        filters = np.moveaxis(w, -1, 0)[kept].reshape(len(kept), -1)
        index = int(np.flatnonzero(kept == channel)[0])
        lam, _ = lr.regress_one(filters, index)
        coefficients[kept] = lam
    new_k = lr.compensate(k, -2, channel, coefficients[others], others)
    if getattr(inner, "use_bias", False):
        b = np.asarray(keras.ops.convert_to_numpy(inner.bias))
        delta = b[channel] - coefficients @ b
        if delta != 0.0:
            consumer_inner = _inner(consumer)
            pointwise = k.ndim == 2 or int(np.prod(k.shape[:-2])) == 1
            if not getattr(consumer_inner, "use_bias", False) or not pointwise:
                msg = (
                    f"Producer `{producer.name}` has a bias; its compensation "
                    "(Q[:, i] (b_i - sum_j lambda_j b_j)) is added to the consumer's "
                    "bias, which needs a 1x1 conv or Dense consumer with use_bias=True. "
                    f"Consumer `{consumer.name}` is not one."
                )
                raise errors.PruningArgumentError(msg)
            row = k.reshape(-1, k.shape[-2], k.shape[-1])[0, channel]
            consumer_inner.bias.assign(np.asarray(keras.ops.convert_to_numpy(consumer_inner.bias)) + delta * row)
    new_k = np.moveaxis(new_k, -2, 0)
    new_k[channel] = 0.0
    k_var.assign(np.moveaxis(new_k, 0, -2))
    for layer, name in ((producer, "output_mask"), (consumer, "input_mask")):
        mask = getattr(layer, name, None)
        if mask is not None:
            value = np.asarray(keras.ops.convert_to_numpy(mask)).copy()
            value[channel] = 0.0
            mask.assign(value)
    return coefficients
