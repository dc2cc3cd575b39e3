"""``benchmarks/compare.py --quick``: the whole harness, every method, end to end.

Runs the script as ``make bench`` does (a subprocess: it imports the examples
and the tfmot subprocess helper by path), then checks what it wrote: one run
per method, FLOPs at the target where the method is told the target, the
slim models equal to the masked ones, measurements that make sense, the
generated Markdown and plots, and that a second call resumes instead of
re-running.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "compare.py"
METHODS = ("l1", "l2", "fpgm", "taylor", "spp-filter", "spp-column", "admm-filter", "fuzzy", "lrf", "tfmot",
           "l1-global", "lrf-global")
#: Methods given the target as a budget (``tfprune.prune(..., target=)``) that the library meets within
#: the --quick run's 32 steps. SPP (filter) raises its probabilities by at most A per step and is still
#: pruning when they end (measured: 0.69 x dense FLOPs); it only must not overshoot.
MATCHED = ("l1", "l2", "fpgm", "taylor", "admm-filter", "fuzzy", "lrf", "l1-global", "lrf-global")

pytestmark = [pytest.mark.slow, pytest.mark.tflite]


def _compare(tmp: pathlib.Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    argv = [sys.executable, str(SCRIPT), "--quick", "--results", str(tmp / "results"),
            "--work", str(tmp / "work"), "--cache", str(tmp / "cache"), "--docs", str(tmp / "docs" / "bench.md"),
            *extra]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def test_quick_run_end_to_end(tmp_path):
    """One quick run (minutes), then every check on what it wrote.

    A single test, not a module fixture: pytest-xdist could otherwise run the
    fixture once per worker.
    """
    _compare(tmp_path)
    quick = tmp_path, json.loads((tmp_path / "results" / "compare_quick.json").read_text())
    check_every_method_ran_once_without_error(quick)
    check_measurements_are_consistent(quick)
    check_flops_match_the_target(quick)
    check_report_is_generated_from_the_json(quick)
    check_second_call_resumes_instead_of_rerunning(quick)


def check_every_method_ran_once_without_error(quick):
    _, result = quick
    assert result["kind"] == "tfprune-compare"
    keys = sorted((r["method"], r["target"], r["seed"]) for r in result["runs"])
    assert keys == sorted((m, 0.25, 0) for m in METHODS)
    errors = {r["method"]: r["error"] for r in result["runs"] if r.get("error")}
    assert not errors


def check_measurements_are_consistent(quick):
    tmp, result = quick
    dense = result["dense"]
    for run in result["runs"]:
        name = run["method"]
        assert 0.0 <= run["accuracy"] <= 1.0, name
        # LiteRT runs the exported model: same predictions up to float noise.
        assert abs(run["tflite_accuracy"] - run["accuracy"]) <= 0.01, name
        assert run["latency_ratio"] > 0 and run["prune_seconds"] > 0, name
        assert pathlib.Path(run["tflite"]).is_file(), name
        assert run["tflite_gzip_kb"] < run["tflite_kb"], name
        if run["physical"]:
            # A physically smaller model: FLOPs, params and file shrink together.
            assert run["flops_ratio"] == pytest.approx(run["flops_ratio_theoretical"]), name
            assert run["flops_ratio"] < 1.0 and run["params"] < dense["params"], name
            assert run["tflite_kb"] < dense["tflite_kb"], name
            assert run["max_abs_diff_slim_vs_masked"] < 1e-4, name
        if name != "tfmot":
            assert run["step_time_ratio"] == pytest.approx(run["step_ms"] / run["plain_step_ms"]), name


def check_flops_match_the_target(quick):
    _, result = quick
    runs = {r["method"]: r for r in result["runs"]}
    for name in MATCHED:
        # At most the target, within the budget's 2 % tolerance of the dense FLOPs.
        assert 0.25 - 0.02 - 1e-9 <= runs[name]["flops_ratio"] <= 0.25 + 1e-9, (name, runs[name]["flops_ratio"])
        assert runs[name]["settings"]["target"] == 0.25, name
    assert 0.25 - 0.02 - 1e-9 <= runs["spp-filter"]["flops_ratio"] < 1.0
    # Global allocation ranks across groups: its slim model differs from the uniform one.
    assert runs["l1-global"]["params"] != runs["l1"]["params"]
    # Unstructured / column pruning: nothing is removed, the gain is theoretical.
    for name in ("spp-column", "tfmot"):
        assert runs[name]["physical"] is False
        assert runs[name]["flops_ratio"] == pytest.approx(1.0)
        assert runs[name]["flops_ratio_theoretical"] < 1.0
    assert runs["tfmot"]["settings"]["achieved_sparsity"] == pytest.approx(0.75, abs=0.02)
    assert runs["tfmot"]["tflite_gzip_kb"] < 0.6 * result["dense"]["tflite_gzip_kb"]


def check_report_is_generated_from_the_json(quick):
    tmp, result = quick
    text = (tmp / "docs" / "bench.md").read_text()
    for run in result["runs"]:
        assert run["label"] in text
    pngs = sorted((tmp / "docs" / "benchmarks").glob("compare_quick_*.png"))
    assert len(pngs) == 2
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"benchmarks/{png.name}" in text


def check_second_call_resumes_instead_of_rerunning(quick):
    tmp, before = quick
    output = _compare(tmp, "--methods", "l1", "--no-report").stdout
    assert "l1 target 0.25 seed 0: done earlier, kept" in output
    after = json.loads((tmp / "results" / "compare_quick.json").read_text())
    assert after["runs"] == before["runs"]
    assert len(after["invocations"]) == len(before["invocations"]) + 1
