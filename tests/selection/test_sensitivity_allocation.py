"""allocate_from_sensitivity: budgets met, round_to/floor respected, monotone in the budget."""

from __future__ import annotations

import numpy as np
import pytest

from tfprune import errors
from tfprune.selection.sensitivity import allocate_from_sensitivity


def _linear_cost(weights):
    return lambda kept: float(sum(weights[g] * k for g, k in kept.items()))


def _random_problem(rng, num_groups):
    sizes = {f"g{i}": int(rng.integers(4, 65)) for i in range(num_groups)}
    curves = {}
    for gid in sizes:
        s = np.sort(rng.choice([0.25, 0.5, 0.625, 0.75, 0.9], size=int(rng.integers(1, 5)), replace=False))
        # Accuracy-like: falls (noisily, not always monotonically) with sparsity.
        values = 0.95 - np.cumsum(rng.uniform(-0.01, 0.2, size=s.size)) * rng.uniform(0.1, 1.0)
        curves[gid] = [(0.0, 0.95), *zip(s.tolist(), values.tolist())]
    weights = {gid: float(rng.uniform(0.5, 10.0)) for gid in sizes}
    return curves, sizes, weights


def test_random_problems_meet_the_budget_and_respect_round_to_and_floor():
    rng = np.random.default_rng(0)
    for trial in range(40):
        curves, sizes, weights = _random_problem(rng, int(rng.integers(1, 7)))
        cost = _linear_cost(weights)
        round_to = [None, 2, 4, 8][trial % 4]
        floor = int(rng.integers(1, 5))
        step = round_to or 1
        lowest = {g: next((k for k in range(step, n, step) if k >= floor), n) for g, n in sizes.items()}
        reachable = cost(lowest)
        budget = reachable + rng.uniform(0.0, 1.0) * (cost(sizes) - reachable)
        kept = allocate_from_sensitivity(curves, sizes, cost, budget, round_to, floor)
        assert list(kept) == list(sizes)
        assert cost(kept) <= budget + 1e-9
        for g, k in kept.items():
            assert k == sizes[g] or (k % step == 0 and k >= floor), (g, k, sizes[g], round_to, floor)
        # It stops as soon as the budget is met: undoing the last step (one
        # group one width wider) exceeds it.
        if kept != sizes:
            wider = [{**kept, g: min(n, (kept[g] // step + 1) * step)} for g, n in sizes.items() if kept[g] < n]
            assert any(cost(w) > budget for w in wider)


def test_more_budget_never_keeps_fewer_channels():
    rng = np.random.default_rng(1)
    for _ in range(15):
        curves, sizes, weights = _random_problem(rng, 5)
        cost = _linear_cost(weights)
        budgets = np.linspace(cost({g: 1 for g in sizes}), cost(sizes), 12)
        previous = None
        for budget in budgets:
            kept = allocate_from_sensitivity(curves, sizes, cost, float(budget))
            if previous is not None:
                assert sum(kept.values()) >= sum(previous.values())
                assert all(kept[g] >= previous[g] for g in sizes)
            previous = kept
        assert previous == sizes  # the dense cost needs no pruning


def test_the_less_sensitive_group_is_pruned_first():
    sizes = {"fragile": 16, "robust": 16}
    curves = {
        "fragile": [(0.0, 0.9), (0.5, 0.5), (0.75, 0.2)],
        "robust": [(0.0, 0.9), (0.5, 0.88), (0.75, 0.85)],
    }
    cost = _linear_cost({"fragile": 1.0, "robust": 1.0})
    assert allocate_from_sensitivity(curves, sizes, cost, 24.0) == {"fragile": 16, "robust": 8}
    # Lower-is-better metrics (a loss) read the same curves upside down.
    losses = {g: [(s, 1.0 - m) for s, m in c] for g, c in curves.items()}
    kept = allocate_from_sensitivity(losses, sizes, cost, 24.0, higher_is_better=False)
    assert kept == {"fragile": 16, "robust": 8}


def test_cost_per_channel_matters_not_only_the_drop():
    # Equal curves: the group whose channels cost more is pruned first.
    curve = [(0.0, 0.9), (0.5, 0.8), (0.875, 0.5)]
    sizes = {"cheap": 8, "costly": 8}
    cost = _linear_cost({"cheap": 1.0, "costly": 4.0})
    kept = allocate_from_sensitivity({"cheap": curve, "costly": curve}, sizes, cost, 36.0)
    assert kept == {"cheap": 8, "costly": 7}


def test_groups_without_a_curve_are_kept_and_named_when_the_budget_fails():
    sizes = {"a": 16, "fixed": 16}
    curves = {"a": [(0.0, 1.0), (0.5, 0.9)]}
    cost = _linear_cost({"a": 1.0, "fixed": 1.0})
    assert allocate_from_sensitivity(curves, sizes, cost, 24.0, round_to=8) == {"a": 8, "fixed": 16}
    with pytest.raises(errors.PruningArgumentError) as info:
        allocate_from_sensitivity(curves, sizes, cost, 20.0, round_to=8)
    message = str(info.value)
    assert "cheapest reachable cost is 24" in message
    assert "fixed" in message and "round_to=8" in message


def test_bad_curves_are_explained():
    sizes = {"a": 8}
    cost = _linear_cost({"a": 1.0})
    with pytest.raises(errors.PruningArgumentError, match="dense point"):
        allocate_from_sensitivity({"a": [(0.5, 0.9)]}, sizes, cost, 4.0)
    # ...unless `dense` supplies it.
    assert allocate_from_sensitivity({"a": [(0.5, 0.9)]}, sizes, cost, 4.0, dense=1.0) == {"a": 4}
    with pytest.raises(errors.PruningArgumentError, match="without a size"):
        allocate_from_sensitivity({"b": [(0.0, 1.0), (0.5, 0.9)]}, sizes, cost, 4.0)
    with pytest.raises(errors.PruningArgumentError, match=r"in \[0, 1\)"):
        allocate_from_sensitivity({"a": [(0.0, 1.0), (1.0, 0.9)]}, sizes, cost, 4.0)
    with pytest.raises(errors.PruningArgumentError, match="floor"):
        allocate_from_sensitivity({"a": [(0.0, 1.0), (0.5, 0.9)]}, sizes, cost, 4.0, floor=0)
