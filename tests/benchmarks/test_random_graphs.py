"""benchmarks/random_graphs.py: counts, failures with their seeds, JSON + Markdown."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "random_graphs.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("tfprune_benchmarks_random_graphs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    assert "--without channel_slices" in text and f"| 2 | {summary['ok']} |" in text


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
