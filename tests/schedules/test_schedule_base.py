"""Tests of `tfprune.schedules.base`: step handling and the interval rule."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfprune import errors
from tfprune.schedules import base
from tfprune.schedules.constant import ConstantSparsity


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (9, False),  # before begin
        (10, True),  # begin
        (11, False),
        (13, True),  # begin + frequency
        (16, True),
        (19, True),  # end, on a frequency step
        (22, False),  # after end, although (22 - 10) % 3 == 0
    ],
)
def test_should_prune_in_interval(step, expected):
    assert base._should_prune_in_interval(step, 10, 19, 3) is expected


def test_should_prune_in_interval_end_minus_one_never_ends():
    assert base._should_prune_in_interval(10**9, 0, -1, 1)
    assert base._should_prune_in_interval(1000, 0, -1, 100)
    assert not base._should_prune_in_interval(1001, 0, -1, 100)


def test_end_step_not_on_a_frequency_step_is_not_pruned():
    # tfmot semantics: end_step bounds the interval, it does not force a step.
    assert not base._should_prune_in_interval(20, 10, 20, 3)
    assert base._should_prune_in_interval(19, 10, 20, 3)


@pytest.mark.parametrize(
    "step",
    [
        12,
        np.int32(12),
        np.int64(12),
        np.array(12),
        tf.constant(12),
        tf.constant(12, tf.int64),
        tf.Variable(12),
        np.float32(12.0),
    ],
    ids=lambda s: type(s).__name__,
)
def test_step_accepts_numpy_and_eager_tensor_scalars(step):
    schedule = ConstantSparsity(0.5, begin_step=2, frequency=5)
    assert schedule(step) == (True, 0.5)
    should_prune, sparsity = schedule(step)
    assert type(should_prune) is bool
    assert type(sparsity) is float


@pytest.mark.parametrize("step", [1.5, "3", None, True, tf.constant(1.5)])
def test_step_rejects_non_integers(step):
    schedule = ConstantSparsity(0.5)
    with pytest.raises(errors.PruningArgumentError, match="`step`"):
        schedule(step)


def test_step_rejects_symbolic_tensor_with_a_hint():
    schedule = ConstantSparsity(0.5)

    @tf.function
    def call(step):
        return schedule(step)

    with pytest.raises(Exception, match="outside the compiled training step"):
        call(tf.constant(3))


def test_base_class_is_abstract():
    with pytest.raises(TypeError):
        base.PruningSchedule()


def test_custom_subclass_uses_default_from_config():
    class Every(base.PruningSchedule):
        def __init__(self, sparsity, frequency):
            self.sparsity = sparsity
            self.frequency = frequency

        def __call__(self, step):
            step = base._to_step(step)
            return step % self.frequency == 0, self.sparsity

        def get_config(self):
            return {"sparsity": self.sparsity, "frequency": self.frequency}

    schedule = Every.from_config(Every(0.25, 4).get_config())
    assert schedule == Every(0.25, 4)
    assert schedule(8) == (True, 0.25)
    assert schedule(9) == (False, 0.25)
