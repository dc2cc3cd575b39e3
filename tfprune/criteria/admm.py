"""Euclidean projections of StructADMM (Zhang et al., arXiv 1807.11091).

StructADMM constrains each layer's weights to a set ``S_i`` of tensors with
at most ``k`` non-zero *groups* (filters, input channels, im2col columns or
single weights; docs/methods/admm.md#projection). The ADMM ``Z``-step is the Euclidean
projection onto ``S_i``,

.. math:: Z = \\Pi_{S}(V) = \\arg\\min_{Z \\in S} \\|Z - V\\|_F ,

which keeps the ``k`` groups of ``V`` with the largest L2 norm and zeroes
the others (the norm a group keeps is its whole contribution to ``||V||^2``,
so keeping the largest ones removes the least). It is the rule of the
authors' group's code (``project_filter``/``project_column`` in
kaiqzhan/admm-pruning, ``weight_pruning`` in
yeshaokai/Robustness-Aware-Pruning-ADMM), not NNI's L1 variant.

A *coupled* group (channels tied by a residual ``Add``, ...) is one
constraint over several weight slices: its norm is the joint L2 norm over all
of them, and a unit is kept or zeroed in all of them at once. ``allowed``
restricts the support further (units already pruned in an earlier
progressive stage stay zero); the projection onto that smaller set is the
same rule over the allowed units.

Pure NumPy; nothing here knows layers or graphs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfprune.criteria.norms import group_scores, slice_norms

#: Kernel granularities: im2col columns ``K[..., c, :]`` or single weights.
KERNEL_GRANULARITIES = ("column", "weight")


def top_k_keep(norms: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the ``k`` largest ``norms`` among the ``allowed`` entries.

    Ties are broken by position (the earlier entry is kept), so the result is
    deterministic. ``k`` larger than the number of allowed entries keeps all of
    them.
    """
    norms = np.asarray(norms, dtype=np.float64)
    flat = norms.reshape(-1)
    allowed_flat = np.ones(flat.shape, dtype=bool) if allowed is None else np.asarray(allowed, bool).reshape(-1)
    if k < 0:
        msg = f"Argument `k` must be >= 0. Received: k={k}."
        raise ValueError(msg)
    candidates = np.flatnonzero(allowed_flat)
    # Descending norm, ascending position among equals.
    order = candidates[np.lexsort((candidates, -flat[candidates]))]
    keep = np.zeros(flat.shape, dtype=bool)
    keep[order[:k]] = True
    return keep.reshape(norms.shape)


def joint_unit_norms(slices: Sequence[tuple[np.ndarray, int, np.ndarray]], num_units: int) -> np.ndarray:
    """Joint L2 norm of every unit over all the slices of a coupled group.

    Args:
        slices: ``(array, axis, units)``: index ``j`` of ``array`` along
            ``axis`` belongs to unit ``units[j]`` (``-1``: not in this group).
        num_units: number of units of the group.
    """
    contributions = [(slice_norms(a, axis, ord=2), np.asarray(u)) for a, axis, u in slices]
    return group_scores(contributions, num_units, ord=2)


def zero_units(array: np.ndarray, axis: int, units: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Copy of ``array`` with the positions of unkept units (along ``axis``) zeroed.

    Positions whose unit is ``-1`` (another group) are left unchanged.
    """
    units = np.asarray(units)
    drop = (units >= 0) & ~keep[np.maximum(units, 0)]
    shape = [1] * array.ndim
    shape[axis % array.ndim] = -1
    return np.where(drop.reshape(shape), np.zeros((), array.dtype), array)


def project_units(
    slices: Sequence[tuple[np.ndarray, int, np.ndarray]],
    num_units: int,
    k: int,
    allowed: np.ndarray | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Euclidean projection of a coupled filter/channel group onto "at most ``k`` units".

    Returns the projected arrays (same order as ``slices``) and the boolean
    keep flags of the ``num_units`` units.
    """
    keep = top_k_keep(joint_unit_norms(slices, num_units), k, allowed)
    return [zero_units(a, axis, u, keep) for a, axis, u in slices], keep


def kernel_group_norms(kernel: np.ndarray, granularity: str) -> np.ndarray:
    """L2 norm of every kernel group, in ``kernel_mask`` shape.

    ``"column"``: the im2col column ``K[..., c, :]`` (all filters of one input
    position); ``"weight"``: ``|w|``.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if granularity == "column":
        return np.sqrt(np.square(kernel).sum(axis=-1, keepdims=True))
    if granularity == "weight":
        return np.abs(kernel)
    msg = f"Argument `granularity` must be one of {KERNEL_GRANULARITIES}. Received: {granularity!r}."
    raise ValueError(msg)


def project_kernel(
    kernel: np.ndarray, granularity: str, k: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean projection of a kernel onto "at most ``k`` columns / weights".

    Returns the projected kernel and the keep flags in ``kernel_mask`` shape
    (``kernel.shape[:-1] + (1,)`` for columns, ``kernel.shape`` for weights).
    """
    kernel = np.asarray(kernel)
    keep = top_k_keep(kernel_group_norms(kernel, granularity), k, allowed)
    return np.where(keep, kernel, np.zeros((), kernel.dtype)), keep
