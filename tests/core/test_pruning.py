"""tfprune.prune: what it wraps, how it validates, that it copies."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from testing_models import build_residual_cnn

import tfprune
from tfprune import errors
from tfprune.layers import PruningWrapper, find_wrappers


def _apply_step0(pruned):
    pruner = tfprune.Pruner(pruned)
    pruner.step(0)
    return pruner


def test_prune_returns_new_model_and_leaves_input_untouched(residual_cnn):
    before = [w.copy() for w in residual_cnn.get_weights()]
    names = [layer.name for layer in residual_cnn.layers]
    pruned = tfprune.prune(residual_cnn, "l1", 0.5, round_to=None)
    _apply_step0(pruned)
    assert pruned is not residual_cnn
    assert [layer.name for layer in residual_cnn.layers] == names
    assert not find_wrappers(residual_cnn)
    for old, now in zip(before, residual_cnn.get_weights()):
        np.testing.assert_array_equal(old, now)
    # Same layer names, prunable ones wrapped, weights copied.
    assert [layer.name for layer in pruned.layers] == names
    assert isinstance(pruned.get_layer("stem"), PruningWrapper)
    np.testing.assert_array_equal(
        pruned.get_layer("inner").layer.kernel.numpy(), residual_cnn.get_layer("inner").kernel.numpy()
    )


def test_unpruned_wrapped_model_matches_original(residual_cnn, batch):
    pruned = tfprune.prune(residual_cnn, "l1", 0.5, round_to=None)
    np.testing.assert_allclose(pruned(batch[0]), residual_cnn(batch[0]), atol=1e-6)


def test_l1_masks_the_lowest_norm_filters():
    keras.utils.set_random_seed(0)
    x = keras.Input((6, 6, 2))
    conv = keras.layers.Conv2D(6, 3, name="conv")
    y = keras.layers.Dense(3, name="head")(keras.layers.Flatten()(conv(x)))
    model = keras.Model(x, y)
    kernel = np.ones((3, 3, 2, 6), "float32") * np.array([5, -0.1, 3, 0.2, -4, 0.3], "float32")
    conv.kernel.assign(kernel)
    pruned = tfprune.prune(model, "l1", 0.5, round_to=None)
    _apply_step0(pruned)
    mask = pruned.get_layer("conv").output_mask.numpy()
    np.testing.assert_array_equal(mask, [1, 0, 1, 0, 1, 0])


def test_l2_differs_from_l1_when_norms_disagree():
    keras.utils.set_random_seed(0)
    x = keras.Input((4,))
    dense = keras.layers.Dense(2, name="hidden", use_bias=False)
    model = keras.Model(x, keras.layers.Dense(1, name="head")(dense(x)))
    # Filter 0: one large weight (L2 = 2, L1 = 2); filter 1: four 0.6 (L2 = 1.2, L1 = 2.4).
    dense.kernel.assign(np.array([[2.0, 0.6], [0, 0.6], [0, 0.6], [0, 0.6]], "float32"))
    masks = {}
    for method in ("l1", "l2"):
        pruned = tfprune.prune(model, method, 0.5, round_to=None)
        _apply_step0(pruned)
        masks[method] = pruned.get_layer("hidden").output_mask.numpy().tolist()
    assert masks == {"l1": [0.0, 1.0], "l2": [1.0, 0.0]}


def test_residual_partners_share_one_mask(residual_cnn):
    pruned = tfprune.prune(residual_cnn, "l1", 0.5, round_to=None)
    _apply_step0(pruned)
    stem = pruned.get_layer("stem").output_mask.numpy()
    outer = pruned.get_layer("outer").output_mask.numpy()
    bn = pruned.get_layer("stem_bn").output_mask.numpy()
    head_in = pruned.get_layer("head").input_mask.numpy()
    np.testing.assert_array_equal(stem, outer)
    np.testing.assert_array_equal(stem, bn)
    np.testing.assert_array_equal(stem, head_in)
    assert stem.sum() == 4
    assert pruned.get_layer("head").output_mask is None  # the model output is never pruned


def test_round_to_keeps_multiples(residual_cnn):
    pruned = tfprune.prune(residual_cnn, "l1", 0.3, round_to=8)
    _apply_step0(pruned)
    small = tfprune.slim(pruned)
    widths = {layer.name: layer.filters for layer in small.layers if hasattr(layer, "filters")}
    # 16 * 0.7 = 11.2 -> 8 ; the 8-wide residual group keeps 8 (at least round_to).
    assert widths == {"stem": 8, "inner": 8, "outer": 8}


def test_per_layer_sparsity_only_prunes_named_groups(residual_cnn):
    pruned = tfprune.prune(residual_cnn, "l1", {"inner": 0.75}, round_to=None)
    _apply_step0(pruned)
    assert pruned.get_layer("inner").output_mask.numpy().sum() == 4
    assert not isinstance(pruned.get_layer("stem"), PruningWrapper)


def test_coupled_layers_with_different_sparsities_are_refused(residual_cnn):
    with pytest.raises(errors.PruningArgumentError, match="coupled"):
        tfprune.prune(residual_cnn, "l1", {"stem": 0.5, "outer": 0.25}, round_to=None)


def test_excluded_layer_keeps_its_channels(residual_cnn):
    pruned = tfprune.prune(residual_cnn, "l1", 0.5, exclude=["inner"], round_to=None)
    _apply_step0(pruned)
    # `inner` keeps its 16 filters; its input (the stem group) is still pruned.
    inner = pruned.get_layer("inner")
    assert not isinstance(inner, PruningWrapper) or inner.output_mask is None or inner.output_mask.numpy().all()
    assert pruned.get_layer("stem").output_mask.numpy().sum() == 4


@pytest.mark.parametrize("sparsity", [-0.1, 1.0, 1.5, "half", True])
def test_bad_sparsity_is_a_clear_error(residual_cnn, sparsity):
    with pytest.raises(errors.PruningArgumentError, match="sparsity"):
        tfprune.prune(residual_cnn, "l1", sparsity, round_to=None)


def test_sparsity_and_schedule_are_exclusive(residual_cnn):
    with pytest.raises(errors.PruningArgumentError, match="exactly one"):
        tfprune.prune(residual_cnn, "l1", round_to=None)
    with pytest.raises(errors.PruningArgumentError, match="exactly one"):
        tfprune.prune(residual_cnn, "l1", 0.5, schedule=tfprune.schedules.ConstantSparsity(0.5), round_to=None)


def test_unknown_exclude_name_is_a_clear_error(residual_cnn):
    with pytest.raises(errors.PruningArgumentError, match="not_a_layer"):
        tfprune.prune(residual_cnn, "l1", 0.5, exclude=["not_a_layer"], round_to=None)


@pytest.mark.parametrize("round_to", [0, -8, 2.5])
def test_bad_round_to_is_a_clear_error(residual_cnn, round_to):
    with pytest.raises(errors.PruningArgumentError, match="round_to"):
        tfprune.prune(residual_cnn, "l1", 0.5, round_to=round_to)


def test_unknown_method_and_granularity(residual_cnn):
    with pytest.raises(errors.PruningArgumentError, match="l1"):
        tfprune.prune(residual_cnn, "magic", 0.5, round_to=None)
    with pytest.raises(errors.PruningArgumentError, match="granularity"):
        tfprune.prune(residual_cnn, "l1", 0.5, granularity="rows", round_to=None)
    with pytest.raises(errors.PruningArgumentError, match="granularity"):
        tfprune.prune(residual_cnn, "l1", 0.5, granularity="channel", round_to=None)


def test_method_options_are_forwarded_and_checked(residual_cnn):
    pruned = tfprune.prune(residual_cnn, "l1", 0.5, round_to=None)
    assert find_wrappers(pruned)[0].method.ord == 1
    with pytest.raises(errors.PruningArgumentError, match="Unknown option.*'A'.*accepts: no options"):
        tfprune.prune(residual_cnn, "l1", 0.5, A=0.05, round_to=None)
    with pytest.raises(errors.PruningArgumentError, match="constructor"):
        tfprune.prune(residual_cnn, tfprune.methods.MagnitudePruning(), 0.5, ord=2, round_to=None)


def test_pruning_a_pruned_model_is_refused(residual_cnn):
    pruned = tfprune.prune(residual_cnn, "l1", 0.5, round_to=None)
    with pytest.raises(errors.PruningArgumentError, match="already wrapped"):
        tfprune.prune(pruned, "l1", 0.5, round_to=None)


def test_errors_are_also_standard_exceptions(residual_cnn):
    with pytest.raises(ValueError):
        tfprune.prune(residual_cnn, "l1", 2.0, round_to=None)


def test_group_of_unprunable_model_is_reported():
    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(3)(x))
    with pytest.raises(errors.PruningArgumentError, match="no prunable channel group"):
        tfprune.prune(model, "l1", 0.5, round_to=None)


def test_seeded_builds_are_identical():
    a = tfprune.prune(build_residual_cnn(3), "l1", 0.5, round_to=None)
    b = tfprune.prune(build_residual_cnn(3), "l1", 0.5, round_to=None)
    _apply_step0(a)
    _apply_step0(b)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa.numpy(), wb.numpy())


def test_raw_ops_can_be_excluded_by_name():
    x = keras.Input((6, 6, 3))
    a = keras.layers.Conv2D(8, 3, name="conv1")(x)
    b = a * 0.5  # a raw keras op node, not a Layer
    c = keras.layers.Conv2D(8, 3, name="conv2")(b)
    y = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D()(c))
    model = keras.Model(x, y)
    op_name = next(op.name for op in model.operations if not isinstance(op, keras.layers.Layer))
    pruned = tfprune.prune(model, "l1", 0.5, exclude=[op_name], round_to=None)
    _apply_step0(pruned)
    # The op's output channels (conv1's filters) are kept; conv2 is still pruned.
    conv1 = pruned.get_layer("conv1")
    assert not isinstance(conv1, PruningWrapper) or conv1.output_mask is None
    assert pruned.get_layer("conv2").output_mask.numpy().sum() == 4


def test_filters_of_different_kernel_sizes_compete_per_weight():
    """A Concatenate group spans a 3x3 and a 1x1 conv: scores are per weight,
    so the 1x1 branch is not pruned away just for having fewer weights."""
    x = keras.Input((6, 6, 16))
    big = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="big")
    small = keras.layers.Conv2D(4, 1, use_bias=False, name="small")
    joined = keras.layers.Concatenate(name="concat")([big(x), small(x)])
    y = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D()(joined))
    model = keras.Model(x, y)
    big.kernel.assign(np.ones((3, 3, 16, 4), "float32") * np.array([1, 3, 5, 7], "float32"))
    small.kernel.assign(np.ones((1, 1, 16, 4), "float32") * np.array([2, 4, 6, 8], "float32"))
    pruned = tfprune.prune(model, "l1", 0.5, round_to=None)
    _apply_step0(pruned)
    # Per-weight magnitudes interleave: 1 2 3 4 | 5 6 7 8 -> two of each go.
    np.testing.assert_array_equal(pruned.get_layer("big").output_mask.numpy(), [0, 0, 1, 1])
    np.testing.assert_array_equal(pruned.get_layer("small").output_mask.numpy(), [0, 0, 1, 1])


def test_round_to_defaults_to_8_and_none_disables_it():
    """Default from benchmarks/results/channel_widths.md: widths at multiples of 8."""
    keras.utils.set_random_seed(0)
    x = keras.Input((6, 6, 3))
    h = keras.layers.Conv2D(40, 3, name="wide")(x)
    y = keras.layers.Dense(2, name="head")(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(x, y)
    kept = {}
    for round_to in ("default", None, 4):
        kwargs = {} if round_to == "default" else {"round_to": round_to}
        pruned = tfprune.prune(model, "l1", 0.3, **kwargs)
        _apply_step0(pruned)
        kept[round_to] = tfprune.slim(pruned).get_layer("wide").filters
    assert kept == {"default": 32, None: 28, 4: 28}  # 40 * 0.7 = 28 -> nearest multiple of 8
