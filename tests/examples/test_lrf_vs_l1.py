"""examples/lrf_vs_l1.py end to end on a small slice of real MNIST."""

from __future__ import annotations


import pytest


@pytest.mark.slow
def test_lrf_vs_l1_runs_and_matches_flops(tmp_path, load_example):
    example = load_example("lrf_vs_l1")
    result = example.main(
        ["--train-size", "512", "--test-size", "1000", "--dense-epochs", "1", "--prune-epochs", "1",
         "--finetune-epochs", "0",
         "--target", "0.4", "--latency-rounds", "1", "--out", str(tmp_path / "out"),
         "--cache", str(tmp_path / "cache"), "--verbose", "0"]
    )
    rows = result["rows"]
    lrf, l1, dense = rows["lrf"], rows["l1"], rows["dense"]
    # The budget is 0.4 of the dense FLOPs, P and Q counted, met within 2 %.
    assert abs(lrf["flops"] / dense["flops"] - 0.4) <= 0.02
    assert abs(l1["flops"] - lrf["flops"]) / lrf["flops"] < 0.1
    assert lrf["max_abs_diff_slim_vs_masked"] < 1e-4
    assert abs(lrf["tflite_accuracy"] - lrf["accuracy"]) < 0.01
    assert result["settings"]["convs"][0] == "s1b1_conv1"
    for name in ("lrf.keras", "lrf.tflite", "l1.tflite", "results.json", "results.md"):
        assert (tmp_path / "out" / name).is_file()
