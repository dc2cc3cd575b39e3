"""Fixtures of the metrics tests."""

from __future__ import annotations

import keras
import numpy as np
import pytest


class MaskedWrapper(keras.layers.Wrapper):
    """A stand-in for tfprune's PruningWrapper: channel masks as variables.

    `input_mask` / `output_mask` are non-trainable variables of shape (C,)
    over the last axis of the wrapped layer's input / output, or None.
    """

    def __init__(self, layer, input_mask=None, output_mask=None, **kwargs):
        super().__init__(layer, **kwargs)
        self._input_mask_value = input_mask
        self._output_mask_value = output_mask
        self.input_mask = None
        self.output_mask = None

    def build(self, input_shape):
        super().build(input_shape)
        for attribute in ("input_mask", "output_mask"):
            value = getattr(self, f"_{attribute}_value")
            if value is not None:
                variable = self.add_weight(
                    shape=(len(value),),
                    initializer=keras.initializers.Constant(
                        np.asarray(value, dtype="float32")
                    ),
                    trainable=False,
                    name=attribute,
                )
                setattr(self, attribute, variable)

    def call(self, inputs):
        if self.input_mask is not None:
            inputs = inputs * self.input_mask
        outputs = self.layer(inputs)
        if self.output_mask is not None:
            outputs = outputs * self.output_mask
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config["input_mask"] = self._input_mask_value
        config["output_mask"] = self._output_mask_value
        return config


@pytest.fixture
def masked_wrapper():
    """The `MaskedWrapper` class."""
    return MaskedWrapper


@pytest.fixture(scope="session")
def resnet50():
    """keras.applications.ResNet50 at 224x224, random weights."""
    return keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3))
