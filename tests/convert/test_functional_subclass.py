"""Functional subclasses (keras-hub backbones) prune, slim and export as-is.

A class that subclasses ``keras.Model`` and builds itself with the functional
API in ``__init__`` has a layer graph even when its ``get_config`` returns
only its constructor arguments (as keras-hub's ``Backbone`` does). Truly
subclassed models keep their clear error (tests/graph/test_rules.py).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

import tfprune
from tfprune.graph import iter_layers

H = 8


class TinyBackbone(keras.Model):
    """Functional subclass with a keras-hub-style ``get_config``."""

    def __init__(self, width=8, **kwargs):
        inputs = keras.Input((H, H, 3), name="pixels")
        x = layers.Conv2D(width, 3, padding="same", name="stem")(inputs)
        x = layers.BatchNormalization(name="stem_bn")(x)
        x = layers.ReLU(name="stem_relu")(x)
        y = layers.Conv2D(width, 3, padding="same", name="block")(x)
        y = layers.BatchNormalization(name="block_bn")(y)
        x = layers.ReLU()(layers.Add(name="add")([x, y]))
        x = layers.Conv2D(4, 1, name="head")(x)
        super().__init__(inputs=inputs, outputs=x, **kwargs)
        self.width = width

    def get_config(self):
        return {"width": self.width, "name": self.name, "trainable": self.trainable}


def test_functional_subclass_prunes_and_slims_as_is(check_slim, randomized):
    keras.utils.set_random_seed(0)
    model = randomized(TinyBackbone())
    result = check_slim(model)
    # The pruned and slim models are plain Functional models, not TinyBackbone.
    assert not isinstance(result.pruned, TinyBackbone)
    assert not isinstance(result.slimmed, TinyBackbone)
    assert result.slimmed.get_layer("stem").filters == 4
    # The user's model keeps its own (unwrapped) layers.
    assert not any(isinstance(layer, tfprune.PruningWrapper) for layer in iter_layers(model))
    assert isinstance(tfprune.strip_pruning(model), keras.Model)


def test_functional_subclass_as_sub_model(check_slim, randomized):
    keras.utils.set_random_seed(0)
    backbone = TinyBackbone(name="backbone")
    inputs = keras.Input((H, H, 3))
    x = layers.GlobalAveragePooling2D()(backbone(inputs))
    model = randomized(keras.Model(inputs, layers.Dense(3, name="fc")(x)))
    result = check_slim(model)
    assert result.slimmed.get_layer("block").filters == 4


def test_functional_subclass_exports(tmp_path):
    from tfprune.export import export_tflite, run_tflite

    keras.utils.set_random_seed(0)
    model = TinyBackbone()
    pruned = tfprune.prune(model, "l1", sparsity=0.5, round_to=None)
    tfprune.Pruner(pruned).step(0)
    small = tfprune.slim(pruned)
    x = np.random.default_rng(0).uniform(size=(1, H, H, 3)).astype("float32")
    for name, m in (("dense", model), ("slim", small)):
        path = tmp_path / f"{name}.tflite"
        export_tflite(m, path)
        np.testing.assert_allclose(run_tflite(path, x), np.asarray(m(x)), rtol=1e-5, atol=1e-5)
