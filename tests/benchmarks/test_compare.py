"""``benchmarks/compare.py --quick``: the whole harness, every method, end to end.

Runs the script as ``make bench`` does (a subprocess: it imports the examples
and the tfmot subprocess helper by path), then checks what it wrote: one run
per method, FLOPs at the target where the method is told the target, the
slim models equal to the masked ones, measurements that make sense, the
generated Markdown and plots, and that a second call resumes instead of
re-running.

Every method runs its real path (prune inside ``fit``, slim, fine-tune,
TFLite export and accuracy, LiteRT latency) with ``--quick``'s training
settings; the test set and the latency timing are smaller (``SMALLER``). The
time of a run is mostly per method (tracing, conversion, export), not per
step, so the methods are split into groups, one test each, that share one
dense baseline per process: pytest-xdist spreads them over its workers.
"""

from __future__ import annotations

import ast
import json
import os
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "compare.py"

#: On top of ``--quick`` (which also scores Taylor on 2 training batches, not 8): 256 test images (of
#: 2,000) and one latency round (of 2).
SMALLER = ("--test-size", "256", "--latency-rounds", "1")
#: The methods of each test; together, every method of benchmarks/compare.py.
GROUPS = {
    "l1": ("l1", "l1-global"),
    "scores": ("l2", "fpgm", "taylor"),
    "spp-admm": ("spp-filter", "spp-column", "admm-filter"),
    "lrf": ("lrf", "lrf-global"),
    "fuzzy-tfmot": ("fuzzy", "tfmot"),
}
#: Methods given the target as a budget (``tfprune.prune(..., target=)``) that the library meets within
#: the pruning epochs. SPP (filter) raises its probabilities by at most A per step and is still pruning
#: when they end (measured: 0.69 x dense FLOPs after 32 steps); it only must not overshoot.
MATCHED = ("l1", "l2", "fpgm", "taylor", "admm-filter", "fuzzy", "lrf", "l1-global", "lrf-global")

pytestmark = [pytest.mark.slow, pytest.mark.tflite]


@pytest.fixture(scope="session")
def dense_cache(tmp_path_factory):
    """One cached dense baseline for every test of the session (the same settings, so the same cache key).

    Under pytest-xdist the workers share it: it is in the directory above
    each worker's base temporary directory. ``examples/_common.py`` writes the
    baseline to a temporary file and renames it, so two workers that train it
    at the same time both leave a whole file, and a later test loads it.
    """
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "compare-dense"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def compare(tmp_path, dense_cache, run_benchmark):
    def run(*extra: str):
        return run_benchmark("compare", "--quick", *SMALLER, "--results", tmp_path / "results",
                             "--work", tmp_path / "work", "--cache", dense_cache,
                             "--docs", tmp_path / "docs" / "bench.md", *extra, timeout=1800)
    return run


def test_the_groups_are_every_method_once():
    """What a run without ``--methods`` would run: ``compare.METHODS`` (read without importing the script)."""
    tree = ast.parse(SCRIPT.read_text())
    (declared,) = [ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                   and any(getattr(target, "id", None) == "METHODS" for target in node.targets)]
    grouped = [m for group in GROUPS.values() for m in group]
    assert sorted(grouped) == sorted(declared)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_quick_run_end_to_end(group, tmp_path, compare):
    """One tiny run of a group of methods, then every check on what it wrote.

    A single test per group, not a module fixture: pytest-xdist could
    otherwise run the fixture once per worker.
    """
    methods = GROUPS[group]
    compare("--methods", *methods)
    quick = tmp_path, json.loads((tmp_path / "results" / "compare_quick.json").read_text()), methods
    check_every_method_ran_once_without_error(quick)
    check_measurements_are_consistent(quick)
    check_flops_match_the_target(quick)
    check_report_is_generated_from_the_json(quick)
    if group == "l1":
        check_second_call_resumes_instead_of_rerunning(quick, compare)


def check_every_method_ran_once_without_error(quick):
    _, result, methods = quick
    assert result["kind"] == "tfprune-compare"
    keys = sorted((r["method"], r["target"], r["seed"]) for r in result["runs"])
    assert keys == sorted((m, 0.25, 0) for m in methods)
    errors = {r["method"]: r["error"] for r in result["runs"] if r.get("error")}
    assert not errors


def check_measurements_are_consistent(quick):
    _, result, _ = quick
    dense = result["dense"]
    for run in result["runs"]:
        name = run["method"]
        assert 0.0 <= run["accuracy"] <= 1.0, name
        # LiteRT runs the exported model: same predictions up to float noise (2 of the 256 test images).
        assert abs(run["tflite_accuracy"] - run["accuracy"]) <= 2 / 256 + 1e-9, name
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
    _, result, methods = quick
    runs = {r["method"]: r for r in result["runs"]}
    for name in set(MATCHED) & set(methods):
        # At most the target, within the budget's 2 % tolerance of the dense FLOPs.
        assert 0.25 - 0.02 - 1e-9 <= runs[name]["flops_ratio"] <= 0.25 + 1e-9, (name, runs[name]["flops_ratio"])
        assert runs[name]["settings"]["target"] == 0.25, name
    if "spp-filter" in runs:
        assert 0.25 - 0.02 - 1e-9 <= runs["spp-filter"]["flops_ratio"] < 1.0
    if "l1-global" in runs:
        # Global allocation ranks across groups: its slim model differs from the uniform one.
        assert runs["l1-global"]["params"] != runs["l1"]["params"]
    if "lrf-global" in runs:
        assert runs["lrf-global"]["settings"]["allocation"] == "global"
        assert runs["lrf-global"]["params"] != runs["lrf"]["params"]
    # Unstructured / column pruning: nothing is removed, the gain is theoretical.
    for name in {"spp-column", "tfmot"} & set(runs):
        assert runs[name]["physical"] is False
        assert runs[name]["flops_ratio"] == pytest.approx(1.0)
        assert runs[name]["flops_ratio_theoretical"] < 1.0
    if "tfmot" in runs:
        assert runs["tfmot"]["settings"]["achieved_sparsity"] == pytest.approx(0.75, abs=0.02)
        assert runs["tfmot"]["tflite_gzip_kb"] < 0.6 * result["dense"]["tflite_gzip_kb"]


def check_report_is_generated_from_the_json(quick):
    tmp, result, _ = quick
    text = (tmp / "docs" / "bench.md").read_text()
    for run in result["runs"]:
        assert run["label"] in text
    pngs = sorted((tmp / "docs" / "benchmarks").glob("compare_quick_*.png"))
    assert len(pngs) == 2
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"benchmarks/{png.name}" in text


def check_second_call_resumes_instead_of_rerunning(quick, compare):
    tmp, before, _ = quick
    output = compare("--methods", "l1", "--no-report").stdout
    assert "l1 target 0.25 seed 0: done earlier, kept" in output
    after = json.loads((tmp / "results" / "compare_quick.json").read_text())
    assert after["runs"] == before["runs"]
    assert len(after["invocations"]) == len(before["invocations"]) + 1
