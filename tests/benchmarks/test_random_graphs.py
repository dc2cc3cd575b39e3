"""benchmarks/random_graphs.py: counts, failures with their seeds, JSON + Markdown."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("random_graphs")


def test_counts_and_files(bench, tmp_path):
    out = tmp_path / "rg"
    result = bench.main(["--cases", "2", "--seed", "0", "--out", str(out), "--without", "channel_slices"])
    summary = result["summary"]
    assert summary["cases"] == 2 and result["complete"]
    assert summary["ok"] + summary["refused"] + summary["failed"] == 2
    assert result["features"]["channel_slices"] is False
    assert [r["seed"] for r in result["records"]] == [0, 1]
    assert json.loads(out.with_suffix(".json").read_text())["summary"] == summary
    text = out.with_suffix(".md").read_text()
    assert "--without channel_slices" in text and f"| 0..1 | 2 | {summary['ok']} |" in text


def test_failures_are_recorded_with_their_seed(bench, monkeypatch, tmp_path):
    def fail(case):
        raise RuntimeError(f"boom in `{case.model.name}` 123")

    monkeypatch.setattr(bench.properties, "check_case", fail)
    result = bench.main(["--cases", "1", "--seed", "7", "--out", str(tmp_path / "rg")])
    assert result["summary"]["failed"] == 1
    record = result["records"][0]
    assert record["seed"] == 7 and record["error"] == "RuntimeError"
    assert result["summary"]["failure_kinds"] == {"RuntimeError: boom in `…` N": 1}
    assert "seed 7" in (tmp_path / "rg.md").read_text()


def test_combine_adds_up_runs_over_disjoint_seeds(bench, tmp_path):
    flags = ["--without", "channel_slices", "--without", "functional_subclasses"]
    first = bench.main(["--cases", "2", "--seed", "0", "--out", str(tmp_path / "a"), *flags])
    second = bench.main(["--cases", "1", "--seed", "10", "--out", str(tmp_path / "b"), *flags])
    out = tmp_path / "all"
    combined = bench.main(["--combine", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(out)])
    s = combined["summary"]
    assert s["cases"] == 3 and [r["seed"] for r in combined["records"]] == [0, 1, 10]
    for key in ("ok", "refused", "failed"):
        assert s[key] == first["summary"][key] + second["summary"][key]
    assert [run["args"]["seed"] for run in combined["runs"]] == [0, 10]
    assert json.loads(out.with_suffix(".json").read_text())["summary"] == s
    text = out.with_suffix(".md").read_text()
    assert "| 0..1 | 2 |" in text and "| 10..10 | 1 |" in text and f"| **total** | 3 | {s['ok']} |" in text
    # A combined result combines again (runs are kept, not nested).
    again = bench.combine([combined, bench.main(["--cases", "1", "--seed", "20", "--out", str(tmp_path / "c"),
                                                 *flags])])
    assert [run["args"]["seed"] for run in again["runs"]] == [0, 10, 20] and again["summary"]["cases"] == 4


def test_combine_refuses_overlapping_seeds_and_other_features(bench, tmp_path):
    one = bench.main(["--cases", "1", "--seed", "3", "--out", str(tmp_path / "a"), "--without", "channel_slices"])
    with pytest.raises(ValueError, match=r"seeds \[3\] ran in more than one"):
        bench.combine([one, one])
    other = {**one, "features": {**one["features"], "channel_slices": True}, "records": []}
    with pytest.raises(ValueError, match="different features"):
        bench.combine([one, other])
