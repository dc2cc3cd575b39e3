"""UpdatePruning inside fit: schedules, missing callback, save and resume."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from testing_models import build_residual_cnn, compile_for_test, dataset

import tfprune
from tfprune import errors


def _masks(model):
    return {
        w.name: (
            None if w.input_mask is None else w.input_mask.numpy().copy(),
            None if w.output_mask is None else w.output_mask.numpy().copy(),
        )
        for w in tfprune.layers.find_wrappers(model)
    }


def _ramp(end_step=12, frequency=2):
    return tfprune.schedules.PolynomialDecay(0.0, 0.5, begin_step=0, end_step=end_step, frequency=frequency)


def test_fit_without_callback_is_a_clear_error(residual_cnn, batch):
    pruned = compile_for_test(tfprune.prune(residual_cnn, "l1", 0.5, round_to=None))
    with pytest.raises(errors.MissingCallbackError, match="UpdatePruning"):
        pruned.fit(dataset(*batch), epochs=1, verbose=0)


def test_fit_without_callback_after_a_fit_with_it_still_raises(residual_cnn, batch):
    pruned = compile_for_test(tfprune.prune(residual_cnn, "l1", 0.5, round_to=None))
    pruned.fit(dataset(*batch), epochs=1, verbose=0, callbacks=[tfprune.UpdatePruning()])
    with pytest.raises(errors.MissingCallbackError):
        pruned.fit(dataset(*batch), epochs=1, verbose=0)


def test_schedule_ramps_inside_fit_and_is_monotone(residual_cnn, batch):
    pruned = compile_for_test(tfprune.prune(residual_cnn, "l1", schedule=_ramp(), round_to=None))
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch_index, logs=None):
            seen.append(pruned.get_layer("inner").output_mask.numpy().copy())

    pruned.fit(dataset(*batch), epochs=4, verbose=0, callbacks=[tfprune.UpdatePruning(), Record()])
    kept = [int(m.sum()) for m in seen]
    assert kept[0] == 16 and kept[-1] == 8  # 16 filters ramped down to 50 %
    assert all(b <= a for a, b in zip(kept, kept[1:]))
    for before, after in zip(seen, seen[1:]):  # pruned channels stay pruned
        assert np.all(after <= before)
    assert len(set(kept)) > 2  # gradual, not one shot


def test_masked_weights_get_exactly_zero_gradient(residual_cnn, batch):
    import tensorflow as tf

    pruned = tfprune.prune(residual_cnn, "l1", 0.5, round_to=None)
    tfprune.Pruner(pruned).step(0)
    inner = pruned.get_layer("inner")
    mask_out = inner.output_mask.numpy()
    mask_in = inner.input_mask.numpy()
    for w in tfprune.layers.find_wrappers(pruned):
        w._callback_active = True
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(pruned(batch[0], training=True) ** 2)
    grad_kernel, grad_bias = tape.gradient(loss, [inner.layer.kernel, inner.layer.bias])
    grad_kernel, grad_bias = grad_kernel.numpy(), grad_bias.numpy()
    assert np.all(grad_kernel[..., mask_out == 0] == 0)
    assert np.all(grad_kernel[:, :, mask_in == 0, :] == 0)
    assert np.all(grad_bias[mask_out == 0] == 0)
    kept = grad_kernel[:, :, mask_in == 1, :][..., mask_out == 1]
    assert np.abs(kept).max() > 0


def test_pruned_channels_never_reach_the_output(residual_cnn, batch):
    """Whatever a pruned channel's producer computes, the outputs do not change.

    Masks are applied only where channels are mixed (docs/design.md#mask-placement):
    the pruned filters of `inner` and their BatchNorm parameters are set to
    large random values, and the masked model's outputs stay bit-identical.
    """
    pruned = tfprune.prune(residual_cnn, "l1", 0.5, round_to=None)
    tfprune.one_shot(pruned)
    before = np.asarray(pruned(batch[0], training=False))
    dropped = pruned.get_layer("inner_bn").output_mask.numpy() == 0
    assert dropped.any()
    rng = np.random.default_rng(0)
    inner, bn = pruned.get_layer("inner").layer, pruned.get_layer("inner_bn").layer
    for variable, axis in ((inner.kernel, -1), (inner.bias, 0), (bn.gamma, 0), (bn.beta, 0)):
        value = np.asarray(variable).copy()
        noise = rng.normal(scale=100.0, size=value.shape).astype("float32")
        index = [slice(None)] * value.ndim
        index[axis] = dropped
        value[tuple(index)] = noise[tuple(index)]
        variable.assign(value)
    np.testing.assert_array_equal(np.asarray(pruned(batch[0], training=False)), before)
    np.testing.assert_allclose(np.asarray(tfprune.slim(pruned)(batch[0])), before, rtol=1e-5, atol=1e-5)


def test_save_mid_training_load_and_resume(tmp_path, batch):
    pruned = compile_for_test(tfprune.prune(build_residual_cnn(), "l1", schedule=_ramp(end_step=16), round_to=None))
    data = dataset(*batch)  # 4 steps per epoch
    pruned.fit(data, epochs=2, verbose=0, callbacks=[tfprune.UpdatePruning()])
    masks_before = _masks(pruned)
    kept_mid = int(masks_before["inner"][1].sum())
    assert 8 < kept_mid < 16  # saved in the middle of the ramp
    path = tmp_path / "mid.keras"
    pruned.save(path)

    loaded = keras.models.load_model(path)  # no custom_objects: registered classes
    for name, (mask_in, mask_out) in _masks(loaded).items():
        ref_in, ref_out = masks_before[name]
        for a, b in ((mask_in, ref_in), (mask_out, ref_out)):
            if b is None:
                assert a is None
            else:
                np.testing.assert_array_equal(a, b)
    assert int(loaded.optimizer.iterations.numpy()) == 8
    np.testing.assert_allclose(loaded(batch[0]), pruned(batch[0]), atol=1e-6)

    loaded.fit(data, epochs=3, verbose=0, callbacks=[tfprune.UpdatePruning()])
    final = _masks(loaded)
    assert int(final["inner"][1].sum()) == 8
    assert np.all(final["inner"][1] <= masks_before["inner"][1])


def test_callback_requires_a_compiled_wrapped_model(residual_cnn, batch):
    plain = compile_for_test(residual_cnn)
    with pytest.raises(errors.PruningArgumentError, match="no PruningWrapper"):
        plain.fit(dataset(*batch), epochs=1, verbose=0, callbacks=[tfprune.UpdatePruning()])


def test_evaluate_and_predict_need_no_callback(residual_cnn, batch):
    pruned = compile_for_test(tfprune.prune(residual_cnn, "l1", 0.5, round_to=None))
    assert np.isfinite(pruned.evaluate(dataset(*batch), verbose=0))
    assert pruned.predict(batch[0], verbose=0).shape == (32, 4)
