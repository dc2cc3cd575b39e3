"""tfprune.lrf.run: the layer-by-layer procedure, slim, FLOPs and TFLite."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from testing_models import dataset

import tfprune
from tfprune import errors, lrf
from tfprune.export.litert import tflite_ops


@pytest.fixture(scope="module")
def lrf_run():
    from testing_models import build_residual_cnn

    model = build_residual_cnn()
    weights = [w.copy() for w in model.get_weights()]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 4, size=32)
    # No fine-tuning here (fast); test_run_fine_tunes_with_distillation trains.
    pruned = lrf.run(model, dataset(x, y), ratio=0.5, steps_per_layer=0, round_to=1)
    return model, weights, pruned, x


def test_run_prunes_every_wrapped_conv_and_leaves_input_model(lrf_run):
    model, weights, pruned, _ = lrf_run
    for old, new in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    for conv, (c_in, c_out) in {"inner": (8, 16), "outer": (16, 8)}.items():
        layer = pruned.get_layer(conv)
        assert np.array(layer.output_mask).sum() == c_out // 2
        assert np.array(layer.input_mask).sum() == c_in // 2


def test_slim_is_smaller_matches_masked_and_flops_count_pq(lrf_run):
    model, _, pruned, x = lrf_run
    small = tfprune.slim(pruned)
    np.testing.assert_allclose(small.predict(x, verbose=0), pruned.predict(x, verbose=0), atol=1e-4)
    assert small.get_layer("inner").kernel.shape == (3, 3, 4, 8)
    assert small.get_layer("inner_lrf_p").kernel.shape == (1, 1, 8, 4)
    assert small.get_layer("inner_lrf_q").kernel.shape == (1, 1, 8, 16)
    flops = tfprune.metrics.flops_by_layer(small)
    assert flops["inner_lrf_p"] == 8 * 8 * 8 * 4 and flops["inner_lrf_q"] == 8 * 8 * 8 * 16
    assert tfprune.count_flops(small) == tfprune.count_flops(pruned, effective=True)
    assert tfprune.count_flops(small) < tfprune.count_flops(model)


def test_pruned_model_exports_to_tflite_with_builtin_ops(lrf_run, tmp_path):
    _, _, pruned, x = lrf_run
    small = tfprune.slim(pruned)
    path = tfprune.export_tflite(small, tmp_path / "lrf.tflite")
    found = tflite_ops(path)
    assert found["CONV_2D"] == 7  # stem + (P, W, Q) x 2
    assert not [name for name in found if name.startswith("CUSTOM") or "Flex" in name]
    np.testing.assert_allclose(tfprune.run_tflite(path, x), small.predict(x, verbose=0), atol=1e-4)


def test_run_validates_arguments(residual_cnn, batch):
    x, y = batch
    with pytest.raises(errors.PruningArgumentError, match="ratio"):
        lrf.run(residual_cnn, dataset(x, y), ratio=1.5)
    with pytest.raises(errors.PruningArgumentError, match="steps_per_layer"):
        lrf.run(residual_cnn, dataset(x, y), steps_per_layer=-1)
    with pytest.raises(errors.PruningArgumentError, match="insert_pq"):
        lrf.wrap(residual_cnn)
    pruned = tfprune.prune(residual_cnn, "l1", sparsity=0.5)
    with pytest.raises(errors.PruningArgumentError, match="not LRF"):
        lrf.prune_layer(pruned, "inner")
    with pytest.raises(errors.PruningArgumentError, match="part"):
        lrf.prune_layer(lrf.wrap(lrf.insert_pq(residual_cnn)), "inner", part="both")


@pytest.mark.slow
def test_run_fine_tunes_with_distillation(residual_cnn, batch):
    x, y = batch
    counter = _BatchCounter()
    pruned = lrf.run(residual_cnn, dataset(x, y), convs=["outer"], steps_per_layer=1, initial_steps=1,
                     round_to=1, verbose=1, callbacks=[counter])
    # The user's callbacks see every fine-tuning fit: initial, then filters and inputs of "outer".
    assert counter.fits == 3 and counter.batches == 3
    assert lrf.wrapped_convs(pruned) == ["outer"]
    # Trained: the stem moved away from the original (frozen teacher) weights.
    assert not np.allclose(np.array(pruned.get_layer("stem").kernel), np.array(residual_cnn.get_layer("stem").kernel))
    assert np.array(pruned.get_layer("outer").output_mask).sum() == 4
    assert pruned.get_layer("inner").__class__.__name__ == "Conv2D"  # not wrapped by P/Q


class _BatchCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.fits = self.batches = 0

    def on_train_begin(self, logs=None):
        self.fits += 1

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
