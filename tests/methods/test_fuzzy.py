"""FuzzyPruning: the alpha-cut decides how many filters go (tfprune.methods.fuzzy)."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from testing_models import build_residual_cnn, compile_for_test, dataset

import tfprune
from tfprune import errors
from tfprune.criteria import fuzzy as fz
from tfprune.methods import FuzzyPruning


def _with_filter_scales(scales, seed=0):
    """The residual CNN whose `inner` filters have mean |w| proportional to `scales`."""
    model = build_residual_cnn(seed)
    kernel = model.get_layer("inner").kernel
    signs = np.sign(keras.ops.convert_to_numpy(kernel))
    signs[signs == 0] = 1
    kernel.assign((0.1 * signs * np.asarray(scales)).astype("float32"))
    return model


def _inner_keep(model):
    return model.get_layer("inner").output_mask.numpy().astype(bool)


def _expected_cut(scales, a=0.1, b=0.5, alpha=0.9, alpha_importance=0.1, minmax=False):
    """The reconstructed rule written out independently of the library."""
    s = np.asarray(scales, float)
    s = (s - s.min()) / (s.max() - s.min()) if minmax else s / s.max()
    mu_i = np.clip((s - a) / (b - a), 0, 1)
    mu_u = np.clip((b - s) / (b - a), 0, 1)
    return (mu_u >= alpha) & ~(mu_i >= alpha_importance)


def _interval(frequency=2, max_sparsity=0.9, end_step=-1):
    return tfprune.schedules.IntervalSchedule(0, end_step, frequency, max_sparsity)


IMBALANCED = [0.01, 0.02, 0.03, 0.01, 0.02] + [1.0, 0.9, 0.95, 0.85, 1.0, 0.9, 0.8, 0.95, 1.0, 0.9, 0.85]


def test_imbalanced_scores_prune_what_the_cut_says_not_a_fixed_ratio():
    model = _with_filter_scales(IMBALANCED)
    fuzzy = tfprune.prune(model, "fuzzy", schedule=_interval(max_sparsity=0.5), round_to=None)
    pruner = tfprune.Pruner(fuzzy)
    inner = next(g for g in pruner.active_groups if g.id == "inner")
    assert pruner.method.num_to_prune(pruner, inner, 0.5) == 5
    pruner.step(0)
    l1 = tfprune.prune(model, "l1", sparsity=0.5, round_to=None)
    tfprune.Pruner(l1).step(0)

    cut = _expected_cut(IMBALANCED)
    assert cut.sum() == 5
    np.testing.assert_array_equal(~_inner_keep(fuzzy), cut)  # exactly the cut
    assert (~_inner_keep(l1)).sum() == 8  # the fixed ratio: 3 important filters too
    assert np.all(~_inner_keep(l1)[cut])


def test_uniform_scores_prune_only_the_low_tail_and_equal_scores_nothing():
    spread = np.arange(1, 17) / 16.0  # evenly spread over (0, 1]
    model = _with_filter_scales(spread)
    pruned = tfprune.prune(model, "fuzzy", schedule=_interval(), round_to=None)
    pruner = tfprune.Pruner(pruned)
    pruner.step(0)
    cut = _expected_cut(spread)
    assert cut.sum() == 2  # s = 1/16, 2/16 are below the 0.14 crossing point
    np.testing.assert_array_equal(~_inner_keep(pruned), cut)
    assert not pruner.method.stopped(pruner)

    equal = _with_filter_scales(np.ones(16))
    pruned = tfprune.prune(equal, "fuzzy", schedule=_interval(), round_to=None)
    pruner = tfprune.Pruner(pruned)
    pruner.step(0)
    assert _inner_keep(pruned).all()
    # No group had a filter in the cut: pruning stops for good.
    assert pruner.method.stopped(pruner)


def test_minmax_normalization_sees_the_shape_of_a_tight_distribution():
    # A trained layer: every norm within 0.7..1.0 of the largest, a low tail of three.
    tight = np.array([0.70, 0.71, 0.73] + list(np.linspace(0.9, 1.0, 13)))
    model = _with_filter_scales(tight)
    by_max = tfprune.prune(model, "fuzzy", schedule=_interval(), round_to=None)
    tfprune.Pruner(by_max).step(0)
    assert _inner_keep(by_max).all()  # s / max s >= 0.7: nothing is unimportant

    by_range = tfprune.prune(model, "fuzzy", schedule=_interval(), round_to=None, normalization="minmax")
    tfprune.Pruner(by_range).step(0)
    cut = _expected_cut(tight, minmax=True)
    assert cut.sum() == 3
    np.testing.assert_array_equal(~_inner_keep(by_range), cut)


def test_safety_limits():
    method = FuzzyPruning(max_step_fraction=0.5)
    # limit(num_channels, kept, in_cut, sparsity, round_to)
    assert method.limit(16, 16, 15, 0.9, None) == 8  # half of the kept per step
    assert method.limit(16, 8, 7, 0.9, None) == 4
    assert method.limit(16, 16, 15, 0.25, None) == 4  # total cap from the schedule
    assert method.limit(16, 16, 3, 0.9, None) == 3  # the cut decides below the caps
    assert method.limit(16, 16, 5, 0.9, 8) == 0  # 11 kept would round up to 16
    assert method.limit(16, 16, 9, 0.9, 8) == 8  # 7 kept -> 8
    assert method.limit(16, 8, 7, 0.9, 8) == 0  # at least round_to stay
    assert method.limit(2, 1, 1, 0.9, None) == 0  # at least one stays

    # The per-step cap inside a model: 15 filters in the cut, 8 pruned first.
    scales = [1.0] + [0.01] * 15
    pruned = tfprune.prune(_with_filter_scales(scales), "fuzzy", schedule=_interval(), round_to=None)
    pruner = tfprune.Pruner(pruned)
    pruner.step(0)
    assert _inner_keep(pruned).sum() == 8 and _inner_keep(pruned)[0]
    pruner.step(2)
    assert _inner_keep(pruned).sum() == 4


def test_max_sparsity_option_caps_the_total():
    scales = [1.0] + [0.01] * 15
    pruned = tfprune.prune(
        _with_filter_scales(scales), "fuzzy", schedule=_interval(), round_to=None, max_sparsity=0.6
    )
    pruner = tfprune.Pruner(pruned)
    for step in range(0, 20, 2):
        pruner.step(step)
    assert _inner_keep(pruned).sum() == 6  # round(16 * 0.4)


def test_target_flops_stops_near_the_target():
    scales = [1.0] + [0.01] * 15
    model = _with_filter_scales(scales)
    dense = tfprune.count_flops(model)
    pruned = tfprune.prune(model, "fuzzy", schedule=_interval(), round_to=None, target_flops=0.8)
    pruner = tfprune.Pruner(pruned)
    pruner.step(0)
    flops = tfprune.count_flops(pruned, effective=True)
    assert flops <= 0.8 * dense
    assert pruner.method.stopped(pruner)
    # The last step was trimmed: one filter fewer would be above the target.
    keep = _inner_keep(pruned)
    assert 8 < keep.sum() < 16
    pruned_units = np.flatnonzero(~keep)
    keep[pruned_units[-1]] = True
    pruner.set_group_keep(next(g for g in pruner.active_groups if g.id == "inner"), keep)
    pruner.write_masks()
    assert tfprune.count_flops(pruned, effective=True) > 0.8 * dense
    # Absolute targets work the same.
    absolute = tfprune.prune(model, "fuzzy", schedule=_interval(), round_to=None, target_flops=int(0.8 * dense))
    tfprune.Pruner(absolute).step(0)
    assert tfprune.count_flops(absolute, effective=True) <= int(0.8 * dense)


def test_report_and_epoch_logs_inside_fit(batch, capsys):
    pruned = compile_for_test(
        tfprune.prune(_with_filter_scales(IMBALANCED), "fuzzy", schedule=_interval(), round_to=None)
    )
    history = pruned.fit(dataset(*batch), epochs=2, verbose=0, callbacks=[tfprune.UpdatePruning(verbose=1)])
    method = tfprune.Pruner(pruned).method
    rows = method.report(pruned)
    first = [r for r in rows if r["step"] == 0]
    assert {r["group"] for r in first} == {"stem", "inner"}
    inner = next(r for r in first if r["group"] == "inner")
    assert inner == {
        "group": "inner", "step": 0, "kept_before": 16, "important": 11,
        "unimportant": 5, "cut": 5, "pruned": 5, "kept_after": 11,
    }
    # Step 2 finds the cut empty everywhere, so pruning stops: no later rows.
    assert max(r["step"] for r in rows) == 2
    assert all(r["cut"] == 0 for r in rows if r["step"] == 2)
    assert history.history["fuzzy/inner/kept"] == [11.0, 11.0]
    assert history.history["fuzzy/inner/cut"] == [0.0, 0.0]
    assert history.history["fuzzy/stopped"] == [1.0, 1.0]
    assert "fuzzy/inner/kept = 11" in capsys.readouterr().out
    table = method.format_report(rows)
    assert "| 0 | inner | 16 | 11 | 5 | 5 | 5 | 11 |" in table


def _quantile_run():
    return tfprune.prune(
        build_residual_cnn(), "fuzzy", schedule=_interval(frequency=2, max_sparsity=0.75),
        round_to=None, breakpoints="quantile", memberships="sigmoid", max_step_fraction=0.2,
    )


def _masks(model):
    return {
        w.name: [None if m is None else m.numpy().copy() for m in (w.input_mask, w.output_mask)]
        for w in tfprune.layers.find_wrappers(model)
    }


def test_save_mid_run_and_resume_equals_an_uninterrupted_run(tmp_path, batch):
    data = dataset(*batch)  # 4 steps per epoch, pruning every 2 steps
    straight = compile_for_test(_quantile_run())
    straight.fit(data, epochs=4, verbose=0, callbacks=[tfprune.UpdatePruning()])

    first = compile_for_test(_quantile_run())
    first.fit(data, epochs=2, verbose=0, callbacks=[tfprune.UpdatePruning()])
    kept_mid = int(_inner_keep(first).sum())
    path = tmp_path / "mid.keras"
    first.save(path)
    resumed = keras.models.load_model(path)
    resumed.fit(data, epochs=2, verbose=0, callbacks=[tfprune.UpdatePruning()])

    kept_end = int(_inner_keep(straight).sum())
    assert 4 <= kept_end < kept_mid < 16  # saved while the cut was still pruning
    for name, masks in _masks(straight).items():
        for a, b in zip(masks, _masks(resumed)[name]):
            if a is None:
                assert b is None
            else:
                np.testing.assert_array_equal(a, b)
    report = tfprune.Pruner(straight).method.report(straight)
    assert tfprune.Pruner(resumed).method.report(resumed) == report
    assert len({r["step"] for r in report}) == 8
    np.testing.assert_allclose(resumed(batch[0]), straight(batch[0]), atol=1e-5)


def test_stop_flag_survives_save_and_load(tmp_path):
    pruned = tfprune.prune(_with_filter_scales(np.ones(16)), "fuzzy", schedule=_interval(), round_to=None)
    pruner = tfprune.Pruner(pruned)
    pruner.step(0)
    assert pruner.method.stopped(pruner)
    pruned.save(tmp_path / "stopped.keras")
    loaded = keras.models.load_model(tmp_path / "stopped.keras")
    reloaded = tfprune.Pruner(loaded)
    assert reloaded.method.stopped(reloaded)


def test_config_round_trips_with_membership_objects(tmp_path):
    memberships = (fz.Gaussian(0.2, 0.6, width=2.0), fz.Trapezoid(c=0.05, d=0.3))
    pruned = tfprune.prune(
        build_residual_cnn(), "fuzzy", schedule=_interval(), round_to=None, alpha=0.8,
        alpha_importance=0.2, memberships=memberships, max_step_fraction=0.25, target_flops=0.5,
    )
    method = tfprune.Pruner(pruned).method
    assert method.importance == memberships[0] and method.non_importance == memberships[1]
    config = keras.saving.serialize_keras_object(method)
    restored = keras.saving.deserialize_keras_object(config)
    assert restored.get_config() == method.get_config()
    assert restored.non_importance == fz.Trapezoid(c=0.05, d=0.3)
    pruned.save(tmp_path / "m.keras")
    loaded = tfprune.Pruner(keras.models.load_model(tmp_path / "m.keras")).method
    assert loaded.get_config() == method.get_config()


def test_default_schedule_and_slim_match_the_masked_model(batch):
    pruned = tfprune.prune(_with_filter_scales(IMBALANCED), "fuzzy", round_to=None)
    schedule = tfprune.Pruner(pruned).schedule_of(tfprune.Pruner(pruned).active_groups[0])
    assert schedule == tfprune.schedules.IntervalSchedule(0, -1, 100, 0.9)
    tfprune.Pruner(pruned).step(0)
    small = tfprune.slim(pruned)
    assert small.get_layer("inner").kernel.shape[-1] == 11
    np.testing.assert_allclose(small(batch[0]), pruned(batch[0]), atol=1e-5)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"alpha": 1.5}, "alpha"),
        ({"memberships": "bell"}, "memberships"),
        ({"memberships": (fz.Ramp(0.1, 0.5), "ramp")}, "Membership"),
        ({"breakpoints": (0.5, 0.1)}, "a < b"),
        ({"breakpoints": "median"}, "quantile"),
        ({"max_step_fraction": 0.0}, "max_step_fraction"),
        ({"max_sparsity": 1.0}, "max_sparsity"),
        ({"target_flops": -3}, "target_flops"),
        ({"history_size": 0}, "history_size"),
        ({"normalization": "l2"}, "normalization"),
    ],
)
def test_bad_options_are_clear_errors(residual_cnn, options, match):
    with pytest.raises(errors.PruningArgumentError, match=match):
        tfprune.prune(residual_cnn, "fuzzy", **options)


def _inner_group(pruner):
    return next(g for g in pruner.active_groups if g.id == "inner")


def test_budget_fallback_when_round_to_stalls_the_cut(batch):
    # 5 tiny filters in the cut of `inner` (16), but round_to=8 rounds 11 kept
    # back up to 16; `stem` (8, coupled to the residual Add) is at its floor.
    model = _with_filter_scales(IMBALANCED)
    dense = tfprune.count_flops(model)
    pruned = tfprune.prune(model, "fuzzy", target=0.55, schedule=_interval(end_step=-1), round_to=8)
    pruner = tfprune.Pruner(pruned)
    method = pruner.method
    # Without the fallback the alpha-cut stalls: a cut, but nothing it may prune.
    record, _ = method.decide(pruner.view, _inner_group(pruner), 1.0)
    assert record["cut"] == 5 and record["pruned"] == 0
    assert all(method.decide(pruner.view, g, 1.0)[0]["pruned"] == 0 for g in pruner.active_groups)
    compile_for_test(pruned)
    with warnings.catch_warnings():
        warnings.simplefilter("error", errors.BudgetWarning)
        pruned.fit(dataset(*batch), epochs=1, verbose=0, callbacks=[tfprune.UpdatePruning()])
    assert method.fell_back(pruned)
    keep = _inner_keep(pruned)
    assert keep.sum() == 8
    assert not keep[np.asarray(IMBALANCED) < 0.1].any()  # the cut's filters went first
    achieved = tfprune.count_flops(tfprune.slim(pruned)) / dense
    assert 0.55 - 0.02 <= achieved <= 0.55 + 0.02
    row = next(r for r in method.report(pruned) if r["group"] == "inner" and r["step"] == 0)
    assert row["cut"] == 5 and row["pruned"] == 8  # more than the cut: the allocation did it


def test_budget_fallback_at_the_last_pruning_step(batch):
    # max_step_fraction=0.1 lets the cut take 1 filter of `inner` per step:
    # steps 0 and 2 creep forward, step 4 (the schedule's last) falls back.
    model = _with_filter_scales(IMBALANCED)
    dense = tfprune.count_flops(model)
    pruned = tfprune.prune(
        model, "fuzzy", target=0.55, schedule=_interval(end_step=4), round_to=None, max_step_fraction=0.1
    )
    pruner = tfprune.Pruner(pruned)
    method = pruner.method
    pruner.step(0)
    pruner.step(2)
    cost, goal, _ = pruner.budget_status()
    assert cost > goal + 0.02 * dense and not method.fell_back(pruner)
    keep_before = _inner_keep(pruned)
    assert keep_before.sum() == 14  # one filter per step, the two smallest
    pruner.step(4)
    assert method.fell_back(pruner) and method.stopped(pruner)
    keep = _inner_keep(pruned)
    assert not (keep & ~keep_before).any()  # monotone: pruned filters stay pruned
    achieved = tfprune.count_flops(tfprune.slim(pruned)) / dense
    assert 0.55 - 0.02 <= achieved <= 0.55 + 0.02
    # Inside fit, the same: the target is met and no BudgetWarning.
    again = compile_for_test(tfprune.prune(
        model, "fuzzy", target=0.55, schedule=_interval(end_step=4), round_to=None, max_step_fraction=0.1
    ))
    with warnings.catch_warnings():
        warnings.simplefilter("error", errors.BudgetWarning)
        history = again.fit(dataset(*batch), epochs=2, verbose=0, callbacks=[tfprune.UpdatePruning()])
    assert history.history["fuzzy/fallback"] == [0.0, 1.0]
    np.testing.assert_array_equal(_inner_keep(again), keep)


def test_budget_cut_stops_at_max_group_sparsity():
    # The cut of `inner` holds its 5 tiny filters; a limit of 25 % per group lets 4 of them go.
    model = _with_filter_scales(IMBALANCED)

    def pruned_by_the_cut(**kwargs):
        pruned = tfprune.prune(model, "fuzzy", target=0.8, schedule=_interval(), round_to=None,
                               max_step_fraction=0.5, tolerance=0.05, **kwargs)
        pruner = tfprune.Pruner(pruned)
        return pruner.method.decide(pruner.view, _inner_group(pruner), 1.0)[0]

    assert pruned_by_the_cut()["pruned"] == 5
    record = pruned_by_the_cut(max_group_sparsity=0.25)
    assert record["cut"] == 5 and record["pruned"] == 4  # 16 - ceil(0.75 * 16)
