"""IntervalSchedule: when to prune, with a sparsity cap."""

from __future__ import annotations

import pytest

from tfprune import errors, schedules


def test_fires_every_frequency_steps_inside_the_interval():
    schedule = schedules.IntervalSchedule(begin_step=4, end_step=12, frequency=4, max_sparsity=0.7)
    fired = [step for step in range(20) if schedule(step)[0]]
    assert fired == [4, 8, 12]
    assert {schedule(step)[1] for step in range(20)} == {0.7}
    assert [s for s in range(0, 400, 50) if schedules.IntervalSchedule(frequency=100)(s)[0]] == [0, 100, 200, 300]


def test_config_round_trips_through_serialize():
    schedule = schedules.IntervalSchedule(2, 30, 7, 0.5)
    restored = schedules.deserialize(schedules.serialize(schedule))
    assert restored == schedule and restored is not schedule
    assert schedules.get(schedules.serialize(schedule)) == schedule


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_sparsity": 1.0}, "max_sparsity"),
        ({"frequency": 0}, "frequency"),
        ({"begin_step": 5, "end_step": 2}, "end_step"),
        ({"begin_step": -1}, "begin_step"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(errors.PruningArgumentError, match=match):
        schedules.IntervalSchedule(**kwargs)
