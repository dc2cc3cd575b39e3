"""Tests of `tfprune.schedules.PolynomialDecay`."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from tfprune import errors
from tfprune.schedules import PolynomialDecay


def _schedule(**overrides):
    kwargs = {
        "initial_sparsity": 0.2,
        "final_sparsity": 0.8,
        "begin_step": 100,
        "end_step": 1100,
        "power": 3,
        "frequency": 10,
    }
    kwargs.update(overrides)
    return PolynomialDecay(**kwargs)


def test_values_at_begin_mid_end():
    schedule = _schedule()
    assert schedule(100) == (True, pytest.approx(0.2))
    # p = 0.5: 0.8 + (0.2 - 0.8) * 0.5**3 = 0.725
    assert schedule(600) == (True, pytest.approx(0.725))
    # p = 0.25: 0.8 - 0.6 * 0.75**3
    assert schedule(350) == (True, pytest.approx(0.8 - 0.6 * 0.75**3))
    assert schedule(1100) == (True, pytest.approx(0.8))


def test_before_begin_returns_initial_sparsity_and_does_not_prune():
    schedule = _schedule()
    for step in (0, 1, 50, 99):
        assert schedule(step) == (False, pytest.approx(0.2))


def test_after_end_returns_final_sparsity_and_does_not_prune():
    schedule = _schedule()
    for step in (1101, 1110, 5000):
        assert schedule(step) == (False, pytest.approx(0.8))


def test_frequency_gating():
    schedule = _schedule(frequency=30)
    pruned = [step for step in range(0, 2000) if schedule(step)[0]]
    assert pruned == list(range(100, 1101, 30))


def test_power_one_is_linear():
    schedule = _schedule(power=1)
    for step in range(100, 1101, 50):
        expected = 0.2 + 0.6 * (step - 100) / 1000
        assert schedule(step)[1] == pytest.approx(expected)


def test_ramp_is_monotonic_and_bounded():
    schedule = _schedule(frequency=1)
    values = np.array([schedule(step)[1] for step in range(0, 1300)])
    assert np.all(np.diff(values) >= 0)
    assert np.all(np.diff(values[100:1101]) > 0)
    assert values.min() == pytest.approx(0.2)
    assert values.max() == pytest.approx(0.8)


def test_decreasing_ramp_is_allowed():
    schedule = _schedule(initial_sparsity=0.8, final_sparsity=0.2)
    assert schedule(100)[1] == pytest.approx(0.8)
    assert schedule(1100)[1] == pytest.approx(0.2)


def test_config_round_trip():
    schedule = _schedule(power=2.5)
    config = schedule.get_config()
    assert set(config) == {
        "initial_sparsity",
        "final_sparsity",
        "begin_step",
        "end_step",
        "power",
        "frequency",
    }
    clone = PolynomialDecay.from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    assert clone == schedule
    assert [clone(s) for s in range(0, 1200, 7)] == [
        schedule(s) for s in range(0, 1200, 7)
    ]


def test_keras_serialization_round_trip():
    schedule = _schedule()
    serialized = keras.saving.serialize_keras_object(schedule)
    assert serialized["registered_name"] == "tfprune>PolynomialDecay"
    clone = keras.saving.deserialize_keras_object(
        json.loads(json.dumps(serialized))
    )
    assert isinstance(clone, PolynomialDecay)
    assert clone.get_config() == schedule.get_config()


@pytest.mark.parametrize(
    ("overrides", "argument"),
    [
        ({"initial_sparsity": 1.0}, "initial_sparsity"),
        ({"initial_sparsity": -0.5}, "initial_sparsity"),
        ({"final_sparsity": 1.2}, "final_sparsity"),
        ({"final_sparsity": None}, "final_sparsity"),
        ({"begin_step": -1}, "begin_step"),
        ({"begin_step": 1100}, "end_step"),
        ({"end_step": 50}, "end_step"),
        ({"end_step": -1}, "end_step"),
        ({"end_step": 2000.0}, "end_step"),
        ({"power": 0}, "power"),
        ({"power": -1.0}, "power"),
        ({"power": "3"}, "power"),
        ({"frequency": 0}, "frequency"),
        ({"frequency": -5}, "frequency"),
    ],
)
def test_invalid_arguments(overrides, argument):
    with pytest.raises(errors.PruningArgumentError, match=f"`{argument}`"):
        _schedule(**overrides)


def test_end_step_message_names_both_steps():
    with pytest.raises(
        errors.PruningArgumentError,
        match=r"Argument `end_step` must be > `begin_step`.*"
        r"Received: begin_step=10, end_step=5",
    ):
        PolynomialDecay(0.0, 0.5, begin_step=10, end_step=5)


def test_final_sparsity_message():
    with pytest.raises(
        errors.PruningArgumentError,
        match=r"Argument `final_sparsity` must be .*\[0, 1\).*"
        r"Received: final_sparsity=1.2",
    ):
        PolynomialDecay(0.0, 1.2, begin_step=0, end_step=5)
