"""Tests of `tfprune.schedules.serialize`, `deserialize` and `get`."""

from __future__ import annotations

import json

import pytest

from tfprune import errors, schedules


def test_all_exports():
    assert sorted(schedules.__all__) == [
        "ADMMSchedule",
        "ConstantSparsity",
        "IntervalSchedule",
        "PolynomialDecay",
        "PruningSchedule",
        "deserialize",
        "get",
        "serialize",
    ]
    for name in schedules.__all__:
        assert hasattr(schedules, name)


@pytest.mark.parametrize(
    "schedule",
    [
        schedules.ConstantSparsity(0.3, begin_step=5, end_step=50, frequency=5),
        schedules.PolynomialDecay(0.1, 0.7, 0, 1000, power=2, frequency=25),
    ],
    ids=lambda s: type(s).__name__,
)
def test_serialize_deserialize_round_trip(schedule):
    serialized = schedules.serialize(schedule)
    clone = schedules.deserialize(json.loads(json.dumps(serialized)))
    assert type(clone) is type(schedule)
    assert clone.get_config() == schedule.get_config()
    assert schedules.serialize(clone) == serialized


def test_deserialize_accepts_tfmot_style_envelope():
    config = {
        "class_name": "PolynomialDecay",
        "config": {
            "initial_sparsity": 0.0,
            "final_sparsity": 0.5,
            "power": 3,
            "begin_step": 0,
            "end_step": 100,
            "frequency": 10,
        },
    }
    schedule = schedules.deserialize(config)
    assert schedule == schedules.PolynomialDecay(0.0, 0.5, 0, 100, frequency=10)


@pytest.mark.parametrize(
    "config",
    [
        {"class_name": "Dense", "config": {"units": 3}},
        {"class_name": "NoSuchSchedule", "config": {}},
        {"class_name": "PolynomialDecay", "config": {"bad_key": 1}},
        {"class_name": "ConstantSparsity", "config": {"target_sparsity": 2.0}},
        {"target_sparsity": 0.5},
        "ConstantSparsity",
    ],
)
def test_deserialize_rejects_bad_configs(config):
    with pytest.raises(errors.PruningArgumentError):
        schedules.deserialize(config)


def test_serialize_rejects_non_schedules():
    with pytest.raises(errors.PruningArgumentError, match="PruningSchedule"):
        schedules.serialize(0.5)


def test_get_returns_instance_unchanged():
    schedule = schedules.PolynomialDecay(0.0, 0.5, 0, 100)
    assert schedules.get(schedule) is schedule


@pytest.mark.parametrize("value", [0.5, 0, 0.0])
def test_get_float_is_constant_sparsity_every_step(value):
    schedule = schedules.get(value)
    assert schedule == schedules.ConstantSparsity(
        float(value), begin_step=0, end_step=-1, frequency=1
    )
    assert all(schedule(step) == (True, float(value)) for step in range(10))


def test_get_float_out_of_range():
    with pytest.raises(errors.PruningArgumentError, match="target_sparsity"):
        schedules.get(1.0)


def test_get_dict():
    schedule = schedules.ConstantSparsity(0.4, begin_step=2, frequency=3)
    assert schedules.get(schedules.serialize(schedule)) == schedule


@pytest.mark.parametrize(
    "identifier",
    [None, True, "polynomial", [0.5], object()],
    ids=lambda i: type(i).__name__,
)
def test_get_rejects_other_types(identifier):
    with pytest.raises(errors.PruningArgumentError) as info:
        schedules.get(identifier)
    message = str(info.value)
    assert type(identifier).__name__ in message
    assert "PruningSchedule" in message
    assert "float" in message
    assert "tfmot" in message


def test_get_rejects_unknown_tfmot_schedule_class():
    class FakeTfmotSchedule:
        def get_config(self):
            return {"class_name": "FakeTfmotSchedule", "config": {}}

    FakeTfmotSchedule.__module__ = (
        "tensorflow_model_optimization.python.core.sparsity.keras.fake"
    )
    with pytest.raises(errors.PruningArgumentError, match="FakeTfmotSchedule"):
        schedules.get(FakeTfmotSchedule())


def test_get_converts_tfmot_like_object_without_tfmot():
    # Duck typing only: a stand-in with tfmot's module path and config format.
    class ConstantSparsity:
        def get_config(self):
            return {
                "class_name": "ConstantSparsity",
                "config": {
                    "target_sparsity": 0.75,
                    "begin_step": 4,
                    "end_step": -1,
                    "frequency": 2,
                },
            }

    ConstantSparsity.__module__ = (
        "tensorflow_model_optimization.python.core.sparsity.keras."
        "pruning_schedule"
    )
    schedule = schedules.get(ConstantSparsity())
    assert schedule == schedules.ConstantSparsity(0.75, 4, -1, 2)
