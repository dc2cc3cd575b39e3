"""trace_model: call sites of nested and shared models."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import tfprune
from tfprune import errors
from tfprune.graph import trace_model


def _inner():
    i = keras.Input((6, 6, 4))
    return keras.Model(i, layers.Conv2D(4, 3, padding="same", name="ic")(i), name="inner")


def test_nested_functional_output_is_a_model_output_called_twice():
    """Keras numbers a nested Functional's nodes from 1 in `output_layers`."""
    inner = _inner()
    x = keras.Input((6, 6, 4))
    first = inner(x)
    second = inner(layers.Add(name="add")([x, first]))
    model = keras.Model(x, [second, first])
    trace = trace_model(model)
    assert [s.path for s in trace.sites] == ["inner/ic", "add", "inner/ic"]
    # Output 0 is the second call of `inner`, output 1 the first one.
    assert trace.outputs == [trace.sites[2].outputs[0], trace.sites[0].outputs[0]]


def test_pruning_through_a_nested_model_output():
    keras.utils.set_random_seed(0)
    inner = _inner()
    x = keras.Input((6, 6, 3))
    a = layers.Conv2D(4, 3, padding="same", name="stem")(x)
    b = layers.Conv2D(4, 1, name="mid")(inner(a))
    model = keras.Model(x, [inner(b), layers.Dense(2, name="head")(layers.Flatten()(b))])
    pruned = tfprune.prune(model, "l1", 0.5, round_to=None)
    tfprune.Pruner(pruned).step(0)
    xs = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")
    strip = tfprune.strip_pruning(pruned)(xs)
    small = tfprune.slim(pruned)
    for got, want in zip(small(xs), strip):
        np.testing.assert_allclose(got, want, atol=1e-5 * float(np.abs(want).max()))
    assert small.count_params() < model.count_params()


def test_functional_graph_with_unserialisable_layer_names_the_cause():
    """Not "a subclassed model": the graph exists, a layer's get_config fails."""

    class BrokenConfig(keras.layers.Layer):
        def call(self, x):
            return x

        def get_config(self):
            return {**super().get_config(), "size": self.size}  # no such attribute

    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2)(BrokenConfig()(keras.layers.Dense(8)(inputs)))
    model = keras.Model(inputs, outputs)
    with pytest.raises(errors.UnsupportedModelError, match="built with the functional API") as info:
        trace_model(model)
    assert "has no attribute 'size'" in str(info.value)
