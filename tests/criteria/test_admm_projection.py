"""StructADMM projections: exactly k groups, and the Euclidean-closest point (brute force)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tfprune.criteria import admm as proj


def _brute_force(candidates_fn, v, n, k):
    """Smallest ||Z - v|| over every support of exactly k of n groups."""
    best = np.inf
    for support in itertools.combinations(range(n), k):
        z = candidates_fn(np.isin(np.arange(n), support))
        best = min(best, float(np.square(z - v).sum()))
    return best


@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_filter_projection_is_the_closest_point_with_k_filters(k):
    rng = np.random.default_rng(k)
    v = rng.normal(size=(3, 3, 2, 5))  # 5 filters on the last axis
    units = np.arange(5)
    (z,), keep = proj.project_units([(v, -1, units)], 5, k)
    assert keep.sum() == k
    nonzero = np.abs(z).reshape(-1, 5).sum(axis=0) > 0
    assert nonzero.sum() == k
    np.testing.assert_array_equal(nonzero, keep)
    # Kept filters are unchanged.
    np.testing.assert_array_equal(z[..., keep], v[..., keep])

    def candidate(flags):
        return np.where(flags, v, 0.0)

    assert float(np.square(z - v).sum()) == pytest.approx(_brute_force(candidate, v, 5, k))


@pytest.mark.parametrize("k", [1, 2, 4])
def test_channel_projection_on_input_axis(k):
    rng = np.random.default_rng(10 + k)
    v = rng.normal(size=(3, 3, 6, 4))  # 6 input channels on axis -2
    (z,), keep = proj.project_units([(v, -2, np.arange(6))], 6, k)
    nonzero = np.abs(z).sum(axis=(0, 1, 3)) > 0
    assert nonzero.sum() == k

    def candidate(flags):
        return np.where(flags[:, None], v, 0.0)

    assert float(np.square(z - v).sum()) == pytest.approx(_brute_force(candidate, v, 6, k))


@pytest.mark.parametrize(("granularity", "k"), [("column", 2), ("column", 5), ("weight", 3), ("weight", 7)])
def test_kernel_projection_is_the_closest_point(granularity, k):
    rng = np.random.default_rng(k)
    v = rng.normal(size=(2, 2, 2, 3)) if granularity == "column" else rng.normal(size=(2, 2, 3))
    z, keep = proj.project_kernel(v, granularity, k)
    expected_mask_shape = v.shape[:-1] + (1,) if granularity == "column" else v.shape
    assert keep.shape == expected_mask_shape
    assert keep.sum() == k
    groups = (np.abs(z).sum(axis=-1) > 0) if granularity == "column" else (z != 0)
    assert groups.sum() == k
    n = keep.size

    def candidate(flags):
        return np.where(flags.reshape(keep.shape), v, 0.0)

    assert float(np.square(z - v).sum()) == pytest.approx(_brute_force(candidate, v, n, k))


def test_coupled_group_uses_the_joint_norm_and_shares_one_support():
    # Two convs feeding one residual Add: unit j is filter j of both kernels.
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 3, 2, 4))
    b = rng.normal(size=(1, 1, 5, 4))
    a[..., 0] *= 0.01  # weak in a ...
    b[..., 0] *= 100.0  # ... but strong in b: the joint norm keeps it
    units = np.arange(4)
    (za, zb), keep = proj.project_units([(a, -1, units), (b, -1, units)], 4, 2)
    assert keep[0]
    # One support for both slices.
    np.testing.assert_array_equal(np.abs(za).reshape(-1, 4).sum(0) > 0, keep)
    np.testing.assert_array_equal(np.abs(zb).reshape(-1, 4).sum(0) > 0, keep)

    def candidate_distance(flags):
        return float(np.square(np.where(flags, a, 0) - a).sum() + np.square(np.where(flags, b, 0) - b).sum())

    best = min(candidate_distance(np.isin(units, s)) for s in itertools.combinations(range(4), 2))
    distance = float(np.square(za - a).sum() + np.square(zb - b).sum())
    assert distance == pytest.approx(best)
    # Projecting each slice separately would disagree here.
    (_, alone) = proj.project_units([(a, -1, units)], 4, 2)
    assert not np.array_equal(alone, keep)


def test_positions_of_other_groups_are_untouched_and_repeated_units_add_up():
    # Flatten -> Dense style: unit 0 owns rows 0-1, unit 1 rows 2-3, rows 4-5 belong to another group.
    rng = np.random.default_rng(4)
    v = rng.normal(size=(6, 3))
    units = np.array([0, 0, 1, 1, -1, -1])
    norms = proj.joint_unit_norms([(v, 0, units)], 2)
    np.testing.assert_allclose(norms, [np.linalg.norm(v[:2]), np.linalg.norm(v[2:4])])
    (z,), keep = proj.project_units([(v, 0, units)], 2, 1)
    np.testing.assert_array_equal(z[4:], v[4:])
    dropped = 1 - int(np.argmax(keep))
    np.testing.assert_array_equal(z[2 * dropped: 2 * dropped + 2], 0.0)


def test_allowed_keeps_frozen_units_at_zero():
    v = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]])
    allowed = np.array([False, True, True, True, True])
    (z,), keep = proj.project_units([(v, -1, np.arange(5))], 5, 2, allowed)
    np.testing.assert_array_equal(keep, [False, True, True, False, False])
    np.testing.assert_array_equal(z, [[0.0, 4.0, 3.0, 0.0, 0.0]])


def test_top_k_ties_are_deterministic():
    keep = proj.top_k_keep(np.array([1.0, 2.0, 2.0, 2.0]), 2)
    np.testing.assert_array_equal(keep, [False, True, True, False])
    with pytest.raises(ValueError, match="k"):
        proj.top_k_keep(np.ones(3), -1)
