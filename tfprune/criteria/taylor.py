"""First-order Taylor importance of a filter (Molchanov et al. 2019).

Molchanov, Mallya, Tyree, Frosio, Kautz, "Importance Estimation for Neural
Network Pruning", CVPR 2019, https://arxiv.org/abs/1906.10771. Removing a
parameter ``w_s`` changes the loss by about ``g_s w_s`` (first-order Taylor
expansion, ``g_s = dE/dw_s``; Eq. (3) squares it). For a filter, the paper
puts a gate ``z`` on its output: ``dE/dz = sum_s g_s w_s`` over the weights
the gate scales (kernel slice and bias, or BatchNorm's gamma and beta,
Eq. (8)), and the importance of the filter is

.. math:: I = \\Big(\\sum_{s \\in S} g_s w_s\\Big)^2

computed on each mini-batch and averaged over mini-batches. Pure functions on
NumPy arrays; the gradients come from :mod:`tfprune._gradients`. See
docs/methods/taylor.md.
"""

from __future__ import annotations

import numpy as np


def gate_gradients(weight: np.ndarray, gradients: np.ndarray, axis: int) -> np.ndarray:
    """``dE/dz`` of a gate on every index of ``axis``, for each mini-batch.

    Args:
        weight: a weight array (e.g. a Conv2D kernel ``(kh, kw, C, F)``).
        gradients: ``(batches,) + weight.shape``: the loss gradient of each
            mini-batch with respect to ``weight``.
        axis: the axis of ``weight`` the gate indexes (the filter axis).

    Returns:
        ``(batches, weight.shape[axis])``: ``sum g * w`` over the other axes
        (signed: contributions of several slices of one unit add up before
        squaring).
    """
    weight = np.asarray(weight, dtype=np.float64)
    gradients = np.asarray(gradients, dtype=np.float64)
    if gradients.shape[1:] != weight.shape:
        msg = (
            f"`gradients` must have shape (batches,) + {weight.shape}. "
            f"Received: {gradients.shape}."
        )
        raise ValueError(msg)
    axis = axis % weight.ndim
    other = tuple(1 + a for a in range(weight.ndim) if a != axis)
    return (gradients * weight[None]).sum(axis=other)


def importance(gates: np.ndarray) -> np.ndarray:
    """Per-unit importance from per-batch gate gradients ``(batches, units)``.

    The square of each mini-batch's ``dE/dz`` (Eq. (3)), averaged over the
    mini-batches. Higher means more important; a unit whose weights are all
    zero scores exactly 0.
    """
    gates = np.asarray(gates, dtype=np.float64)
    if gates.ndim != 2 or gates.shape[0] == 0:
        msg = f"`gates` must have shape (batches >= 1, units). Received: {gates.shape}."
        raise ValueError(msg)
    return np.square(gates).mean(axis=0)
