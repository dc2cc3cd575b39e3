"""Leave-one-out regression of filters (LRF criterion), pure NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from tfprune.criteria import linear_replaceability as lr


def test_gram_inverse_matches_direct_least_squares():
    rng = np.random.default_rng(0)
    filters = rng.normal(size=(12, 40))
    coefficients, norms = lr.leave_one_out(filters)
    direct_coefficients, direct_norms = lr.leave_one_out_direct(filters)
    np.testing.assert_allclose(coefficients, direct_coefficients, atol=1e-10)
    np.testing.assert_allclose(norms, direct_norms, rtol=1e-10)
    # The identity ||eps_i||^2 = 1 / (G^-1)_ii itself.
    inverse = np.linalg.inv(filters @ filters.T)
    np.testing.assert_allclose(norms**2, 1.0 / np.diag(inverse), rtol=1e-8)
    assert np.all(np.diag(coefficients) == 0.0)


@pytest.mark.parametrize("shape", [(20, 9), (6, 6)])
def test_singular_gram_uses_ridge_and_stays_finite(shape):
    rng = np.random.default_rng(1)
    filters = rng.normal(size=shape)
    if shape[0] == shape[1]:
        filters[2] = filters[0] - 3.0 * filters[1]  # exactly collinear
    coefficients, norms = lr.leave_one_out(filters)
    assert np.all(np.isfinite(coefficients)) and np.all(np.isfinite(norms))
    # The reported norms are the residuals of the returned coefficients.
    np.testing.assert_allclose(norms, np.linalg.norm(filters - coefficients @ filters, axis=1), rtol=1e-9)
    if shape[0] > shape[1]:
        # More filters than weights per filter: every filter is replaceable.
        assert norms.max() < 1e-3 * np.linalg.norm(filters, axis=1).min()


def test_exact_combination_is_the_least_replaceable_and_regress_one_is_exact():
    rng = np.random.default_rng(2)
    filters = rng.normal(size=(8, 36))
    filters[5] = 0.5 * filters[0] - 2.0 * filters[1] + filters[7]
    _, norms = lr.leave_one_out(filters)
    coefficients, residual = lr.regress_one(filters, 5)
    assert residual < 1e-10
    expected = np.zeros(8)
    expected[[0, 1, 7]] = [0.5, -2.0, 1.0]
    # Only 0, 1, 5 and 7 are dependent; the others have large residuals.
    assert norms[[2, 3, 4, 6]].min() > 100 * norms[5]
    np.testing.assert_allclose(coefficients, expected, atol=1e-9)


def test_zero_filters_do_not_crash():
    coefficients, norms = lr.leave_one_out(np.zeros((4, 3)))
    assert np.all(coefficients == 0.0) and np.all(norms == 0.0)


def test_bad_shape_raises():
    with pytest.raises(ValueError, match="C >= 2"):
        lr.leave_one_out(np.ones((1, 5)))


def test_compensate_adds_scaled_slice_along_axis():
    kernel = np.arange(24, dtype=np.float32).reshape(1, 1, 4, 6)
    out = lr.compensate(kernel, -2, 1, np.array([2.0, -1.0]), np.array([0, 3]))
    expected = kernel.copy()
    expected[0, 0, 0] += 2.0 * kernel[0, 0, 1]
    expected[0, 0, 3] -= kernel[0, 0, 1]
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == kernel.dtype


def test_scores_weight_residual_by_consumer_norm():
    np.testing.assert_allclose(lr.replaceability_scores([1.0, 2.0], [3.0, 0.5]), [3.0, 1.0])


def _reference_greedy(filters, norms, count):
    """The greedy removal written step by step: a new leave_one_out and one
    regress_one per removal (the computation LeaveOneOut replaces)."""
    rows = list(range(len(filters)))
    out = []
    for _ in range(count):
        f = filters[rows]
        _, residuals = lr.leave_one_out(f)
        best = int(np.argmin(lr.replaceability_scores(residuals, norms[rows])))
        coefficients, residual = lr.regress_one(f, best)
        out.append((rows[best], coefficients, residual))
        del rows[best]
    return out


@pytest.mark.parametrize(
    ("shape", "count"),
    [((48, 200), 40), ((64, 576), 32), ((30, 20), 26), ((16, 16), 12)],
    ids=["wide", "resnet-like", "singular-then-regular", "square"],
)
def test_incremental_leave_one_out_equals_the_step_by_step_computation(shape, count):
    rng = np.random.default_rng(shape[0])
    filters = rng.normal(size=shape)
    norms = rng.uniform(0.5, 2.0, size=shape[0])
    regressions = lr.LeaveOneOut(filters)
    assert (regressions._inverse is None) == (shape[0] > shape[1])  # singular: more rows than D
    for row, coefficients, residual in _reference_greedy(filters, norms, count):
        rows = regressions.rows
        scores = lr.replaceability_scores(regressions.residual_norms(), norms[rows])
        best = int(np.argmin(scores))
        assert rows[best] == row  # the same filter goes
        got, got_residual = regressions.regress(best)
        np.testing.assert_allclose(got, coefficients, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(got_residual, residual, rtol=1e-7, atol=1e-9)
        regressions.remove(best)
    assert len(regressions.rows) == shape[0] - count
    if shape[0] > shape[1]:
        assert regressions._inverse is not None  # became regular after enough removals


def test_incremental_leave_one_out_with_zero_or_bad_rows():
    regressions = lr.LeaveOneOut(np.zeros((4, 3)))
    assert np.all(regressions.residual_norms() == 0.0)
    coefficients, residual = regressions.regress(0)
    assert np.all(coefficients == 0.0) and residual == 0.0
    regressions.remove(0)
    assert list(regressions.rows) == [1, 2, 3]
    with pytest.raises(ValueError, match="C >= 2"):
        lr.LeaveOneOut(np.ones((1, 5)))
