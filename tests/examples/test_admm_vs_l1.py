"""examples/admm_vs_l1.py end to end on a small slice of real MNIST."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_admm_vs_l1_runs_end_to_end(tmp_path, load_example):
    example = load_example("admm_vs_l1")
    result = example.main(
        ["--train-size", "512", "--test-size", "1000", "--dense-epochs", "1", "--prune-epochs", "1",
         "--finetune-epochs", "0",
         "--latency-rounds", "1", "--out", str(tmp_path), "--cache", str(tmp_path / "cache"),
         "--verbose", "0", "--round-to", "4"]
    )
    rows = result["rows"]
    dense, admm, l1 = rows["dense"], rows["admm"], rows["l1"]
    # 50 % of every group's filters -> roughly a quarter of the FLOPs, matched by L1.
    assert 0.15 < admm["flops"] / dense["flops"] < 0.4
    assert abs(l1["flops"] - admm["flops"]) / admm["flops"] < 0.15
    assert admm["max_abs_diff_slim_vs_masked"] < 1e-4
    assert abs(admm["tflite_accuracy"] - admm["accuracy"]) < 0.01
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["settings"]["granularity"] == "filter"
    assert "| admm |" in (tmp_path / "results.md").read_text()
