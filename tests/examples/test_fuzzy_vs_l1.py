"""examples/fuzzy_vs_l1.py end to end on a small slice of real MNIST."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_fuzzy_vs_l1_runs_and_matches_flops(tmp_path, load_example):
    example = load_example("fuzzy_vs_l1")
    result = example.main(
        ["--train-size", "512", "--test-size", "1000", "--dense-epochs", "1", "--prune-epochs", "1",
         "--finetune-epochs", "0",
         "--batch-size", "64", "--target-flops", "0.4", "--latency-rounds", "2",
         "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--verbose", "0"]
    )
    rows = result["rows"]
    dense, fuzzy, l1 = rows["dense"]["flops"], rows["fuzzy"]["flops"], rows["l1"]["flops"]
    # The FLOPs target stops the cut; L1 is matched to the same FLOPs.
    assert 0.25 < fuzzy / dense <= 0.4
    assert abs(l1 - fuzzy) / dense < 0.05
    for name in ("fuzzy", "l1"):
        assert rows[name]["max_abs_diff_slim_vs_masked"] < 1e-3
        assert abs(rows[name]["tflite_accuracy"] - rows[name]["accuracy"]) < 0.01
    history = result["settings"]["cut_history"]["rows"]
    assert history and all(r["pruned"] <= r["cut"] for r in history)
    assert sum(r["pruned"] for r in history) > 0
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["settings"]["cut_history"]["rows"] == history
    assert "in cut" in (tmp_path / "out" / "results.md").read_text()
