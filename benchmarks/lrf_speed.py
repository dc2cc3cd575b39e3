"""LRF removal speed: the incremental leave-one-out against the step-by-step one.

LRF removes channels one at a time; each removal rescores every kept channel
by leave-one-out regression (docs/methods/lrf.md, (L2)-(L6)). The
*reference* recomputes everything per removal: a Gram matrix, its
eigenvalues and inverse (``leave_one_out``), one ``lstsq`` for the removed
channel (``regress_one``) and the compensation of the next 1x1 layer ``Q``.
The *incremental* path (``LeaveOneOut``, docs/methods/lrf.md#incremental)
downdates the inverse Gram matrix by rank one per removal and compensates
``Q`` in place, as ``LinearReplaceable.remove`` does.

Layer sizes are ResNet50's 3x3 convs (``C`` filters of ``9 C`` weights,
``C`` = 64, 128, 256, 512; random weights, a random identity-like ``Q``).
Both paths run in this process, alternating (reference, incremental,
reference, ...) for ``--repeats`` rounds, on the same first ``--removals``
removals (the reference is too slow for a whole half of a 512-channel layer
on a small machine); the incremental path is also timed removing half the
channels, as LRF-50 does. The script checks that both remove the same
channels with the same compensated ``Q``.

Results go atomically to ``benchmarks/results/lrf_speed.json`` and
``lrf_speed.md`` (machine, load average before/after, argv).

Usage::

    python benchmarks/lrf_speed.py                       # 64..512, 16 removals, 3 rounds
    python benchmarks/lrf_speed.py --sizes 64 128 --removals 8 --repeats 1 --results /tmp/out
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tfprune._atomic import write_atomic  # noqa: E402
from tfprune.criteria import linear_replaceability as lr  # noqa: E402


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def layer(channels: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flattened 3x3 filters ``(C, 9 C)`` and a ``Q`` kernel ``(1, 1, C, C)``, float32."""
    rng = np.random.default_rng(seed)
    filters = rng.normal(size=(channels, 9 * channels)).astype(np.float32)
    q = (np.eye(channels) + 0.1 * rng.normal(size=(channels, channels))).astype(np.float32)[None, None]
    return filters.astype(np.float64), q


def reference(filters: np.ndarray, q: np.ndarray, count: int) -> tuple[list[int], np.ndarray]:
    """Per removal: leave_one_out (Gram, eigenvalues, inverse), regress_one (lstsq), compensate."""
    rows = list(range(len(filters)))
    removed = []
    for _ in range(count):
        f = filters[rows]
        _, residuals = lr.leave_one_out(f)
        norms = np.array([np.linalg.norm(q[0, 0, r, :]) for r in rows])
        best = int(np.argmin(lr.replaceability_scores(residuals, norms)))
        coefficients, _ = lr.regress_one(f, best)
        others = np.delete(np.arange(len(rows)), best)
        q = lr.compensate(q, -2, rows[best], coefficients[others], np.asarray(rows)[others])
        removed.append(rows.pop(best))
    return removed, q


def incremental(filters: np.ndarray, q: np.ndarray, count: int) -> tuple[list[int], np.ndarray]:
    """As LinearReplaceable.remove: LeaveOneOut downdates, Q compensated in place."""
    q = q.copy()
    regressions = lr.LeaveOneOut(filters)
    norms = np.linalg.norm(q[0, 0], axis=1)
    removed = []
    for _ in range(count):
        rows = regressions.rows
        best = int(np.argmin(lr.replaceability_scores(regressions.residual_norms(), norms[rows])))
        coefficients, _ = regressions.regress(best)
        others = np.delete(np.arange(len(rows)), best)
        lr.compensate_in_place(q, -2, int(rows[best]), coefficients[others], rows[others])
        removed.append(int(rows[best]))
        regressions.remove(best)
        norms = np.linalg.norm(q[0, 0], axis=1)
    return removed, q


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--removals", type=int, default=16, help="removals timed on both paths")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load_start = load_average()
    rows = []
    for channels in args.sizes:
        filters, q = layer(channels)
        count = min(args.removals, channels // 2)
        ref_times, inc_times = [], []
        for _ in range(args.repeats):
            t_ref, (ref_removed, ref_q) = timed(reference, filters, q, count)
            t_inc, (inc_removed, inc_q) = timed(incremental, filters, q, count)
            ref_times.append(t_ref)
            inc_times.append(t_inc)
        same = ref_removed == inc_removed
        q_error = float(np.max(np.abs(ref_q.astype(np.float64) - inc_q)))
        t_half, _ = timed(incremental, filters, q, channels // 2)
        row = {
            "channels": channels, "weights_per_filter": 9 * channels, "removals": count,
            "reference_seconds": [round(t, 4) for t in ref_times],
            "incremental_seconds": [round(t, 4) for t in inc_times],
            "reference_per_removal_ms": round(1e3 * min(ref_times) / count, 3),
            "incremental_per_removal_ms": round(1e3 * min(inc_times) / count, 3),
            "speedup": round(min(ref_times) / min(inc_times), 1),
            "incremental_half_seconds": round(t_half, 3),
            "same_channels_removed": same, "max_abs_q_difference": q_error,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    payload = {
        "benchmark": "lrf_speed", "argv": sys.argv[1:] if argv is None else list(argv), "started": started,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__},
        "load_average_start": load_start, "load_average_end": load_average(), "rows": rows,
    }
    write_atomic(args.results / "lrf_speed.json", (json.dumps(payload, indent=1) + "\n").encode(), make_parents=True)
    lines = [
        "# LRF removal speed (`benchmarks/lrf_speed.py`)",
        "",
        "Step-by-step leave-one-out (Gram matrix, eigenvalues, inverse, `lstsq` and compensation per removal) "
        "against the incremental one (rank-one downdate of the inverse Gram matrix, "
        "docs/methods/lrf.md#incremental), on ResNet50-sized 3x3 convs (C filters of 9C weights, random). "
        f"Both in one process, alternating, {args.repeats} round(s); best round per removal. "
        "*Half* is the incremental path removing C/2 channels (LRF-50).",
        "",
        f"- Machine: {payload['machine']['platform']}, {payload['machine']['cpus']} CPUs (shared), "
        f"numpy {np.__version__}. Started {started}, load average {load_start} -> {payload['load_average_end']}.",
        f"- Command: `benchmarks/lrf_speed.py {' '.join(payload['argv'])}`",
        "",
        "| C | removals timed | reference ms/removal | incremental ms/removal | speed-up | half (C/2) incremental s "
        "| same channels | max abs Q difference |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['channels']} | {r['removals']} | {r['reference_per_removal_ms']:.1f} | "
            f"{r['incremental_per_removal_ms']:.2f} | {r['speedup']:.1f}x | {r['incremental_half_seconds']:.2f} | "
            f"{'yes' if r['same_channels_removed'] else 'NO'} | {r['max_abs_q_difference']:.1e} |"
        )
    write_atomic(args.results / "lrf_speed.md", ("\n".join(lines) + "\n").encode(), make_parents=True)


if __name__ == "__main__":
    main()
