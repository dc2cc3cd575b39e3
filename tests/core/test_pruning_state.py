"""One pruning state per model: built once, shared, re-synced from the variables."""

from __future__ import annotations

import collections

import keras
import numpy as np
import pytest
from testing_models import build_residual_cnn, compile_for_test, dataset

import tfprune
from tfprune.graph import ChannelGraph
from tfprune.layers import find_wrappers


@pytest.fixture
def graph_builds(monkeypatch):
    """Count ChannelGraph.build per model."""
    counts = collections.Counter()
    original = ChannelGraph.build.__func__

    def counting(cls, model, *, exclude=()):
        counts[id(model)] += 1
        return original(cls, model, exclude=exclude)

    monkeypatch.setattr(ChannelGraph, "build", classmethod(counting))
    return counts


def test_prune_fit_slim_build_one_state(graph_builds, batch):
    model = build_residual_cnn()
    pruned = compile_for_test(tfprune.prune(model, "l1", target={"params": 0.8}, round_to=None))
    state = tfprune.Pruner(pruned)
    tfprune.one_shot(pruned)
    callback = tfprune.UpdatePruning()
    pruned.fit(dataset(*batch), epochs=1, verbose=0, callbacks=[callback])
    plan = tfprune.make_plan(pruned)
    small = tfprune.slim(pruned)
    assert graph_builds[id(model)] == 1
    assert graph_builds[id(pruned)] == 1
    assert callback.pruner is state
    assert tfprune.Pruner(pruned) is state
    # Every wrapper reads the one method object of the state.
    assert all(w.method is state.method for w in find_wrappers(pruned))
    assert plan.keep_array(state.graph).sum() == state.keep.sum()
    assert tfprune.count_params(small) <= 0.8 * tfprune.count_params(model)


def test_the_model_wide_spec_is_held_once_and_survives_saving(tmp_path):
    model = build_residual_cnn()
    pruned = tfprune.prune(model, "spp", sparsity=0.5, round_to=None, seed=3)
    wrappers = find_wrappers(pruned)
    holders = [w for w in wrappers if w.holds_model_spec]
    assert len(holders) == 1 and holders[0] is wrappers[0]
    assert all(set(w.spec) <= {"schedules", "kernel_schedule"} for w in wrappers[1:])
    path = tmp_path / "pruned.keras"
    pruned.save(path)
    loaded = keras.models.load_model(path)
    state = tfprune.Pruner(loaded)
    assert isinstance(state.method, tfprune.methods.StructuredProbabilisticPruning) and state.seed == 3
    # The method's per-layer variables came back from the config alone.
    for old, new in zip(wrappers, find_wrappers(loaded)):
        assert sorted(old.state) == sorted(new.state) and new.method is state.method


def test_the_state_rereads_masks_changed_outside_it():
    model = build_residual_cnn()
    pruned = tfprune.prune(model, "l1", sparsity=0.5, round_to=None)
    state = tfprune.Pruner(pruned)
    assert state.keep.all()
    tfprune.one_shot(pruned)
    expected = state.keep.copy()
    assert not expected.all()
    for wrapper in find_wrappers(pruned):  # e.g. load_weights of a dense checkpoint
        for mask in (wrapper.input_mask, wrapper.output_mask):
            if mask is not None:
                mask.assign(np.ones(mask.shape, "float32"))
    assert tfprune.Pruner(pruned) is state
    assert state.keep.all()


def test_groups_carry_their_owner_and_index(residual_cnn):
    from tfprune.graph.channel_graph import _dedupe_ids
    from tfprune.graph.group import ChannelGroup

    same_owner = [ChannelGroup(id="conv", units=(i,), members=()) for i in range(3)]
    deduped = _dedupe_ids(same_owner)
    assert [(g.owner, g.index, g.id) for g in deduped] == [("conv", 0, "conv"), ("conv", 1, "conv:1"), ("conv", 2, "conv:2")]
    graph = ChannelGraph.build(residual_cnn)
    for group in graph.groups:
        assert group.id == ChannelGroup.make_id(group.owner, group.index)
        assert any(m.layer == group.owner for m in group.members)
