"""SPP inside model.fit: sampled masks, coupling, seeds, gradients, resume."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from testing_models import build_residual_cnn, compile_for_test, dataset

import tfprune
from tfprune import errors
from tfprune.layers import find_wrappers


def _state(model, name, key):
    return np.asarray(model.get_layer(name).state[key])


def _prune(model, **kwargs):
    kwargs.setdefault("sparsity", 0.5)
    kwargs.setdefault("round_to", None)
    return tfprune.prune(model, "spp", **kwargs)


def _drive(pruned, steps, start=0):
    """Run the method's per-step hook as UpdatePruning does before each step."""
    pruner = tfprune.Pruner(pruned)
    for step in range(start, start + steps):
        pruner.step(step)
    return pruner


def _samples(model):
    return {
        (w.name, key): np.asarray(v)
        for w in find_wrappers(model)
        for key, v in w.state.items()
        if key.startswith("spp_sample")
    }


def _group_probabilities(pruned, pruner, group):
    """p of each unit of ``group``, read from its first filter's layer."""
    member = next(m for m in group.members if m.role == "filter")
    local = pruner.local_units(group, member.layer, member.weight, member.axis)
    prob = np.full(group.num_channels, np.nan)
    prob[local[local >= 0]] = _state(pruned, member.layer, "spp_prob")[local >= 0]
    assert not np.isnan(prob).any()
    return prob


def test_options_are_validated_and_round_trip(residual_cnn):
    pruned = _prune(residual_cnn, A=0.1, u=0.3, decay=0.9, interval=5, target_flops=0.5)
    method = find_wrappers(pruned)[0].method
    assert method.get_config() == {"A": 0.1, "u": 0.3, "decay": 0.9, "interval": 5, "target_flops": 0.5}
    schedule = tfprune.Pruner(pruned).schedule_of(tfprune.Pruner(pruned).active_groups[0])
    assert schedule.get_config()["frequency"] == 5
    for bad in ({"A": 0}, {"u": 1.0}, {"decay": 1.0}, {"interval": 0}, {"target_flops": 1.5}):
        with pytest.raises(errors.PruningArgumentError, match=next(iter(bad))):
            _prune(residual_cnn, **bad)
    with pytest.raises(errors.PruningArgumentError, match="granularity"):
        _prune(residual_cnn, granularity="weight")


def test_coupled_group_members_draw_the_same_mask(residual_cnn):
    # stem and outer feed the residual Add: one group, one mask per channel.
    pruned = _prune(residual_cnn, A=0.3, seed=3, round_to=None)
    pruner = _drive(pruned, 6)
    group = pruner.graph.groups_of_layer("stem")[0]
    assert {m.layer for m in group.members} >= {"stem", "stem_bn", "outer", "inner"}
    # Samples are drawn where masks are applied: the layers that read the
    # group's channels (`inner`, and `head` through add -> pool).
    sample = _state(pruned, "inner", "spp_sample_in")
    assert 0 < sample.sum() < sample.size  # some channels are dropped this step
    np.testing.assert_array_equal(_state(pruned, "head", "spp_sample_in"), sample)
    assert "spp_sample_out" not in pruned.get_layer("stem").state  # producers apply no mask
    np.testing.assert_array_equal(_state(pruned, "stem", "spp_prob"), _state(pruned, "outer", "spp_prob"))


def test_same_seed_same_masks_other_seed_other_masks(residual_cnn):
    runs = {}
    for seed in (7, 7, 8):
        pruned = _prune(residual_cnn, A=0.3, seed=seed)
        history = []
        pruner = tfprune.Pruner(pruned)
        for step in range(8):
            pruner.step(step)
            history.append(_samples(pruned))
        runs.setdefault(seed, []).append(history)
    first, second = runs[7]
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    other = runs[8][0]
    assert any(not np.array_equal(first[-1][k], other[-1][k]) for k in first[-1])


def test_masked_weights_get_zero_gradient_on_the_step_they_are_masked(residual_cnn, batch):
    pruned = _prune(residual_cnn, A=0.4, seed=0)
    pruner = _drive(pruned, 3)
    pruner.set_callback_active(True)
    x, _ = batch
    wrapper = pruned.get_layer("inner")
    # inner's channels are sampled where they are read: outer's input.
    sample = np.asarray(pruned.get_layer("outer").state["spp_sample_in"])
    assert 0 < sample.sum() < sample.size
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(pruned(x, training=True)))
    grad = tape.gradient(loss, wrapper.layer.kernel).numpy()
    assert np.all(grad[..., sample == 0] == 0)
    assert np.all(np.abs(grad[..., sample == 1]).sum(axis=(0, 1, 2)) > 0)


def test_column_samples_mask_the_kernel_in_training_only(residual_cnn, batch):
    pruned = _prune(residual_cnn, granularity="column", A=0.3, seed=0)
    pruner = _drive(pruned, 3)
    pruner.set_callback_active(True)
    x, _ = batch
    wrapper = pruned.get_layer("inner")
    sample = np.asarray(wrapper.state["spp_sample_kernel"])
    assert sample.shape == (3, 3, 8, 1) and 0 < sample.sum() < sample.size
    # Before any p reaches 1, inference is the unpruned model.
    np.testing.assert_allclose(pruned(x, training=False), residual_cnn(x), atol=1e-5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(pruned(x, training=True)))
    grad = tape.gradient(loss, wrapper.layer.kernel).numpy()
    dropped = np.broadcast_to(sample == 0, grad.shape)
    assert np.all(grad[dropped] == 0) and np.abs(grad[~dropped]).max() > 0
    # Inference uses the deterministic mask 1[p < 1].
    prob = np.asarray(wrapper.state["spp_prob_kernel"])
    assert prob.max() < 1
    np.testing.assert_allclose(
        pruned(x, training=False), tfprune.strip_pruning(pruned)(x), atol=1e-5
    )


@pytest.mark.parametrize("granularity", ["filter", "column"])
def test_fit_removes_exactly_the_target_count_then_freezes(batch, granularity):
    model = build_residual_cnn()
    pruned = compile_for_test(
        _prune(model, granularity=granularity, A=0.25, seed=1, round_to=None, sparsity=0.5)
    )
    ds = dataset(*batch, batch_size=4)
    pruned.fit(ds, epochs=12, verbose=0, callbacks=[tfprune.UpdatePruning()])
    pruner = tfprune.Pruner(pruned)
    if granularity == "filter":
        for group in pruner.active_groups:
            prob = _group_probabilities(pruned, pruner, group)
            target = group.num_channels - tfprune.methods.kept_count(group.num_channels, 0.5, None)
            assert int((prob >= 1).sum()) == target
            np.testing.assert_array_equal(pruner.group_keep(group), prob < 1)
    else:
        for entry in pruner.kernel_entries:
            prob = np.asarray(entry.layer.state["spp_prob_kernel"])
            assert int((prob >= 1).sum()) == int(np.ceil(0.5 * prob.size))
            np.testing.assert_array_equal(np.asarray(entry.layer.kernel_mask), prob < 1)
    # Finished layers use the deterministic mask in training too...
    before = _samples(pruned)
    history = pruned.fit(ds, epochs=1, verbose=0, callbacks=[tfprune.UpdatePruning()])
    after = _samples(pruned)
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])
    # ...and a step after every layer finished does no work: no draw, no write.
    pruner = tfprune.Pruner(pruned)
    pruner.step(10**6)  # loads the run state from the variables, writes the final samples once
    def no_work(*args, **kwargs):
        raise AssertionError("a finished SPP run drew or wrote samples")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(np.random, "default_rng", no_work)
        patch.setattr(tfprune.methods.spp._RunState, "assign", no_work)
        pruner.step(10**6 + 1)
        assert pruner.write_masks() == 0
    ratio = tfprune.count_flops(pruned, effective=True) / tfprune.count_flops(model)
    assert ratio < 1
    # The epoch logs report progress; column FLOPs are flagged as theoretical.
    logs = history.history
    name = "spp/flops_ratio" if granularity == "filter" else "spp/flops_ratio_theoretical"
    assert logs[name][-1] == pytest.approx(ratio)
    assert 0.45 <= logs["spp/removed_fraction"][-1] < 0.55  # ceil(R N) per layer


def test_save_and_resume_repeats_the_uninterrupted_run(batch, tmp_path):
    ds = dataset(*batch, batch_size=8)

    def fresh():
        model = build_residual_cnn()
        return compile_for_test(_prune(model, A=0.2, seed=5))

    straight = fresh()
    straight.fit(ds, epochs=4, verbose=0, callbacks=[tfprune.UpdatePruning()])

    keras.utils.set_random_seed(0)
    first = fresh()
    first.fit(ds, epochs=2, verbose=0, callbacks=[tfprune.UpdatePruning()])
    first.save(tmp_path / "half.keras")
    resumed = keras.saving.load_model(tmp_path / "half.keras")
    resumed.fit(ds, epochs=2, verbose=0, callbacks=[tfprune.UpdatePruning()])
    for wrapper in find_wrappers(straight):
        for key, value in wrapper.state.items():
            np.testing.assert_allclose(
                np.asarray(resumed.get_layer(wrapper.name).state[key]), np.asarray(value), atol=1e-6,
                err_msg=f"{wrapper.name}.{key}",
            )


def test_global_flops_target_stops_every_layer(batch):
    model = build_residual_cnn()
    dense = tfprune.count_flops(model)
    pruned = compile_for_test(_prune(model, sparsity=0.9, A=0.3, seed=2, target_flops=0.6))
    ds = dataset(*batch, batch_size=4)
    pruned.fit(ds, epochs=6, verbose=0, callbacks=[tfprune.UpdatePruning()])
    flops = tfprune.count_flops(pruned, effective=True)
    assert flops <= 0.6 * dense
    # It stopped there, well before the 90 % per-layer ceiling.
    assert tfprune.Pruner(pruned).pruned_fraction() < 0.8
    before = _samples(pruned)
    pruned.fit(ds, epochs=1, verbose=0, callbacks=[tfprune.UpdatePruning()])
    assert tfprune.count_flops(pruned, effective=True) == flops
    for key, value in _samples(pruned).items():
        np.testing.assert_array_equal(value, before[key])


def test_slim_of_filter_spp_equals_the_masked_model(batch):
    model = build_residual_cnn()
    pruned = compile_for_test(_prune(model, A=0.3, seed=4))
    pruned.fit(dataset(*batch, batch_size=4), epochs=4, verbose=0, callbacks=[tfprune.UpdatePruning()])
    x, _ = batch
    small = tfprune.slim(pruned)
    assert tfprune.count_params(small) < tfprune.count_params(model)
    np.testing.assert_allclose(small.predict(x, verbose=0), pruned.predict(x, verbose=0), atol=1e-4)
