"""The `make demo` job end to end, on a small slice of real MNIST."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_demo_runs_end_to_end_on_mnist(tmp_path, load_example):
    demo = load_example("demo")
    result = demo.main(
        ["--train-size", "1024", "--epochs", "1", "--prune-epochs", "1",
         "--finetune-epochs", "0", "--out", str(tmp_path), "--verbose", "0"]
    )
    dense, slim = result["rows"]["dense"], result["rows"]["slim"]
    # 50 % of every width -> about a quarter of the FLOPs and parameters.
    assert 0.2 < slim["flops"] / dense["flops"] < 0.35
    assert slim["params"] < 0.4 * dense["params"]
    assert slim["tflite_kb"] < dense["tflite_kb"]
    assert result["max_abs_diff"] < 1e-4
    # The exported model agrees with Keras on the same test images.
    assert abs(slim["tflite_accuracy"] - slim["accuracy"]) < 0.005
    for name in ("pruned.keras", "slim.keras", "dense.tflite", "slim.tflite", "plan.json", "results.json"):
        assert (tmp_path / name).is_file()
    assert json.loads((tmp_path / "plan.json").read_text())["format"] == "tfprune.PrunePlan/1"
