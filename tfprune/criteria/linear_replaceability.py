"""Linear replaceability of filters (LRF), as pure NumPy.

Joo, Yi, Baek, Kim, "Linearly Replaceable Filters for Deep Network Channel
Pruning", AAAI 2021 (and the authors' ``main_pruning.py``): filter ``w_i`` of
a layer is regressed on the other filters of the layer by least squares,
without an intercept,

    lambda^(i) = argmin_lambda ||w_i - sum_{j != i} lambda_j w_j||^2,
    eps_i = w_i - sum_{j != i} lambda^(i)_j w_j,

and scored ``s_i = ||eps_i|| * ||Q[:, i]||`` where ``Q[:, i]`` are the weights
of the next linear layer that read channel ``i``. Removing filter ``i*`` and
adding ``lambda^(i*)_j Q[:, i*]`` to ``Q[:, j]`` ("Weights Compensation")
changes the output by ``Q[:, i*] (eps_i* * x)`` only.

All ``C`` leave-one-out regressions come from one inverse of the Gram matrix
``G = F F^T`` (rows of ``F`` = filters): with ``B = G^{-1}``,
``||eps_i||^2 = 1 / B_ii`` and ``lambda^(i)_j = -B_ij / B_ii`` (the standard
leave-one-out identity of the partitioned inverse;
docs/methods/lrf.md#leave-one-out).
This replaces ``C`` separate solves of the authors' code.

Ambiguity (docs/methods/lrf.md#singular-gram): ``G`` is singular when there are more
filters than weights per filter or filters are collinear; the authors call
``.inverse()``. Here, when the smallest eigenvalue of ``G`` is below
``1e-10`` times its largest, ``G + delta I`` with ``delta = 1e-6 trace(G)/C``
is inverted instead (ridge regression); the residuals are then recomputed
directly from the coefficients, ``eps_i = w_i - sum_j lambda_j w_j``, so the
score is always the true residual of the ridge coefficients. The filter
that is removed is then re-regressed alone with ``lstsq`` (:func:`regress_one`),
so its compensation coefficients are exact least squares in every case.
"""

from __future__ import annotations

import numpy as np

#: ``G`` counts as singular below this ratio of extreme eigenvalues.
SINGULAR_RATIO = 1e-10
#: Ridge added to a singular Gram matrix, relative to ``trace(G) / C``.
RIDGE = 1e-6


def leave_one_out(filters: np.ndarray, *, ridge: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Regress every row of ``filters`` on the other rows, without intercept.

    Args:
        filters: ``(C, D)`` array, one flattened filter per row (``C >= 2``).
        ridge: relative ridge ``r`` (``delta = r * trace(G) / C``); ``None``
            applies :data:`RIDGE` only when ``G`` is singular (see module
            docstring), ``0.0`` never.

    Returns:
        ``(coefficients, residual_norms)``: ``coefficients[i, j]`` is
        ``lambda^(i)_j`` (zero on the diagonal) and ``residual_norms[i]`` is
        ``||filters[i] - coefficients[i] @ filters||``.
    """
    f = np.asarray(filters, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        msg = f"`filters` must be a (C, D) array with C >= 2 rows. Received shape {f.shape}."
        raise ValueError(msg)
    n = f.shape[0]
    gram = f @ f.T
    scale = float(np.trace(gram)) / n
    if scale <= 0.0 or not np.isfinite(scale):
        # Every filter is zero: each one is trivially replaceable.
        return np.zeros((n, n)), np.zeros(n)
    if ridge is None:
        eig = np.linalg.eigvalsh(gram)
        ridge = RIDGE if eig[0] <= SINGULAR_RATIO * eig[-1] else 0.0
    inverse = np.linalg.inv(gram + (ridge * scale) * np.eye(n))
    diag = np.diag(inverse).copy()
    coefficients = -inverse / diag[:, None]
    np.fill_diagonal(coefficients, 0.0)
    residuals = f - coefficients @ f
    return coefficients, np.linalg.norm(residuals, axis=1)


def leave_one_out_direct(filters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same regressions as :func:`leave_one_out`, one ``lstsq`` each.

    ``C`` separate solves (the authors' formulation); used to check the Gram
    identity, and slower by a factor of about ``C``.
    """
    f = np.asarray(filters, dtype=np.float64)
    n = f.shape[0]
    coefficients = np.zeros((n, n))
    norms = np.zeros(n)
    for i in range(n):
        others = np.delete(np.arange(n), i)
        lam, *_ = np.linalg.lstsq(f[others].T, f[i], rcond=None)
        coefficients[i, others] = lam
        norms[i] = np.linalg.norm(f[i] - lam @ f[others])
    return coefficients, norms


def regress_one(filters: np.ndarray, index: int) -> tuple[np.ndarray, float]:
    """Regress row ``index`` of ``filters`` on the other rows with ``lstsq``.

    The minimum-norm least-squares solution, exact also when the other rows
    are linearly dependent. Used for the coefficients of the filter that is
    actually removed (one solve per removal), so Weights Compensation is exact
    for a filter in the span of the others even when the scores needed ridge.

    Returns:
        ``(coefficients, residual_norm)``; ``coefficients`` has length ``C``
        with a zero at ``index``.
    """
    f = np.asarray(filters, dtype=np.float64)
    others = np.delete(np.arange(f.shape[0]), index)
    lam, *_ = np.linalg.lstsq(f[others].T, f[index], rcond=None)
    coefficients = np.zeros(f.shape[0])
    coefficients[others] = lam
    return coefficients, float(np.linalg.norm(f[index] - lam @ f[others]))


def replaceability_scores(residual_norms: np.ndarray, consumer_norms: np.ndarray) -> np.ndarray:
    """LRF score ``s_i = ||eps_i|| * ||Q[:, i]||`` (lower = remove first)."""
    return np.asarray(residual_norms, dtype=np.float64) * np.asarray(consumer_norms, dtype=np.float64)


def compensate(kernel: np.ndarray, axis: int, channel: int, coefficients: np.ndarray,
               others: np.ndarray) -> np.ndarray:
    """Weights Compensation: ``K[j] += lambda_j K[channel]`` along ``axis``.

    Args:
        kernel: weights of the layer that is compensated (the consumer's
            kernel for filter removal, with ``axis`` its input axis; the
            producer ``P`` for input-channel removal, ``axis`` its output axis).
        axis: the channel axis of ``kernel``.
        channel: index (along ``axis``) of the removed channel.
        coefficients: ``lambda^(channel)`` over ``others``.
        others: indices (along ``axis``) of the channels it is replaced by.

    Returns:
        A new array; slice ``channel`` itself is left as it was (the caller
        removes or masks it).
    """
    out = np.array(kernel, copy=True)
    compensate_in_place(out, axis, channel, coefficients, others)
    return out


def compensate_in_place(kernel: np.ndarray, axis: int, channel: int, coefficients: np.ndarray,
                        others: np.ndarray) -> None:
    """:func:`compensate` writing into ``kernel``: only the ``others`` slices
    are touched (computed in float64, stored in ``kernel``'s dtype)."""
    k = np.moveaxis(kernel, axis, 0)
    others = np.asarray(others)
    k[others] = (
        k[others].astype(np.float64)
        + np.multiply.outer(np.asarray(coefficients, dtype=np.float64), k[channel].astype(np.float64))
    ).astype(kernel.dtype)


class LeaveOneOut:
    """The leave-one-out regressions (L6) of rows of ``F``, kept up to date
    as rows are removed one at a time (the greedy loop of (L3)/(L4)).

    Docs: docs/methods/lrf.md#incremental. Removing row ``i`` of ``F`` removes
    row and column ``i`` of ``G = F F^T``, and the inverse of the remaining
    principal submatrix is a rank-one downdate of ``B = G^-1`` (the block
    matrix inverse, as in Sherman-Morrison):

        B' = B_{-i,-i} - B_{-i,i} B_{i,-i} / B_ii,

    ``O(C^2)`` per removal instead of a new Gram matrix (``O(C^2 D)``), its
    eigenvalues and its inverse (``O(C^3)``) and one ``lstsq``
    (``O(C^2 D)``). The scores and the removed row's coefficients then
    follow from (L6): ``||eps_i|| = 1 / sqrt(B_ii)`` and
    ``lambda^(i)_j = -B_ij / B_ii`` (the exact least-squares solution when
    ``G`` is non-singular, which is what :func:`regress_one` returns then).

    Eigenvalues are computed once, for the singularity test of
    :func:`leave_one_out`: by Cauchy's interlacing theorem the eigenvalues of
    a principal submatrix lie within those of ``G``, so
    ``lambda_min / lambda_max`` can only grow as rows are removed and a
    non-singular ``G`` stays non-singular. A singular ``G`` (ridge, or all
    rows zero) is handled as before, by :func:`leave_one_out` and
    :func:`regress_one` on the remaining rows after every removal, until it
    becomes non-singular. Results equal the step-by-step computation within
    floating-point tolerance (tests/criteria/test_linear_replaceability.py).

    Args:
        filters: ``(C, D)`` array, one flattened filter per row (``C >= 2``).
    """

    def __init__(self, filters: np.ndarray):
        self.filters = np.asarray(filters, dtype=np.float64)
        if self.filters.ndim != 2 or self.filters.shape[0] < 2:
            msg = f"`filters` must be a (C, D) array with C >= 2 rows. Received shape {self.filters.shape}."
            raise ValueError(msg)
        #: Row indices (into ``filters``) still present, in order.
        self.rows = np.arange(self.filters.shape[0])
        self._inverse: np.ndarray | None = None
        self._refresh()

    def _refresh(self) -> None:
        """``B = G^-1`` of the remaining rows, or None when ``G`` is singular."""
        self._inverse = None
        f = self.filters[self.rows]
        gram = f @ f.T
        scale = float(np.trace(gram)) / len(self.rows)
        if scale <= 0.0 or not np.isfinite(scale):
            return
        eig = np.linalg.eigvalsh(gram)
        if eig[0] > SINGULAR_RATIO * eig[-1]:
            self._inverse = np.linalg.inv(gram)

    def residual_norms(self) -> np.ndarray:
        """``||eps_i||`` of every remaining row (as :func:`leave_one_out`)."""
        if self._inverse is None:
            return leave_one_out(self.filters[self.rows])[1]
        return 1.0 / np.sqrt(np.diag(self._inverse))

    def regress(self, index: int) -> tuple[np.ndarray, float]:
        """Coefficients and residual norm of remaining row ``index`` (as :func:`regress_one`)."""
        if self._inverse is None:
            return regress_one(self.filters[self.rows], index)
        b = self._inverse
        coefficients = -b[index] / b[index, index]
        coefficients[index] = 0.0
        return coefficients, float(1.0 / np.sqrt(b[index, index]))

    def remove(self, index: int) -> None:
        """Remove remaining row ``index`` (position in :attr:`rows`)."""
        b = self._inverse
        self.rows = np.delete(self.rows, index)
        if b is None:
            if len(self.rows) >= 2:
                self._refresh()  # a singular G may become non-singular
            return
        others = np.delete(np.arange(b.shape[0]), index)
        column = b[others, index]
        b = b[np.ix_(others, others)] - np.outer(column, column) / b[index, index]
        if np.all(np.diag(b) > 0.0):
            self._inverse = b
        else:  # rounding broke positivity: start again from G
            self._refresh()
