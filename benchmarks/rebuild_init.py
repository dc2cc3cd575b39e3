"""Two backend-glue choices, measured A/B side by side in one process.

1. **Zero-init build** (``tfprune.graph.rebuild.quick_build``): ``prune`` and
   ``slim`` build new layers, then overwrite every weight. ``quick`` builds
   them with zero initializers, ``random-init`` with the configured ones
   (``glorot_uniform``...). Timed: ``tfprune.prune(ResNet50, "l1",
   target=0.5)`` and ``tfprune.slim`` after ``one_shot`` (224x224,
   ``weights=None``), alternating the order every round.
2. **Fused assign** (``tfprune._assign.BatchAssigner``): one ``tf.function``
   call for N mask variables (``fused``) vs a loop of ``Variable.assign``
   (``loop``), 50 calls per round, alternating.

Both report medians of wall and CPU seconds (``time.process_time``, every
thread of this process); on a shared machine the CPU time and the ratio of
interleaved runs are what to read. The load average is recorded.

    python benchmarks/rebuild_init.py                 # ~5 min on 2 busy cores
    python benchmarks/rebuild_init.py --rounds 2 --variables 20

Writes ``benchmarks/results/rebuild_init.json`` and ``.md`` (atomically).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import pathlib
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfprune  # noqa: E402
from tfprune._assign import BatchAssigner  # noqa: E402
from tfprune._atomic import write_atomic_files  # noqa: E402
from tfprune.graph import rebuild  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


@contextlib.contextmanager
def _random_init():
    yield lambda layer: None


def _median(rows: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in rows), 3)


def time_rebuild(rounds: int) -> dict:
    dense = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3))
    quick = rebuild.quick_build
    variants = {"quick": quick, "random-init": _random_init}
    warm = tfprune.prune(dense, "l1", target=0.5)
    tfprune.one_shot(warm)
    tfprune.slim(warm)
    runs: dict[str, list] = {name: [] for name in variants}
    try:
        for r in range(rounds):
            order = list(variants) if r % 2 == 0 else list(reversed(variants))
            for name in order:
                rebuild.quick_build = variants[name]
                row = {}
                cpu, wall = time.process_time(), time.perf_counter()
                pruned = tfprune.prune(dense, "l1", target=0.5)
                row["prune_cpu"], row["prune_wall"] = time.process_time() - cpu, time.perf_counter() - wall
                tfprune.one_shot(pruned)
                cpu, wall = time.process_time(), time.perf_counter()
                tfprune.slim(pruned)
                row["slim_cpu"], row["slim_wall"] = time.process_time() - cpu, time.perf_counter() - wall
                runs[name].append({k: round(v, 3) for k, v in row.items()})
                print(name, runs[name][-1], flush=True)
    finally:
        rebuild.quick_build = quick
    keys = ("prune_cpu", "prune_wall", "slim_cpu", "slim_wall")
    median = {name: {k: _median(rows, k) for k in keys} for name, rows in runs.items()}
    return {"model": "ResNet50 224x224 weights=None", "median": median, "runs": runs}


def time_assign(rounds: int, counts: list[int], calls: int = 50) -> dict:
    rng = np.random.default_rng(0)
    out = {}
    for n in counts:
        sizes = rng.choice([16, 32, 64, 128, 256, 512], n)
        variables = [keras.Variable(np.ones(s, "float32"), trainable=False) for s in sizes]
        values = [(rng.random(s) > 0.5).astype("float32") for s in sizes]
        variants = {"fused": BatchAssigner(variables, fused=True), "loop": BatchAssigner(variables, fused=False)}
        for assign in variants.values():
            assign(values)  # trace
        runs: dict[str, list] = {name: [] for name in variants}
        for r in range(rounds):
            for name in (list(variants) if r % 2 == 0 else list(reversed(variants))):
                cpu, wall = time.process_time(), time.perf_counter()
                for _ in range(calls):
                    variants[name](values)
                runs[name].append({"ms_cpu": (time.process_time() - cpu) / calls * 1e3,
                                   "ms_wall": (time.perf_counter() - wall) / calls * 1e3})
        out[str(n)] = {name: {k: _median(rows, k) for k in ("ms_cpu", "ms_wall")} for name, rows in runs.items()}
        print(n, out[str(n)], flush=True)
    return {"per_call": out, "calls_per_round": calls}


def to_markdown(result: dict) -> str:
    lines = [
        "# Zero-init build and fused assign (benchmarks/rebuild_init.py)",
        "",
        f"{result['started']}, `{' '.join(result['argv'])}`, {result['machine']}, "
        f"load average {result['load_average_start']} -> {result['load_average_end']}. "
        "Medians of interleaved rounds; CPU = process time of every thread.",
        "",
        f"## prune + slim, {result['rebuild']['model']}",
        "",
        "| build | prune CPU s | prune wall s | slim CPU s | slim wall s |",
        "|---|---|---|---|---|",
    ]
    for name, m in result["rebuild"]["median"].items():
        lines.append(f"| {name} | {m['prune_cpu']} | {m['prune_wall']} | {m['slim_cpu']} | {m['slim_wall']} |")
    lines += ["", "## BatchAssigner, ms per call", "", "| variables | fused CPU | loop CPU | fused wall | loop wall |",
              "|---|---|---|---|---|"]
    for n, m in result["assign"]["per_call"].items():
        lines.append(f"| {n} | {m['fused']['ms_cpu']} | {m['loop']['ms_cpu']} | "
                     f"{m['fused']['ms_wall']} | {m['loop']['ms_wall']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--variables", type=int, nargs="+", default=[20, 150])
    parser.add_argument("--results", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = {
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "argv": ["python", "benchmarks/rebuild_init.py", *(argv if argv is not None else sys.argv[1:])],
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
        "keras_backend": keras.backend.backend(),
    }
    result["rebuild"] = time_rebuild(args.rounds)
    result["assign"] = time_assign(args.rounds, args.variables)
    result["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    args.results.mkdir(parents=True, exist_ok=True)
    write_atomic_files([
        (args.results / "rebuild_init.json", (json.dumps(result, indent=1) + "\n").encode()),
        (args.results / "rebuild_init.md", to_markdown(result).encode()),
    ])
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
