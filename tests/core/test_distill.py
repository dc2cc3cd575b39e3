"""tfprune.Distiller and kd_loss (LRF's CE + KD(T=2) fine-tuning loss)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from testing_models import build_residual_cnn, dataset

import tfprune
from tfprune import errors
from tfprune.distill import kd_loss


def _numpy_kd(s, t, temperature):
    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    lt, ls = log_softmax(t / temperature), log_softmax(s / temperature)
    return float((np.exp(lt) * (lt - ls)).sum(-1).mean())


def test_kd_loss_is_mean_kl_without_t_squared():
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 4)).astype("float32")
    value = float(keras.ops.convert_to_numpy(kd_loss(s, t, 2.0)))
    assert value == pytest.approx(_numpy_kd(s, t, 2.0), rel=1e-5)
    assert value > 0
    assert float(keras.ops.convert_to_numpy(kd_loss(t, t, 2.0))) == pytest.approx(0.0, abs=1e-6)


def test_distiller_trains_the_student_only_with_kd_added(batch):
    x, y = batch
    teacher = build_residual_cnn(seed=1)
    student = build_residual_cnn(seed=2)
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    distiller = tfprune.Distiller(student, teacher, temperature=2.0)
    distiller.compile(optimizer=keras.optimizers.SGD(0.01),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, student.predict(x, verbose=0))
    expected = float(ce) + _numpy_kd(student.predict(x, verbose=0), teacher.predict(x, verbose=0), 2.0)
    assert distiller.evaluate(x, y, batch_size=32, verbose=0) == pytest.approx(expected, rel=1e-4)
    before = [w.copy() for w in student.get_weights()]
    distiller.fit(dataset(x, y), epochs=1, verbose=0)
    assert any(not np.allclose(a, b) for a, b in zip(before, student.get_weights(), strict=True))
    for old, new in zip(teacher_weights, teacher.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert teacher.trainable  # the caller's teacher is not frozen; a copy is


def test_distiller_with_a_pruned_student_and_update_pruning(batch):
    x, y = batch
    teacher = build_residual_cnn()
    pruned = tfprune.prune(teacher, "l1", sparsity=0.5, round_to=1)
    distiller = tfprune.Distiller(pruned, teacher)
    distiller.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    distiller.fit(dataset(x, y), epochs=1, verbose=0, callbacks=[tfprune.UpdatePruning()])
    assert tfprune.Pruner(pruned).pruned_fraction() > 0.4


def test_distiller_errors():
    with pytest.raises(errors.PruningArgumentError, match="keras.Model"):
        tfprune.Distiller("student", build_residual_cnn())
    with pytest.raises(errors.PruningArgumentError, match="temperature"):
        tfprune.Distiller(build_residual_cnn(), build_residual_cnn(), temperature=0)
