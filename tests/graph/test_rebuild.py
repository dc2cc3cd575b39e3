"""tfprune.graph.rebuild: the flat rebuild (with its replace hook) and the structure-keeping clone."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfprune.graph.rebuild import clone, copy_weights, fresh_copy, quick_build, rebuild_flat


def _nested():
    """A model calling a nested sub-model whose conv is also named ``conv``."""
    inner_in = keras.Input((6, 6, 4))
    inner = keras.Model(inner_in, keras.layers.Conv2D(4, 3, padding="same", name="conv")(inner_in), name="block")
    inp = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 1, name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = inner(x)
    out = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D(name="gap")(x))
    model = keras.Model(inp, out, name="outer")
    bn = model.get_layer("bn")
    rng = np.random.default_rng(0)
    bn.moving_mean.assign(rng.normal(size=4).astype("float32"))
    bn.moving_variance.assign(rng.uniform(0.5, 1.5, 4).astype("float32"))
    return model


@pytest.fixture
def x():
    return np.random.default_rng(1).random((2, 6, 6, 3)).astype("float32")


def test_rebuild_flat_copies_and_inlines(x):
    model = _nested()
    flat = rebuild_flat(model)
    names = [layer.name for layer in flat.layers]
    assert "block" not in names and "block_conv" in names and "conv" in names  # inlined, clash renamed
    np.testing.assert_allclose(flat(x), model(x), atol=1e-6)
    assert all(a is not b for a in flat.weights for b in model.weights)  # new variables


def test_replace_hook_inserts_and_drops_calls(x):
    model = _nested()
    made = []

    def replace(site, args, kwargs):
        if site.layer.name == "bn":
            return args[0]  # drop the call
        if site.layer.name == "head":
            scale = keras.layers.Rescaling(2.0, name="twice")
            dense = fresh_copy(site.layer)
            made.append(dense)
            return scale(dense(*args, **kwargs))
        return None

    new = rebuild_flat(model, replace=replace)
    copy_weights(model.get_layer("head"), made[0])
    names = [layer.name for layer in new.layers]
    assert "bn" not in names and "twice" in names
    no_bn = keras.Model(model.input, model.get_layer("head")(model.get_layer("gap")(
        model.get_layer("block")(model.get_layer("conv").output))))
    np.testing.assert_allclose(new(x), 2.0 * no_bn(x), rtol=1e-5, atol=1e-6)


def test_clone_keeps_nested_structure_and_weights(x):
    model = _nested()
    copy = clone(model, fresh_copy, copy_weights)
    assert isinstance(copy.get_layer("block"), keras.Model)
    assert copy.get_layer("block") is not model.get_layer("block")
    np.testing.assert_allclose(copy(x), model(x), atol=1e-6)


@pytest.mark.parametrize("how", ["flat", "clone"])
def test_quick_build_leaves_the_configured_initializers(how):
    """Layers are built with zeros, then get the configured initializers back."""
    model = _nested()
    if how == "flat":
        new = rebuild_flat(model, set_weights=lambda old, new: None)  # weights left as built
    else:
        new = clone(model, fresh_copy, lambda old, new: None)
    conv = new.get_layer("conv")
    assert not np.any(keras.ops.convert_to_numpy(conv.kernel))  # built with zeros
    assert isinstance(conv.kernel_initializer, keras.initializers.GlorotUniform)
    assert conv.get_config() == model.get_layer("conv").get_config()
    bn = new.get_layer("bn")
    assert isinstance(bn.gamma_initializer, keras.initializers.Ones)
    rebuilt = fresh_copy(conv)
    rebuilt.build((None, 6, 6, 3))
    assert np.any(keras.ops.convert_to_numpy(rebuilt.kernel))  # a later build is random again


def test_quick_build_skips_custom_layers_and_restores_on_error():
    class Custom(keras.layers.Dense):
        pass

    custom, dense = Custom(3), keras.layers.Dense(3)
    with pytest.raises(RuntimeError), quick_build() as made:
        made(custom)
        made(dense)
        assert isinstance(dense.kernel_initializer, keras.initializers.Zeros)
        assert isinstance(custom.kernel_initializer, keras.initializers.GlorotUniform)
        raise RuntimeError
    assert isinstance(custom.kernel_initializer, keras.initializers.GlorotUniform)
    assert isinstance(dense.kernel_initializer, keras.initializers.GlorotUniform)
