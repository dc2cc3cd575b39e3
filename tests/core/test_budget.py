"""prune(target=...): FLOPs/params budgets met by the library, one_shot, errors."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from testing_models import build_residual_cnn, compile_for_test, dataset

import tfprune
from tfprune import errors, zoo


@pytest.fixture(scope="module")
def resnet():
    keras.utils.set_random_seed(0)
    return zoo.small_resnet()


@pytest.mark.parametrize(
    ("allocation", "target"),
    [("uniform", 0.5), ("global", 0.25), ("uniform", {"params": 0.5}), ("global", "params=0.3")],
)
def test_one_shot_meets_the_target_within_two_percent(resnet, allocation, target):
    parsed = tfprune.Target.parse(target)
    counter = tfprune.count_flops if parsed.metric == "flops" else tfprune.count_params
    dense = counter(resnet)
    pruned = tfprune.prune(resnet, "l1", target=target, allocation=allocation)
    tfprune.one_shot(pruned)
    small = tfprune.slim(pruned)
    achieved = counter(small) / dense
    assert parsed.value - 0.02 <= achieved <= parsed.value + 0.02
    for layer in small.layers:  # round_to=8 still holds
        if isinstance(layer, keras.layers.Conv2D) and layer.name != "logits":
            assert layer.filters % 8 == 0
    x = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(small(x), pruned(x), atol=1e-4)


def test_absolute_targets_are_counts(resnet):
    dense = tfprune.count_params(resnet)
    pruned = tfprune.one_shot(tfprune.prune(resnet, "l2", target={"params": 30_000}, round_to=None))
    achieved = tfprune.count_params(tfprune.slim(pruned))
    assert 30_000 - 0.02 * dense <= achieved <= 30_000


def test_global_allocation_differs_from_uniform(resnet):
    def widths(allocation):
        pruned = tfprune.one_shot(tfprune.prune(resnet, "l1", target=0.4, allocation=allocation, round_to=None))
        return {layer.name: layer.filters for layer in tfprune.slim(pruned).layers if hasattr(layer, "filters")}

    uniform, global_ = widths("uniform"), widths("global")
    ratios = [uniform[name] / resnet.get_layer(name).filters for name in uniform]
    assert max(ratios) - min(ratios) < 0.1  # one ratio everywhere
    assert uniform != global_


def test_unreachable_target_says_what_is_reachable(resnet):
    with pytest.raises(errors.BudgetError, match=r"smallest model reachable keeps .*round_to=8") as info:
        tfprune.prune(resnet, "l1", target=0.01)
    assert info.value.reachable[2] > info.value.requested
    # With finer rounding the same target becomes reachable... or not: never silent.
    pruned = tfprune.prune(resnet, "l1", target=0.14, round_to=None)
    tfprune.one_shot(pruned)
    assert tfprune.count_flops(tfprune.slim(pruned)) <= 0.14 * tfprune.count_flops(resnet)


def test_rounding_gap_beyond_tolerance_is_refused(resnet):
    with pytest.raises(errors.BudgetError, match="nearest reachable costs"):
        tfprune.prune(resnet, "l1", target=0.97, tolerance=0.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target": 0.5, "sparsity": 0.5}, "not both"),
        ({"target": 0.5, "allocation": "best"}, "allocation"),
        ({"target": 0.5, "normalize": "median"}, "normalize"),
        ({"target": 0.5, "tolerance": 2}, "tolerance"),
        ({"target": {"joules": 0.5}}, "flops"),
        ({"target": {"latency": 2.0}}, "latency_ms"),
        ({"target": 0.5, "granularity": "column"}, "mask-only"),
        ({"target": 0.5, "schedule": {"stem_conv": 0.5}}, "one `schedule`"),
        ({"target": 0.5, "max_group_sparsity": 1.0}, r"max_group_sparsity.*\[0, 1\).*Received: max_group_sparsity=1.0"),
        ({"target": 0.5, "max_group_sparsity": "0.8"}, "max_group_sparsity"),
        ({"target": 0.5, "max_group_sparsity": True}, "max_group_sparsity"),
        ({"sparsity": 0.5, "max_group_sparsity": 0.8}, r"without `target`.*target=None"),
    ],
)
def test_bad_budget_arguments(resnet, kwargs, match):
    with pytest.raises(errors.PruningArgumentError, match=match):
        tfprune.prune(resnet, "l1", **kwargs)


def _scaled_down(model, layer_name, factor=1e-3):
    """A copy of ``model`` whose ``layer_name`` kernel is ``factor`` times smaller (tiny L1 scores)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    layer = copy.get_layer(layer_name)
    layer.kernel.assign(layer.kernel * factor)
    return copy


def test_max_group_sparsity_keeps_a_share_of_every_group(tmp_path, resnet):
    # Unnormalised global ranking: the group with tiny weights loses all but one channel ...
    skewed = _scaled_down(resnet, "s2b1_conv1")

    def kept(**kwargs):
        pruned = tfprune.one_shot(tfprune.prune(
            skewed, "l1", target=0.4, allocation="global", normalize=None, round_to=None, **kwargs
        ))
        pruner = tfprune.Pruner(pruned)
        return pruned, {g.id: (int(pruner.group_keep(g).sum()), g.num_channels) for g in pruner.active_groups}

    _, free = kept()
    assert free["s2b1_conv1"][0] == 1
    # ... and with a limit every group keeps at least a quarter, and the target is still met.
    pruned, limited = kept(max_group_sparsity=0.75)
    assert all(count >= np.ceil(0.25 * n) for count, n in limited.values()), limited
    assert limited["s2b1_conv1"][0] == 8
    assert 0.38 <= tfprune.count_flops(tfprune.slim(pruned)) / tfprune.count_flops(skewed) <= 0.4
    # The limit is part of the saved model: pruning resumes with it.
    path = tmp_path / "limited.keras"
    pruned.save(path)
    assert tfprune.Pruner(keras.models.load_model(path)).max_group_sparsity == 0.75


def test_max_group_sparsity_too_tight_for_the_target_says_so(resnet):
    with pytest.raises(errors.BudgetError, match=r"80% of each group's channels \(max_group_sparsity=0.2\).*raise "
                       "max_group_sparsity") as info:
        tfprune.prune(resnet, "l1", target=0.4, round_to=None, max_group_sparsity=0.2)
    assert info.value.reachable[2] > info.value.requested


@keras.saving.register_keras_serializable(package="test_budget")
class _OwnCounts(tfprune.methods.PruningMethod):
    """A user method whose selection does not go through the shared allocation."""

    supports_budget = False


def test_methods_without_budget_support_refuse_a_target(resnet):
    with pytest.raises(errors.PruningArgumentError, match="does not take a `target`"):
        tfprune.prune(resnet, _OwnCounts(), target=0.5)
    with pytest.raises(errors.PruningArgumentError, match="own `target_flops` or `target`"):
        tfprune.prune(resnet, "spp", target=0.5, target_flops=0.5)


def test_one_shot_refuses_training_only_methods(resnet):
    pruned = tfprune.prune(resnet, "spp", sparsity=0.5)
    with pytest.raises(errors.PruningArgumentError, match="cannot prune without training"):
        tfprune.one_shot(pruned)
    with pytest.raises(errors.PruningArgumentError, match="no PruningWrapper"):
        tfprune.one_shot(resnet)


def test_one_shot_with_a_ramp_goes_to_its_end(resnet):
    schedule = tfprune.schedules.PolynomialDecay(0.0, 0.5, begin_step=0, end_step=100, frequency=10)
    pruned = tfprune.one_shot(tfprune.prune(resnet, "l1", schedule=schedule, round_to=None))
    direct = tfprune.Pruner(tfprune.prune(resnet, "l1", sparsity=0.5, round_to=None))
    direct.step(0)
    assert tfprune.Pruner(pruned).pruned_fraction() == pytest.approx(direct.pruned_fraction())


def test_sparsity_left_whole_by_round_to_warns_and_names_the_group():
    model = build_residual_cnn()  # the residual stream has 8 channels
    with pytest.warns(errors.RoundingWarning, match=r"stem \(8 channels\)"):
        tfprune.prune(model, "l1", sparsity=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", errors.RoundingWarning)
        tfprune.prune(model, "l1", sparsity=0.5, round_to=None)


def test_target_ramps_inside_fit_and_resumes_from_a_save(tmp_path, resnet):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=32)
    data = dataset(x, y)  # 4 steps per epoch
    schedule = tfprune.schedules.PolynomialDecay(0.0, 0.5, begin_step=0, end_step=12, frequency=2, power=1)

    def flops_ratio(model):
        return tfprune.count_flops(model, effective=True) / tfprune.count_flops(resnet)

    pruned = compile_for_test(tfprune.prune(resnet, "l1", target=0.3, schedule=schedule, round_to=None))
    ratios = []
    logger = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: ratios.append(flops_ratio(pruned)))
    pruned.fit(data, epochs=2, verbose=0, callbacks=[tfprune.UpdatePruning(), logger])
    assert 0.3 < ratios[1] < ratios[0] < 1.0  # on the way down, not there yet
    path = tmp_path / "mid.keras"
    pruned.save(path)
    loaded = keras.models.load_model(path)
    loaded.fit(data, epochs=2, verbose=0, callbacks=[tfprune.UpdatePruning()])
    pruned.fit(data, epochs=2, verbose=0, callbacks=[tfprune.UpdatePruning()])
    assert flops_ratio(pruned) == pytest.approx(0.3, abs=0.02)
    assert flops_ratio(pruned) <= 0.3
    for a, b in zip(tfprune.layers.find_wrappers(pruned), tfprune.layers.find_wrappers(loaded)):
        for mask in ("input_mask", "output_mask"):
            if getattr(a, mask) is not None:
                np.testing.assert_array_equal(getattr(a, mask).numpy(), getattr(b, mask).numpy())


def test_sensitivity_allocation_spares_the_sensitive_group(resnet):
    from tfprune.analysis.result import GroupSensitivity, SensitivityResult

    pruner = tfprune.Pruner(tfprune.prune(resnet, "l1", sparsity=0.0))
    groups = []
    for group in pruner.active_groups:  # "s3b1_conv1" collapses when pruned; the rest barely move
        fragile = group.id == "s3b1_conv1"
        values = (0.3, 0.1, 0.05) if fragile else (0.899, 0.898, 0.897)
        kept = tuple(max(1, round(group.num_channels * (1 - s))) for s in (0.25, 0.5, 0.75))
        groups.append(GroupSensitivity(group.id, (group.id,), group.num_channels, None, kept, values))
    result = SensitivityResult("accuracy", True, 0.9, (0.25, 0.5, 0.75), tuple(groups), "l1", None)
    pruned = tfprune.one_shot(tfprune.prune(resnet, "l1", target=0.5, allocation=result, round_to=None))
    small = tfprune.slim(pruned)
    assert small.get_layer("s3b1_conv1").filters == resnet.get_layer("s3b1_conv1").filters
    assert abs(tfprune.count_flops(small) / tfprune.count_flops(resnet) - 0.5) <= 0.02
