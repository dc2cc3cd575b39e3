"""First-order Taylor importance: gate gradients and their batch average."""

from __future__ import annotations

import numpy as np
import pytest

from tfprune.criteria import taylor


def test_gate_gradients_sum_g_times_w_over_the_other_axes():
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(3, 3, 2, 4))
    grads = rng.normal(size=(5, 3, 3, 2, 4))
    gates = taylor.gate_gradients(weight, grads, -1)
    expected = np.array([[np.sum(grads[b, ..., j] * weight[..., j]) for j in range(4)] for b in range(5)])
    np.testing.assert_allclose(gates, expected, rtol=1e-12)
    # Another axis (a depthwise kernel's channel axis).
    gates = taylor.gate_gradients(weight, grads, 2)
    expected = np.array([[np.sum(grads[b, :, :, c, :] * weight[:, :, c, :]) for c in range(2)] for b in range(5)])
    np.testing.assert_allclose(gates, expected, rtol=1e-12)


def test_importance_is_the_mean_of_squared_gates_and_sign_cancels_within_a_batch():
    gates = np.array([[1.0, -2.0, 0.0], [3.0, 2.0, 0.0]])
    np.testing.assert_allclose(taylor.importance(gates), [5.0, 4.0, 0.0])
    # Contributions of one unit add up (signed) before squaring: opposite
    # gates of two slices cancel, as in (sum_s g_s w_s)^2.
    weight = np.array([[1.0, 1.0]])
    grads = np.array([[[2.0, -2.0]]])
    assert taylor.importance(taylor.gate_gradients(weight, grads, 0)).tolist() == [0.0]


def test_zero_filter_scores_zero_whatever_the_gradient():
    weight = np.ones((3, 3, 2, 4))
    weight[..., 1] = 0.0
    grads = np.random.default_rng(1).normal(size=(2, 3, 3, 2, 4)) * 100
    scores = taylor.importance(taylor.gate_gradients(weight, grads, -1))
    assert scores[1] == 0.0 and np.all(np.delete(scores, 1) > 0)


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\(batches,\) \+ \(2, 3\)"):
        taylor.gate_gradients(np.ones((2, 3)), np.ones((2, 3)), 1)
    with pytest.raises(ValueError, match="batches >= 1"):
        taylor.importance(np.ones((0, 3)))
