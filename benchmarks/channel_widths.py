"""LiteRT latency against channel width: do widths that are multiples of 8 run faster?

(``--step 16`` asks the same of multiples of 16; ``--quantize int8`` times
full-integer exports, ``tfprune.latency.export_for_latency``, so that
``round_to`` can be chosen per runtime.)

For every width ``w`` in ``--widths`` (default 13..72) a conv stack is built:
``Input(40, 40, 16) -> 3 x [Conv2D(w, 3x3, same) + ReLU] -> GAP -> Dense(10)``,
exported to float32 TFLite and timed with LiteRT (XNNPACK). Every width that
is not a multiple of 8 is timed side by side (A B B A ..., one process, see
``tfprune.compare_latency``) against the next multiple of 8 above it,
``ceil8(w)``, which has *more* MACs. The table reports

* ``t(w) / t(ceil8(w))``: above 1 means the odd width is slower than the wider
  rounded-up one, so rounding up costs nothing;
* ``t(w) / t(floor8(w))``: what rounding *down* (what ``round_to=8`` does about
  half of the time) gains;
* latency per MAC normalised to the mean over the multiples of 8.

Results: ``benchmarks/results/channel_widths.json`` and ``.md``. Run with
``make bench-widths`` (about 4 minutes alone on 2 cores).
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
from tfprune._atomic import write_atomic_files  # noqa: E402
from tfprune.latency import export_for_latency  # noqa: E402
from tfprune.latency.check import load_average  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def build(width: int, size: int, in_channels: int, depth: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, in_channels), name="image")
    x = inputs
    for i in range(depth):
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{i}")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name=f"stack_{width}")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="13-72", help="range lo-hi (inclusive) or comma list")
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--in-channels", type=int, default=16)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--runs-per-round", type=int, default=15)
    parser.add_argument("--step", type=int, default=8, help="the channel multiple tested (8: XNNPACK's float tile)")
    parser.add_argument("--quantize", default="float32", choices=("float32", "int8"))
    parser.add_argument("--out", default=None,
                        help="results path without suffix (default benchmarks/results/channel_widths[_int8][_stepN])")
    args = parser.parse_args(argv)
    step, quantize = args.step, (None if args.quantize == "float32" else args.quantize)
    if args.out is None:
        suffix = ("" if quantize is None else f"_{quantize}") + ("" if step == 8 else f"_step{step}")
        args.out = str(RESULTS / f"channel_widths{suffix}")
    if "-" in args.widths:
        lo, hi = (int(v) for v in args.widths.split("-"))
        widths = list(range(lo, hi + 1))
    else:
        widths = [int(v) for v in args.widths.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    t0 = time.perf_counter()
    load_before = load_average()

    needed = set(widths)
    for w in widths:
        if w % step:
            needed.add(-(-w // step) * step)
            if w > step:
                needed.add(w // step * step)
    rows: dict[int, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for w in sorted(needed):
            model = build(w, args.size, args.in_channels, args.depth)
            paths[w] = export_for_latency(model, Path(tmp) / f"w{w}.tflite", quantize)
            rows[w] = {"width": w, "macs": tfprune.count_flops(model)}
        print(f"exported {len(paths)} models in {time.perf_counter() - t0:.0f} s", flush=True)
        for n in threads:
            key = f"{n}t"
            # Absolute latency of each width (multiples of 8 are the reference).
            for w in sorted(needed):
                stats = tfprune.benchmark_tflite(paths[w], num_threads=n, warmup=10, runs=30)
                rows[w][f"median_ms_{key}"] = stats["median_ms"]
            for w in widths:
                if w % step == 0:
                    continue
                up = -(-w // step) * step
                cmp = tfprune.compare_latency(
                    paths[w], paths[up], num_threads=n, rounds=args.rounds, runs_per_round=args.runs_per_round
                )
                rows[w][f"ratio_vs_ceil{step}_{key}"] = cmp["median_a_ms"] / cmp["median_b_ms"]
                if w > step:
                    down = w // step * step
                    cmp = tfprune.compare_latency(
                        paths[w], paths[down], num_threads=n, rounds=args.rounds,
                        runs_per_round=args.runs_per_round,
                    )
                    rows[w][f"ratio_vs_floor{step}_{key}"] = cmp["median_a_ms"] / cmp["median_b_ms"]
                print(
                    f"{key} w={w:3d} t(w)/t(ceil{step})={rows[w][f'ratio_vs_ceil{step}_{key}']:.2f} "
                    f"t(w)/t(floor{step})={rows[w].get(f'ratio_vs_floor{step}_{key}', float('nan')):.2f}",
                    flush=True,
                )
            ref = [rows[w][f"median_ms_{key}"] / rows[w]["macs"] for w in needed if w % step == 0]
            for w in needed:
                rows[w][f"time_per_mac_norm_{key}"] = rows[w][f"median_ms_{key}"] / rows[w]["macs"] / float(np.mean(ref))

    summary = {}
    for n in threads:
        key = f"{n}t"
        odd = [rows[w] for w in widths if w % step]
        up = np.array([r[f"ratio_vs_ceil{step}_{key}"] for r in odd])
        summary[key] = {
            "odd_widths": len(odd),
            f"odd_slower_than_ceil{step}": int((up > 1.0).sum()),
            f"median_ratio_vs_ceil{step}": float(np.median(up)),
            f"max_ratio_vs_ceil{step}": float(up.max()),
            "width_of_max": int(odd[int(up.argmax())]["width"]),
            "median_time_per_mac_odd": float(np.median([r[f"time_per_mac_norm_{key}"] for r in odd])),
        }
    result = {
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": load_average(),
        },
        "versions": {"keras": keras.__version__, "tensorflow": __import__("tensorflow").__version__},
        "args": vars(args),
        "summary": summary,
        "rows": [rows[w] for w in sorted(rows)],
        "wall_seconds": time.perf_counter() - t0,
    }
    out = Path(args.out)
    write_atomic_files([(out.with_suffix(".json"), json.dumps(result, indent=1).encode()),
                        (out.with_suffix(".md"), markdown(result, widths, threads, step).encode())])
    print(json.dumps(summary, indent=1))
    return result


def markdown(result: dict, widths: list[int], threads: list[int], step: int = 8) -> str:
    a = result["args"]
    c, f = f"ceil{step}", f"floor{step}"
    lines = [
        "# LiteRT latency against channel width",
        "",
        f"Generated by `benchmarks/channel_widths.py` on {result['generated']} "
        f"({result['machine']['platform']}, {result['machine']['cpus']} CPUs, load average "
        f"{result['machine']['load_average_before']} before, {result['machine']['load_average_after']} after; "
        f"{result['wall_seconds'] / 60:.1f} min).",
        "",
        f"Model: `Input({a['size']}, {a['size']}, {a['in_channels']})` -> {a['depth']} x "
        f"[Conv2D(w, 3x3, same) + ReLU] -> GAP -> Dense(10), {a.get('quantize', 'float32')}, batch 1, LiteRT "
        f"(XNNPACK). `t(w)/t({c})`: latency of width w divided by the latency of the next "
        f"multiple of {step} (more MACs), timed side by side with `tfprune.compare_latency` "
        f"({a['rounds']} alternating rounds x {a['runs_per_round']} invokes); above 1 means the "
        "odd width is slower than the wider rounded-up model. `t/MAC`: median latency per MAC "
        f"normalised to the mean of the multiples of {step}.",
        "",
        "## Summary",
        "",
        f"| threads | odd widths | slower than {c} | median t(w)/t({c}) | max (width) | median t/MAC of odd widths |",
        "|---|---|---|---|---|---|",
    ]
    for n in threads:
        s = result["summary"][f"{n}t"]
        lines.append(
            f"| {n} | {s['odd_widths']} | {s[f'odd_slower_than_{c}']} | {s[f'median_ratio_vs_{c}']:.2f} "
            f"| {s[f'max_ratio_vs_{c}']:.2f} ({s['width_of_max']}) | {s['median_time_per_mac_odd']:.2f} |"
        )
    lines += ["", "## Per width", ""]
    head = "| width | MMACs |"
    sep = "|---|---|"
    for n in threads:
        head += f" ms ({n}t) | t(w)/t({c}) ({n}t) | t(w)/t({f}) ({n}t) | t/MAC ({n}t) |"
        sep += "---|---|---|---|"
    lines += [head, sep]
    for r in result["rows"]:
        line = f"| {r['width']} | {r['macs'] / 1e6:.1f} |"
        for n in threads:
            k = f"{n}t"

            def fmt(name, r=r):
                v = r.get(name)
                return "" if v is None else f"{v:.2f}"

            line += (
                f" {r[f'median_ms_{k}']:.3f} | {fmt(f'ratio_vs_{c}_{k}')} | {fmt(f'ratio_vs_{f}_{k}')} "
                f"| {fmt(f'time_per_mac_norm_{k}')} |"
            )
        lines.append(line)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
