"""Catalogue: PrunePlan JSON for another model, hand-edited or damaged."""

from __future__ import annotations

import json

import keras
import pytest
from errors_catalogue import listing, tiny_cnn
from keras import layers

import tfprune
from tfprune import cli
from tfprune.errors import PruningArgumentError


@pytest.fixture
def plan_dict(cnn):
    pruned = tfprune.prune(cnn, "l1", 0.5, round_to=None)
    tfprune.Pruner(pruned).step(0)
    data = tfprune.make_plan(pruned).to_dict()
    assert set(data["groups"]) == {"conv1", "conv2"}
    return data


def _slim_error(model, data) -> PruningArgumentError:
    with pytest.raises(PruningArgumentError) as info:
        tfprune.slim(model, tfprune.PrunePlan.from_json(json.dumps(data)))
    return info.value


def _other_model(first_name: str, width: int) -> keras.Model:
    x = keras.Input((6, 6, 2), name="image")
    y = layers.Conv2D(width, 3, name=first_name)(x)
    y = layers.Conv2D(4, 3, name="other2")(y)
    return keras.Model(x, layers.Dense(3, name="head")(y), name="other")


def test_plan_for_another_model(plan_dict, expect):
    expect("plan-for-another-model", _slim_error(_other_model("other1", 8), plan_dict))


def test_plan_for_another_architecture(plan_dict, expect):
    expect("plan-for-another-architecture", _slim_error(_other_model("conv1", 16), plan_dict))


def test_plan_index_out_of_range(plan_dict, cnn, expect):
    plan_dict["groups"]["conv1"]["kept"] = [0, 3, 8]
    expect("plan-index-out-of-range", _slim_error(cnn, plan_dict))


def test_plan_index_repeated(plan_dict, cnn, expect):
    plan_dict["groups"]["conv1"]["kept"] = [0, 3, 3]
    expect("plan-index-repeated", _slim_error(cnn, plan_dict))


def test_plan_nothing_kept(plan_dict, cnn, expect):
    plan_dict["groups"]["conv1"]["kept"] = []
    expect("plan-nothing-kept", _slim_error(cnn, plan_dict))


def test_plan_malformed_group(plan_dict, expect):
    for bad in ({"kept": [0, 1]}, {"num_channels": 8, "kept": ["0", 1]}, {"num_channels": 8, "kept": [0.5]}):
        plan_dict["groups"]["conv1"] = bad
        with pytest.raises(PruningArgumentError) as info:
            tfprune.PrunePlan.from_dict(plan_dict)
        expect("plan-malformed-group", info.value)


def test_plan_not_a_plan(expect):
    with pytest.raises(PruningArgumentError) as info:
        tfprune.PrunePlan.from_json('{"groups": {}}')
    expect("plan-not-a-plan", info.value)


def test_plan_truncated_json(plan_dict, cnn, tmp_path, capsys, expect):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_dict)[:40])
    with pytest.raises(PruningArgumentError) as info:
        tfprune.PrunePlan.from_json(path)
    expect("plan-truncated-json", info.value)
    model_path = tmp_path / "dense.keras"
    cnn.save(model_path)
    assert cli.main(["slim", str(model_path), str(tmp_path / "s.keras"), "--plan", str(path)]) == 1
    expect("plan-truncated-json", capsys.readouterr().err)
    assert listing(tmp_path) == ["dense.keras", "plan.json"]


def test_plan_file_missing(tmp_path, expect):
    with pytest.raises(PruningArgumentError) as info:
        tfprune.PrunePlan.from_json(tmp_path / "plan.json")
    expect("plan-file-missing", info.value)


def test_slim_without_plan_or_masks(expect):
    with pytest.raises(PruningArgumentError) as info:
        tfprune.slim(tiny_cnn())
    expect("slim-without-plan-or-masks", info.value)
