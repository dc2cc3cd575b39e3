"""``benchmarks/budget.py --quick``: the budget benchmark end to end, tiny.

Runs the script as ``make bench-budget`` does (a subprocess, into a temporary
results directory), then checks what it wrote: one row per target and
allocation, every target met, times split in three, and the Markdown
generated from the JSON.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "budget.py"

pytestmark = pytest.mark.slow


def test_quick_run_writes_json_and_markdown(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    argv = [sys.executable, str(SCRIPT), "--quick", "--results", str(tmp_path)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=1200, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    result = json.loads((tmp_path / "budget.json").read_text())
    assert result["kind"] == "tfprune-budget" and result["quick"] is True
    (invocation,) = result["invocations"]
    assert "--quick" in invocation["argv"] and invocation["seconds"] > 0
    assert len(invocation["load_average_start"]) == 3 and len(invocation["load_average_end"]) == 3
    rows = result["rows"]
    assert sorted((r["method"], r["metric"], r["requested"], r["allocation"]) for r in rows) == [
        ("l1", "flops", 0.5, "global"), ("l1", "flops", 0.5, "uniform")]
    for row in rows:
        assert row["error"] is None, row.get("traceback")
        assert row["mode"] == "one_shot" and row["input_size"] == 96
        assert row["within_tolerance"] is True
        assert abs(row["achieved"] - 0.5) <= 0.02 and row["achieved"] == row["flops_ratio"]
        assert 0.0 < row["params_ratio"] < 1.0
        seconds = row["seconds"]
        assert min(seconds["prune"], seconds["selection"], seconds["slim"]) > 0
        assert seconds["total"] == pytest.approx(seconds["prune"] + seconds["selection"] + seconds["slim"], abs=2e-3)
    uniform, global_ = sorted(rows, key=lambda r: r["allocation"] != "uniform")
    assert uniform["params_ratio"] != global_["params_ratio"]  # two allocations, two models

    text = (tmp_path / "budget.md").read_text()
    assert "| MobileNetV2 (alpha 0.35) | l1 | one_shot | 96 | flops 0.5 | uniform | " in text
    assert "2 of 2 combinations ran; 2 met their target" in text
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temporary file
