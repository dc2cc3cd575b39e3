"""LinearReplaceable: greedy removal with Weights Compensation on P-W-Q chains."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from testing_models import compile_for_test, dataset

import tfprune
from tfprune import errors, lrf
from tfprune.methods.lrf import LinearReplaceable, lrf_count


def _relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _make_dependent(model, part):
    """Make one slice of conv `inner` an exact combination of three others."""
    conv = model.get_layer("inner")
    kernel = np.array(conv.kernel)
    if part == "filters":
        kernel[..., 5] = 0.5 * kernel[..., 0] - 2.0 * kernel[..., 1] + kernel[..., 7]
    else:
        kernel[:, :, 3, :] = 1.5 * kernel[:, :, 0, :] - kernel[:, :, 2, :] + 0.5 * kernel[:, :, 6, :]
    conv.kernel.assign(kernel)
    return {0, 1, 5, 7} if part == "filters" else {0, 2, 3, 6}


@pytest.mark.parametrize("part", ["filters", "inputs"])
def test_exact_combination_removed_with_compensation_keeps_output(residual_cnn, batch, part):
    x, _ = batch
    model_pq = lrf.insert_pq(residual_cnn)
    dependent = _make_dependent(model_pq, part)
    before = model_pq.predict(x, verbose=0)

    pruned = lrf.wrap(model_pq, round_to=1)
    channels = 16 if part == "filters" else 8
    removed = lrf.prune_layer(pruned, "inner", 1.0 / channels, part)
    assert len(removed) == 1
    assert removed[0]["residual"] < 1e-5
    pruner = tfprune.Pruner(pruned)
    unit = removed[0]["unit"]
    assert unit in dependent
    after = pruned.predict(x, verbose=0)
    assert _relative(after, before) <= 1e-5
    # ... and slim removes it physically with the same outputs.
    small = tfprune.slim(pruned)
    assert _relative(small.predict(x, verbose=0), before) <= 1e-5
    assert pruner.pruned_fraction() > 0

    # The same removal without compensation changes the output measurably.
    plain = lrf.wrap(model_pq, round_to=1)
    plain_pruner = tfprune.Pruner(plain)
    group = next(g for g in plain_pruner.active_groups if g.num_channels == channels
                 and any(p.endswith("inner" if part == "filters" else "inner_lrf_p")
                         for p, _, _ in plain_pruner.group_slices(g, "filter")))
    keep = plain_pruner.group_keep(group)
    keep[unit] = False
    plain_pruner.set_group_keep(group, keep)
    plain_pruner.write_masks()
    # (100x the 1e-5 bound; the residual stream dilutes one channel of `inner`.)
    assert _relative(plain.predict(x, verbose=0), before) > 1e-3


def test_scores_are_residual_times_consumer_norm(residual_cnn):
    pruned = lrf.wrap(lrf.insert_pq(residual_cnn), round_to=1)
    q = pruned.get_layer("inner_lrf_q").layer
    q_kernel = np.array(q.kernel)
    q_kernel[0, 0, 3, :] *= 4.0  # channel 3 now matters 4x more downstream
    q.kernel.assign(q_kernel)
    pruner = tfprune.Pruner(pruned)
    group = next(g for g in pruner.active_groups if "inner_lrf_q" in g.layers)
    scores = pruner.method.scores(pruner, group)
    w = np.array(pruned.get_layer("inner").layer.kernel)
    filters = np.moveaxis(w, -1, 0).reshape(16, -1)
    _, residuals = tfprune.criteria.linear_replaceability.leave_one_out_direct(filters)
    np.testing.assert_allclose(scores, residuals * np.linalg.norm(q_kernel[0, 0], axis=1), rtol=1e-6)


def test_counts_follow_the_authors_code():
    assert lrf_count(16, 0.5) == 8
    assert lrf_count(2, 0.9) == 1  # at least one channel is kept
    assert lrf_count(16, 0.6) == 10
    assert lrf_count(16, 0.6, round_to=4) == 8  # keep 6 -> 8 with round_to=4
    assert lrf_count(10, 0.0) == 0


def test_prune_layer_removes_until_ratio_and_masks_match(residual_cnn):
    pruned = lrf.wrap(lrf.insert_pq(residual_cnn), round_to=1)
    assert len(lrf.prune_layer(pruned, "inner", 0.5, "filters")) == 8
    assert lrf.prune_layer(pruned, "inner", 0.5, "filters") == []  # already there
    assert len(lrf.prune_layer(pruned, "inner", 0.75, "filters")) == 4
    mask = np.array(pruned.get_layer("inner").output_mask)
    assert mask.sum() == 4
    np.testing.assert_array_equal(np.array(pruned.get_layer("inner_lrf_q").input_mask), mask)


def test_in_fit_schedule_removes_one_at_a_time(residual_cnn, batch):
    model_pq = lrf.insert_pq(residual_cnn)
    method = LinearReplaceable(lrf.wrapped_convs(model_pq))
    pruned = tfprune.prune(model_pq, method, sparsity={"outer": 0.5}, round_to=1)
    compile_for_test(pruned)
    x, y = batch
    pruned.fit(dataset(x, y), epochs=1, verbose=0, callbacks=[tfprune.UpdatePruning()])
    assert np.array(pruned.get_layer("outer").output_mask).sum() == 4
    # By name, through prune(**method_options).
    again = tfprune.prune(model_pq, "lrf", convs=["inner", "outer"], sparsity={"inner": 0.25}, round_to=1)
    assert isinstance(tfprune.Pruner(again).method, LinearReplaceable)


def test_method_config_round_trips_and_reloads(residual_cnn, tmp_path, batch):
    pruned = lrf.wrap(lrf.insert_pq(residual_cnn), round_to=1)
    lrf.prune_layer(pruned, "outer", 0.5, "inputs")
    path = tmp_path / "lrf.keras"
    pruned.save(path)
    loaded = keras.saving.load_model(path)
    pruner = tfprune.Pruner(loaded)
    assert pruner.method.get_config() == {"convs": ["inner", "outer"]}
    x, _ = batch
    np.testing.assert_allclose(loaded.predict(x, verbose=0), pruned.predict(x, verbose=0), atol=1e-6)
    assert len(lrf.prune_layer(loaded, "outer", 0.75, "inputs")) == 4


def test_groups_outside_pq_chains_raise(residual_cnn):
    model_pq = lrf.insert_pq(residual_cnn)
    pruned = tfprune.prune(model_pq, "lrf", convs=["inner", "outer"], sparsity={"stem": 0.5}, round_to=None)
    pruner = tfprune.Pruner(pruned)
    with pytest.raises(errors.PruningArgumentError, match="insert_pq"):
        pruner.step(0)


def _reference_remove_one(method, pruner, group):
    """LRF's removal step computed from scratch (a new Gram matrix, its
    eigenvalues and inverse, and one lstsq), as before the incremental update."""
    from tfprune.criteria import linear_replaceability as lr

    problem = method._problem(pruner, group)
    units = problem["units"]
    _, residuals = lr.leave_one_out(problem["filters"])
    scores = lr.replaceability_scores(residuals, problem["norms"])
    best = int(np.argmin(scores))
    coefficients, residual = lr.regress_one(problem["filters"], best)
    others = np.delete(np.arange(len(units)), best)
    kernel = lr.compensate(problem["kernel"], problem["k_axis"], int(problem["k_pos"][best]),
                           coefficients[others], problem["k_pos"][others])
    problem["other_layer"].layer.kernel.assign(kernel)
    keep = pruner.group_keep(group)
    keep[units[best]] = False
    pruner.set_group_keep(group, keep)
    return {"unit": int(units[best]), "score": float(scores[best]), "residual": residual}


def _wide_narrow_cnn():
    """`wide` has 40 filters of 4x3x3 weights (singular Gram), `narrow` 40 input slices."""
    keras.utils.set_random_seed(3)
    x = keras.Input((6, 6, 3))
    y = keras.layers.Conv2D(4, 3, padding="same", name="stem")(x)
    y = keras.layers.Conv2D(40, 3, padding="same", use_bias=False, name="wide")(y)
    y = keras.layers.Conv2D(24, 3, padding="same", use_bias=False, name="narrow")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    return keras.Model(x, keras.layers.Dense(3)(y))


@pytest.mark.parametrize("source", ["residual_cnn", "wide_narrow"])
def test_incremental_removal_equals_the_step_by_step_reference(residual_cnn, batch, source):
    model_pq = lrf.insert_pq(residual_cnn if source == "residual_cnn" else _wide_narrow_cnn())
    fast, slow = lrf.wrap(model_pq, round_to=1), lrf.wrap(model_pq, round_to=1)
    fast_pruner, slow_pruner = tfprune.Pruner(fast), tfprune.Pruner(slow)
    method = fast_pruner.method
    for group, twin in zip(fast_pruner.active_groups, slow_pruner.active_groups):
        count = group.num_channels * 3 // 4
        got = method.remove(fast_pruner.view, group, count)
        expected = [_reference_remove_one(method, slow_pruner.view, twin) for _ in range(count)]
        assert [r["unit"] for r in got] == [r["unit"] for r in expected]
        np.testing.assert_allclose([r["score"] for r in got], [r["score"] for r in expected], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose([r["residual"] for r in got], [r["residual"] for r in expected],
                                   rtol=1e-5, atol=1e-7)
    fast_pruner.write_masks()
    slow_pruner.write_masks()
    for layer in fast.layers:
        if isinstance(layer, tfprune.PruningWrapper):
            np.testing.assert_allclose(np.array(layer.layer.kernel), np.array(slow.get_layer(layer.name).layer.kernel),
                                       rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(np.array(layer.output_mask), np.array(slow.get_layer(layer.name).output_mask))
    x, _ = batch if source == "residual_cnn" else (np.random.default_rng(0).normal(size=(4, 6, 6, 3)), None)
    np.testing.assert_allclose(fast.predict(x, verbose=0), slow.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_budget_step_at_the_progress_reached_is_skipped(residual_cnn):
    model_pq = lrf.insert_pq(residual_cnn)
    schedule = tfprune.schedules.IntervalSchedule(0, 9, 3, 0.9)
    pruned = tfprune.prune(model_pq, "lrf", convs=lrf.wrapped_convs(model_pq), target=0.6, schedule=schedule,
                           round_to=1)
    pruner = tfprune.Pruner(pruned)
    calls = []
    method = pruner.method
    original = method.num_to_prune
    method.num_to_prune = lambda *a: calls.append(a[1].id) or original(*a)
    try:
        pruner.step(0)
        first = len(calls)
        cost, goal, dense = pruner.budget_status()
        assert first > 0 and cost <= goal + 0.02 * dense
        pruner.step(3)  # same progress, nothing removed since: no new allocation
        assert len(calls) == first
        # A channel un-pruned behind its back (e.g. restored weights) is noticed.
        group = pruner.active_groups[0]
        keep = pruner.group_keep(group)
        keep[:] = True
        pruner.set_group_keep(group, keep)
        pruner.step(6)
        assert len(calls) > first
        assert not pruner.group_keep(group).all()
    finally:
        del method.num_to_prune
