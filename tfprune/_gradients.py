"""Backend glue: loss gradients of a model on a few mini-batches.

The only place the core asks a backend for gradients (used by the Taylor
criterion, :mod:`tfprune.methods.taylor`). The model runs through
``model.stateless_call`` in inference mode (``training=False``: BatchNorm
uses its moving statistics, dropout is off, nothing is updated), and the
gradient is taken with respect to the variable *values* passed in, so one
loss function serves every backend; only the differentiation differs:
``tf.GradientTape`` in one ``tf.function`` on TensorFlow, ``jax.grad``
(jitted) on JAX, ``torch.autograd.grad`` on PyTorch, each traced or run once
per mini-batch (docs/backends.md). Other Keras backends (NumPy, OpenVINO)
have no gradients: a ``NotImplementedError`` names the backend.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import keras
import numpy as np

from tfprune import errors


def resolve_loss(model: keras.Model, loss: Any) -> Callable[..., Any]:
    """``loss(y_true, y_pred, sample_weight)`` -> scalar, from ``loss`` or the compiled one.

    ``loss`` is anything ``keras.losses.get`` accepts (a name, a
    ``keras.losses.Loss``, a function); None takes the loss the model was
    compiled with (a single loss; regularisation penalties are left out).
    """
    source = "loss"
    if loss is None:
        loss, source = getattr(model, "loss", None), "compiled loss"
    if loss is None:
        msg = (
            f"Model `{model.name}` is not compiled with a loss, so its loss "
            "gradient cannot be computed. Compile it (model.compile(loss=...)) "
            "or pass the method option `loss=`, e.g. "
            "loss='sparse_categorical_crossentropy'."
        )
        raise errors.PruningArgumentError(msg)
    if isinstance(loss, (list, tuple, dict)):
        msg = (
            f"The {source} of model `{model.name}` has several parts ({loss!r}); "
            "pass one loss as the method option `loss=` (a name, a "
            "keras.losses.Loss or a function of (y_true, y_pred))."
        )
        raise errors.PruningArgumentError(msg)
    fn = keras.losses.get(loss)
    if isinstance(fn, keras.losses.Loss):
        return fn

    def mean_loss(y_true, y_pred, sample_weight=None):
        values = fn(y_true, y_pred)
        if sample_weight is not None:
            values = values * keras.ops.cast(sample_weight, values.dtype)
        return keras.ops.mean(values)

    return mean_loss


def batch_gradients(
    model: keras.Model,
    variables: Sequence[keras.Variable],
    data: Iterable,
    batches: int,
    loss: Callable[..., Any],
) -> Iterator[list[np.ndarray]]:
    """The loss gradients of each of the first ``batches`` mini-batches of ``data``.

    Args:
        model: a built model.
        variables: variables of ``model`` (trainable or not) to differentiate.
        data: an iterable of ``(x, y)`` or ``(x, y, sample_weight)`` batches
            (a ``tf.data.Dataset``, a list, a ``keras.utils.PyDataset``...);
            a re-iterable object restarts at every call, an iterator goes on.
        batches: how many mini-batches to use (fewer if ``data`` runs out).
        loss: from :func:`resolve_loss`.

    Yields:
        For each mini-batch, one array per variable (its shape). A generator,
        so a caller can reduce each batch before the next one is computed.
    """
    backend = keras.backend.backend()
    if backend not in _GRADIENTS:
        msg = (
            f"Loss gradients (the Taylor criterion) are implemented for the "
            f"{', '.join(sorted(_GRADIENTS))} backends; the Keras backend is {backend!r}. "
            "Set KERAS_BACKEND to one of them, or use a criterion without gradients (e.g. 'l1', 'fpgm')."
        )
        raise NotImplementedError(msg)

    trainable = list(model.trainable_variables)
    non_trainable = list(model.non_trainable_variables)
    position = {id(v): (True, i) for i, v in enumerate(trainable)}
    position.update({id(v): (False, i) for i, v in enumerate(non_trainable)})
    missing = [v.path for v in variables if id(v) not in position]
    if missing:
        msg = f"Variables {missing} are not variables of model `{model.name}`."
        raise errors.PruningArgumentError(msg)
    wanted = [position[id(v)] for v in variables]

    def loss_of(wanted_values, t_values, n_values, x, y, sample_weight):
        """The loss with ``wanted_values`` in place of the wanted variables (inference mode)."""
        t_values, n_values = list(t_values), list(n_values)
        for (is_trainable, i), value in zip(wanted, wanted_values):
            (t_values if is_trainable else n_values)[i] = value
        y_pred, _ = model.stateless_call(t_values, n_values, x, training=False)
        return loss(y, y_pred, sample_weight=sample_weight)

    gradients = _GRADIENTS[backend](loss_of)
    t_values = [keras.ops.convert_to_tensor(v.value) for v in trainable]
    n_values = [keras.ops.convert_to_tensor(v.value) for v in non_trainable]
    start = [(t_values if is_trainable else n_values)[i] for is_trainable, i in wanted]
    used = 0
    for batch in itertools.islice(iter(data), batches):
        if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
            msg = (
                "`data` must yield (x, y) or (x, y, sample_weight) batches, e.g. a "
                f"batched tf.data.Dataset. Received a batch of type {type(batch).__name__}."
            )
            raise errors.PruningArgumentError(msg)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(tuple(batch))
        used += 1
        if backend != "tensorflow":  # e.g. tf.data tensors under JAX or torch: NumPy first
            x, y, sample_weight = keras.tree.map_structure(_to_numpy, (x, y, sample_weight))
        grads = gradients(start, t_values, n_values, x, y, sample_weight)
        yield [keras.ops.convert_to_numpy(g) for g in grads]
    if not used:
        msg = (
            "`data` yielded no batch. Pass a non-empty, re-iterable dataset "
            "(e.g. a batched tf.data.Dataset), or a fresh iterator."
        )
        raise errors.PruningArgumentError(msg)


def _to_numpy(value: Any) -> Any:
    return None if value is None else np.asarray(value)


def _tensorflow(loss_of: Callable[..., Any]) -> Callable[..., list]:
    """``tf.GradientTape`` in one ``tf.function`` (traced once for all the batches)."""
    import tensorflow as tf  # the TensorFlow backend only: imported when used

    @tf.function(reduce_retracing=True)
    def gradients(wanted_values, t_values, n_values, x, y, sample_weight):
        wanted_values = [tf.identity(v) for v in wanted_values]
        with tf.GradientTape() as tape:
            tape.watch(wanted_values)
            value = loss_of(wanted_values, t_values, n_values, x, y, sample_weight)
        return tape.gradient(value, wanted_values, unconnected_gradients=tf.UnconnectedGradients.ZERO)

    return gradients


def _jax(loss_of: Callable[..., Any]) -> Callable[..., list]:
    """``jax.grad`` with respect to the first argument, jitted once for all the batches."""
    import jax

    return jax.jit(jax.grad(loss_of))


def _torch(loss_of: Callable[..., Any]) -> Callable[..., list]:
    """``torch.autograd.grad`` on leaf copies of the wanted values (zeros where unused)."""
    import torch

    def gradients(wanted_values, t_values, n_values, x, y, sample_weight):
        leaves = [v.detach().clone().requires_grad_(True) for v in wanted_values]
        t_values, n_values = [v.detach() for v in t_values], [v.detach() for v in n_values]
        value = loss_of(leaves, t_values, n_values, x, y, sample_weight)
        grads = torch.autograd.grad(value, leaves, allow_unused=True)
        return [torch.zeros_like(v) if g is None else g.detach() for v, g in zip(leaves, grads)]

    return gradients


#: backend name -> builder of ``gradients(wanted_values, t_values, n_values, x, y, sample_weight)``.
_GRADIENTS = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}
