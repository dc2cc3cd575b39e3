"""Tests of `tfprune.schedules.ADMMSchedule` (StructADMM phase timing)."""

from __future__ import annotations

import json

import keras
import pytest

from tfprune import errors, schedules
from tfprune.schedules import ADMMSchedule


def test_phases_updates_and_hard_prune():
    s = ADMMSchedule(0.5, admm_steps=10, update_every=3, begin_step=5)
    assert s.locate(4) == ("before", 0)
    assert s.locate(5) == ("admm", 0)
    assert s.locate(14) == ("admm", 0)
    assert s.locate(15) == ("retrain", 0)
    assert s.locate(10_000) == ("retrain", 0)
    assert [t for t in range(40) if s.is_update_step(t)] == [8, 11, 14]
    assert [t for t in range(40) if s(t)[0]] == [15]
    assert s(0) == (False, 0.5)


def test_progressive_stages():
    s = ADMMSchedule([0.25, 0.5, 0.75], admm_steps=4, update_every=2, retrain_steps=6)
    assert s.num_stages == 3
    assert [t for t in range(60) if s(t)[0]] == [4, 14, 24]
    assert [s(t)[1] for t in (0, 9, 10, 19, 20, 59)] == [0.25, 0.25, 0.5, 0.5, 0.75, 0.75]
    assert [t for t in range(30) if s.is_update_step(t)] == [2, 12, 22]
    assert s.locate(29) == ("retrain", 2)


def test_from_epochs():
    s = ADMMSchedule.from_epochs(0.5, steps_per_epoch=100, admm_epochs=4, update_epochs=2, begin_epoch=1)
    assert s.get_config() == {"target_sparsity": 0.5, "admm_steps": 400, "update_every": 200,
                              "retrain_steps": 0, "begin_step": 100}


@pytest.mark.parametrize("target", [0.5, [0.3, 0.6]])
def test_config_round_trip(target):
    s = ADMMSchedule(target, admm_steps=8, update_every=4, retrain_steps=3)
    config = json.loads(json.dumps(schedules.serialize(s)))
    again = schedules.deserialize(config)
    assert again == s
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(s)) == s
    assert ADMMSchedule.from_config(s.get_config()) == s


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target_sparsity": 1.0}, "target_sparsity"),
        ({"target_sparsity": []}, "target_sparsity"),
        ({"target_sparsity": [0.5, 0.3], "retrain_steps": 2}, "increase"),
        ({"target_sparsity": [0.3, 0.5]}, "retrain_steps"),
        ({"admm_steps": 0}, "admm_steps"),
        ({"update_every": 20}, "update_every"),
        ({"begin_step": -1}, "begin_step"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"target_sparsity": 0.5, "admm_steps": 10, "update_every": 5, **kwargs}
    with pytest.raises(errors.PruningArgumentError, match=match):
        ADMMSchedule(**args)
