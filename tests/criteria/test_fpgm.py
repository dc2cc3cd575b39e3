"""FPGM's Eq. (6): summed distances from each filter to the others."""

from __future__ import annotations

import numpy as np
import pytest

from tfprune.criteria import fpgm


def test_points_on_a_line_median_scores_lowest():
    # One-weight filters 0, 1, 3, 10, 11: the geometric median is 3.
    kernel = np.array([0, 1, 3, 10, 11], dtype="float32").reshape(1, 1, 1, 5)
    for ord in (1, 2):
        scores = fpgm.distance_sums(kernel, -1, ord=ord)
        np.testing.assert_allclose(scores, [25, 22, 20, 27, 30], rtol=1e-6)
        assert int(np.argmin(scores)) == 2


def test_l1_and_l2_distances_by_hand():
    # Filters (0, 0), (3, 4), (0, 4) as rows of a Dense kernel (axis 1 = units).
    kernel = np.array([[0, 3, 0], [0, 4, 4]], dtype="float64")
    np.testing.assert_allclose(fpgm.distance_sums(kernel, 1, ord=2), [5 + 4, 5 + 3, 4 + 3])
    np.testing.assert_allclose(fpgm.distance_sums(kernel, 1, ord=1), [7 + 4, 7 + 3, 4 + 3])


def _brute_force(weight, axis, ord):
    filters = [np.take(weight, j, axis=axis).ravel().astype(np.float64) for j in range(weight.shape[axis])]
    return np.array([sum(np.linalg.norm(a - b, ord=ord) for b in filters) for a in filters])


@pytest.mark.parametrize("ord", [1, 2])
@pytest.mark.parametrize(("shape", "axis"), [((3, 3, 4, 6), -1), ((3, 3, 5, 1), 2), ((7, 9), 1)])
def test_matches_brute_force(ord, shape, axis):
    weight = np.random.default_rng(0).normal(size=shape).astype("float32")
    rtol = 1e-12 if ord == 1 else 1e-5  # L1 exact; L2 from a float32 Gram matrix
    np.testing.assert_allclose(fpgm.distance_sums(weight, axis, ord=ord), _brute_force(weight, axis, ord), rtol=rtol)


def test_l1_in_several_chunks_matches_brute_force(monkeypatch):
    monkeypatch.setattr(fpgm, "_L1_CHUNK_ELEMENTS", 10 * 5)  # 5 of the 12 coordinates at a time
    weight = np.random.default_rng(1).normal(size=(3, 4, 10))
    np.testing.assert_allclose(fpgm.distance_sums(weight, -1, ord=1), _brute_force(weight, -1, 1), rtol=1e-12)


def test_l2_is_accurate_for_filters_far_from_the_origin():
    # A common offset of 1000 and spreads of 1e-2: float32 |a|^2 + |b|^2 - 2ab
    # without centring would lose every digit of the distances.
    weight = 1000.0 + 1e-2 * np.random.default_rng(4).normal(size=(3, 3, 8, 16))
    np.testing.assert_allclose(fpgm.distance_sums(weight, -1), _brute_force(weight, -1, 2), rtol=1e-4)


def test_identical_filters_score_zero_and_duplicates_tie():
    base = np.random.default_rng(2).normal(size=(3, 3, 2, 1))
    same = np.repeat(base, 4, axis=-1)
    mixed = np.concatenate([base, base, base + 1.0], axis=-1)
    for ord in (1, 2):
        np.testing.assert_allclose(fpgm.distance_sums(same, -1, ord=ord), 0.0, atol=1e-12)
        scores = fpgm.distance_sums(mixed, -1, ord=ord)
        assert scores[0] == pytest.approx(scores[1]) and scores[2] > scores[0]


def test_bad_ord_is_refused():
    with pytest.raises(ValueError, match="`ord` must be 1"):
        fpgm.distance_sums(np.ones((2, 2)), 1, ord=3)


def test_scores_do_not_depend_on_filter_order():
    weight = np.random.default_rng(3).normal(size=(2, 2, 3, 5))
    perm = np.array([4, 0, 3, 1, 2])
    for ord in (1, 2):
        np.testing.assert_allclose(
            fpgm.distance_sums(weight[..., perm], -1, ord=ord), fpgm.distance_sums(weight, -1, ord=ord)[perm]
        )
