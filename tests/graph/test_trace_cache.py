"""One trace per model: prune + fit + slim do not re-trace the pruned model."""

from __future__ import annotations

import collections

import keras
import numpy as np
from testing_models import build_residual_cnn, compile_for_test, dataset

import tfprune
from tfprune.graph import trace as trace_lib


def test_prune_fit_slim_trace_each_model_once(monkeypatch, batch):
    counts = collections.Counter()
    original = trace_lib._trace_model

    def counting(model):
        counts[id(model)] += 1
        return original(model)

    monkeypatch.setattr(trace_lib, "_trace_model", counting)
    model = build_residual_cnn()
    pruned = compile_for_test(tfprune.prune(model, "l1", target={"params": 0.8}, round_to=None))
    tfprune.one_shot(pruned)
    pruned.fit(dataset(*batch), epochs=1, verbose=0, callbacks=[tfprune.UpdatePruning()])
    tfprune.make_plan(pruned)
    small = tfprune.slim(pruned)
    tfprune.count_flops(pruned, effective=True)
    assert counts[id(model)] == 1
    assert counts[id(pruned)] == 1
    assert tfprune.count_params(small) <= 0.8 * tfprune.count_params(model)


def test_a_sequential_model_is_traced_again_after_add():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8)])
    first = trace_lib.trace_model(model)
    assert trace_lib.trace_model(model) is first
    model.add(keras.layers.Dense(3))
    second = trace_lib.trace_model(model)
    assert second is not first
    assert len(second.sites) == len(first.sites) + 1
    np.testing.assert_equal(model(np.ones((1, 4))).shape, (1, 3))
