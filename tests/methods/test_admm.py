"""StructADMM inside model.fit: penalty, Z/U updates, hard prune, retraining, resume."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

import tfprune
from tfprune import errors
from tfprune.criteria import admm as proj
from tfprune.data import load_digits
from tfprune.layers import find_wrappers
from tfprune.methods.admm import PHASE_ADMM, PHASE_PRUNED, StructADMM
from tfprune.schedules import ADMMSchedule


def _data(n=64, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8, 8, 3)).astype("float32"), rng.integers(0, 4, size=n)


def _compile(model, lr=0.05):
    model.compile(optimizer=keras.optimizers.SGD(lr),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _admm(model, granularity="filter", **schedule):
    schedule = {"target_sparsity": 0.5, "admm_steps": 16, "update_every": 4, **schedule}
    return tfprune.prune(model, "admm", schedule=ADMMSchedule(**schedule), granularity=granularity,
                         rho=0.2, rho_factor=1.3, rho_max=2.0, round_to=1)


def _kernel(model, name):
    layer = model.get_layer(name)
    return np.asarray(getattr(layer, "layer", layer).kernel)


def _nonzero_filters(kernel):
    return int((np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(0) > 0).sum())


def test_penalty_gradient_is_rho_times_w_minus_z_plus_u(residual_cnn, batch):
    pruned = _admm(residual_cnn)
    pruner = tfprune.Pruner(pruned)
    pruner.set_callback_active(True)
    wrapper = pruned.get_layer("inner")
    rng = np.random.default_rng(0)
    z = rng.normal(size=wrapper.state["admm_z_kernel"].shape).astype("float32")
    u = rng.normal(size=z.shape).astype("float32")
    wrapper.state["admm_z_kernel"].assign(z)
    wrapper.state["admm_u_kernel"].assign(u)
    wrapper.state["admm_rho"].assign(0.3)
    wrapper.state["admm_on"].assign(1.0)
    kernel = wrapper.layer.kernel
    with tf.GradientTape() as tape:
        pruned(batch[0], training=True)
        penalty = wrapper.losses[-1]
    grad = tape.gradient(penalty, kernel.value)
    w = np.asarray(kernel)
    np.testing.assert_allclose(grad, 0.3 * (w - z + u), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(penalty), 0.15 * np.square(w - z + u).sum(), rtol=1e-5)
    # Off after the hard prune: no gradient from the penalty.
    wrapper.state["admm_on"].assign(0.0)
    pruned(batch[0], training=True)
    assert float(wrapper.losses[-1]) == 0.0
    pruner.set_callback_active(False)


def test_init_projects_w_and_coupled_groups_share_one_projection(residual_cnn):
    pruned = _admm(residual_cnn)
    pruner = tfprune.Pruner(pruned)
    pruner.step(0)
    stem, outer = pruned.get_layer("stem"), pruned.get_layer("outer")
    z_stem = np.asarray(stem.state["admm_z_kernel"])
    z_outer = np.asarray(outer.state["admm_z_kernel"])
    kept_stem = np.abs(z_stem).reshape(-1, 8).sum(0) > 0
    kept_outer = np.abs(z_outer).reshape(-1, 8).sum(0) > 0
    # stem and outer feed one residual Add: one support, from the joint norm.
    np.testing.assert_array_equal(kept_stem, kept_outer)
    assert kept_stem.sum() == 4
    w_stem, w_outer = _kernel(pruned, "stem"), _kernel(pruned, "outer")
    units = np.arange(8)
    (zs, zo), keep = proj.project_units([(w_stem, -1, units), (w_outer, -1, units)], 8, 4)
    np.testing.assert_array_equal(keep, kept_stem)
    np.testing.assert_allclose(z_stem, zs)
    np.testing.assert_allclose(z_outer, zo)
    # U starts at zero, the penalty is on.
    assert not np.asarray(stem.state["admm_u_kernel"]).any()
    assert float(stem.state["admm_on"]) == 1.0
    assert float(stem.state["admm_phase"]) == PHASE_ADMM


def _digits_cnn():
    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 1))
    a = layers.Conv2D(16, 3, padding="same", activation="relu", name="c1")(x)
    a = layers.Conv2D(16, 3, padding="same", activation="relu", name="c2")(a)
    a = layers.GlobalAveragePooling2D()(a)
    return keras.Model(x, layers.Dense(10, name="head")(a))


def test_residual_decreases_on_real_data_then_hard_prune_keeps_exactly_k_and_stays_zero():
    (x, y), _ = load_digits()
    model = _digits_cnn()
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=64, epochs=10, verbose=0)
    schedule = ADMMSchedule(0.5, admm_steps=120, update_every=10)
    pruned = tfprune.prune(model, "admm", schedule=schedule, rho=0.5, rho_factor=1.3, rho_max=5.0, round_to=1)
    _compile(pruned, 0.1)
    history = pruned.fit(x, y, batch_size=64, epochs=7, verbose=0, callbacks=[tfprune.UpdatePruning()])
    residuals = [h["residual"] for h in find_wrappers(pruned)[0].method.history]
    assert len(residuals) == 11
    assert residuals[-1] < 0.1 * residuals[0]
    assert np.mean(residuals[6:]) < np.mean(residuals[:5])
    # The residual and rho reach the epoch logs (TensorBoard/CSVLogger read them).
    assert history.history["admm_primal_residual"][0] > 0
    assert history.history["admm_rho"][0] >= 0.5
    assert history.history["admm_rho"][-1] == 0.0  # retraining: penalty off
    # Hard prune happened at step 120 (epoch 6 of 23 steps): exactly 8 of 16 filters per conv.
    stripped = tfprune.strip_pruning(pruned)
    assert _nonzero_filters(_kernel(stripped, "c1")) == 8
    assert _nonzero_filters(_kernel(stripped, "c2")) == 8
    pruner = tfprune.Pruner(pruned)
    assert float(pruned.get_layer("c1").state["admm_phase"]) == PHASE_PRUNED
    keep_before = pruner.keep.copy()
    # Masked retraining: the same channels stay exactly zero.
    pruned.fit(x, y, batch_size=64, epochs=2, verbose=0, callbacks=[tfprune.UpdatePruning()])
    np.testing.assert_array_equal(tfprune.Pruner(pruned).keep, keep_before)
    stripped = tfprune.strip_pruning(pruned)
    assert _nonzero_filters(_kernel(stripped, "c1")) == 8
    assert _nonzero_filters(_kernel(stripped, "c2")) == 8
    small = tfprune.slim(pruned)
    assert small.get_layer("c1").filters == 8
    np.testing.assert_allclose(small.predict(x[:32], verbose=0), pruned.predict(x[:32], verbose=0), atol=1e-4)


@pytest.mark.parametrize(("granularity", "groups"), [("column", lambda k: np.abs(k).sum(-1) > 0),
                                                     ("weight", lambda k: k != 0)])
def test_kernel_granularities_hard_prune_exact_count(residual_cnn, granularity, groups):
    x, y = _data()
    pruned = _compile(_admm(residual_cnn, granularity))
    pruned.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[tfprune.UpdatePruning()])
    stripped = tfprune.strip_pruning(pruned)
    for name in ("stem", "inner", "outer"):
        kernel = _kernel(stripped, name)
        total = kernel[..., 0].size if granularity == "column" else kernel.size
        assert int(groups(kernel).sum()) == total - int(np.ceil(0.5 * total))
    # Theoretical FLOPs only: the layer shapes are unchanged.
    assert tfprune.count_flops(tfprune.slim(pruned)) == tfprune.count_flops(residual_cnn)
    assert tfprune.count_flops(pruned, effective=True) < 0.6 * tfprune.count_flops(residual_cnn)


def test_channel_granularity_projects_input_slices(residual_cnn):
    pruned = _admm(residual_cnn, "channel")
    tfprune.Pruner(pruned).step(0)
    # The inner group (16 channels) is read by `outer`: Z zeroes its input rows.
    z = np.asarray(pruned.get_layer("outer").state["admm_z_kernel"])
    assert int((np.abs(z).sum(axis=(0, 1, 3)) > 0).sum()) == 8
    (_, keep) = proj.project_units([(_kernel(pruned, "outer"), -2, np.arange(16))], 16, 8)
    np.testing.assert_array_equal(np.abs(z).sum(axis=(0, 1, 3)) > 0, keep)
    x, y = _data()
    _compile(pruned).fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[tfprune.UpdatePruning()])
    assert tfprune.slim(pruned).get_layer("inner").filters == 8


def test_progressive_stages_keep_earlier_zeros(residual_cnn):
    x, y = _data()
    pruned = _compile(_admm(residual_cnn, target_sparsity=[0.25, 0.5], admm_steps=8, update_every=4,
                            retrain_steps=8))
    fit = dict(batch_size=8, epochs=1, verbose=0, callbacks=[tfprune.UpdatePruning()])
    pruned.fit(x, y, **fit)  # steps 0-7: stage 0 ADMM
    pruned.fit(x, y, **fit)  # steps 8-15: hard prune at 8, retraining
    first = tfprune.Pruner(pruned).keep.copy()
    assert tfprune.Pruner(pruned).pruned_fraction() == pytest.approx((2 + 4) / 24)
    pruned.fit(x, y, **{**fit, "epochs": 3})  # stage 1: ADMM at 16-23, hard prune at 24
    second = tfprune.Pruner(pruned).keep
    assert not (second & ~first).any()  # earlier zeros stay frozen
    assert tfprune.Pruner(pruned).pruned_fraction() == pytest.approx(0.5)
    assert float(pruned.get_layer("stem").state["admm_stage"]) == 1


def test_save_load_resumes_exactly(residual_cnn, tmp_path):
    x, y = _data()
    fit = dict(batch_size=8, verbose=0, shuffle=False, callbacks=[tfprune.UpdatePruning()])
    keras.utils.set_random_seed(0)
    straight = _compile(_admm(residual_cnn))
    straight.fit(x, y, epochs=3, **fit)

    keras.utils.set_random_seed(0)
    first = _compile(_admm(residual_cnn))
    first.fit(x, y, epochs=1, **fit)  # 8 steps: mid ADMM, after one Z/U update
    path = tmp_path / "admm.keras"
    first.save(path)
    resumed = keras.saving.load_model(path)
    resumed.fit(x, y, epochs=2, **fit)
    for a, b in zip(straight.weights, resumed.weights):
        assert a.path.split("/")[-1] == b.path.split("/")[-1]
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6, err_msg=a.path)
    assert float(resumed.get_layer("stem").state["admm_phase"]) == PHASE_PRUNED


def test_needs_an_admm_schedule_and_one_timing(residual_cnn):
    with pytest.raises(errors.PruningArgumentError, match="ADMMSchedule"):
        tfprune.prune(residual_cnn, "admm", sparsity=0.5)
    with pytest.raises(errors.PruningArgumentError, match="same phase timing"):
        tfprune.prune(residual_cnn, "admm", schedule={
            "stem": ADMMSchedule(0.5, admm_steps=10, update_every=5),
            "inner": ADMMSchedule(0.5, admm_steps=20, update_every=5),
        })
    with pytest.raises(errors.PruningArgumentError, match="rho_max"):
        tfprune.prune(residual_cnn, "admm", schedule=ADMMSchedule(0.5, 10, 5), rho=1.0, rho_max=0.1)
    with pytest.raises(errors.PruningArgumentError, match="Unknown option"):
        tfprune.prune(residual_cnn, "admm", schedule=ADMMSchedule(0.5, 10, 5), lr=1.0)


def test_config_round_trip():
    method = StructADMM(rho=0.01, rho_factor=1.5, rho_max=1.0)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(method))
    assert isinstance(again, StructADMM)
    assert again.get_config() == method.get_config()
    assert tfprune.methods.get("admm", rho=0.01).rho == 0.01


def test_inference_matches_the_dense_model_before_pruning(residual_cnn, batch):
    pruned = _admm(residual_cnn)
    np.testing.assert_allclose(pruned.predict(batch[0], verbose=0), residual_cnn.predict(batch[0], verbose=0),
                               atol=1e-5)
