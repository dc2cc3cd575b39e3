"""A keras-hub backbone, built from config (no download), prunes as-is.

keras-hub backbones are functional subclasses (``keras.Model`` subclasses
that build a Functional graph in ``__init__``). They are handed to tfprune as
keras-hub returns them, never re-wrapped. ``benchmarks/keras_hub_coverage.py``
covers every image backbone.
"""

from __future__ import annotations

import keras
import pytest

keras_hub = pytest.importorskip(
    "keras_hub", reason="keras-hub is not installed (it is in the `bench` extra: pip install -e .[bench])"
)


def test_resnet_backbone_slim_matches_masked_as_is(check_slim, randomized):
    keras.utils.set_random_seed(0)
    model = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 32],
        stackwise_num_blocks=[1, 1],
        stackwise_num_strides=[1, 2],
        block_type="bottleneck_block",
        image_shape=(32, 32, 3),
    )
    assert type(model) is not keras.Model  # a functional subclass, as keras-hub builds it
    result = check_slim(randomized(model))
    assert result.pruner.pruned_fraction() == pytest.approx(0.5, abs=0.05)
    assert result.slimmed.count_params() < 0.5 * model.count_params()
