"""tfprune.selection: kept counts and budget allocation (pure NumPy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tfprune import selection
from tfprune.selection import Candidate, Unreachable, allocate


def _linear_problem(sizes, rng, round_to=None, weights=None):
    """Groups with random scores; cost = sum of per-unit weights kept."""
    candidates, start = [], 0
    for i, size in enumerate(sizes):
        units = np.arange(start, start + size)
        start += size
        candidates.append(
            Candidate(
                key=f"g{i}",
                units=units,
                scores=rng.random(size),
                keep=np.ones(size, dtype=bool),
                round_to=round_to,
                floor=selection.default_floor(size, round_to),
            )
        )
    unit_cost = np.ones(start) if weights is None else np.repeat(weights, sizes)
    return candidates, (lambda keep: float(unit_cost[keep].sum())), start


@pytest.mark.parametrize("allocation", ["uniform", "global"])
@pytest.mark.parametrize("seed", range(5))
def test_budget_is_met_from_below_within_rounding(allocation, seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(8, 65, size=6)
    candidates, cost, total = _linear_problem(sizes, rng, round_to=4, weights=rng.uniform(1, 5, 6))
    dense = cost(np.ones(total, dtype=bool))
    budget = 0.4 * dense
    result = allocate(candidates, cost, budget, base_keep=np.ones(total, dtype=bool), allocation=allocation, tolerance=0.05 * dense)
    assert result.cost <= budget + 0.05 * dense
    assert result.cost >= budget - 0.05 * dense
    for cand in candidates:
        kept = int(result.keep[cand.key].sum())
        assert kept == result.counts[cand.key]
        assert kept % 4 == 0 or kept == cand.size
        assert kept >= cand.floor


def test_uniform_prunes_every_group_by_about_the_same_ratio():
    rng = np.random.default_rng(0)
    candidates, cost, total = _linear_problem([16, 32, 64], rng)
    result = allocate(candidates, cost, 0.5 * total, base_keep=np.ones(total, dtype=bool), allocation="uniform")
    ratios = [result.counts[c.key] / c.size for c in candidates]
    assert max(ratios) - min(ratios) <= 1 / 16 + 1e-9
    assert result.cost <= 0.5 * total


def test_global_spends_the_cut_where_scores_are_low():
    rng = np.random.default_rng(0)
    candidates, cost, total = _linear_problem([32, 32], rng)
    shape = 1.0 + rng.random(32)  # the same spread in both groups, 100x apart
    low = Candidate("low", candidates[0].units, 0.1 * shape, candidates[0].keep)
    high = Candidate("high", candidates[1].units, 10.0 * shape, candidates[1].keep)
    result = allocate([low, high], cost, 40, base_keep=np.ones(64, dtype=bool), allocation="global", normalize=None)
    assert result.counts["high"] == 32
    assert result.counts["low"] == 8
    # Normalised per group, both groups look alike again: the cut is shared.
    shared = allocate([low, high], cost, 40, base_keep=np.ones(64, dtype=bool), allocation="global", normalize="mean")
    assert shared.counts["low"] == shared.counts["high"] == 20


def test_lowest_scored_units_go_and_pruning_is_monotone():
    scores = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 0.5])
    keep = np.array([True, True, True, True, True, False])
    cand = Candidate("g", np.arange(6), scores, keep)
    result = allocate([cand], lambda k: float(k.sum()), 3, base_keep=keep.copy(), allocation="uniform")
    np.testing.assert_array_equal(result.keep["g"], [True, False, True, False, True, False])


def test_floor_bounds_the_cut_and_unreachable_reports_the_minimum():
    rng = np.random.default_rng(0)
    candidates, cost, total = _linear_problem([16, 16], rng, round_to=8)
    with pytest.raises(Unreachable) as info:
        allocate(candidates, cost, 10, base_keep=np.ones(total, dtype=bool))
    assert info.value.minimum == 16
    assert info.value.low is None


def test_rounding_gap_beyond_tolerance_is_unreachable():
    # One group of 16 with round_to=8: only 8 or 16 can be kept.
    cand = Candidate("g", np.arange(16), np.arange(16.0), np.ones(16, dtype=bool), round_to=8, floor=8)
    with pytest.raises(Unreachable) as info:
        allocate([cand], lambda k: float(k.sum()), 12, base_keep=np.ones(16, dtype=bool), tolerance=1)
    assert (info.value.low, info.value.high) == (8, 16)
    # A wide enough tolerance takes the nearest step above instead.
    result = allocate([cand], lambda k: float(k.sum()), 12, base_keep=np.ones(16, dtype=bool), tolerance=4)
    assert result.cost in (8, 16)


def test_more_budget_never_keeps_fewer_units():
    rng = np.random.default_rng(3)
    candidates, cost, total = _linear_problem([24, 40, 56], rng, round_to=8, weights=[1.0, 2.0, 3.0])
    dense = cost(np.ones(total, dtype=bool))
    for allocation in ("uniform", "global"):
        previous = -1.0
        for fraction in np.linspace(0.3, 1.0, 8):
            result = allocate(candidates, cost, fraction * dense, base_keep=np.ones(total, dtype=bool), allocation=allocation, tolerance=1.0 * dense)
            assert result.cost >= previous
            previous = result.cost


@pytest.mark.parametrize("how", selection.NORMALIZATIONS)
def test_normalizations_keep_the_order_within_a_group(how):
    scores = np.array([3.0, 1.0, 2.0, 7.0])
    np.testing.assert_array_equal(np.argsort(selection.normalize_scores(scores, how)), np.argsort(scores))


@pytest.mark.parametrize("how", [h for h in selection.NORMALIZATIONS if h is not None])
def test_normalizations_ignore_removed_units_scored_inf(how):
    # LRF scores the units it already removed +inf: the others must keep
    # their normalised values (not 0 or NaN from inf statistics).
    scores = np.array([3.0, np.inf, 1.0, 2.0, np.inf, 7.0])
    out = selection.normalize_scores(scores, how)
    finite = np.isfinite(scores)
    np.testing.assert_allclose(out[finite], selection.normalize_scores(scores[finite], how))
    assert np.isposinf(out[~finite]).all()


def test_feasible_counts_and_kept_count():
    assert selection.feasible_counts(20, 20, 8, 8).tolist() == [8, 16, 20]
    assert selection.feasible_counts(20, 16, 8, 8).tolist() == [8, 16]
    assert selection.feasible_counts(5, 5, None, 1).tolist() == [1, 2, 3, 4, 5]
    assert selection.kept_count(64, 0.5, 8) == 32
    assert selection.kept_count(8, 0.5, 8) == 8
    assert selection.unprunable_by_rounding(8, 0.5, 8)
    assert not selection.unprunable_by_rounding(16, 0.5, 8)


@given(
    num_channels=st.integers(1, 600),
    round_to=st.sampled_from([None, 1, 4, 8, 16]),
    max_sparsity=st.none() | st.floats(0.0, 0.999),
)
def test_default_floor_is_the_smallest_width_within_the_limit(num_channels, round_to, max_sparsity):
    floor = selection.default_floor(num_channels, round_to, max_sparsity)
    least = 1 if max_sparsity is None else math.ceil((1 - max_sparsity) * num_channels - 1e-9)
    # Widths a group can take (multiples of round_to, or all of it), narrowest first.
    widths = selection.feasible_counts(num_channels, num_channels, round_to, 1)
    assert floor == min(w for w in widths if w >= least)
    assert floor >= min(num_channels, round_to or 1)


@pytest.mark.parametrize(
    ("given", "metric", "value"),
    [
        (0.5, "flops", 0.5),
        ({"params": 1e6}, "params", 1e6),
        ("params=0.25", "params", 0.25),
        ({"metric": "flops", "value": 2}, "flops", 2.0),
        ({"latency": 0.5, "threads": 2}, "latency", 0.5),
        ("latency=0.33", "latency", 0.33),
        ({"latency_ms": 0.8, "quantize": "int8"}, "latency_ms", 0.8),
    ],
)
def test_target_parsing(given, metric, value):
    target = selection.Target.parse(given)
    assert (target.metric, target.value) == (metric, value)
    assert selection.Target.from_config(target.get_config()) == target


@pytest.mark.parametrize("bad", [0, -1, "flops=abc", {"joules": 0.5}, {"flops": 0.5, "params": 0.5}, True, float("nan")])
def test_bad_targets_are_refused(bad):
    with pytest.raises(ValueError, match="target"):
        selection.Target.parse(bad)


def test_latency_targets_are_relative_or_milliseconds():
    relative = selection.Target.parse({"latency": 0.5, "threads": 2})
    assert relative.relative and relative.threads == 2 and relative.absolute(8.0) == 4.0
    ms = selection.Target.parse({"latency_ms": 0.8, "quantize": "int8"})
    assert not ms.relative and ms.absolute(8.0) == 0.8  # milliseconds, even below 1
    assert "int8" in ms.describe() and "1 thread(s)" in ms.describe()


@pytest.mark.parametrize("seed", range(3))
def test_cost_aware_global_cuts_where_units_are_expensive(seed):
    """Same score distribution in both groups; units of g0 cost 10x those of g1."""
    rng = np.random.default_rng(seed)
    candidates, cost, total = _linear_problem([32, 32], rng, round_to=None, weights=np.array([10.0, 1.0]))
    dense = cost(np.ones(total, dtype=bool))
    kwargs = {"base_keep": np.ones(total, dtype=bool), "allocation": "global", "tolerance": 0.03 * dense}
    plain = allocate(candidates, cost, 0.5 * dense, **kwargs)
    aware = allocate(candidates, cost, 0.5 * dense, cost_aware=True, **kwargs)
    assert abs(aware.cost - 0.5 * dense) <= 0.03 * dense
    # Per unit of cost saved, the cheap group's channels are worth keeping.
    assert aware.counts["g1"] > plain.counts["g1"]
    assert aware.counts["g0"] < plain.counts["g0"]
    assert sum(aware.counts.values()) > sum(plain.counts.values())  # more channels for the same cost
    # uniform ignores it
    uniform = {k: v for k, v in kwargs.items() if k != "allocation"}
    assert allocate(candidates, cost, 0.5 * dense, allocation="uniform", cost_aware=True, **uniform).counts == (
        allocate(candidates, cost, 0.5 * dense, allocation="uniform", **uniform).counts
    )


@pytest.mark.parametrize("seed", range(3))
def test_cost_aware_with_work_keeps_work_that_is_cheap_in_cost(seed):
    """Latency per MAC: g0's units cost 4x the time of g1's for the same MACs, g2 does 4x the MACs for 4x the time."""
    rng = np.random.default_rng(seed)
    candidates, latency, total = _linear_problem([32, 32, 32], rng, round_to=None, weights=np.array([4.0, 1.0, 4.0]))
    macs = np.repeat([1.0, 1.0, 4.0], 32)
    work = lambda keep: float(macs[keep].sum())  # noqa: E731
    dense = latency(np.ones(total, dtype=bool))
    kwargs = {"base_keep": np.ones(total, dtype=bool), "allocation": "global", "tolerance": 0.03 * dense}
    plain = allocate(candidates, latency, 0.5 * dense, **kwargs)
    aware = allocate(candidates, latency, 0.5 * dense, cost_aware=True, work_fn=work, **kwargs)
    assert abs(aware.cost - 0.5 * dense) <= 0.03 * dense
    # g0 spends time for little work: cut first; g1 and g2 give the same work per millisecond.
    assert aware.counts["g0"] < plain.counts["g0"]
    assert aware.counts["g1"] > plain.counts["g1"] and aware.counts["g2"] > plain.counts["g2"]
    assert work(_keep_of(aware, candidates, total)) > work(_keep_of(plain, candidates, total))
    # Work measured in the budget's own cost: the plain global ranking.
    assert allocate(candidates, latency, 0.5 * dense, cost_aware=True, work_fn=latency, **kwargs).counts == plain.counts


def _keep_of(result, candidates, total):
    keep = np.ones(total, dtype=bool)
    for cand in candidates:
        keep[cand.units] = result.keep[cand.key]
    return keep
