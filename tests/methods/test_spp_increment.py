"""SPP's increment function and probability update (docs/methods/spp.md#increment)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tfprune.methods import spp_increment, spp_update


@pytest.mark.parametrize("remaining", [1, 7, 64, 1000])
@pytest.mark.parametrize(("A", "u"), [(0.05, 0.25), (0.2, 0.4)])
def test_increment_closed_form_values(remaining, A, u):
    alpha = math.log(2 / u) / remaining
    center = -math.log(u) / alpha
    assert spp_increment(0, remaining, A, u) == pytest.approx(A)
    assert spp_increment(center, remaining, A, u) == pytest.approx(u * A)
    assert spp_increment(remaining, remaining, A, u) == pytest.approx(0.0, abs=1e-12)
    assert spp_increment(2 * center, remaining, A, u) == pytest.approx((2 * u - 1) * A)
    # Point symmetry about (r_c, uA).
    d = np.linspace(0, center, 9)
    np.testing.assert_allclose(
        spp_increment(center + d, remaining, A, u) + spp_increment(center - d, remaining, A, u),
        2 * u * A,
        atol=1e-12,
    )
    # Positive exactly below N_r, decreasing everywhere.
    ranks = np.arange(0, 3 * remaining + 1)
    delta = spp_increment(ranks, remaining, A, u)
    assert np.all(delta[ranks < remaining] > 0)
    assert np.all(delta[ranks > remaining] < 0)
    assert np.all(np.diff(delta) < 0)


def test_increment_of_huge_ranks_does_not_overflow():
    with np.errstate(over="raise", invalid="raise"):
        delta = spp_increment(np.array([1e3, 1e6, 1e12]), 3)
    assert np.all(np.isfinite(delta)) and np.all(delta < 0)


def test_increment_needs_groups_left_to_remove():
    with pytest.raises(ValueError, match="N_r"):
        spp_increment(0, 0)


def test_update_ranks_by_ascending_score_and_clips():
    p = np.array([0.3, 0.0, 0.99, 0.5, 0.02])
    scores = np.array([5.0, 1.0, 0.5, 4.0, 9.0])
    new = spp_update(p, scores, target=2, A=0.05, u=0.25)
    # Rank 0 (score 0.5, p 0.99) is clipped to 1; rank 1 (score 1) gains less
    # than A; rank N_r = 2 is unchanged (Delta(N_r) = 0); higher ranks are
    # recovered, and p never drops below 0.
    assert new[2] == 1.0
    assert 0 < new[1] < 0.05
    assert new[3] == 0.5
    assert 0 < new[0] < 0.3 and new[4] == 0.0
    assert np.all((new >= 0) & (new <= 1))


def test_permanent_groups_stay_and_are_skipped_in_the_ranking():
    p = np.array([1.0, 0.0, 0.0, 0.0])
    scores = np.array([100.0, 3.0, 1.0, 2.0])
    new = spp_update(p, scores, target=2, A=0.05, u=0.25)
    assert new[0] == 1.0
    # N_r = 1: only the least important active group (score 1) gains.
    assert new[2] == pytest.approx(0.05) and new[1] == 0.0 and new[3] == 0.0
    # Target reached: nothing changes any more.
    done = np.array([1.0, 1.0, 0.3, 0.0])
    np.testing.assert_array_equal(spp_update(done, scores, target=2, A=0.05, u=0.25), done)


@pytest.mark.parametrize("num_groups", [8, 27, 144])
def test_repeated_updates_remove_exactly_the_target_count(num_groups):
    rng = np.random.default_rng(num_groups)
    base = rng.random(num_groups)
    target = int(np.ceil(0.6 * num_groups))
    p = np.zeros(num_groups)
    for _ in range(2000):
        # Scores that move by up to their typical spacing between updates, as
        # weights do while training: neighbouring ranks swap.
        p = spp_update(p, base + rng.random(num_groups) / num_groups, target, 0.05, 0.25)
        assert int((p >= 1).sum()) <= target
        if int((p >= 1).sum()) == target:
            break
    assert int((p >= 1).sum()) == target
    # The removed groups are (up to the noise) the least important ones.
    removed = p >= 1
    assert base[removed].mean() < base[~removed].mean()
