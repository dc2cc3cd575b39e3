"""tfprune.register_method: a user method in a few lines, saved and loaded."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from testing_models import build_residual_cnn

import tfprune
from tfprune import errors
from tfprune import methods as methods_lib
from tfprune.graph import rules as rules_lib


@keras.saving.register_keras_serializable(package="tfprune_tests")
class MaxAbs(tfprune.methods.PruningMethod):
    """Score a unit by the largest |w| of its filters (or the smallest, inverted)."""

    def __init__(self, invert: bool = False):
        self.invert = invert

    def scores(self, pruner, group):
        out = np.zeros(group.num_channels)
        for path, weight, axis in pruner.group_slices(group, rules_lib.FILTER):
            value = np.abs(pruner.weight_value(path, weight))
            per = np.moveaxis(value, axis, 0).reshape(value.shape[axis], -1).max(axis=1)
            units = pruner.local_units(group, path, weight, axis)
            np.maximum.at(out, units[units >= 0], per[units >= 0])
        return -out if self.invert else out

    def get_config(self):
        return {"invert": self.invert}


class NotSerializable(tfprune.methods.PruningMethod):
    def scores(self, pruner, group):
        return np.zeros(group.num_channels)


def _kernel_model():
    x = keras.Input((4, 4, 1))
    conv = keras.layers.Conv2D(4, 1, name="conv")
    y = keras.layers.Dense(2, name="head")(keras.layers.Flatten()(conv(x)))
    model = keras.Model(x, y)
    conv.kernel.assign(np.array([0.5, -3.0, 0.1, 2.0], "float32").reshape(1, 1, 1, 4))
    return model


def test_registered_method_prunes_and_round_trips(method_registry, tmp_path, batch):
    tfprune.register_method("maxabs", MaxAbs)
    pruned = tfprune.prune(_kernel_model(), "MaxAbs", 0.5, round_to=None)
    tfprune.Pruner(pruned).step(0)
    np.testing.assert_array_equal(pruned.get_layer("conv").output_mask.numpy(), [0, 1, 0, 1])

    # Options of prune reach the constructor and survive .keras save/load mid-pruning.
    pruned = tfprune.prune(build_residual_cnn(), "maxabs", 0.5, round_to=None, invert=True)
    path = tmp_path / "maxabs.keras"
    pruned.save(path)
    loaded = keras.models.load_model(path)
    method = tfprune.Pruner(loaded).method
    assert isinstance(method, MaxAbs) and method.invert is True
    tfprune.Pruner(pruned).step(0)
    tfprune.Pruner(loaded).step(0)
    for name in ("stem", "inner"):
        np.testing.assert_array_equal(loaded.get_layer(name).output_mask, pruned.get_layer(name).output_mask)
    np.testing.assert_allclose(tfprune.slim(loaded)(batch[0]), loaded(batch[0]), atol=1e-5)


def test_factory_and_bound_options(method_registry):
    tfprune.register_method("minabs", MaxAbs, invert=True)
    pruned = tfprune.prune(_kernel_model(), "minabs", 0.5, round_to=None)
    tfprune.Pruner(pruned).step(0)
    np.testing.assert_array_equal(pruned.get_layer("conv").output_mask.numpy(), [1, 0, 1, 0])
    with pytest.raises(errors.PruningArgumentError, match="Unknown option"):
        tfprune.prune(_kernel_model(), "minabs", 0.5, invert=False)

    def factory(strength: float = 1.0):
        return MaxAbs(invert=strength < 0)

    tfprune.register_method("by_factory", factory)
    pruned = tfprune.prune(_kernel_model(), "by_factory", 0.5, round_to=None, strength=-1.0)
    assert tfprune.Pruner(pruned).method.invert is True

    tfprune.register_method("bad_factory", lambda: "not a method")
    with pytest.raises(errors.PruningArgumentError, match="not a tfprune.methods.PruningMethod"):
        tfprune.prune(_kernel_model(), "bad_factory", 0.5)


def test_refusals(method_registry):
    with pytest.raises(errors.PruningArgumentError, match="built-in pruning method"):
        tfprune.register_method("L1", MaxAbs)
    tfprune.register_method("l1", MaxAbs, override=True)
    assert isinstance(methods_lib.get("l1"), MaxAbs)
    tfprune.register_method("mine", MaxAbs)
    tfprune.register_method("mine", MaxAbs, invert=True)  # re-registering a user name is fine
    with pytest.raises(errors.PruningArgumentError, match="register_keras_serializable"):
        tfprune.register_method("plain", NotSerializable)
    with pytest.raises(errors.PruningArgumentError, match="register_keras_serializable"):
        tfprune.prune(_kernel_model(), NotSerializable(), 0.5)
    with pytest.raises(errors.PruningArgumentError, match="subclass of"):
        tfprune.register_method("dict", dict)
    with pytest.raises(errors.PruningArgumentError, match=r"\['bogus'\] are not arguments"):
        tfprune.register_method("x", MaxAbs, bogus=1)
    with pytest.raises(errors.PruningArgumentError, match="non-empty string"):
        tfprune.register_method("", MaxAbs)
