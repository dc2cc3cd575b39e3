"""``benchmarks/budget.py --quick``: the budget benchmark end to end, tiny.

Runs the script as ``make bench-budget`` does (a subprocess, into a temporary
results directory), then checks what it wrote: one row per target and
allocation, every target met, times split in three, and the Markdown
generated from the JSON.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def test_quick_run_writes_json_and_markdown(tmp_path, run_benchmark):
    run_benchmark("budget", "--quick", "--results", tmp_path, timeout=1200)

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


def _row(model, method, metric, value, allocation, **extra):
    row = {"model": model, "method": method, "metric": metric, "requested": value, "allocation": allocation,
           "error": None, "mode": "fit", "input_size": 64, "achieved": value, "within_tolerance": True,
           "flops_ratio": value, "params_ratio": value,
           "seconds": {"prune": 1.0, "selection": 2.0, "slim": 3.0, "total": 6.0, "cpu": 4.0}}
    row.update(extra)
    return row


def _invocation(argv):
    return {"argv": argv, "started": "2026-01-01T00:00:00+00:00", "load_average_start": [1.0, 1.0, 1.0],
            "load_average_end": [2.0, 2.0, 2.0], "seconds": 60.0}


@pytest.mark.filterwarnings("ignore")
def test_merge_replaces_combinations_not_pairs_and_counts_refusals(tmp_path, load_benchmark):
    """``--merge-from`` replaces one (model, method, target, allocation), keeps the pair's other rows
    and a measured row over a re-run stopped by the deadline; a refusal and an unreachable target (BudgetError) are counted apart from failures and runs stopped by the
    deadline."""
    budget = load_benchmark("budget")
    base = {"rows": [
        _row("ResNet50", "spp", "flops", 0.5, "uniform"),
        _row("ResNet50", "spp", "flops", 0.5, "global", achieved=None, error="not run: the --deadline 1:00 had passed"),
        _row("MobileNetV2", "lrf", "flops", 0.5, "uniform", refused="MobileNetV2 has no KxK conv"),
        _row("ResNet50", "admm", "flops", 0.5, "uniform", error="BudgetError: unreachable"),
    ], "pairs": [], "invocations": [_invocation(["a"])]}
    extra = {"rows": [_row("ResNet50", "spp", "flops", 0.5, "global", achieved=0.51),
                      _row("ResNet50", "spp", "flops", 0.5, "uniform", error="not finished: stopped after 9 s")],
             "pairs": [],
             "invocations": [_invocation(["b"])]}
    (tmp_path / "budget.json").write_text(json.dumps(base))
    (tmp_path / "extra.json").write_text(json.dumps(extra))
    assert budget.main(["--merge", "--no-table", "--results", str(tmp_path),
                        "--merge-from", str(tmp_path / "extra.json"), "--note", "admm missed: why"]) == 0

    merged = json.loads((tmp_path / "budget.json").read_text())
    spp = {r["allocation"]: r for r in merged["rows"] if r["method"] == "spp"}
    assert set(spp) == {"uniform", "global"}  # one row per combination
    assert spp["uniform"]["error"] is None  # a re-run stopped by the deadline keeps the measured row
    assert spp["global"]["achieved"] == 0.51 and spp["global"]["error"] is None
    assert [inv["argv"][0] for inv in merged["invocations"]][:2] == ["a", "b"]
    text = (tmp_path / "budget.md").read_text()
    assert "**2 ran** (2 within the tolerance, 0 outside), **1 refused**" in text
    assert "**1 unreachable** (a BudgetError that says what is reachable, below), **0 failed**, **188 not run** " \
        "(0 stopped by the deadline or the per-pair time limit, 188 not attempted)" in text
    assert "| MobileNetV2 | lrf | fit | 64 | flops 0.5 | uniform | refused (below) |" in text
    assert "- MobileNetV2 / lrf / flops 0.5 / uniform: MobileNetV2 has no KxK conv" in text
    assert "- ResNet50 / admm / flops 0.5 / uniform: BudgetError: unreachable" in text
    assert "## Notes\n\n- admm missed: why\n" in text and merged["notes"] == ["admm missed: why"]
    assert "--note (text under Notes)" in text and "admm missed: why`" not in text  # the command elides it

    # A note made stale by a later run is corrected, not appended to; a text in no note is an error.
    assert budget.main(["--merge", "--no-table", "--results", str(tmp_path),
                        "--replace-note", "missed: why", "met it on re-run", "--note", "second"]) == 0
    assert json.loads((tmp_path / "budget.json").read_text())["notes"] == ["admm met it on re-run", "second"]
    assert budget.main(["--merge", "--no-table", "--results", str(tmp_path), "--replace-note", "second", ""]) == 0
    assert json.loads((tmp_path / "budget.json").read_text())["notes"] == ["admm met it on re-run"]
    with pytest.raises(SystemExit, match="'missed: why' is in none of the 1 notes"):
        budget.main(["--merge", "--no-table", "--results", str(tmp_path), "--replace-note", "missed: why", "x"])
