"""Training overhead of pruning inside ``fit``: step time, wrapped vs plain.

For each variant (a pruning method and granularity), the same small ResNet is
trained on real MNIST batches once as a plain Keras model and once wrapped by
``tfprune.prune`` with ``UpdatePruning``, **alternately** (plain, wrapped,
plain, wrapped, ...), after a warm-up epoch that traces both train functions.
Each timed run is one pass over ``--steps`` batches; the reported number is
``median(wrapped) / median(plain)`` of the per-step time, which includes
everything the callback does in Python before each step (SPP draws and assigns
its Bernoulli masks at every step).

Absolute times on a shared 2-core machine drift; the ratio of interleaved runs
is what to read. The machine's load average is recorded with the results.

    python benchmarks/fit_overhead.py                   # ~5 min
    python benchmarks/fit_overhead.py --variants spp-filter --rounds 3
    python benchmarks/fit_overhead.py --backend jax     # the same on JAX (a subprocess)

Writes ``benchmarks/results/fit_overhead.json`` and ``.md``
(``fit_overhead_<backend>`` for another Keras backend than TensorFlow).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import tfprune  # noqa: E402
from tfprune import data, zoo  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _timing import StepTimer  # noqa: E402  (benchmarks/_timing.py)

RESULTS = pathlib.Path(__file__).resolve().parent / "results"

#: name -> prune() arguments. Sparsity is reached at once, so the timed runs
#: measure steady-state pruning (SPP keeps sampling until its layers finish;
#: A is small so they do not finish during the benchmark).
VARIANTS = {
    "l1-filter": {"method": "l1", "sparsity": 0.5},
    "spp-filter": {"method": "spp", "sparsity": 0.5, "A": 0.001, "granularity": "filter"},
    "spp-column": {"method": "spp", "sparsity": 0.5, "A": 0.001, "granularity": "column"},
    # StructADMM in its ADMM phase (penalty on, a Z/U update every 20 steps).
    "admm-filter": {
        "method": "admm",
        "schedule": tfprune.schedules.ADMMSchedule(0.5, admm_steps=10**9, update_every=20),
        "rho": 1e-3,
    },
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=40, help="batches per timed run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating plain/wrapped runs")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"], default=keras.backend.backend(),
                        help="Keras backend (another one than this process's runs in a subprocess)")
    parser.add_argument("--out", default=None, help="output path without suffix (default: "
                        "results/fit_overhead, or results/fit_overhead_<backend> for jax/torch)")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = str(RESULTS / ("fit_overhead" if args.backend == "tensorflow" else f"fit_overhead_{args.backend}"))
    return args


def _in_subprocess(args, argv) -> dict:
    """Run this script with ``KERAS_BACKEND=args.backend`` (fixed when Keras is imported)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = {**os.environ, "KERAS_BACKEND": args.backend}
    subprocess.run([sys.executable, __file__, *argv, "--out", args.out], env=env, check=True)
    return json.loads(pathlib.Path(args.out).with_suffix(".json").read_text())


def _compile(model):
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _timed_fit(model, ds, callbacks):
    timer = StepTimer()
    # The timer goes first: the time of a step includes UpdatePruning's work.
    model.fit(ds, epochs=1, verbose=0, callbacks=[timer, *callbacks], shuffle=False)
    return statistics.median(timer.times[1:])


def measure(variant: str, args, ds) -> dict:
    options = dict(VARIANTS[variant])
    method = options.pop("method")
    keras.utils.set_random_seed(0)
    plain = _compile(zoo.small_resnet())
    wrapped = _compile(tfprune.prune(plain, method, seed=0, **options))
    runs = {"plain": [], "wrapped": []}
    _timed_fit(plain, ds, [])  # warm-up: traces the train functions
    _timed_fit(wrapped, ds, [tfprune.UpdatePruning()])
    for _ in range(args.rounds):
        runs["plain"].append(_timed_fit(plain, ds, []))
        runs["wrapped"].append(_timed_fit(wrapped, ds, [tfprune.UpdatePruning()]))
    plain_ms = 1000 * statistics.median(runs["plain"])
    wrapped_ms = 1000 * statistics.median(runs["wrapped"])
    return {
        "variant": variant,
        "prune_arguments": {k: (v if isinstance(v, (int, float, str)) else repr(v))
                            for k, v in VARIANTS[variant].items()},
        "plain_step_ms": plain_ms,
        "wrapped_step_ms": wrapped_ms,
        "ratio": wrapped_ms / plain_ms,
        "runs_ms": {k: [1000 * v for v in vs] for k, vs in runs.items()},
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.backend != keras.backend.backend():
        return _in_subprocess(args, argv)
    (x, y), _ = data.load_mnist()
    n = args.steps * args.batch_size
    ds = data.make_dataset(x[:n], y[:n], args.batch_size)
    started = time.time()
    rows = []
    for variant in args.variants:
        row = measure(variant, args, ds)
        print(f"{variant}: plain {row['plain_step_ms']:.1f} ms/step, wrapped {row['wrapped_step_ms']:.1f} "
              f"ms/step, ratio {row['ratio']:.3f}", flush=True)
        rows.append(row)
    result = {
        "benchmark": "fit_overhead",
        "model": "tfprune.zoo.small_resnet() (16/32/64), MNIST 28x28, batch %d" % args.batch_size,
        "backend": keras.backend.backend(),
        "steps_per_run": args.steps,
        "rounds": args.rounds,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_average": os.getloadavg()},
        "wall_seconds": time.time() - started,
        "rows": rows,
    }
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(out.with_suffix(".json"), json.dumps(result, indent=2))
    _write_atomic(out.with_suffix(".md"), markdown(result))
    print(markdown(result))
    return result


def markdown(result: dict) -> str:
    lines = [
        "# Training overhead of pruning inside fit",
        "",
        f"{result['model']}; Keras backend {result.get('backend', 'tensorflow')}; median step time of {result['rounds']} alternating runs of "
        f"{result['steps_per_run']} steps each (plain / wrapped). Load average during the run: "
        f"{', '.join(f'{v:.1f}' for v in result['machine']['load_average'])} on "
        f"{result['machine']['cpus']} CPUs. Generated by `python benchmarks/fit_overhead.py"
        + ("" if result.get("backend", "tensorflow") == "tensorflow" else f" --backend {result['backend']}") + "`.",
        "",
        "| variant | plain ms/step | wrapped ms/step | ratio |",
        "|---|---|---|---|",
    ]
    for row in result["rows"]:
        lines.append(f"| {row['variant']} | {row['plain_step_ms']:.1f} | {row['wrapped_step_ms']:.1f} | "
                     f"{row['ratio']:.3f} |")
    return "\n".join(lines) + "\n"


def _write_atomic(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
