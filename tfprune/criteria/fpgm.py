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

#: Rows of the pairwise L1 difference tensor built at once (bounds memory).
_L1_CHUNK_ELEMENTS = 1 << 24


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
    weight = np.asarray(weight, dtype=np.float64)
    filters = np.moveaxis(weight, axis % weight.ndim, 0).reshape(weight.shape[axis], -1)
    if ord == 2:
        # ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b, clipped at 0 against round-off.
        sq = np.einsum("ij,ij->i", filters, filters)
        gram = filters @ filters.T
        dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * gram, 0.0))
        np.fill_diagonal(dist, 0.0)
        return dist.sum(axis=1)
    n, d = filters.shape
    rows = max(1, _L1_CHUNK_ELEMENTS // max(1, n * d))
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, rows):
        block = filters[start:start + rows]
        out[start:start + rows] = np.abs(block[:, None, :] - filters[None, :, :]).sum(axis=(1, 2))
    return out
