"""Column and weight granularity: kernel masks, their baking and FLOPs."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from testing_models import compile_for_test, dataset

import tfprune
from tfprune import errors
from tfprune.layers import find_wrappers


def _masks(pruned):
    return {w.name: np.asarray(w.kernel_mask) for w in find_wrappers(pruned)}


def _step0(pruned):
    tfprune.Pruner(pruned).step(0)
    return pruned


def test_column_masks_have_one_entry_per_im2col_column(residual_cnn):
    pruned = _step0(tfprune.prune(residual_cnn, "l1", 0.5, granularity="column", round_to=None))
    masks = _masks(pruned)
    # Every Conv2D is pruned, the Dense head is not (columns are conv-only).
    assert set(masks) == {"stem", "inner", "outer"}
    for name, mask in masks.items():
        kernel = residual_cnn.get_layer(name).kernel
        assert mask.shape == (*kernel.shape[:-1], 1)
        # ceil(R * N_g) columns removed (docs/methods/spp.md#target-count).
        assert int((mask == 0).sum()) == int(np.ceil(0.5 * mask.size))
    for wrapper in find_wrappers(pruned):
        assert wrapper.input_mask is None and wrapper.output_mask is None


def test_l1_column_pruning_removes_the_lowest_norm_columns(residual_cnn):
    pruned = _step0(tfprune.prune(residual_cnn, "l1", 0.25, granularity="column", round_to=None))
    mask = _masks(pruned)["inner"][..., 0]
    norms = np.abs(np.asarray(residual_cnn.get_layer("inner").kernel)).sum(-1)
    assert norms[mask == 0].max() <= norms[mask == 1].min()


def test_weight_granularity_prunes_conv_and_dense_weights(residual_cnn):
    pruned = _step0(tfprune.prune(residual_cnn, "l2", 0.3, granularity="weight", round_to=None))
    masks = _masks(pruned)
    assert set(masks) == {"stem", "inner", "outer", "head"}
    head = np.abs(np.asarray(residual_cnn.get_layer("head").kernel))
    assert masks["head"].shape == head.shape
    assert head[masks["head"] == 0].max() <= head[masks["head"] == 1].min()


def test_masked_kernel_weights_get_zero_gradient_and_keep_their_value(residual_cnn, batch):
    pruned = _step0(tfprune.prune(residual_cnn, "l1", 0.5, granularity="column", round_to=None))
    wrapper = pruned.get_layer("inner")
    x, _ = batch
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(pruned(x)))
    grad = tape.gradient(loss, wrapper.layer.kernel).numpy()
    mask = np.broadcast_to(np.asarray(wrapper.kernel_mask), grad.shape)
    assert np.all(grad[mask == 0] == 0)
    assert np.abs(grad[mask == 1]).max() > 0
    kernel = np.asarray(wrapper.layer.kernel)
    assert np.abs(kernel[mask == 0]).max() > 0  # masked, not overwritten


@pytest.mark.parametrize("frozen", [False, True])
def test_kernel_mask_equals_zeroing_the_kernel(residual_cnn, batch, frozen):
    # A frozen layer's kernel is a non-trainable variable: masked all the same.
    residual_cnn.get_layer("inner").trainable = not frozen
    pruned = _step0(tfprune.prune(residual_cnn, "l1", 0.5, granularity="column", round_to=None))
    assert pruned.get_layer("inner").layer.trainable is not frozen
    x, _ = batch
    reference = keras.models.clone_model(residual_cnn)
    reference.set_weights(residual_cnn.get_weights())
    for name, mask in _masks(pruned).items():
        layer = reference.get_layer(name)
        layer.kernel.assign(np.asarray(layer.kernel) * mask)
    np.testing.assert_allclose(pruned.predict(x, verbose=0), reference.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("granularity", ["column", "weight"])
def test_strip_and_slim_bake_the_kernel_masks(residual_cnn, batch, granularity):
    pruned = _step0(tfprune.prune(residual_cnn, "l1", 0.5, granularity=granularity, round_to=None))
    x, _ = batch
    expected = pruned.predict(x, verbose=0)
    for plain in (tfprune.strip_pruning(pruned), tfprune.slim(pruned)):
        assert not find_wrappers(plain)
        np.testing.assert_allclose(plain.predict(x, verbose=0), expected, atol=1e-5)
        kernel = np.asarray(plain.get_layer("inner").kernel)
        assert kernel.shape == residual_cnn.get_layer("inner").kernel.shape
        assert np.isclose((kernel == 0).mean(), 0.5, atol=0.02)


def test_effective_flops_scale_each_layer_by_its_kept_fraction(residual_cnn):
    pruned = _step0(tfprune.prune(residual_cnn, "l1", 0.5, granularity="column", round_to=None))
    dense = tfprune.metrics.flops_by_layer(residual_cnn)
    masks = _masks(pruned)
    expected = sum(
        round(f * (masks[name].mean() if name in masks else 1.0)) for name, f in dense.items()
    )
    assert tfprune.count_flops(pruned, effective=True) == expected
    assert tfprune.count_flops(pruned) == sum(dense.values())


def test_kernel_masks_train_save_and_resume(residual_cnn, batch, tmp_path):
    schedule = tfprune.schedules.PolynomialDecay(0.0, 0.5, begin_step=0, end_step=6, frequency=2)
    pruned = compile_for_test(tfprune.prune(residual_cnn, "l1", schedule=schedule, granularity="column", round_to=None))
    ds = dataset(*batch)
    pruned.fit(ds, epochs=1, verbose=0, callbacks=[tfprune.UpdatePruning()])
    pruned.save(tmp_path / "half.keras")
    restored = keras.saving.load_model(tmp_path / "half.keras")
    for name, mask in _masks(pruned).items():
        np.testing.assert_array_equal(_masks(restored)[name], mask)
        assert 0 < (mask == 0).sum() < mask.size  # part of the ramp
    for model in (pruned, restored):
        model.fit(ds, epochs=1, verbose=0, callbacks=[tfprune.UpdatePruning()])
    for name, mask in _masks(pruned).items():
        np.testing.assert_array_equal(_masks(restored)[name], mask)
        assert (mask == 0).sum() == np.ceil(0.5 * mask.size)


def test_per_layer_column_sparsity_and_exclude(residual_cnn):
    pruned = _step0(tfprune.prune(residual_cnn, "l1", {"inner": 0.5}, granularity="column", round_to=None))
    assert set(_masks(pruned)) == {"inner"}
    pruned = tfprune.prune(residual_cnn, "l1", 0.5, granularity="column", exclude=["stem"], round_to=None)
    assert set(_masks(pruned)) == {"inner", "outer"}
    with pytest.raises(errors.PruningArgumentError, match="head.*granularity='column'"):
        tfprune.prune(residual_cnn, "l1", {"head": 0.5}, granularity="column", round_to=None)


def test_kernel_granularity_needs_a_kernel():
    layer = keras.layers.BatchNormalization()
    wrapper = tfprune.PruningWrapper(layer, mask_input=False, mask_output=False, kernel_granularity="column")
    with pytest.raises(errors.UnsupportedLayerError, match="no `kernel`"):
        wrapper.build((None, 4))
    with pytest.raises(errors.PruningArgumentError, match="kernel_granularity"):
        tfprune.PruningWrapper(keras.layers.Dense(2), kernel_granularity="row")
