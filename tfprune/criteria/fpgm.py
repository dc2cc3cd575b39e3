"""Filter redundancy by the geometric median (FPGM).

He, Liu, Wang, Hu, Yang, "Filter Pruning via Geometric Median for Deep
Convolutional Neural Networks Acceleration", CVPR 2019,
https://arxiv.org/abs/1811.00250. The filters of a layer closest to their
geometric median are the most replaceable by the others. Instead of computing
the median, Eq. (6) of the paper scores each filter by its summed distance to
all the filters of the layer,

.. math:: g(F_j) = \\sum_{j'} \\lVert F_j - F_{j'} \\rVert_p

and prunes the filters with the *smallest* ``g``. ``p = 2`` is the paper's
choice; ``p = 1`` is offered as in its released code. A pure function on
NumPy arrays; see docs/methods/fpgm.md.
"""

from __future__ import annotations

import numpy as np

#: Filter coordinates processed at once by the L1 sums (bounds memory).
_L1_CHUNK_ELEMENTS = 1 << 22


def distance_sums(weight: np.ndarray, axis: int, *, ord: int = 2) -> np.ndarray:
    """Eq. (6) of FPGM: each filter's summed distance to every filter.

    Args:
        weight: a layer's weight; filter ``j`` is ``weight`` at index ``j``
            of ``axis`` (e.g. ``kernel[..., j]`` of a Conv2D).
        axis: the filter axis.
        ord: 2 (Euclidean, the paper) or 1 (Manhattan).

    Returns:
        ``weight.shape[axis]`` scores, float64; low means redundant.
    """
    if ord not in (1, 2):
        msg = f"Argument `ord` must be 1 (L1 distance) or 2 (Euclidean). Received: ord={ord!r}."
        raise ValueError(msg)
    weight = np.asarray(weight)
    n = weight.shape[axis]
    filters = np.moveaxis(weight, axis % weight.ndim, 0).reshape(n, -1)
    if ord == 1:
        return _l1_sums(filters.astype(np.float64))
    # ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b on centred filters (distances do not
    # change, round-off does), Gram matrix in float32 like torch.cdist: the
    # sum over n distances is insensitive to its ~1e-7 relative error.
    centred = (filters - filters.mean(axis=0, dtype=np.float64)).astype(np.float32)
    sq = np.einsum("ij,ij->i", centred, centred, dtype=np.float64).astype(np.float32)
    dist = centred @ centred.T  # in place from here: n x n can be large
    dist *= -2.0
    dist += sq[:, None]
    dist += sq[None, :]
    np.maximum(dist, 0.0, out=dist)
    np.sqrt(dist, out=dist)
    np.fill_diagonal(dist, 0.0)
    return dist.sum(axis=1, dtype=np.float64)


def _l1_sums(filters: np.ndarray) -> np.ndarray:
    """``sum_j ||F_i - F_j||_1`` exactly, coordinate by coordinate.

    The L1 distance is a sum over coordinates, and for one coordinate
    ``sum_j |x_i - x_j|`` follows from the sorted values and their prefix sums
    (``O(n log n)`` instead of ``O(n^2)``).
    """
    n, d = filters.shape
    out = np.zeros(n, dtype=np.float64)
    rank = np.arange(n, dtype=np.float64)
    step = max(1, _L1_CHUNK_ELEMENTS // max(1, n))
    for start in range(0, d, step):
        block = np.ascontiguousarray(filters[:, start:start + step].T)  # (coords, n)
        order = np.argsort(block, axis=1)
        values = np.take_along_axis(block, order, axis=1)
        prefix = np.cumsum(values, axis=1)  # sum of values[..., 0..r]
        below = values * rank - (prefix - values)  # sum over smaller values
        above = (prefix[:, -1:] - prefix) - values * (n - 1 - rank)  # sum over larger values
        per = np.empty_like(values)
        np.put_along_axis(per, order, below + above, axis=1)
        out += per.sum(axis=0)
    return out
