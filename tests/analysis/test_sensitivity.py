"""tfprune.sensitivity on a small residual CNN trained on real MNIST."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import tfprune
from tfprune import data, errors
from tfprune.layers import find_wrappers

SPARSITIES = (0.0, 0.5, 0.875)


def _residual_mnist_cnn() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1), name="image")
    a = layers.Conv2D(8, 3, strides=2, padding="same", name="stem")(inputs)
    a = layers.BatchNormalization(momentum=0.9, name="stem_bn")(a)
    a = layers.ReLU(name="stem_relu")(a)
    b = layers.Conv2D(16, 3, padding="same", activation="relu", name="inner")(a)
    b = layers.Conv2D(8, 3, padding="same", name="outer")(b)
    c = layers.Add(name="add")([a, b])
    c = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="widen")(c)
    c = layers.Flatten(name="flatten")(c)
    outputs = layers.Dense(10, name="head")(c)
    return keras.Model(inputs, outputs, name="residual_mnist")


@pytest.fixture(scope="module")
def trained():
    """The CNN after 120 Adam steps on 7,680 real MNIST images; 1,000 held-out test images."""
    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    model = _residual_mnist_cnn()
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    train = data.make_dataset(x_train[:7680], y_train[:7680], 64, shuffle=True, seed=0)
    model.fit(train, epochs=1, verbose=0)
    return model, (x_test[:1000], y_test[:1000])


@pytest.fixture(scope="module")
def result(trained):
    model, held_out = trained
    return tfprune.sensitivity(model, held_out, SPARSITIES, batch_size=250)


def _accuracy(model, held_out) -> float:
    x, y = held_out
    return float(np.mean(np.argmax(model.predict(x, batch_size=250, verbose=0), axis=-1) == y))


def test_each_group_is_pruned_whole_and_alone(trained):
    model, held_out = trained
    probes = []

    def record(wrapped, held):
        masks = {
            "stem": wrapped.get_layer("stem").output_mask.numpy(),
            "stem_bn": wrapped.get_layer("stem_bn").output_mask.numpy(),
            "outer": wrapped.get_layer("outer").output_mask.numpy(),
            "inner_in": wrapped.get_layer("inner").input_mask.numpy(),
            "widen_in": wrapped.get_layer("widen").input_mask.numpy(),
            "inner": wrapped.get_layer("inner").output_mask.numpy(),
            "widen": wrapped.get_layer("widen").output_mask.numpy(),
        }
        probes.append(masks)
        return _accuracy(wrapped, held)

    result = tfprune.sensitivity(model, held_out, (0.0, 0.5, 0.75), metric=record)
    assert {g.id for g in result.groups} == {"stem", "inner", "widen"}
    stream = next(g for g in result.groups if g.id == "stem")
    assert stream.producers == ("stem", "outer")  # the residual stream: both convs feeding the Add
    # Dense run first, then each distinct narrower width of each group once
    # (sparsity 0 is the dense model).
    assert len(probes) == 1 + 2 * 3
    assert all(m.all() for m in probes[0].values())
    stream_probes = [p for p in probes[1:] if not p["stem"].all()]
    assert [int(p["stem"].sum()) for p in stream_probes] == [4, 2]
    for p in stream_probes:
        # Every member of the residual group carries the same mask...
        for key in ("stem_bn", "outer", "inner_in", "widen_in"):
            np.testing.assert_array_equal(p[key], p["stem"])
        # ...and no other group is pruned at the same time.
        assert p["inner"].all() and p["widen"].all()
    inner_probes = [p for p in probes[1:] if not p["inner"].all()]
    assert [int(p["inner"].sum()) for p in inner_probes] == [8, 4]
    assert all(p["stem"].all() and p["widen"].all() for p in inner_probes)
    assert result.metric == "record" and result.higher_is_better


def test_dense_point_is_the_dense_metric_and_groups_are_restored(trained, result):
    model, held_out = trained
    assert result.metric == "accuracy" and result.higher_is_better
    assert result.dense == pytest.approx(_accuracy(model, held_out), abs=1e-6)
    assert result.dense > 0.8  # trained, so pruning has something to lose
    for g in result.groups:
        assert g.kept[0] == g.channels
        assert g.values[0] == pytest.approx(result.dense, abs=1e-6)
    # Removing 7 of 8 residual channels hurts on real data.
    stream = next(g for g in result.groups if g.id == "stem")
    assert stream.values[-1] < result.dense - 0.05
    # Probing a group alone gives what it gave after the other groups were
    # probed and restored.
    alone = tfprune.sensitivity(model, held_out, SPARSITIES, groups=["widen"], batch_size=250)
    assert [g.id for g in alone.groups] == ["widen"]
    widen = next(g for g in result.groups if g.id == "widen")
    np.testing.assert_allclose(alone.groups[0].values, widen.values, atol=1e-6)


def test_users_model_is_untouched(trained):
    model, held_out = trained
    weights = [w.copy() for w in model.get_weights()]
    config = model.get_config()
    compile_config = model.get_compile_config()
    tfprune.sensitivity(model, held_out, (0.5,), metric="loss", groups=["inner"], batch_size=250)
    assert not find_wrappers(model)
    assert model.get_config() == config
    assert model.get_compile_config() == compile_config
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_loss_metric_is_lower_is_better(trained):
    model, held_out = trained
    r = tfprune.sensitivity(model, held_out, (0.75,), metric="loss", groups=["stem"], batch_size=250)
    assert r.metric == "loss" and not r.higher_is_better
    assert r.groups[0].values[0] > r.dense  # pruning raises the loss
    assert r.drop(r.groups[0].values[0]) > 0


def test_json_round_trip_markdown_and_plot(result, tmp_path):
    path = result.to_json(tmp_path / "sens.json")
    assert tfprune.SensitivityResult.from_json(path) == result
    assert [p.name for p in tmp_path.iterdir()] == ["sens.json"]  # no temporary left
    table = result.to_markdown()
    assert "| stem | stem, outer | 8 |" in table
    assert f"{result.dense:.4f}" in table
    png = result.plot(tmp_path / "sens.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(errors.PruningArgumentError, match="Not a tfprune sensitivity result"):
        tfprune.SensitivityResult.from_json(tmp_path / "bad.json")


def test_allocation_from_measured_curves_meets_a_linear_budget(result):
    sizes = result.sizes()
    weight = {"stem": 3.0, "inner": 2.0, "widen": 1.0}

    def cost(kept):
        return sum(weight[g] * k for g, k in kept.items())

    dense_cost = cost(sizes)
    kept = result.allocate(cost, 0.5 * dense_cost)
    assert cost(kept) <= 0.5 * dense_cost
    assert all(1 <= kept[g] <= sizes[g] for g in sizes)


def test_flops_share_is_the_share_of_layers_touching_the_group(result, trained):
    model, _ = trained
    flops = tfprune.metrics.flops_by_layer(model)
    total = sum(flops.values())
    inner = next(g for g in result.groups if g.id == "inner")
    assert inner.flops_share == pytest.approx((flops["inner"] + flops["outer"]) / total)


def test_bad_arguments_are_explained(trained, residual_cnn, batch):
    model, held_out = trained
    with pytest.raises(errors.PruningArgumentError, match="not compiled"):
        tfprune.sensitivity(residual_cnn, batch)
    with pytest.raises(errors.PruningArgumentError, match="returns"):
        tfprune.sensitivity(model, held_out, (0.5,), metric="top5", groups=["inner"])
    with pytest.raises(errors.PruningArgumentError, match="sparsities"):
        tfprune.sensitivity(model, held_out, (0.5, 1.0))
    with pytest.raises(errors.PruningArgumentError, match="no prunable group"):
        tfprune.sensitivity(model, held_out, groups=["head"])
    with pytest.raises(errors.PruningArgumentError, match="iterator"):
        tfprune.sensitivity(model, iter([held_out]))


def test_allocation_meets_a_real_flops_budget(result, trained):
    """Allocate with a FLOPs model of this CNN, prune to it, count the FLOPs."""
    model, _ = trained
    flops = tfprune.metrics.flops_by_layer(model)
    sizes = result.sizes()
    # (input group, output group) of every counted layer; None = not pruned.
    io = {"stem": (None, "stem"), "inner": ("stem", "inner"), "outer": ("inner", "stem"),
          "widen": ("stem", "widen"), "head": ("widen", None)}

    def cost(kept):
        ratio = {g: kept[g] / sizes[g] for g in kept} | {None: 1.0}
        return sum(flops[layer] * ratio[i] * ratio[o] for layer, (i, o) in io.items())

    budget = 0.5 * sum(flops.values())
    kept = result.allocate(cost, budget)
    assert kept != sizes
    pruned = tfprune.prune(
        model, "l1", sparsity={g: 1 - k / sizes[g] for g, k in kept.items()}, round_to=None
    )
    tfprune.Pruner(pruned).step(0)
    achieved = tfprune.count_flops(pruned, effective=True)
    assert achieved == pytest.approx(cost(kept))
    assert achieved <= budget


def test_dataset_input_gives_the_array_result(trained, result):
    model, (x, y) = trained
    ds = data.make_dataset(x, y, 250)  # unshuffled: the same batches every probe
    r = tfprune.sensitivity(model, ds, SPARSITIES, groups=["widen"])
    widen = next(g for g in result.groups if g.id == "widen")
    assert r.dense == pytest.approx(result.dense, abs=1e-6)
    np.testing.assert_allclose(r.groups[0].values, widen.values, atol=1e-6)
    # `batches` limits each evaluation to the first batches.
    first = tfprune.sensitivity(model, ds, (0.5,), groups=["widen"], batches=1)
    assert first.dense == pytest.approx(_accuracy(model, (x[:250], y[:250])), abs=1e-6)


@keras.saving.register_keras_serializable(package="test_sensitivity")
class _NoScores(tfprune.methods.PruningMethod):
    """A method that decides by itself and exposes no per-channel scores."""


def test_methods_without_channel_scores_are_refused(trained):
    model, held_out = trained
    with pytest.raises(errors.PruningArgumentError, match="no per-channel scores"):
        tfprune.sensitivity(model, held_out, method=_NoScores())
