"""Training overhead of pruning inside ``fit``: step time, wrapped vs plain.

For each model and variant (a pruning method and granularity), the same
network is trained once as a plain Keras model and once wrapped by
``tfprune.prune`` with ``UpdatePruning``, **alternately** (plain, wrapped,
plain, wrapped, ...), after a warm-up epoch that traces both train functions.
Each timed run is one pass over ``--steps`` batches; the reported number is
``median(wrapped) / median(plain)`` of the per-step time, which includes
everything the callback does in Python before each step (SPP draws and assigns
its Bernoulli masks at every step). Models (issue 15's two):

* ``small_resnet``: ``tfprune.zoo.small_resnet()`` on real MNIST, batch 128;
* ``resnet50``: ``keras.applications.ResNet50(weights=None)`` at 64x64x3,
  batch 32, on random images (the step time does not depend on the values).

Absolute times on a shared 2-core machine drift; the ratio of interleaved runs
is what to read. The load average is recorded before and after each model, and
a row whose round-to-round ratio spread (max/min - 1) exceeds 10 % is marked
*noisy*: re-run it on a quieter machine.

    python benchmarks/fit_overhead.py                                  # both models
    python benchmarks/fit_overhead.py --models small_resnet --variants spp-filter --rounds 3
    python benchmarks/fit_overhead.py --backend jax                    # on JAX (a subprocess)

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
#: A is small so they do not finish during the benchmark). fuzzy and LRF are
#: reported without a target (issue 15): fuzzy cuts every other step, LRF
#: runs its structural step every 3 steps (budget.py's fit recipes); LRF's
#: plain model is the one with its P/Q layers inserted (tfprune.lrf.insert_pq).
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
    "fuzzy-filter": {"method": "fuzzy", "schedule": tfprune.schedules.IntervalSchedule(0, -1, 2, 0.9),
                     "normalization": "minmax"},
    "lrf-filter": {"method": "lrf", "schedule": tfprune.schedules.IntervalSchedule(0, -1, 3, 0.9)},
}

#: Variants with a target ratio in issue 15 (the others are reported only).
TARGETS = {"l1-filter": 1.05, "spp-filter": 1.10, "spp-column": 1.10, "admm-filter": 1.10}

#: name -> (builder, input shape, batch size, data).
MODELS = {
    "small_resnet": ("tfprune.zoo.small_resnet() (16/32/64), MNIST 28x28, batch 128", 128),
    "resnet50": ("keras.applications.ResNet50(weights=None, classes=10), random 64x64x3 images, batch 32", 32),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=20, help="batches per timed run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating plain/wrapped runs")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the model's (128 / 32)")
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
    if "--out" not in argv:
        argv += ["--out", args.out]
    env = {**os.environ, "KERAS_BACKEND": args.backend}
    subprocess.run([sys.executable, os.path.relpath(__file__), *argv], env=env, check=True)
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


def _build(model_name: str):
    if model_name == "small_resnet":
        return zoo.small_resnet()
    return keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10)


def _dataset(model_name: str, steps: int, batch_size: int):
    n = steps * batch_size
    if model_name == "small_resnet":
        (x, y), _ = data.load_mnist()
        return data.make_dataset(x[:n], y[:n], batch_size)
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (n, 64, 64, 3)).astype("float32")
    return data.make_dataset(x, rng.integers(0, 10, size=n), batch_size)


def measure(model_name: str, variant: str, args, ds) -> dict:
    options = dict(VARIANTS[variant])
    method = options.pop("method")
    keras.utils.set_random_seed(0)
    plain = _build(model_name)
    if method == "lrf":  # LRF prunes a model with its P/Q 1x1 layers inserted: that is the plain one
        plain = tfprune.lrf.insert_pq(plain)
        options["convs"] = tfprune.lrf.wrapped_convs(plain)
    plain = _compile(plain)
    wrapped = _compile(tfprune.prune(plain, method, seed=0, **options))
    runs = {"plain": [], "wrapped": []}
    _timed_fit(plain, ds, [])  # warm-up: traces the train functions
    _timed_fit(wrapped, ds, [tfprune.UpdatePruning()])
    for _ in range(args.rounds):
        runs["plain"].append(_timed_fit(plain, ds, []))
        runs["wrapped"].append(_timed_fit(wrapped, ds, [tfprune.UpdatePruning()]))
    plain_ms = 1000 * statistics.median(runs["plain"])
    wrapped_ms = 1000 * statistics.median(runs["wrapped"])
    per_round = [w / p for p, w in zip(runs["plain"], runs["wrapped"])]
    spread = max(per_round) / min(per_round) - 1
    return {
        "model": model_name,
        "variant": variant,
        "prune_arguments": {k: (v if isinstance(v, (int, float, str)) else repr(v))
                            for k, v in VARIANTS[variant].items()},
        "plain_step_ms": plain_ms,
        "wrapped_step_ms": wrapped_ms,
        "ratio": wrapped_ms / plain_ms,
        "target": TARGETS.get(variant),
        "round_ratios": per_round,
        "spread": spread,
        "noisy": spread > 0.10,
        "runs_ms": {k: [1000 * v for v in vs] for k, vs in runs.items()},
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.backend != keras.backend.backend():
        return _in_subprocess(args, argv)
    started = time.time()
    rows, models = [], {}
    for model_name in args.models:
        batch_size = args.batch_size or MODELS[model_name][1]
        ds = _dataset(model_name, args.steps, batch_size)
        load_before = os.getloadavg()
        for variant in args.variants:
            row = measure(model_name, variant, args, ds)
            print(f"{model_name} {variant}: plain {row['plain_step_ms']:.1f} ms/step, wrapped "
                  f"{row['wrapped_step_ms']:.1f} ms/step, ratio {row['ratio']:.3f} "
                  f"(spread {row['spread']:.1%})", flush=True)
            rows.append(row)
        models[model_name] = {"description": MODELS[model_name][0], "batch_size": batch_size,
                              "load_average_before": load_before, "load_average_after": os.getloadavg()}
    result = {
        "benchmark": "fit_overhead",
        "backend": keras.backend.backend(),
        "models": models,
        "steps_per_run": args.steps,
        "rounds": args.rounds,
        "argv": sys.argv,
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
        f"Median step time of {result['rounds']} alternating runs of {result['steps_per_run']} steps "
        f"each (plain / wrapped), Keras backend {result.get('backend', 'tensorflow')}, "
        f"on {result['machine']['cpus']} CPUs. Generated by "
        f"`{' '.join(['python', *result.get('argv', ['benchmarks/fit_overhead.py'])])}`. "
        "*Spread*: max/min of the per-round ratios minus 1; over 10 % is marked noisy.",
        "",
    ]
    for name, info in result["models"].items():
        before = ", ".join(f"{v:.1f}" for v in info["load_average_before"])
        after = ", ".join(f"{v:.1f}" for v in info["load_average_after"])
        lines += [
            f"## {name}",
            "",
            f"{info['description']}. Load average {before} before, {after} after.",
            "",
            "| variant | plain ms/step | wrapped ms/step | ratio | target | spread |",
            "|---|---|---|---|---|---|",
        ]
        for row in (r for r in result["rows"] if r["model"] == name):
            target = "-" if row["target"] is None else f"<= {row['target']:.2f}"
            met = "" if row["target"] is None else (" (met)" if row["ratio"] <= row["target"] else " (**missed**)")
            noisy = " noisy" if row["noisy"] else ""
            lines.append(f"| {row['variant']} | {row['plain_step_ms']:.1f} | {row['wrapped_step_ms']:.1f} | "
                         f"{row['ratio']:.3f}{met} | {target} | {row['spread']:.1%}{noisy} |")
        lines.append("")
    return "\n".join(lines)


def _write_atomic(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
