"""The method contract: hooks get a read-only view, the driver commits the decision."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import tfprune
from tfprune.layers import find_wrappers
from tfprune.methods.view import MethodView


def _masks(model):
    return [
        np.asarray(keras.ops.convert_to_numpy(m))
        for w in find_wrappers(model)
        for m in (w.input_mask, w.output_mask)
        if m is not None
    ]


@keras.saving.register_keras_serializable(package="tfprune_tests")
class _Recorder(tfprune.methods.PruningMethod):
    """Prunes unit 0 of every group; records what its hooks received."""

    def __init__(self):
        self.seen = []

    def scores(self, view, group):
        return np.arange(group.num_channels, dtype=float)

    def update(self, view, step):
        self.seen.append(type(view))
        masks_before = _masks(view.model)
        for group in view.active_groups:
            keep = view.group_keep(group)
            keep[0] = False
            view.set_group_keep(group, keep)
        # The decision is not in the variables until the driver commits it.
        for before, after in zip(masks_before, _masks(view.model)):
            np.testing.assert_array_equal(before, after)


def test_update_gets_a_view_and_the_driver_commits(residual_cnn):
    method = _Recorder()
    pruned = tfprune.prune(residual_cnn, method, sparsity=0.5, round_to=None)
    pruner = tfprune.Pruner(pruned)
    pruner.step(0)
    assert pruner.method.seen == [MethodView]
    assert not pruner.keep.all()
    committed = np.concatenate(_masks(pruned))
    assert committed.min() == 0.0
    # Nothing changed: the next commit writes no variable.
    assert pruner.write_masks() == 0


def test_the_view_refuses_writes_and_internals(residual_cnn):
    pruned = tfprune.prune(residual_cnn, "l1", sparsity=0.5, round_to=None)
    view = tfprune.Pruner(pruned).view
    for name in ("write_masks", "sync", "set_callback_active", "_schedules", "keep_mask"):
        with pytest.raises(AttributeError, match="view"):
            getattr(view, name)
    with pytest.raises(AttributeError, match="read-only"):
        view.round_to = 3
    with pytest.raises(ValueError):
        view.keep[0] = False
    group = view.active_groups[0]
    keep = view.group_keep(group)
    keep[:] = False  # a copy: the state is unchanged
    assert view.group_keep(group).all()


def test_write_masks_assigns_only_what_changed(residual_cnn):
    pruned = tfprune.prune(residual_cnn, "l1", sparsity=0.5, round_to=None)
    pruner = tfprune.Pruner(pruned)
    assert pruner.write_masks() == 0
    group = pruner.active_groups[0]
    keep = pruner.group_keep(group)
    keep[0] = False
    pruner.set_group_keep(group, keep)
    touched = {
        id(v)
        for entry in pruner.entries
        for v, layout in ((entry.layer.input_mask, entry.input_layout), (entry.layer.output_mask, entry.output_layout))
        if v is not None and np.isin(pruner.graph.units(layout), np.array(group.units)).any()
    }
    assert pruner.write_masks() == len(touched) > 0
    assert pruner.write_masks() == 0
