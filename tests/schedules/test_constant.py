"""Tests of `tfprune.schedules.ConstantSparsity`."""

from __future__ import annotations

import json

import keras
import pytest

from tfprune import errors
from tfprune.schedules import ConstantSparsity


def test_values_and_frequency_gating():
    schedule = ConstantSparsity(0.6, begin_step=100, end_step=400, frequency=50)
    assert schedule(0) == (False, 0.6)
    assert schedule(99) == (False, 0.6)
    assert schedule(100) == (True, 0.6)
    assert schedule(125) == (False, 0.6)
    assert schedule(150) == (True, 0.6)
    assert schedule(400) == (True, 0.6)
    assert schedule(450) == (False, 0.6)


def test_end_step_minus_one_prunes_forever():
    schedule = ConstantSparsity(0.5, begin_step=10, frequency=10)
    pruned = [step for step in range(0, 100_001) if schedule(step)[0]]
    assert pruned[0] == 10
    assert pruned[-1] == 100_000
    assert len(pruned) == 10_000


def test_defaults():
    schedule = ConstantSparsity(0.5)
    assert schedule.get_config() == {
        "target_sparsity": 0.5,
        "begin_step": 0,
        "end_step": -1,
        "frequency": 100,
    }
    assert schedule(0) == (True, 0.5)
    assert schedule(50) == (False, 0.5)


def test_end_step_equal_to_begin_step_prunes_once():
    schedule = ConstantSparsity(0.5, begin_step=7, end_step=7, frequency=1)
    assert [s for s in range(20) if schedule(s)[0]] == [7]


def test_config_round_trip():
    schedule = ConstantSparsity(0.25, begin_step=3, end_step=90, frequency=7)
    config = schedule.get_config()
    clone = ConstantSparsity.from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    assert [clone(s) for s in range(100)] == [schedule(s) for s in range(100)]


def test_keras_serialization_round_trip():
    schedule = ConstantSparsity(0.25, begin_step=3, end_step=90, frequency=7)
    serialized = keras.saving.serialize_keras_object(schedule)
    assert serialized["registered_name"] == "tfprune>ConstantSparsity"
    clone = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(serialized))
    )
    assert isinstance(clone, ConstantSparsity)
    assert clone.get_config() == schedule.get_config()


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"target_sparsity": 1.0}, "target_sparsity"),
        ({"target_sparsity": -0.1}, "target_sparsity"),
        ({"target_sparsity": "0.5"}, "target_sparsity"),
        ({"target_sparsity": 0.5, "begin_step": -1}, "begin_step"),
        ({"target_sparsity": 0.5, "begin_step": 1.0}, "begin_step"),
        ({"target_sparsity": 0.5, "begin_step": 10, "end_step": 5}, "end_step"),
        ({"target_sparsity": 0.5, "end_step": -2}, "end_step"),
        ({"target_sparsity": 0.5, "frequency": 0}, "frequency"),
        ({"target_sparsity": 0.5, "frequency": 2.5}, "frequency"),
    ],
)
def test_invalid_arguments(kwargs, argument):
    with pytest.raises(errors.PruningArgumentError, match=f"`{argument}`"):
        ConstantSparsity(**kwargs)


def test_invalid_argument_is_a_value_error():
    with pytest.raises(ValueError, match=r"Received: target_sparsity=1\.5"):
        ConstantSparsity(1.5)
