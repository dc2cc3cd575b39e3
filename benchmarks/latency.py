"""Measured LiteRT speed-up of slimmed keras.applications models against their FLOPs.

For ResNet50 and MobileNetV2 (``weights=None``, 224x224x3, float32, batch 1):

1. the dense model is exported to TFLite;
2. slimmed variants with 2x and 4x fewer FLOPs are made with
   ``tfprune.prune(model, "l1", target=1/k, round_to=r)`` (the library picks
   the uniform kept ratio that meets the FLOPs budget within 2 % of the dense
   FLOPs), pruned at once with ``tfprune.one_shot`` (no training: latency
   does not depend on the weights' values) and ``tfprune.slim``, once with
   ``round_to=None`` and once with ``round_to=8``;
3. the contrast users ask about: the dense model with the 50% smallest
   weights of every Conv2D/DepthwiseConv2D/Dense kernel set to zero (NumPy,
   same shapes), i.e. what unstructured magnitude pruning produces;
4. every variant is timed side by side with the dense model in one process
   (``tfprune.compare_latency``: A B, B A, ... rounds) with 1 and 2 threads.

Reported per variant: FLOPs speed-up ``F = flops_dense / flops_variant``,
measured speed-up ``L = t_dense / t_variant`` (medians) and their quotient
``L / F`` (1.0: the FLOPs cut is fully turned into speed). The machine's load
average is recorded before and after every comparison.

Results: ``benchmarks/results/latency.json`` and ``.md``. Run with
``make bench-latency``: about 4 minutes on an idle 2-core machine (49 minutes
once at load 11-17, with a sparsity search the FLOPs budget has since
replaced); see the JSON's ``wall_seconds``. Options ``--models``, ``--size``, ``--threads``,
``--rounds`` make a quick run (e.g. ``--models MobileNetV2 --size 96``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfprune  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BUILDERS = {
    "ResNet50": lambda size: keras.applications.ResNet50(weights=None, input_shape=(size, size, 3)),
    "MobileNetV2": lambda size: keras.applications.MobileNetV2(weights=None, input_shape=(size, size, 3)),
}


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def slimmed(model, target: float, round_to):
    """The slim model at ``target`` x the dense FLOPs, and the fraction of channels it removed."""
    pruned = tfprune.one_shot(tfprune.prune(model, "l1", target=target, round_to=round_to))
    return tfprune.slim(pruned), tfprune.Pruner(pruned).pruned_fraction()


def weight_sparse(model, fraction: float = 0.5):
    """Copy of ``model`` with the ``fraction`` smallest |w| of each conv/dense kernel zeroed."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    zeroed = 0
    for layer in clone.layers:
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)):
            continue
        kernel = layer.kernel
        w = keras.ops.convert_to_numpy(kernel)
        threshold = np.quantile(np.abs(w), fraction)
        w = np.where(np.abs(w) <= threshold, 0.0, w).astype(w.dtype)
        kernel.assign(w)
        zeroed += 1
    return clone, zeroed


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ResNet50,MobileNetV2")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--targets", default="2,4", help="FLOPs reduction factors")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--runs-per-round", type=int, default=4)
    parser.add_argument("--out", default=str(RESULTS / "latency"))
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    threads = [int(t) for t in args.threads.split(",")]
    targets = [float(t) for t in args.targets.split(",")]
    result = {
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average_start": load_average()},
        "versions": {
            "keras": keras.__version__,
            "tensorflow": __import__("tensorflow").__version__,
            "ai_edge_litert": _litert_version(),
        },
        "args": vars(args),
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            keras.utils.set_random_seed(0)
            model = BUILDERS[name](args.size)
            dense_flops = tfprune.count_flops(model)
            entry = {"flops": dense_flops, "params": tfprune.count_params(model), "variants": {}}
            dense_path = tfprune.export_tflite(model, Path(tmp) / f"{name}_dense.tflite", batch_size=1)
            entry["tflite_mb"] = dense_path.stat().st_size / 2**20
            variants = {}
            for k in targets:
                for round_to in (None, 8):
                    t = time.perf_counter()
                    small, s = slimmed(model, 1.0 / k, round_to)
                    ratio = tfprune.count_flops(small) / dense_flops
                    label = f"slim {k:g}x" + (" round_to=8" if round_to else "")
                    path = tfprune.export_tflite(small, Path(tmp) / f"{name}_{k:g}_{round_to}.tflite", batch_size=1)
                    variants[label] = {
                        "kind": "structured",
                        "sparsity": s,
                        "target": 1.0 / k,
                        "round_to": round_to,
                        "flops": tfprune.count_flops(small),
                        "params": tfprune.count_params(small),
                        "tflite_mb": path.stat().st_size / 2**20,
                        "path": path,
                    }
                    print(f"{name} {label}: s={s:.3f} FLOPs ratio {ratio:.3f} ({time.perf_counter() - t:.0f} s)", flush=True)
                    del small
            sparse, zeroed = weight_sparse(model)
            path = tfprune.export_tflite(sparse, Path(tmp) / f"{name}_sparse.tflite", batch_size=1)
            variants["50% weight-sparse"] = {
                "kind": "unstructured",
                "sparsity": 0.5,
                "kernels_zeroed": zeroed,
                "flops": dense_flops,
                "flops_nonzero": dense_flops // 2,
                "params": tfprune.count_params(sparse),
                "tflite_mb": path.stat().st_size / 2**20,
                "path": path,
            }
            del sparse
            for label, v in variants.items():
                path = v.pop("path")
                v["latency"] = {}
                for n in threads:
                    load_before = load_average()
                    cmp = tfprune.compare_latency(
                        dense_path, path, num_threads=n, rounds=args.rounds, runs_per_round=args.runs_per_round, warmup=3
                    )
                    # For the weight-sparse model, the FLOPs it would save if zeros were skipped.
                    flops_speedup = dense_flops / v.get("flops_nonzero", v["flops"])
                    latency_speedup = cmp["median_a_ms"] / cmp["median_b_ms"]
                    v["latency"][f"{n}t"] = {
                        **cmp,
                        "flops_speedup": flops_speedup,
                        "latency_speedup": latency_speedup,
                        "efficiency": latency_speedup / flops_speedup,
                        "load_average_before": load_before,
                        "load_average_after": load_average(),
                    }
                    print(
                        f"{name} {label} {n}t: dense {cmp['median_a_ms']:.1f} ms, variant {cmp['median_b_ms']:.1f} ms, "
                        f"speed-up {latency_speedup:.2f} / FLOPs {flops_speedup:.2f} = {latency_speedup / flops_speedup:.2f}",
                        flush=True,
                    )
            entry["variants"] = variants
            result["models"][name] = entry
    result["machine"]["load_average_end"] = load_average()
    result["wall_seconds"] = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return result


def _litert_version() -> str:
    from importlib.metadata import version

    return version("ai-edge-litert")


def markdown(result: dict) -> str:
    a = result["args"]
    m = result["machine"]
    lines = [
        "# LiteRT latency: slimmed vs dense keras.applications models",
        "",
        f"Generated by `benchmarks/latency.py` on {result['generated']} ({m['platform']}, {m['cpus']} CPUs, "
        f"keras {result['versions']['keras']}, tensorflow {result['versions']['tensorflow']}, "
        f"ai-edge-litert {result['versions']['ai_edge_litert']}; {result['wall_seconds'] / 60:.1f} min; "
        f"load average {m['load_average_start']} at start, {m['load_average_end']} at end).",
        "",
        f"`weights=None`, {a['size']}x{a['size']}x3, float32, batch 1, LiteRT interpreter (XNNPACK). "
        "Each variant is timed side by side with its dense model in one process "
        f"(`tfprune.compare_latency`, {a['rounds']} alternating rounds x {a['runs_per_round']} invokes each, "
        "medians). Slim variants: `one_shot(prune(model, 'l1', target=1/k, round_to=r))`, then `slim`: the FLOPs "
        "(MACs, `tfprune.count_flops`) drop 2x or 4x; `s` = fraction of the channels removed. `F` = FLOPs speed-up, "
        "`L` = measured latency speed-up, `L/F` = how much of the FLOPs cut becomes speed (goal >= 0.9). "
        "The 50% weight-sparse model has the same shapes with half of every kernel zero; its `F` is "
        "the 2x that skipping zeros would give, its `L` shows LiteRT does not skip them.",
        "",
        "| model | variant | s | params | MFLOPs | .tflite MB | threads | dense ms | variant ms | F | L | L/F | load before/after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in result["models"].items():
        lines.append(
            f"| {name} | dense | 0 | {entry['params']:,} | {entry['flops'] / 1e6:.0f} | {entry['tflite_mb']:.1f} "
            "| | | | 1.00 | 1.00 | | |"
        )
        for label, v in entry["variants"].items():
            for key, lat in v["latency"].items():
                lines.append(
                    f"| {name} | {label} | {v['sparsity']:.3f} | {v['params']:,} | {v['flops'] / 1e6:.0f} "
                    f"| {v['tflite_mb']:.1f} | {key[:-1]} | {lat['median_a_ms']:.1f} | {lat['median_b_ms']:.1f} "
                    f"| {lat['flops_speedup']:.2f} | {lat['latency_speedup']:.2f} | **{lat['efficiency']:.2f}** "
                    f"| {lat['load_average_before'][0] if lat['load_average_before'] else ''}/"
                    f"{lat['load_average_after'][0] if lat['load_average_after'] else ''} |"
                )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
