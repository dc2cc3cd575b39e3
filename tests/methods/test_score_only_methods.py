"""FPGM and Taylor plug into the shared selection: one-shot prune, then slim == masked."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from testing_models import build_residual_cnn

import tfprune


def _options(method, batch):
    if method == "taylor":
        x, y = batch
        return {"data": [(x[:16], y[:16]), (x[16:], y[16:])],
                "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}
    return {}


@pytest.mark.parametrize("method", ["fpgm", "taylor"])
def test_one_shot_prune_then_slim_equals_masked(method, batch):
    pruned = tfprune.prune(build_residual_cnn(), method, sparsity=0.5, **_options(method, batch))
    tfprune.Pruner(pruned).step(0)
    assert pruned.get_layer("inner").output_mask.numpy().sum() == 8  # 16 -> 8 (round_to=8)
    small = tfprune.slim(pruned)
    assert small.get_layer("inner").filters == 8
    np.testing.assert_allclose(small(batch[0]), pruned(batch[0]), atol=1e-5)
