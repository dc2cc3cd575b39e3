"""method="fpgm": prune the filters nearest their layer's geometric median."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from testing_models import build_residual_cnn

import tfprune
from tfprune import errors
from tfprune.criteria import fpgm
from tfprune.graph import rules as rules_lib


def test_prunes_the_filters_nearest_the_median():
    # Five one-weight filters 0, 1, 3, 10, 11: summed distances 25, 22, 20, 27, 30.
    x = keras.Input((4, 4, 1))
    conv = keras.layers.Conv2D(5, 1, name="conv")
    y = keras.layers.Dense(2, name="head")(keras.layers.Flatten()(conv(x)))
    model = keras.Model(x, y)
    conv.kernel.assign(np.array([0, 1, 3, 10, 11], "float32").reshape(1, 1, 1, 5))
    pruned = tfprune.prune(model, "fpgm", 0.4, round_to=None)
    tfprune.Pruner(pruned).step(0)
    np.testing.assert_array_equal(pruned.get_layer("conv").output_mask.numpy(), [1, 0, 0, 1, 1])


def test_coupled_slices_add_mean_normalised_scores():
    """The residual group (stem + outer through Add) sums each layer's scores / their mean."""
    model = build_residual_cnn()
    model.get_layer("outer").kernel.assign(model.get_layer("outer").kernel.numpy() * 100.0)
    pruned = tfprune.prune(model, "fpgm", 0.5, round_to=None)
    pruner = tfprune.Pruner(pruned)
    group = next(g for g in pruner.active_groups if any(m.layer == "outer" for m in g.members))
    expected = np.zeros(group.num_channels)
    for name in ("stem", "outer"):  # both produce every channel of the group, in order
        s = fpgm.distance_sums(model.get_layer(name).kernel.numpy(), -1)
        expected += s / s.mean()
    assert {m.layer for m in group.members if m.role == rules_lib.FILTER} == {"stem", "outer"}
    np.testing.assert_allclose(pruner.method.scores(pruner, group), expected, rtol=1e-9)


def test_ord_option_round_trips_through_keras_file(tmp_path):
    pruned = tfprune.prune(build_residual_cnn(), "fpgm", 0.5, round_to=None, ord=1)
    path = tmp_path / "fpgm.keras"
    pruned.save(path)
    method = tfprune.Pruner(keras.models.load_model(path)).method
    assert isinstance(method, tfprune.methods.GeometricMedianPruning) and method.ord == 1
    with pytest.raises(errors.PruningArgumentError, match="`ord` must be 1"):
        tfprune.prune(build_residual_cnn(), "fpgm", 0.5, ord=3)
