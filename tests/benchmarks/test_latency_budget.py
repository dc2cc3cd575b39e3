"""``benchmarks/latency_budget.py`` end to end, tiny: its SmallCNN at 64x64, one thread, one target, float32
and full-integer int8 (~20 s each).

Runs the script as ``make bench-latency-budget`` does (a subprocess), with
its latency table in a temporary directory (built from scratch, on a
2-width grid) and 2 alternating rounds of 1 invoke, then checks what it wrote.
(MobileNetV2 alpha 0.35 at 96x96 takes ~2 minutes: exporting a 150-layer
model five times dominates.)
No latency is asserted: only that every figure is there and consistent with
the others.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("quantize", ["float32", "int8"])
def test_tiny_run_writes_json_and_markdown(tmp_path, run_benchmark, quantize):
    out = tmp_path / "lb"
    run_benchmark("latency_budget", "--models", "SmallCNN", "--size", "64", "--threads", "1",
                  "--targets", "0.7", "--rounds", "2", "--runs-per-round", "1", "--grid-points", "2",
                  "--allocation", "global", "--round-to", "2", "--table-dir", tmp_path / "table", "--out", out,
                  "--quantize", quantize, timeout=600)

    result = json.loads(out.with_suffix(".json").read_text())
    assert result["quantize"] == quantize and result["args"]["quantize"] == (None if quantize == "float32" else "int8")
    assert len(result["machine"]["load_average_start"]) == 3 and len(result["machine"]["load_average_end"]) == 3
    assert result["runtime"].startswith("litert-") and result["wall_seconds"] > 0
    (entry,) = result["models"].values()
    (run,) = entry["runs"]
    assert (run["threads"], run["target"], run["quantize"]) == (1, 0.7, quantize)
    assert run["table"].startswith(str(tmp_path / "table"))  # the table went where it was told
    assert run["table"].endswith(f"-t1-{quantize}-v2.json")  # int8: its own table
    assert 0 < run["flops_fraction_matched"] < 1
    for kind in ("latency", "flops"):
        info = run[kind]
        cmp = info["compare"]
        assert (cmp["rounds"], cmp["runs_per_round"], cmp["threads"]) == (2, 1, 1)
        assert len(cmp["round_ratios"]) == 2
        assert info["ratio"] == pytest.approx(info["measured_ms"] / info["dense_ms"])
        assert (info["measured_ms"], info["dense_ms"]) == (cmp["median_b_ms"], cmp["median_a_ms"])
        assert info["relative_error"] == pytest.approx(abs(info["predicted_ms"] / info["measured_ms"] - 1))
        assert info["half_width_error"] == pytest.approx(abs(info["predicted_half_width_ms"] / info["measured_ms"] - 1))
        assert info["lf"] == pytest.approx(info["latency_speedup"] / info["flops_speedup"])
        assert info["kept_flops"] == pytest.approx(info["flops"] / entry["flops"]) and 0 < info["kept_flops"] < 1
        assert len(cmp["load_average_before"]) == 3 and len(cmp["load_average_after"]) == 3
        assert cmp["noisy"] == (cmp["spread"] > 0.10) and 1 <= cmp["tries"] <= 2
    # The latency-budget model is predicted at the target (within the 2 % tolerance).
    assert run["latency"]["predicted_ms"] == pytest.approx(0.7 * run["dense_predicted_ms"],
                                                           abs=0.02 * run["dense_predicted_ms"])
    assert entry["prediction_error"]["n"] == entry["prediction_error_half_width"]["n"] == 2
    # prune timed the allocation at the target: the prediction goes through it too.
    # (A timing that would make a smaller model slower than a larger one is left out of the points.)
    assert run["models_timed_by_prune"] >= 1 and 2 <= len(run["points"]) <= 2 + run["models_timed_by_prune"]

    text = out.with_suffix(".md").read_text()
    assert ("**float32**" if quantize == "float32" else "**full-integer int8**") in text
    assert "`round_to=2`" in text and ("calibrated on 4 random" in text) == (quantize == "int8")
    rows = [line for line in text.splitlines() if line.startswith("| SmallCNN | 1 | 0.7 | ")]
    assert len(rows) == 2
    latency_row = next(row for row in rows if row.startswith("| SmallCNN | 1 | 0.7 | latency |"))
    assert f"| {run['latency']['ratio']:.3f} |" in latency_row
    assert f"{run['latency']['compare']['load_average_before'][0]}/" in latency_row
    assert "- SmallCNN: median" in text and "dense and half width alone: median" in text
    assert "- SmallCNN: latency-budget models median" in text  # the error on the fraction of the dense latency
    assert not list(tmp_path.glob("lb*.tmp"))
