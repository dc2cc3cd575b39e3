"""Custom layers that return several tensors (a tuple or a dict).

Without a rule they are refused with a message naming the layer; excluded,
their channels are kept and the model prunes and slims around them.
"""

from __future__ import annotations

import keras
import pytest
from keras import layers, ops

import tfprune
from tfprune import errors

H = 8


class TupleOut(layers.Layer):
    """Returns ``(x * 2, mean over channels)``; the second is left unused."""

    def call(self, x):
        return x * 2.0, ops.mean(x, axis=-1, keepdims=True)


class DictOut(layers.Layer):
    def call(self, x):
        return {"b": x + 1.0, "a": x * 2.0}


class TupleShape(layers.Layer):
    """Declares its output shapes as a tuple of shapes; called twice (shared)."""

    def call(self, x):
        return x * 2.0, x - 1.0

    def compute_output_shape(self, input_shape):
        return (tuple(input_shape), tuple(input_shape))


def around(middle):
    inputs = keras.Input((H, H, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inputs)
    x = middle(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="c2")(x)
    return keras.Model(inputs, layers.Conv2D(4, 1, name="head")(x))


def tuple_unused():
    return around(lambda x: TupleOut(name="multi")(x)[0])


def dict_out():
    def middle(x):
        out = DictOut(name="multi")(x)
        return layers.Add()([out["a"], out["b"]])

    return around(middle)


def tuple_shape_shared():
    def middle(x):
        shared = TupleShape(name="multi")
        a, _ = shared(x)
        b, c = shared(layers.Conv2D(8, 1, name="c_mid")(x))
        return layers.Concatenate()([a, b, c])

    return around(middle)


CASES = {f.__name__: f for f in (tuple_unused, dict_out, tuple_shape_shared)}


@pytest.mark.parametrize("name", sorted(CASES))
def test_multi_output_layer_refused_clearly(name):
    model = CASES[name]()
    with pytest.raises(errors.UnsupportedLayerError, match=r"`multi`.*returns \d tensors.*exclude=\['multi'\]"):
        tfprune.prune(model, "l1", sparsity=0.5, round_to=None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_multi_output_layer_excluded_prunes(name, check_slim):
    keras.utils.set_random_seed(0)
    model = CASES[name]()
    result = check_slim(model, exclude=["multi"])
    assert result.slimmed.get_layer("c2").filters == 4
