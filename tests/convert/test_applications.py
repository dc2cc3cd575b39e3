"""keras.applications architectures: prune(0.5) -> masks -> slim == strip.

docs/design.md#masked-equals-slim on real architectures (residual stages, dense
concatenations, depthwise + squeeze-excite, Rescaling/Normalization inputs,
Flatten -> Dense heads). Built with ``weights=None`` at the smallest input
size the architecture accepts, random BatchNorm statistics, batch of 2.
Every architecture of keras.applications is covered by
``benchmarks/coverage.py``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfprune.graph import iter_layers, rules

ARCHITECTURES = {
    "ResNet50": 32,
    "MobileNetV2": 32,
    "DenseNet121": 32,
    "EfficientNetB0": 32,
    "VGG16": 32,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_application_slim_matches_strip(name, check_slim, randomized):
    keras.utils.set_random_seed(0)
    size = ARCHITECTURES[name]
    model = getattr(keras.applications, name)(
        weights=None, input_shape=(size, size, 3), classes=10, classifier_activation=None
    )
    randomized(model)
    result = check_slim(model, check_plan=False)
    # At 50% sparsity every prunable group is halved: well below the original.
    assert result.slimmed.count_params() < 0.9 * model.count_params()
    assert result.pruner.pruned_fraction() == pytest.approx(0.5, abs=0.02)
    # The classifier (a model output) keeps its 10 units.
    assert result.slimmed.outputs[0].shape[-1] == 10


@pytest.mark.slow
def test_application_plan_reapplied_to_original(check_slim, randomized):
    """make_plan(pruned) applied to the unpruned model gives the same slim model."""
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), classes=10, alpha=0.35, classifier_activation=None
    )
    randomized(model)
    check_slim(model, check_plan=True)




@pytest.mark.slow
def test_mobilenet_v3_raw_ops(check_slim, randomized):
    """Hard-sigmoid written as raw ops (``x + 3``, ``x * (1/6)``), SE blocks."""
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(
        weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None
    )
    result = check_slim(randomized(model), check_plan=False)
    assert result.slimmed.count_params() < 0.9 * model.count_params()


@pytest.mark.slow
def test_convnext_shipped_rule(check_slim, randomized):
    """Grouped depthwise convs, LayerNorm (pinned stream), raw ``x + y`` adds.

    ConvNeXt's ``LayerScale`` (a private Keras layer) has a shipped rule: no
    user registration needed.
    """
    keras.utils.set_random_seed(0)
    model = keras.applications.ConvNeXtTiny(
        weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None
    )
    scales = [layer for layer in iter_layers(model) if type(layer).__name__ == "LayerScale"]
    assert scales and isinstance(rules.find_rule(scales[0]), rules.LayerScaleRule)
    rng = np.random.default_rng(0)
    for layer in scales:  # 1e-6 at init would hide mismatches
        layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape).astype("float32"))
    result = check_slim(randomized(model), check_plan=False)
    # The residual stream goes through LayerNormalization: only the inner
    # 4x expansion of every block is pruned.
    assert result.slimmed.count_params() < 0.7 * model.count_params()
