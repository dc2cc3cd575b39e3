"""method="taylor": first-order Taylor importance (Molchanov et al. 2019)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from testing_models import build_residual_cnn, compile_for_test, dataset

import tfprune
from tfprune import _gradients, errors
from tfprune.graph import rules as rules_lib
from tfprune.methods import taylor as taylor_method

SCCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
GATE_ROLES = (rules_lib.FILTER, rules_lib.BIAS, rules_lib.AFFINE)


def _batches(n=3, size=8, seed=1, shape=(8, 8, 3), classes=4):
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(size, *shape)).astype("float32"), rng.integers(0, classes, size=size))
        for _ in range(n)
    ]


def _group_of(pruner, layer_name):
    return next(
        g for g in pruner.active_groups
        if any(m.layer == layer_name and m.role == rules_lib.FILTER for m in g.members)
    )


def test_scores_match_a_numpy_reference_on_a_linear_model():
    """x -> Dense(4) -> Dense(1), MSE: dE/dz_j = sum_i dE/dh_ij h_ij by hand."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((6,))
    out = keras.layers.Dense(1, name="head")(keras.layers.Dense(4, name="hidden")(inp))
    model = keras.Model(inp, out)
    w2 = model.get_layer("head").kernel
    w2.assign(w2.numpy() * np.array([[1.0], [0.05], [3.0], [0.3]], "float32"))
    rng = np.random.default_rng(0)
    data = [(rng.normal(size=(5, 6)).astype("float32"), rng.normal(size=(5, 1)).astype("float32")) for _ in range(3)]

    W1, b1 = (v.numpy().astype(np.float64) for v in model.get_layer("hidden").weights)
    W2, b2 = (v.numpy().astype(np.float64) for v in model.get_layer("head").weights)
    gates = []
    for x, y in data:
        h = x @ W1 + b1
        pred = h @ W2 + b2
        d_h = (2.0 * (pred - y) / pred.size) @ W2.T
        gates.append((d_h * h).sum(axis=0))
    expected = np.mean(np.square(gates), axis=0)
    order = np.argsort(expected)
    assert expected[order[2]] > 1.2 * expected[order[1]]  # a clear cut between kept and pruned

    pruned = tfprune.prune(model, "taylor", 0.5, round_to=None, data=data, loss="mse")
    pruner = tfprune.Pruner(pruned)
    scores = pruner.method.scores(pruner, _group_of(pruner, "hidden"))
    np.testing.assert_allclose(scores, expected, rtol=1e-4)
    pruner.step(0)
    keep = np.ones(4)
    keep[order[:2]] = 0
    np.testing.assert_array_equal(pruned.get_layer("hidden").output_mask.numpy(), keep)


def test_scores_match_finite_differences_with_batchnorm_and_a_residual_group():
    """(E(w_S (1+e)) - E(w_S (1-e))) / 2e = sum_s g_s w_s, per unit and batch."""
    data = _batches(n=2)
    pruned = tfprune.prune(build_residual_cnn(), "taylor", 0.5, round_to=None, data=data, loss=SCCE)
    pruner = tfprune.Pruner(pruned)
    eps = 1e-2

    def loss(x, y):
        return float(SCCE(y, pruned(x, training=False)))

    for group in pruner.active_groups:  # inner (+inner_bn) and stem (+stem_bn, outer via Add)
        slices = [
            (pruner.weight_variable(m.layer, m.weight), m.axis, pruner.local_units(group, m.layer, m.weight, m.axis))
            for m in group.members
            if m.role in GATE_ROLES and pruner.weight_variable(m.layer, m.weight).trainable
        ]
        assert len({id(v) for v, _, _ in slices}) >= 3  # conv kernel, bias, BN gamma/beta (and partners)
        gates = np.zeros((len(data), group.num_channels))
        for unit in range(group.num_channels):
            for b, (x, y) in enumerate(data):
                values = []
                for sign in (1.0, -1.0):
                    saved = [v.numpy() for v, _, _ in slices]
                    for v, axis, local in slices:
                        scale = np.ones(v.shape[axis], "float32")
                        scale[local == unit] = 1.0 + sign * eps
                        shape = [1] * len(v.shape)
                        shape[axis] = -1
                        v.assign(v.numpy() * scale.reshape(shape))
                    values.append(loss(x, y))
                    for (v, _, _), old in zip(slices, saved):
                        v.assign(old)
                gates[b, unit] = (values[0] - values[1]) / (2 * eps)
        expected = np.mean(np.square(gates), axis=0)
        scores = pruner.method.scores(pruner, group)
        np.testing.assert_allclose(scores, expected, rtol=0.05, atol=1e-3 * expected.max())
        assert np.argmax(scores) == np.argmax(expected)


def _conv_model():
    keras.utils.set_random_seed(3)
    x = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(x)
    y = keras.layers.Dense(3, name="head")(keras.layers.GlobalAveragePooling2D()(h))
    return keras.Model(x, y)


def test_a_zeroed_filter_scores_zero_and_is_pruned_first():
    model = _conv_model()
    conv = model.get_layer("conv")
    kernel, bias = conv.kernel.numpy(), conv.bias.numpy() + 0.1
    kernel[..., 5] = 0.0
    bias[5] = 0.0
    conv.kernel.assign(kernel)
    conv.bias.assign(bias)
    data = _batches(shape=(6, 6, 2), classes=3)
    pruned = tfprune.prune(model, "taylor", 1 / 8, round_to=None, data=data, loss=SCCE)
    pruner = tfprune.Pruner(pruned)
    scores = pruner.method.scores(pruner, _group_of(pruner, "conv"))
    assert scores[5] == 0.0
    assert np.all(np.delete(scores, 5) > 0)
    pruner.step(0)
    np.testing.assert_array_equal(pruned.get_layer("conv").output_mask.numpy(), np.arange(8) != 5)


def test_a_frozen_layer_is_scored_like_a_trainable_one():
    data = _batches(shape=(6, 6, 2), classes=3)
    scores = []
    for trainable in (True, False):
        model = _conv_model()
        model.get_layer("conv").trainable = trainable
        pruned = tfprune.prune(model, "taylor", 0.5, round_to=None, data=data, loss=SCCE)
        assert pruned.get_layer("conv").layer.kernel.trainable is trainable
        pruner = tfprune.Pruner(pruned)
        scores.append(pruner.method.scores(pruner, _group_of(pruner, "conv")))
    assert np.all(scores[0] > 0)
    np.testing.assert_allclose(scores[1], scores[0], rtol=1e-6)


def test_gradients_are_computed_once_per_pruning_step(monkeypatch):
    calls = []
    original = _gradients.batch_gradients

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_gradients, "batch_gradients", counting)
    pruned = tfprune.prune(build_residual_cnn(), "taylor", 0.5, round_to=None, data=_batches(), loss=SCCE)
    pruner = tfprune.Pruner(pruned)
    assert len(pruner.active_groups) >= 2
    pruner.step(0)
    assert len(calls) == 1
    pruner.step(1)  # target already reached: nothing is scored
    assert len(calls) == 1


def test_compiled_loss_is_used_without_loss_option():
    data = _batches()
    explicit = tfprune.prune(build_residual_cnn(), "taylor", 0.5, round_to=None, data=data, loss=SCCE)
    compiled = tfprune.prune(build_residual_cnn(), "taylor", 0.5, round_to=None, data=data)
    with pytest.raises(errors.PruningArgumentError, match="not compiled with a loss"):
        tfprune.Pruner(compiled).step(0)
    compile_for_test(compiled)  # SparseCategoricalCrossentropy(from_logits=True)
    p_explicit, p_compiled = tfprune.Pruner(explicit), tfprune.Pruner(compiled)
    group = _group_of(p_explicit, "inner")
    np.testing.assert_allclose(
        p_compiled.method.scores(p_compiled, _group_of(p_compiled, "inner")),
        p_explicit.method.scores(p_explicit, group), rtol=1e-6,
    )


def test_prunes_inside_fit_with_a_schedule(batch):
    x, y = batch
    pruned = tfprune.prune(
        build_residual_cnn(), "taylor", schedule=tfprune.schedules.PolynomialDecay(0.0, 0.5, 0, 3, frequency=1),
        round_to=None, data=dataset(x, y, batch_size=8), batches=2,
    )
    compile_for_test(pruned)
    pruned.fit(dataset(x, y, batch_size=8), epochs=1, verbose=0, callbacks=[tfprune.UpdatePruning()])
    assert pruned.get_layer("inner").output_mask.numpy().sum() == 8
    np.testing.assert_allclose(tfprune.slim(pruned)(x), pruned(x), atol=1e-5)


def test_data_is_not_saved_and_set_data_gives_it_back(tmp_path, monkeypatch):
    data = _batches()
    pruned = tfprune.prune(build_residual_cnn(), "taylor", 0.5, round_to=None, data=data, loss=SCCE)
    path = tmp_path / "taylor.keras"
    pruned.save(path)
    reference = tfprune.Pruner(pruned)
    reference.step(0)

    # In this process the saved key still finds the data.
    same_process = keras.models.load_model(path)
    tfprune.Pruner(same_process).step(0)
    np.testing.assert_array_equal(same_process.get_layer("inner").output_mask, pruned.get_layer("inner").output_mask)

    # A new process has no data: a clear error, then set_data.
    monkeypatch.setattr(taylor_method, "_DATA", type(taylor_method._DATA)())
    loaded = keras.models.load_model(path)
    assert tfprune.Pruner(loaded).method.get_config()["batches"] == 8
    with pytest.raises(errors.PruningArgumentError, match="set_data"):
        tfprune.Pruner(loaded).step(0)
    tfprune.methods.TaylorPruning.set_data(loaded, data)
    tfprune.Pruner(loaded).step(0)
    for name in ("stem", "inner"):
        np.testing.assert_array_equal(loaded.get_layer(name).output_mask, pruned.get_layer(name).output_mask)
    with pytest.raises(errors.PruningArgumentError, match="not being pruned with the Taylor"):
        tfprune.methods.TaylorPruning.set_data(tfprune.prune(build_residual_cnn(), "l1", 0.5), data)


def test_bad_data_and_other_backends_are_clear_errors(monkeypatch):
    x, y = _batches(n=1)[0]
    with pytest.raises(errors.PruningArgumentError, match=r"not be one \(x, y\) pair"):
        tfprune.prune(build_residual_cnn(), "taylor", 0.5, data=(x, y))
    with pytest.raises(errors.PruningArgumentError, match="yielded no batch"):
        pruned = tfprune.prune(build_residual_cnn(), "taylor", 0.5, round_to=None, data=[], loss=SCCE)
        tfprune.Pruner(pruned).step(0)
    pruned = tfprune.prune(build_residual_cnn(), "taylor", 0.5, round_to=None, data=[(x, y)], loss=SCCE)
    monkeypatch.setattr(keras.backend, "backend", lambda: "numpy")  # a backend without gradients
    with pytest.raises(NotImplementedError, match="'numpy'"):
        tfprune.Pruner(pruned).step(0)
