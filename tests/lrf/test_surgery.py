"""insert_pq / merge_pq: identity 1x1 layers around KxK convs, and back."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import tfprune
from tfprune import errors, lrf, zoo


def test_insert_pq_leaves_outputs_unchanged_and_keeps_input_model(residual_cnn, batch):
    x, _ = batch
    weights = [w.copy() for w in residual_cnn.get_weights()]
    model_pq = lrf.insert_pq(residual_cnn)
    np.testing.assert_allclose(model_pq.predict(x, verbose=0), residual_cnn.predict(x, verbose=0), atol=1e-5)
    for old, new in zip(weights, residual_cnn.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    names = [layer.name for layer in model_pq.layers]
    assert names.index("inner_lrf_p") < names.index("inner") < names.index("inner_lrf_q")
    p, w, q = (model_pq.get_layer(n) for n in ("inner_lrf_p", "inner", "inner_lrf_q"))
    assert type(p) is keras.layers.Conv2D and p.kernel_size == (1, 1) and not p.use_bias
    np.testing.assert_array_equal(np.array(p.kernel)[0, 0], np.eye(8))
    np.testing.assert_array_equal(np.array(q.kernel)[0, 0], np.eye(16))
    # The conv bias moved to Q: W has none, so compensation needs no bias term.
    assert not w.use_bias and q.use_bias
    np.testing.assert_array_equal(np.array(q.bias), np.array(residual_cnn.get_layer("inner").bias))


def test_default_convs_skip_the_stem_and_1x1_convs():
    model = zoo.small_resnet(widths=(8, 16), input_shape=(12, 12, 1))
    convs = lrf.candidate_convs(model)
    assert "stem_conv" not in convs
    assert convs == ["s1b1_conv1", "s1b1_conv2", "s2b1_conv1", "s2b1_conv2"]  # no 1x1 projection
    model_pq = lrf.insert_pq(model)
    assert lrf.wrapped_convs_in_order(model_pq) == convs
    x = np.random.default_rng(0).normal(size=(2, 12, 12, 1)).astype("float32")
    np.testing.assert_allclose(model_pq.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    # Already wrapped convs are not candidates again.
    assert lrf.candidate_convs(model_pq) == []


def test_channel_groups_between_p_w_q_are_private(residual_cnn):
    graph = tfprune.ChannelGraph.build(lrf.insert_pq(residual_cnn))
    layers = {g.id: set(g.layers) for g in graph.groups}
    assert layers["inner"] == {"inner", "inner_lrf_q"}
    assert layers["inner_lrf_p"] == {"inner_lrf_p", "inner"}


def test_bad_convs_raise(residual_cnn):
    with pytest.raises(errors.PruningArgumentError, match="cannot wrap.*'stem'"):
        lrf.insert_pq(residual_cnn, convs=["stem"])
    with pytest.raises(errors.PruningArgumentError, match="keras.Model"):
        lrf.insert_pq("model")


def test_pq_model_saves_and_loads(residual_cnn, batch, tmp_path):
    x, _ = batch
    model_pq = lrf.insert_pq(residual_cnn)
    path = tmp_path / "pq.keras"
    model_pq.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model_pq.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("mode", ["all", "auto"])
def test_merge_pq_is_exact(residual_cnn, batch, mode):
    x, _ = batch
    pruned = lrf.wrap(lrf.insert_pq(residual_cnn), round_to=1)
    lrf.prune_layer(pruned, "inner", 0.5, "filters")
    lrf.prune_layer(pruned, "outer", 0.5, "inputs")
    small = tfprune.slim(pruned)
    merged = lrf.merge_pq(small, mode)
    np.testing.assert_allclose(merged.predict(x, verbose=0), small.predict(x, verbose=0), atol=1e-5)
    names = {layer.name for layer in merged.layers}
    if mode == "all":
        assert not any(n.endswith(("_lrf_p", "_lrf_q")) for n in names)
        assert merged.get_layer("inner").kernel.shape == (3, 3, 8, 16)
    else:
        assert tfprune.count_flops(merged) <= tfprune.count_flops(small)


def test_merge_pq_auto_merges_when_it_saves_flops(residual_cnn, batch):
    # Nothing pruned: P and Q are pure overhead, so "auto" folds them all.
    small = lrf.insert_pq(residual_cnn)
    merged = lrf.merge_pq(small)
    assert tfprune.count_flops(merged) == tfprune.count_flops(residual_cnn)
    x, _ = batch
    np.testing.assert_allclose(merged.predict(x, verbose=0), residual_cnn.predict(x, verbose=0), atol=1e-5)


def test_merge_pq_errors(residual_cnn):
    with pytest.raises(errors.PruningArgumentError, match="no LRF P/Q"):
        lrf.merge_pq(residual_cnn)
    with pytest.raises(errors.PruningArgumentError, match="mode"):
        lrf.merge_pq(lrf.insert_pq(residual_cnn), mode="some")
