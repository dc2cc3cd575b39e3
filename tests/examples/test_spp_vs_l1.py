"""examples/spp_vs_l1.py end to end on a small slice of real MNIST."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_spp_vs_l1_compares_at_the_same_flops(tmp_path, load_example):
    example = load_example("spp_vs_l1")
    result = example.main([
        "--train-size", "512", "--test-size", "1000", "--dense-epochs", "1", "--prune-epochs", "1",
        "--finetune-epochs", "0",
        "--batch-size", "32", "--A", "0.5", "--latency-rounds", "2", "--out", str(tmp_path), "--cache", str(tmp_path / "cache"),
        "--verbose", "0",
    ])
    rows = result["rows"]
    assert set(rows) == {"dense", "spp", "l1"}
    # SPP removed channels, and L1 was matched to its FLOPs.
    assert rows["spp"]["flops"] < 0.8 * rows["dense"]["flops"]
    assert abs(rows["l1"]["flops"] - rows["spp"]["flops"]) <= 0.1 * rows["spp"]["flops"]
    assert rows["spp"]["max_abs_diff_slim_vs_masked"] < 1e-4
    for name in ("spp", "l1"):
        assert rows[name]["latency_ms"] > 0 and rows[name]["tflite_kb"] < rows["dense"]["tflite_kb"]
        assert abs(rows[name]["tflite_accuracy"] - rows[name]["accuracy"]) < 0.01
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["settings"]["A"] == 0.5
    assert "| spp |" in (tmp_path / "results.md").read_text()
