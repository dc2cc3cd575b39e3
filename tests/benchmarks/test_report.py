"""benchmarks/report.py turns compare result JSONs into docs/benchmarks.md and PNG plots."""

from __future__ import annotations

import json
import pathlib
import re
import statistics

import pytest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(load_benchmark):
    return load_benchmark("report")


def make_run(method, label, target, seed, accuracy, *, physical=True, error=None):
    """A run as benchmarks/compare.py writes it (some optional keys left out on purpose)."""
    if error is not None:  # a run can fail after its accuracy was measured: it must still not count
        return {"method": method, "label": label, "target": target, "seed": seed, "accuracy": accuracy,
                "error": error}
    flops_ratio = target if physical else 1.0
    return {
        "method": method, "label": label, "target": target, "seed": seed, "physical": physical,
        "params": int(80000 * flops_ratio), "flops": int(9e6 * flops_ratio), "flops_ratio": flops_ratio,
        "flops_theoretical": 9e6 * target, "flops_ratio_theoretical": target,
        "accuracy": accuracy, "accuracy_before_finetuning": accuracy - 0.05,
        "tflite_kb": 300.0 * flops_ratio, "tflite_gzip_kb": 280.0 * flops_ratio,
        "latency_ms": 0.2 * flops_ratio, "dense_latency_ms": 0.2, "latency_ratio": flops_ratio + 0.05,
        "prune_seconds": 42.0, "step_time_ratio": 1.25, "error": None,
    }


def synthetic_result():
    """Two targets, three methods: l1 with two seeds (one of them fails at 0.25), spp-filter, tfmot."""
    runs = []
    for target, l1_acc, spp_acc, tfmot_acc in ((0.5, (0.9712, 0.9655), 0.9701, 0.9733),
                                               (0.25, (0.9401, 0.9377), 0.9455, 0.9602)):
        runs.append(make_run("l1", "L1", target, 0, l1_acc[0]))
        if target == 0.25:
            runs.append(make_run("l1", "L1", target, 1, 0.1, error="RuntimeError: slim check failed (diff 0.3)"))
        else:
            runs.append(make_run("l1", "L1", target, 1, l1_acc[1]))
        runs.append(make_run("spp-filter", "SPP (filter)", target, 0, spp_acc))
        runs.append(make_run("tfmot", "tfmot", target, 0, tfmot_acc, physical=False))
    return {
        "kind": "tfprune-compare", "name": "compare", "created": "2026-11-22T12:00:00Z",
        "command": "python benchmarks/compare.py --quick", "duration_seconds": 600.0,
        "machine": {"cpu": "Test CPU", "cores": 2},
        "settings": {"dataset": "MNIST", "architecture": "small_resnet", "targets": [0.5, 0.25], "seeds": [0, 1]},
        "dense": {"params": 80000, "flops": 9000000, "accuracy": 0.98, "latency_ms": 0.2},
        "runs": runs,
        "notes": ["synthetic result written by the test"],
    }


def table_rows(markdown: str, heading: str) -> dict[str, list[str]]:
    """The rows of the table under ``heading``, keyed by their first cell."""
    section = markdown.split(heading, 1)[1]
    rows = {}
    for line in section.splitlines()[2:]:
        if line.startswith("#"):
            break
        if line.startswith("| ") and not line.startswith("| method"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0]] = cells
    return rows


@pytest.fixture
def generated(report, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    doc = synthetic_result()
    (results / "compare.json").write_text(json.dumps(doc))
    (results / "latency.json").write_text(json.dumps({"models": ["not a compare result"], "runs": "x"}))
    out_md = tmp_path / "docs" / "benchmarks.md"
    path = report.generate(results, out_md, tmp_path / "docs" / "benchmarks")
    return doc, path, path.read_text(encoding="utf-8")


def test_table_mean_std_excludes_failed_run(generated):
    doc, path, markdown = generated
    assert path.name == "benchmarks.md"
    l1_05 = [r["accuracy"] for r in doc["runs"] if r["method"] == "l1" and r["target"] == 0.5]
    expected = f"{statistics.fmean(l1_05):.4f} ± {statistics.stdev(l1_05):.4f} (n=2)"
    rows = table_rows(markdown, "2x FLOPs reduction (target 0.5)")
    assert list(rows) == ["L1", "SPP (filter)", "tfmot ¹"]  # fixed method order
    assert rows["L1"][1] == expected
    # At 0.25 only seed 0 of l1 succeeded: a single value, not averaged with the failed run.
    rows_025 = table_rows(markdown, "4x FLOPs reduction (target 0.25)")
    l1_ok = [r for r in doc["runs"] if r["method"] == "l1" and r["target"] == 0.25 and not r["error"]]
    assert rows_025["L1"][1] == f"{l1_ok[0]['accuracy']:.4f}"
    failed_section = markdown.split("4x FLOPs reduction (target 0.25)", 1)[1].split("## How to read this")[0]
    assert "Failed runs" in failed_section
    assert "L1, seed 1" in failed_section
    assert "RuntimeError: slim check failed (diff 0.3)" in failed_section
    assert "Failed runs" not in markdown.split("4x FLOPs reduction", 1)[0]


def test_non_physical_method_is_marked_theoretical(generated):
    _, _, markdown = generated
    rows = table_rows(markdown, "4x FLOPs reduction (target 0.25)")
    assert rows["tfmot ¹"][3] == "1.000 (0.250 theoretical)"
    assert "theoretical" not in rows["SPP (filter)"][3]
    assert rows["SPP (filter)"][3] == "0.250"
    # latency ratio and speed-up come from the run's own numbers
    assert rows["SPP (filter)"][7] == f"{0.30:.2f} ({1 / 0.30:.2f}x)"


def test_pngs_exist_and_are_linked_relative_to_markdown(generated):
    _, path, markdown = generated
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert len(links) == 2
    assert {pathlib.PurePosixPath(link).name for link in links} == {
        "compare_accuracy_vs_flops.png", "compare_accuracy_vs_latency.png"}
    for link in links:
        assert not pathlib.PurePosixPath(link).is_absolute()
        image = path.parent / link
        assert image.is_file()
        data = image.read_bytes()
        assert len(data) > len(PNG_SIGNATURE) and data[:8] == PNG_SIGNATURE
    leftovers = [p.name for p in (path.parent / "benchmarks").iterdir() if p.suffix == ".tmp"]
    assert leftovers == []


def test_header_notes_and_ignored_json(generated):
    _, _, markdown = generated
    assert "generated by `benchmarks/report.py` from `benchmarks/results/*.json`" in markdown
    assert "do not edit" in markdown
    assert "## How to read this" in markdown
    assert "synthetic result written by the test" in markdown
    assert "a survey of PyPI found no wheel that ships a harder image data" in markdown.replace("\n  ", " ")
    # latency.json has no kind: it is not a section, and its bad "runs" did not raise.
    assert markdown.count("\n## ") == 2  # "compare" and "How to read this"
    assert "## latency" not in markdown


def test_missing_optional_keys_show_a_dash(report, tmp_path):
    doc = {"kind": "tfprune-compare", "name": "bare",
           "runs": [{"method": "l2", "target": 0.5, "accuracy": 0.9}]}
    (tmp_path / "bare.json").write_text(json.dumps(doc))
    path = report.generate(tmp_path / "bare.json", tmp_path / "out.md", tmp_path / "img")
    rows = table_rows(path.read_text(encoding="utf-8"), "2x FLOPs reduction (target 0.5)")
    assert rows["l2"][1] == "0.9000"
    assert rows["l2"][2:] == ["–"] * 8
    assert (tmp_path / "img" / "bare_accuracy_vs_flops.png").read_bytes()[:8] == PNG_SIGNATURE


def test_malformed_compare_json_names_the_file(report, tmp_path):
    doc = synthetic_result()
    del doc["runs"][2]["method"]
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(report.ReportError, match=r"broken\.json.*runs\[2\].*'method'"):
        report.generate(tmp_path, tmp_path / "out.md", tmp_path / "img")
    assert not (tmp_path / "out.md").exists()


def test_no_compare_result_is_a_clear_error(report, tmp_path):
    (tmp_path / "other.json").write_text(json.dumps({"kind": "something-else"}))
    with pytest.raises(report.ReportError, match="no 'tfprune-compare' result"):
        report.generate(tmp_path, tmp_path / "out.md", tmp_path / "img")
