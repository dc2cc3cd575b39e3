"""Latency budgets against FLOPs budgets, measured on LiteRT (issue 14).

For each model (``weights=None``, 224x224x3, batch 1) and thread count,
in float32 or, with ``--quantize int8``, full integer (int8 weights and
activations, float32 inputs/outputs; the latency table is the int8 one and
every model is exported full-integer, calibrated on random inputs: the
calibration ranges change the values, not the ops or their cost):

1. the latency lookup table is built (or read from its cache,
   ``tfprune.latency.LatencyTable``), and with it the latency model
   ``t(keep) = constant + sum of per-layer table entries``;
2. for each latency target ``r`` (fraction of the dense model's measured
   latency): ``one_shot(prune(model, "l1", target={"latency": r, "threads":
   n, "quantize": q}))`` and ``slim``;
3. the FLOPs-budget model *at the same predicted latency*: the FLOPs
   fraction whose allocation (same method, same ``allocation``) the latency
   model predicts to be as fast, found by bisection on the cost models
   (NumPy), then pruned with ``target=<that FLOPs fraction>``;
4. both slim models are timed side by side with the dense model in one
   process (``tfprune.compare_latency``: A B, B A, ... rounds); a comparison
   whose round-to-round ratio spread ``(max - min) / median`` exceeds 10 % is
   re-run once, then marked noisy.

Reported: measured latency ratio against the target; ``L/F`` (measured
speed-up / FLOPs speed-up) of both models; FLOPs and parameters each keeps;
the table's prediction error (``|predicted / measured - 1|``) over every
timed model (median and worst). The load average is recorded around every
comparison. Results: ``benchmarks/results/latency_budget.json`` and ``.md``
(``latency_budget_int8.*`` with ``--quantize int8``).

    python benchmarks/latency_budget.py --models MobileNetV2 --threads 1,2 --targets 0.5,0.33
    python benchmarks/latency_budget.py --models MobileNetV2 --quantize int8
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import tfprune  # noqa: E402
from tfprune import selection  # noqa: E402
from tfprune._atomic import write_atomic_files  # noqa: E402
from tfprune.latency import (  # noqa: E402
    LatencyModel,
    LatencyTable,
    export_for_latency,
    predicted_vs_measured,
    prediction_error,
    runtime_version,
    use_table,
)
from tfprune.latency.check import NOISY_SPREAD, load_average  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BUILDERS = {
    "MobileNetV2": lambda size: keras.applications.MobileNetV2(weights=None, input_shape=(size, size, 3)),
    "ResNet50": lambda size: keras.applications.ResNet50(weights=None, input_shape=(size, size, 3)),
    "EfficientNetB0": lambda size: keras.applications.EfficientNetB0(weights=None, input_shape=(size, size, 3)),
    # Small: MobileNetV2-0.35 at --size 96 takes ~2 min (most of it exporting the whole model 5 times);
    # SmallCNN at --size 64 is the smoke run of tests/benchmarks/test_latency_budget.py.
    "MobileNetV2-0.35": lambda size: keras.applications.MobileNetV2(weights=None, input_shape=(size, size, 3),
                                                                    alpha=0.35),
    "SmallCNN": lambda size: small_cnn(size),
}


def small_cnn(size: int) -> keras.Model:
    """Five convolutions (one depthwise) and a classifier: ~40 M MACs at 64x64."""
    layers = keras.layers
    x = keras.Input((size, size, 3))
    y = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    y = layers.Conv2D(64, 3, padding="same", activation="relu")(y)
    y = layers.DepthwiseConv2D(3, padding="same", activation="relu")(y)
    y = layers.Conv2D(64, 1, activation="relu")(y)
    y = layers.Conv2D(128, 3, strides=2, padding="same", activation="relu")(y)
    y = layers.GlobalAveragePooling2D()(y)
    return keras.Model(x, layers.Dense(10)(y), name="small_cnn")


NOISY = NOISY_SPREAD  # 10 %


def flops_fraction_at_latency(model, latency_model, goal_ms: float, allocation: str, round_to,
                              max_group_sparsity=None) -> float:
    """The FLOPs fraction whose allocation ``latency_model`` predicts at ``goal_ms`` (bisection).

    The FLOPs allocation (L1 scores, ``allocation``, ``round_to``,
    ``max_group_sparsity``) starts from the dense ``model``, as
    ``prune(model, "l1", target=<fraction>)`` does.
    """
    pruner = tfprune.Pruner(tfprune.prune(model, "l1", target=0.5, allocation=allocation, round_to=round_to,
                                          max_group_sparsity=max_group_sparsity))
    cost = pruner.cost_model
    candidates = pruner.candidates(pruner.method)

    def predicted(fraction):
        result = selection.allocate(candidates, cost.flops, fraction * cost.dense_flops, base_keep=pruner.keep,
                                    allocation=allocation, tolerance=float("inf"))
        keep = pruner.keep.copy()
        for c in candidates:
            keep[c.units] = result.keep[c.key]
        return latency_model.predict(keep), result.cost / cost.dense_flops

    low, high = 0.01, 1.0
    for _ in range(25):
        mid = (low + high) / 2
        if predicted(mid)[0] > goal_ms:
            high = mid
        else:
            low = mid
    return predicted(low)[1]


def slim_and_time(pruned, latency_model, dense_path, args, half_width_model) -> dict:
    """Slim ``pruned``; time it against the dense file and predict it (``tfprune.latency.predicted_vs_measured``).

    ``half_width_model`` predicts it too, from the dense and half-width models only (without the allocations
    ``prune`` measured: ``tfprune.Pruner.correct_latency_model``).
    """
    small = tfprune.slim(pruned)
    check = predicted_vs_measured(pruned, small, latency_model=latency_model, dense_tflite=dense_path,
                                  rounds=args.rounds, runs_per_round=args.runs_per_round, warmup=5,
                                  max_spread=NOISY, retries=1)
    return {"flops": tfprune.count_flops(small), "params": tfprune.count_params(small), "check": check,
            "predicted_half_width_ms": half_width_model.predict(tfprune.Pruner(pruned).keep)}


def run_model(name, args, tmp, tables) -> dict:
    keras.utils.set_random_seed(0)
    model = BUILDERS[name](args.size)
    dense_flops, dense_params = tfprune.count_flops(model), tfprune.count_params(model)
    dense_path = export_for_latency(model, Path(tmp) / f"{name}_dense.tflite", args.quantize)
    entry = {"flops": dense_flops, "params": dense_params, "runs": []}
    for threads in args.threads:
        for goal in args.targets:
            t0 = time.perf_counter()
            target = {"latency": goal, "threads": threads, "quantize": args.quantize}
            with use_table(tables[threads]):
                pruned = tfprune.one_shot(tfprune.prune(model, "l1", target=target, allocation=args.allocation,
                                                        round_to=args.round_to))
            pruner = tfprune.Pruner(pruned)
            lat = pruner.cost_model.latency
            build_s = time.perf_counter() - t0
            half_width = LatencyModel.build(pruned, pruner.graph, tables[threads], round_to=args.round_to)
            predicted_ms = lat.predict(pruner.keep)
            fraction = flops_fraction_at_latency(model, lat, predicted_ms, args.allocation, args.round_to)
            flops_pruned = tfprune.one_shot(tfprune.prune(model, "l1", target=fraction, allocation=args.allocation,
                                                          round_to=args.round_to))
            models = {
                "latency": slim_and_time(pruned, lat, dense_path, args, half_width),
                "flops": slim_and_time(flops_pruned, lat, dense_path, args, half_width),
            }
            for info in models.values():
                check = info.pop("check")
                flops_speedup = dense_flops / info["flops"]
                speedup = check["dense_ms"] / check["measured_ms"]
                info.update(
                    predicted_ms=check["predicted_ms"], measured_ms=check["measured_ms"], dense_ms=check["dense_ms"],
                    ratio=check["measured_ratio"], predicted_ratio=check["predicted_ratio"],
                    relative_error=check["relative_error"],
                    half_width_error=abs(info["predicted_half_width_ms"] / check["measured_ms"] - 1),
                    flops_speedup=flops_speedup, latency_speedup=speedup,
                    lf=speedup / flops_speedup, kept_flops=info["flops"] / dense_flops,
                    kept_params=info["params"] / dense_params, compare=check["compare"],
                )
            run = {
                "threads": threads, "quantize": args.quantize or "float32", "target": goal,
                "flops_fraction_matched": fraction,
                "dense_predicted_ms": lat.dense_ms, "constant_ms": lat.constant_ms, "scale": lat.scale,
                "points": lat.points, "models_timed_by_prune": len(pruner.budget.get("latency_references", ())),
                "table": str(lat.table.path), "table_build_and_prune_s": build_s, **models,
            }
            entry["runs"].append(run)
            print(
                f"{name} {threads}t {args.quantize or 'float32'} target {goal}: latency-budget ratio "
                f"{models['latency']['ratio']:.3f} "
                f"(L/F {models['latency']['lf']:.2f}, FLOPs {models['latency']['kept_flops']:.3f}) | FLOPs-budget "
                f"ratio {models['flops']['ratio']:.3f} (L/F {models['flops']['lf']:.2f}, FLOPs "
                f"{models['flops']['kept_flops']:.3f}) | predicted {predicted_ms:.2f} ms, measured "
                f"{models['latency']['measured_ms']:.2f} ms",
                flush=True,
            )
    predicted = [r[k]["predicted_ms"] for r in entry["runs"] for k in ("latency", "flops")]
    measured = [r[k]["measured_ms"] for r in entry["runs"] for k in ("latency", "flops")]
    entry["prediction_error"] = prediction_error(predicted, measured)
    entry["prediction_error_half_width"] = prediction_error(
        [r[k]["predicted_half_width_ms"] for r in entry["runs"] for k in ("latency", "flops")], measured)
    return entry


def _load_verdict(machine: dict) -> str:
    """Whether the run had the machine to itself: a 1-minute load average above the CPU count says not."""
    peak = max(machine["load_average_start"][0], machine["load_average_end"][0])
    if peak <= machine["cpus"]:
        return f"The 1-minute load average stayed at or below the {machine['cpus']} CPUs (the benchmark's own threads)."
    return ("**The machine was shared with other jobs (load average above the CPU count): re-measure on an idle "
            "machine before quoting these figures.**")


def markdown(result: dict) -> str:
    a, m = result["args"], result["machine"]
    quantization = "float32" if a["quantize"] is None else "full-integer int8"
    lines = [
        "# Latency budgets vs FLOPs budgets on LiteRT",
        "",
        f"Generated by `benchmarks/latency_budget.py` on {result['generated']} ({m['platform']}, {m['cpus']} CPUs, "
        f"{result['runtime']}; {result['wall_seconds'] / 60:.1f} min; load average {m['load_average_start']} at "
        f"start, {m['load_average_end']} at end). {_load_verdict(m)}",
        "",
        f"`weights=None`, {a['size']}x{a['size']}x3, **{quantization}**, batch 1, XNNPACK, method `l1`, "
        f"allocation `{a['allocation']}`, `round_to={a['round_to']}`. *latency budget*: "
        f"`target={{'latency': r, 'threads': n, 'quantize': {a['quantize']!r}}}`; "
        "*FLOPs budget*: `target=f` with `f` chosen so that the latency model predicts the same latency. Each slim "
        f"model is timed against the dense one with `tfprune.compare_latency` ({a['rounds']} alternating rounds x "
        f"{a['runs_per_round']} invokes; a spread of the per-round ratios over {NOISY:.0%} is re-run once, then "
        "marked noisy). `ratio` = measured latency / dense; `L/F` = measured speed-up / FLOPs speed-up; "
        f"`pred` = latency the table predicts (grid of {a['grid_points']} widths per axis).",
        *([] if a["quantize"] is None else [
            "", "int8: the dense and slim models are exported full-integer (int8 weights and activations, "
            "float32 inputs/outputs), calibrated on 4 random standard-normal inputs: the ranges change the "
            "values computed, not the ops or their cost. The latency table is the int8 one."]),
        "",
        "| model | threads | target | budget | ratio | L/F | kept FLOPs | kept params | pred ms | measured ms | "
        "dense ms | spread | load before/after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in result["models"].items():
        for run in entry["runs"]:
            for kind in ("latency", "flops"):
                info = run[kind]
                cmp = info["compare"]
                lines.append(
                    f"| {name} | {run['threads']} | {run['target']:g} | {kind} | {info['ratio']:.3f} | "
                    f"**{info['lf']:.2f}** | {info['kept_flops']:.3f} | {info['kept_params']:.3f} | "
                    f"{info['predicted_ms']:.2f} | {info['measured_ms']:.2f} | {info['dense_ms']:.2f} | "
                    f"{cmp['spread']:.2f}{' noisy' if cmp['noisy'] else ''} | "
                    f"{(cmp['load_average_before'] or [''])[0]}/{(cmp['load_average_after'] or [''])[0]} |"
                )
    lines += ["", "Prediction error of the lookup table (`|predicted / measured - 1|`, every timed slim model), "
              "as `prune` predicts (through the dense, the half-width and the allocations it timed: "
              "`tfprune.Pruner.correct_latency_model`), and from the dense and half-width models alone:", ""]
    for name, entry in result["models"].items():
        err, half = entry["prediction_error"], entry.get("prediction_error_half_width")
        lines.append(f"- {name}: median {err['median']:.1%}, worst {err['worst']:.1%} ({err['n']} models)"
                     + ("" if half is None else f"; dense and half width alone: median {half['median']:.1%}, "
                        f"worst {half['worst']:.1%}"))
    lines += ["", "Error on the fraction of the dense latency (`|predicted ratio / measured ratio - 1|`, the ratios "
              "each to its own dense timing: what a `latency` target is about):", ""]
    for name, entry in result["models"].items():
        parts = []
        for kind in ("latency", "flops"):
            errors = [abs(run[kind]["predicted_ratio"] / run[kind]["ratio"] - 1) for run in entry["runs"]]
            parts.append(f"{kind}-budget models median {statistics.median(errors):.1%}, worst {max(errors):.1%}")
        lines.append(f"- {name}: " + "; ".join(parts))
    timed = [run["models_timed_by_prune"] for entry in result["models"].values() for run in entry["runs"]
             if "models_timed_by_prune" in run]
    if timed:
        lines += ["", f"Whole models `prune` timed per latency target: {min(timed)}-{max(timed)}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="MobileNetV2", help=f"comma-separated, of {', '.join(BUILDERS)}")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--targets", default="0.5,0.33")
    parser.add_argument("--allocation", default="uniform", choices=("uniform", "global"))
    parser.add_argument("--round-to", type=int, default=8, help="channel counts (and table widths) multiples of this")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runs-per-round", type=int, default=5)
    parser.add_argument("--table-dir", default=None,
                        help="latency table cache directory (default: tfprune's, ~/.cache/tfprune/latency)")
    parser.add_argument("--grid-points", type=int, default=4, help="widths per axis in the latency table's grid")
    parser.add_argument("--quantize", default="float32", choices=("float32", "int8"),
                        help="float32, or int8: full-integer export and the int8 latency table")
    parser.add_argument("--out", default=None,
                        help="results path without suffix (default benchmarks/results/latency_budget[_int8])")
    args = parser.parse_args(argv)
    args.quantize = None if args.quantize == "float32" else args.quantize
    if args.out is None:
        args.out = str(RESULTS / ("latency_budget" if args.quantize is None else f"latency_budget_{args.quantize}"))
    unknown = [m for m in args.models.split(",") if m not in BUILDERS]
    if unknown:
        parser.error(f"--models: unknown model(s) {unknown}; expected a comma-separated list of {list(BUILDERS)}.")
    args.threads = [int(t) for t in args.threads.split(",")]
    args.targets = [float(t) for t in args.targets.split(",")]
    t0 = time.perf_counter()
    result = {
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average_start": load_average()},
        "runtime": runtime_version(),
        "quantize": args.quantize or "float32",
        "args": vars(args),
        "models": {},
    }
    tables = {t: LatencyTable(t, args.quantize, cache_dir=args.table_dir, grid_points=args.grid_points)
              for t in args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            result["models"][name] = run_model(name, args, tmp, tables)
    result["machine"]["load_average_end"] = load_average()
    result["wall_seconds"] = time.perf_counter() - t0
    out = Path(args.out)
    text = markdown(result)
    write_atomic_files([(out.with_suffix(".json"), json.dumps(result, indent=1).encode()),
                        (out.with_suffix(".md"), text.encode())])
    print(text)
    return result


if __name__ == "__main__":
    main()
