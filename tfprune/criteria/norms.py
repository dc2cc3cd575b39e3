"""Filter-norm importance (Li et al. 2017).

Li, Kadav, Durdanovic, Samet, Graf, "Pruning Filters for Efficient ConvNets",
ICLR 2017, https://arxiv.org/abs/1608.08710. Section 3.1 scores filter ``j``
of a layer by the sum of its absolute kernel weights,

.. math:: s_j = \\sum_{l} |\\mathcal{F}_{j,l}|

and prunes the filters with the smallest ``s_j``. The L2 variant (used by
Soft Filter Pruning, He et al. 2018) replaces the sum of absolute values with
the Euclidean norm.

These are pure functions on NumPy arrays; they know nothing of layers or
graphs.
"""

from __future__ import annotations

import numpy as np


def slice_norms(weight: np.ndarray, axis: int, *, ord: int) -> np.ndarray:
    """Per-index ``ord``-norm contributions of ``weight`` along ``axis``.

    Returns, for every index ``j`` of ``axis``, ``sum |w|`` (``ord=1``) or
    ``sum w**2`` (``ord=2``, *squared*, so contributions of several weight
    slices of one channel can be added before the square root).

    Args:
        weight: any weight array.
        axis: the channel axis.
        ord: 1 or 2.
    """
    if ord not in (1, 2):
        msg = f"Argument `ord` must be 1 or 2. Received: ord={ord!r}."
        raise ValueError(msg)
    weight = np.asarray(weight, dtype=np.float64)
    axis = axis % weight.ndim
    other = tuple(a for a in range(weight.ndim) if a != axis)
    if ord == 1:
        return np.abs(weight).sum(axis=other)
    return np.square(weight).sum(axis=other)


def group_scores(
    contributions: list[tuple[np.ndarray, np.ndarray]], num_units: int, *, ord: int
) -> np.ndarray:
    """Sum per-index contributions into per-unit scores.

    Args:
        contributions: ``(values, units)`` pairs: ``values[k]`` (from
            :func:`slice_norms`) belongs to unit ``units[k]`` (a local unit
            index in ``[0, num_units)``; negative entries are ignored).
        num_units: number of units in the group.
        ord: 1 (sum of absolute values) or 2 (Euclidean norm over every slice
            of the unit).

    Returns:
        Array of ``num_units`` scores; higher means more important.
    """
    scores = np.zeros(num_units, dtype=np.float64)
    for values, units in contributions:
        keep = units >= 0
        np.add.at(scores, units[keep], values[keep])
    return np.sqrt(scores) if ord == 2 else scores
