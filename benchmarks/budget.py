"""Budgets on keras.applications: every method pruned to a FLOPs/params target.

For each model (ResNet50, MobileNetV2, EfficientNetB0, DenseNet121;
``weights=None``, 1000 classes), each registered method
(``tfprune.methods._FACTORIES``), each target (FLOPs 0.5 and 0.25 of the dense
model, parameters 0.5) and each allocation (``uniform``, ``global``), this
script runs

    pruned = tfprune.prune(model, method, target=..., allocation=...)   # "prune"
    tfprune.one_shot(pruned)          # or pruned.fit(...)              # "selection"
    small = tfprune.slim(pruned)                                        # "slim"

and records the achieved cost (``count_flops`` / ``count_params`` of the slim
model over the dense one), whether it is within the +-2 % tolerance of the
request, and the wall time of the three parts.

* One-shot methods (``l1``, ``l2``, ``fpgm``, ``taylor``; Taylor with one
  random batch and a cross-entropy loss) run through ``tfprune.one_shot`` at
  224x224.
* Methods whose selection needs training (``spp``, ``admm``, ``fuzzy``,
  ``lrf``) run inside ``fit`` on a few random batches of 2 at 64x64 with
  aggressive options (``TRAINED``), so they finish on a small shared machine;
  FLOPs *ratios* are what is compared. LRF prunes the model with its 1x1
  ``P``/``Q`` layers inserted (``tfprune.lrf.insert_pq``), and its target is
  relative to that model (docs/budgets.md); the ratio to the original model
  is recorded too.

Every (model, method) pair runs in its own subprocess with a time limit, so a
crash or a hang is a row with a message, never the end of the run; a failing
combination (``BudgetError``, unsupported layer, ...) is a row with the
error. A combination the method cannot apply to by design (LRF on a model
without a KxK conv of ``groups=1`` besides the stem: MobileNetV2,
EfficientNetB0) is a *refused* row with the reason, not a failure.
``--merge`` keeps every row of ``budget.json`` except the (model, method,
target, allocation) combinations the call re-runs (a re-run stopped by the
deadline keeps the earlier result); ``--note`` adds a text under the table and
``--replace-note OLD NEW`` corrects a kept one that a later run made stale. ``--speed`` adds the ResNet50 timing of prune + one-shot + slim
against tfprune before the budget work (``--old``: a checkout of it) in
alternating fresh processes, and ``--profile`` a cProfile of that path.

Results go atomically to ``benchmarks/results/budget.json`` and ``budget.md``
(machine, load average before/after, argv, durations).

Usage::

    python benchmarks/budget.py                                  # everything
    python benchmarks/budget.py --models ResNet50 --methods l1 l2
    python benchmarks/budget.py --quick --results /tmp/out       # seconds
    python benchmarks/budget.py --speed --old /tmp/old --repeats 3 --profile
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # its helper modules (_notes); run as a script, already there

from _notes import replace_notes  # noqa: E402

ROOT = HERE.parent
RESULTS = HERE / "results"

MODELS = ("ResNet50", "MobileNetV2", "EfficientNetB0", "DenseNet121")
#: (metric, fraction of the dense model).
TARGETS = (("flops", 0.5), ("flops", 0.25), ("params", 0.5))
ALLOCATIONS = ("uniform", "global")
TOLERANCE = 0.02
ONE_SHOT_SIZE = 224
TRAINED_SIZE, TRAINED_BATCH = 64, 2
#: Torch-Pruning 0.49 s: DepGraph + 50 % pruning + physical removal on
#: torchvision's ResNet50, as quoted in issue 13 (not re-measured here).
TORCH_PRUNING_SECONDS = 0.49
#: tfprune before the budget work, as quoted in issue 13.
ISSUE_OLD_SECONDS = 6.8
PROFILE_NAME = "budget_profile.txt"


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def machine() -> dict[str, Any]:
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}


def write_json(path: Path, payload: dict) -> None:
    from tfprune._atomic import write_atomic

    write_atomic(path, (json.dumps(payload, indent=1, default=str) + "\n").encode(), make_parents=True)


# --------------------------------------------------------------------------
# Recipes
# --------------------------------------------------------------------------


def trained_recipe(name: str) -> tuple[dict[str, Any], int] | None:
    """``(prune() options, training steps)`` for a method that selects inside fit.

    Aggressive options so a few steps reach the target (the ones
    tests/methods/test_contract.py runs with).
    """
    from tfprune.schedules import ADMMSchedule, ConstantSparsity, IntervalSchedule

    recipes = {
        "spp": ({"schedule": ConstantSparsity(0.5, 0, -1, 1), "A": 0.5, "u": 0.25, "seed": 3}, 16),
        "admm": ({"schedule": ADMMSchedule(0.5, admm_steps=6, update_every=2, retrain_steps=2)}, 10),
        # end_step: the last pruning step (22 of 0..23), where fuzzy falls back
        # to the allocation if its alpha-cut has stalled (docs/budgets.md#fuzzy-fallback).
        "fuzzy": ({"schedule": IntervalSchedule(0, 22, 2, 0.9), "normalization": "minmax"}, 24),
        "lrf": ({"schedule": IntervalSchedule(0, 9, 3, 0.9)}, 12),
    }
    return recipes.get(name)


def build_model(name: str, size: int, quick: bool = False):
    import keras

    keras.utils.set_random_seed(0)
    if quick:
        return keras.applications.MobileNetV2(weights=None, input_shape=(size, size, 3), alpha=0.35)
    return getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))


def random_batch(size: int, batch: int, classes: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (batch, size, size, 3)).astype("float32")
    return x, rng.integers(0, classes, size=batch)


# --------------------------------------------------------------------------
# Worker: one model, one method, every target x allocation (subprocess)
# --------------------------------------------------------------------------


class Refused(Exception):
    """A combination the method cannot apply to this model (a row with a reason, not a failure)."""


def run_pair(model_name: str, method: str, targets, allocations, quick: bool, out: Path) -> None:
    """Every target x allocation of one (model, method); rows appended to ``out``."""
    import keras

    import tfprune

    trained = trained_recipe(method)
    one_shot = tfprune.methods.get(method).supports_one_shot
    size = (96 if quick else ONE_SHOT_SIZE) if one_shot else (64 if quick else TRAINED_SIZE)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    dense = build_model(model_name, size, quick)
    base = dense
    if method == "lrf":
        base = tfprune.lrf.insert_pq(dense)
    build_seconds = time.perf_counter() - t0
    counts = {
        "dense": {"flops": tfprune.count_flops(dense), "params": tfprune.count_params(dense)},
        "base": {"flops": tfprune.count_flops(base), "params": tfprune.count_params(base)},
    }
    classes = int(dense.outputs[0].shape[-1])
    loss = keras.losses.SparseCategoricalCrossentropy()

    for metric, value in targets:
        for allocation in allocations:
            row: dict[str, Any] = {
                "model": "MobileNetV2 (alpha 0.35)" if quick else model_name,
                "method": method, "metric": metric, "requested": value, "allocation": allocation,
                "input_size": size, "mode": "one_shot" if one_shot else "fit",
                "dense_flops": counts["dense"]["flops"], "dense_params": counts["dense"]["params"],
                "model_build_seconds": round(build_seconds, 3), "error": None,
            }
            if method == "lrf":
                row["pq_flops"], row["pq_params"] = counts["base"]["flops"], counts["base"]["params"]
            try:
                options: dict[str, Any] = {}
                if method == "taylor":
                    options = {"data": [random_batch(size, 1, classes)], "batches": 1, "loss": loss}
                steps = 0
                if not one_shot:
                    if trained is None:
                        msg = f"no benchmark recipe for training-only method {method!r}: add one to trained_recipe"
                        raise RuntimeError(msg)
                    options, steps = dict(trained[0]), trained[1]
                    if method == "lrf":
                        options["convs"] = tfprune.lrf.wrapped_convs(base)
                        if not options["convs"]:
                            msg = ("LRF prunes the channels between a KxK conv (groups=1, not the stem) and "
                                   f"its P/Q layers; {model_name} has none (tfprune.lrf.candidate_convs is empty)")
                            raise Refused(msg)
                cpu = time.process_time()
                t = time.perf_counter()
                pruned = tfprune.prune(base, method, target={metric: value}, allocation=allocation, **options)
                t_prune = time.perf_counter() - t
                t = time.perf_counter()
                if one_shot:
                    tfprune.one_shot(pruned)
                else:
                    x, y = random_batch(size, steps * TRAINED_BATCH, classes, seed=1)
                    pruned.compile(optimizer=keras.optimizers.SGD(1e-3), loss=loss, run_eagerly=True)
                    pruned.fit(x, y, batch_size=TRAINED_BATCH, epochs=1, verbose=0,
                               callbacks=[tfprune.UpdatePruning()])
                t_select = time.perf_counter() - t
                t = time.perf_counter()
                small = tfprune.slim(pruned)
                t_slim = time.perf_counter() - t
                cpu = time.process_time() - cpu
                achieved = {"flops": tfprune.count_flops(small), "params": tfprune.count_params(small)}
                ratio = achieved[metric] / counts["base"][metric]
                row.update(
                    steps=steps,
                    achieved=round(ratio, 4),
                    within_tolerance=bool(abs(ratio - value) <= TOLERANCE + 1e-9),
                    flops_ratio=round(achieved["flops"] / counts["base"]["flops"], 4),
                    params_ratio=round(achieved["params"] / counts["base"]["params"], 4),
                    seconds={"prune": round(t_prune, 3), "selection": round(t_select, 3),
                             "slim": round(t_slim, 3), "total": round(t_prune + t_select + t_slim, 3),
                             "cpu": round(cpu, 3)},
                )
                if method == "lrf":
                    row["flops_ratio_vs_original"] = round(achieved["flops"] / counts["dense"]["flops"], 4)
                    row["params_ratio_vs_original"] = round(achieved["params"] / counts["dense"]["params"], 4)
            except Refused as exc:
                row["refused"] = str(exc)
            except Exception as exc:  # noqa: BLE001 -- a failing combination is a result
                row["error"] = f"{type(exc).__name__}: {exc}"
                row["traceback"] = traceback.format_exc(limit=6)
            rows.append(row)
            write_json(out, {"rows": rows})
            print(_row_line(row), flush=True)


def _row_line(row: dict) -> str:
    head = f"{row['model']} {row['method']} {row['metric']}={row['requested']} {row['allocation']}"
    if row.get("refused"):
        return f"{head}: refused: {row['refused'][:200]}"
    if row.get("error"):
        return f"{head}: {row['error'].splitlines()[0][:200]}"
    s = row["seconds"]
    return (f"{head}: achieved {row['achieved']:.3f} ({'ok' if row['within_tolerance'] else 'OUT'}), "
            f"prune {s['prune']:.2f}s selection {s['selection']:.2f}s slim {s['slim']:.2f}s")


# --------------------------------------------------------------------------
# Speed: ResNet50 prune + one-shot + slim, this tree vs an old checkout
# --------------------------------------------------------------------------

#: Uniform channel sparsity giving ~0.5 FLOPs on ResNet50 with round_to=8
#: (the old API has no target).
OLD_SPARSITY = 0.29


def speed_child(variant: str, out: Path, profile: Path | None) -> None:
    """Time prune + select + slim on ResNet50 (224) twice in this process.

    ``old``: ``prune(sparsity=OLD_SPARSITY)`` + ``Pruner(p).step(0)`` +
    ``slim`` (the API before the budget work); ``new-sparsity``: the same with
    ``one_shot``; ``new-target``: ``prune(target=0.5)`` + ``one_shot``.
    """
    import tfprune

    dense = build_model("ResNet50", ONE_SHOT_SIZE)
    dense_flops = tfprune.count_flops(dense)

    def once():
        times = {}
        cpu = time.process_time()
        t = time.perf_counter()
        if variant == "new-target":
            pruned = tfprune.prune(dense, "l1", target=0.5)
        else:
            pruned = tfprune.prune(dense, "l1", sparsity=OLD_SPARSITY)
        times["prune"] = time.perf_counter() - t
        t = time.perf_counter()
        if variant == "old":
            tfprune.Pruner(pruned).step(0)
        else:
            tfprune.one_shot(pruned)
        times["selection"] = time.perf_counter() - t
        t = time.perf_counter()
        small = tfprune.slim(pruned)
        times["slim"] = time.perf_counter() - t
        times["total"] = sum(times.values())
        times["cpu"] = time.process_time() - cpu  # this process's CPU seconds, every thread
        return {k: round(v, 3) for k, v in times.items()}, tfprune.count_flops(small) / dense_flops

    if profile is not None:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        first, ratio = once()
        profiler.disable()
        with open(profile, "w", encoding="utf-8") as f:
            stats = pstats.Stats(profiler, stream=f)
            stats.sort_stats("cumulative").print_stats(60)
            stats.sort_stats("tottime").print_stats(40)
        runs = [first]
    else:
        runs = [once()[0], None]
        runs[1], ratio = once()
    write_json(out, {"variant": variant, "tfprune": tfprune.__file__, "runs": runs, "flops_ratio": round(ratio, 4),
                     "load_average": load_average()})


def run_speed(args, work: Path) -> dict[str, Any]:
    variants = ["new-target", "new-sparsity"] + (["old"] if args.old else [])
    results: dict[str, list] = {v: [] for v in variants}
    info: dict[str, Any] = {"sparsity_for_old_api": OLD_SPARSITY, "load_average_start": load_average(),
                            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                            "old_tree": str(args.old) if args.old else None}
    info["old_commit"] = _commit(args.old) if args.old else None
    for repeat in range(args.repeats):
        for variant in variants:
            out = work / f"speed_{variant}_{repeat}.json"
            env = _child_env(args.old if variant == "old" else ROOT)
            argv = [sys.executable, str(Path(__file__).resolve()), "--_speed-child", variant, "--_out", str(out)]
            t = time.perf_counter()
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=args.timeout, check=False)
            if proc.returncode != 0 or not out.exists():
                results[variant].append({"error": proc.stderr[-1500:]})
                continue
            record = json.loads(out.read_text())
            record["process_seconds"] = round(time.perf_counter() - t, 1)
            results[variant].append(record)
            print(f"speed {variant} #{repeat}: {record['runs']} flops {record['flops_ratio']}", flush=True)
    info["load_average_end"] = load_average()
    info["variants"] = results
    if args.profile:
        path = args.results / PROFILE_NAME
        out = work / "speed_profile.json"
        argv = [sys.executable, str(Path(__file__).resolve()), "--_speed-child", "new-target", "--_out", str(out),
                "--_profile", str(path)]
        subprocess.run(argv, env=_child_env(ROOT), capture_output=True, text=True, timeout=args.timeout, check=False)
        if out.exists():
            info["profile"] = {"file": _shown(path),
                               "runs": json.loads(out.read_text())["runs"]}
    return info


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def _commit(tree: Path) -> str | None:
    proc = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=False)
    return proc.stdout.strip() or None


def _shown(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _child_env(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["PYTHONPATH"] = str(tree)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args._speed_child:
        speed_child(args._speed_child, Path(args._out), Path(args._profile) if args._profile else None)
        return 0
    if args._pair:
        model_name, method = args._pair
        targets = [(m, float(v)) for m, v in (t.split("=") for t in args.targets)]
        run_pair(model_name, method, targets, args.allocations, args.quick, Path(args._out))
        return 0

    import tfprune

    started = time.time()
    args.results.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tfprune-budget-"))  # the children's partial results
    methods = args.methods or sorted(tfprune.methods._FACTORIES)
    models = ["MobileNetV2"] if args.quick else args.models
    out_json, out_md = args.results / "budget.json", args.results / "budget.md"
    previous = json.loads(out_json.read_text()) if out_json.exists() else None
    invocation: dict[str, Any] = {
        "argv": sys.argv if argv is None else ["benchmarks/budget.py", *argv],
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_average_start": load_average(),
        "models": models, "methods": methods, "targets": args.targets, "allocations": args.allocations,
    }
    payload: dict[str, Any] = {
        "kind": "tfprune-budget",
        "machine": machine(),
        "quick": args.quick,
        "tolerance": TOLERANCE,
        "settings": {"one_shot_size": 96 if args.quick else ONE_SHOT_SIZE,
                     "trained_size": 64 if args.quick else TRAINED_SIZE, "trained_batch": TRAINED_BATCH},
        "references": {"torch_pruning_resnet50_seconds": TORCH_PRUNING_SECONDS,
                       "tfprune_before_seconds_issue": ISSUE_OLD_SECONDS},
        "invocations": [],
        "notes": [],
        "rows": [],
        "pairs": [],
    }
    if args.merge and previous:  # keep the combinations this call does not re-run (see _merge_rows)
        payload["invocations"] = previous.get("invocations", [])
        payload["notes"] = previous.get("notes", [])
        payload["rows"] = previous["rows"]
        payload["pairs"] = previous["pairs"]  # the history of (model, method) processes
    for other in args.merge_from or []:  # rows measured by a call into another directory
        extra = json.loads(other.read_text())
        payload["rows"] = _merge_rows(payload["rows"], extra["rows"])
        payload["pairs"] += extra["pairs"]
        payload["invocations"] += extra["invocations"]
    payload["invocations"].append(invocation)
    payload["notes"] = replace_notes(payload["notes"], args.replace_note, str(out_json)) + (args.note or [])
    if not args.speed and previous and previous.get("speed"):  # keep the last comparison (it has its argv)
        payload["speed"] = previous["speed"]
    if args.speed_from:  # a comparison measured by an earlier call into another directory
        payload["speed"] = json.loads(args.speed_from.read_text())["speed"]
        if payload["speed"].get("old_tree") and not payload["speed"].get("old_commit"):
            payload["speed"]["old_commit"] = _commit(Path(payload["speed"]["old_tree"]))
        profile = args.speed_from.parent / PROFILE_NAME
        if profile.exists():
            shutil.copyfile(profile, args.results / PROFILE_NAME)
            payload["speed"]["profile"]["file"] = _shown(args.results / PROFILE_NAME)

    payload["registered_methods"] = sorted(tfprune.methods._FACTORIES)

    def save():
        invocation["load_average_end"] = load_average()
        invocation["seconds"] = round(time.time() - started, 1)
        write_json(out_json, payload)
        from tfprune._atomic import write_atomic

        write_atomic(out_md, render(payload).encode())

    if args.speed:  # first: the comparison the issue asks for
        payload["speed"] = run_speed(args, work)
        payload["speed"]["argv"] = invocation["argv"]
        save()
    deadline = _deadline(args.deadline)
    for model_name in [] if args.speed_only or args.no_table else models:
        for method in methods:
            out = work / f"{model_name}_{method}.json"
            argv_child = [sys.executable, str(Path(__file__).resolve()), "--_pair", model_name, method,
                          "--_out", str(out), "--targets", *args.targets, "--allocations", *args.allocations,
                          *(["--quick"] if args.quick else [])]
            t = time.perf_counter()
            timeout = args.timeout if deadline is None else min(args.timeout, deadline - time.time())
            error = None
            if timeout <= 0:
                error = f"not run: the --deadline {args.deadline} had passed"
            else:
                try:
                    proc = subprocess.run(argv_child, env=_child_env(ROOT), capture_output=True, text=True,
                                          timeout=timeout, check=False)
                    if proc.returncode != 0:
                        error = f"process exited with {proc.returncode}: {proc.stderr.strip()[-600:]}"
                except subprocess.TimeoutExpired:
                    why = "--timeout" if timeout == args.timeout else f"--deadline {args.deadline}"
                    error = f"not finished: the (model, method) process was stopped after {timeout:.0f} s ({why})"
            rows = json.loads(out.read_text())["rows"] if out.exists() else []
            done = {(r["metric"], r["requested"], r["allocation"]) for r in rows}
            for target in args.targets:
                metric, value = target.split("=")
                for allocation in args.allocations:
                    if (metric, float(value), allocation) not in done:
                        rows.append({"model": model_name, "method": method, "metric": metric,
                                     "requested": float(value), "allocation": allocation,
                                     "error": error or "not run"})
            for row in rows:
                print(_row_line(row), flush=True)
            payload["rows"] = _merge_rows(payload["rows"], rows)
            payload["pairs"].append({"model": model_name, "method": method, "targets": args.targets,
                                     "allocations": args.allocations, "seconds": round(time.perf_counter() - t, 1), "error": error})
            save()
    save()
    shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {out_json} and {out_md}", flush=True)
    return 0


#: Options whose values are note texts: the Markdown shows them under Notes, not in the command.
_NOTE_OPTIONS = ("--note", "--replace-note")


def _command(argv: list[str]) -> str:
    """``argv`` with the note texts elided (they are listed under Notes)."""
    shown, skipping = [], False
    for arg in argv:
        if arg.startswith("--"):
            skipping = arg in _NOTE_OPTIONS
            shown.append(arg + (" (text under Notes)" if skipping else ""))
        elif not skipping:
            shown.append(arg)
    return " ".join(shown)


def _combination(row: dict) -> tuple:
    """(model, method, metric, requested, allocation): what one row measures."""
    return row["model"], row["method"], row["metric"], float(row["requested"]), row["allocation"]


#: Table order: the one-shot methods, then the ones selecting inside fit.
METHOD_ORDER = ("l1", "l2", "fpgm", "taylor", "spp", "admm", "fuzzy", "lrf")


def _order(row: dict) -> tuple:
    model = MODELS.index(row["model"]) if row["model"] in MODELS else len(MODELS)
    method = METHOD_ORDER.index(row["method"]) if row["method"] in METHOD_ORDER else len(METHOD_ORDER)
    target = TARGETS.index((row["metric"], row["requested"])) if (row["metric"], row["requested"]) in TARGETS else 9
    allocation = ALLOCATIONS.index(row["allocation"]) if row["allocation"] in ALLOCATIONS else 9
    return model, method, row["method"], target, allocation


def _merge_rows(old: list[dict], new: list[dict]) -> list[dict]:
    """``old`` with each combination that ``new`` measures replaced by the new row.

    A new row stopped by ``--deadline``/``--timeout`` does not replace a row of
    ``old`` that ran (or failed, or was refused): a re-run cut short keeps the
    earlier result.
    """
    kept = {_combination(r): r for r in old if not _stopped(r)}
    shadowed = {_combination(r) for r in new if _stopped(r) and _combination(r) in kept}
    replaced = {_combination(r) for r in new} - shadowed
    return [r for r in old if _combination(r) not in replaced] + [r for r in new if _combination(r) not in shadowed]


def _unreachable(row: dict) -> bool:
    """Refused by the library with a ``BudgetError``: the target is below the smallest reachable model."""
    return (row.get("error") or "").startswith("BudgetError")


def _stopped(row: dict) -> bool:
    """Stopped by ``--deadline`` or the per-pair ``--timeout`` (not a verdict on the method)."""
    return (row.get("error") or "").startswith(("not run", "not finished"))


def _deadline(text: str | None) -> float | None:
    """``HH:MM`` (UTC, today) as a Unix time."""
    if not text:
        return None
    hours, minutes = (int(v) for v in text.split(":"))
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.replace(hour=hours, minute=minutes, second=0, microsecond=0).timestamp()


def _median(values):
    import statistics

    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def render(payload: dict) -> str:
    lines = [
        "# Budgets on keras.applications (`benchmarks/budget.py`)",
        "",
        "Generated from `budget.json`. Every registered method pruned to a FLOPs or parameter target "
        "(fraction of the dense model, `weights=None`, 1000 classes) with `allocation` uniform or global: "
        "`prune(target=...)` -> selection -> `slim`. *Achieved* is `count_flops` / `count_params` of the "
        f"slim model over the model pruned; *ok* means within +-{payload['tolerance']:.0%} of the request.",
        "",
        f"- Machine: {payload['machine']['platform']}, {payload['machine']['cpus']} CPUs (shared with other "
        "jobs). Runs (load average at start -> end):",
        *(f"  - `{_command(inv['argv'])}`: {inv['started']}, {inv.get('seconds', 0) / 60:.1f} min, load "
          f"{inv['load_average_start']} -> {inv.get('load_average_end')}" for inv in payload["invocations"]),
        "- Only the combinations these commands asked for ran; a combination absent from the table was not "
        "attempted (a shared 2-core machine and a deadline), one listed as *not run* was stopped by `--deadline`.",
        f"- One-shot methods (`tfprune.one_shot`) at {payload['settings']['one_shot_size']}x"
        f"{payload['settings']['one_shot_size']}; methods that select inside `fit` (mode *fit*) at "
        f"{payload['settings']['trained_size']}x{payload['settings']['trained_size']}, batches of "
        f"{payload['settings']['trained_batch']} random images, a few steps with aggressive options "
        "(see `trained_recipe`), eager; their *selection* time is the whole `fit`. Compare FLOPs ratios, not "
        "absolute counts, across the two sizes.",
        "- LRF prunes the model with its P/Q 1x1 layers inserted; its target and *achieved* are relative to "
        "that model (column *vs original* = slim over the original dense model).",
        "- Times are wall seconds on a loaded machine (other jobs running): compare them within this table. "
        "*CPU s* is the CPU time of the process over the three parts (every thread), less sensitive to the load.",
        "",
        "| model | method | mode | input | target | allocation | achieved | ok | FLOPs | params | "
        "prune s | selection s | slim s | total s | CPU s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    errors, refused = [], []
    rows = sorted(payload["rows"], key=_order)
    for row in rows:
        target = f"{row['metric']} {row['requested']:g}"
        if row.get("refused"):
            refused.append(row)
            lines.append(f"| {row['model']} | {row['method']} | {row.get('mode', '')} | {row.get('input_size', '')} | "
                         f"{target} | {row['allocation']} | refused (below) | - | | | | | | | |")
            continue
        if row.get("error"):
            errors.append(row)
            lines.append(f"| {row['model']} | {row['method']} | {row.get('mode', '')} | {row.get('input_size', '')} | "
                         f"{target} | {row['allocation']} | error (below) | no | | | | | | | |")
            continue
        s = row["seconds"]
        flops = f"{row['flops_ratio']:.3f}"
        if "flops_ratio_vs_original" in row:
            flops += f" (vs original {row['flops_ratio_vs_original']:.3f})"
        lines.append(
            f"| {row['model']} | {row['method']} | {row['mode']} | {row['input_size']} | {target} | "
            f"{row['allocation']} | {row['achieved']:.3f} | {'yes' if row['within_tolerance'] else '**no**'} | "
            f"{flops} | {row['params_ratio']:.3f} | {s['prune']:.2f} | {s['selection']:.2f} | {s['slim']:.2f} | "
            f"{s['total']:.2f} | {s['cpu']:.2f} |"
        )
    ok = [r for r in payload["rows"] if not r.get("error") and not r.get("refused")]
    lines += ["", f"{len(ok)} of {len(payload['rows'])} combinations ran; "
              f"{sum(r['within_tolerance'] for r in ok)} met their target within the tolerance.", ""]
    stopped = [r for r in errors if _stopped(r)]
    unreachable = [r for r in errors if _unreachable(r)]
    failed = [r for r in errors if not _stopped(r) and not _unreachable(r)]
    if not payload.get("quick") and payload.get("registered_methods"):
        matrix = len(MODELS) * len(payload["registered_methods"]) * len(TARGETS) * len(ALLOCATIONS)
        absent = matrix - len(payload["rows"])
        lines += [f"Of the {matrix} combinations ({len(MODELS)} models x {len(payload['registered_methods'])} "
                  f"registered methods x {len(TARGETS)} targets x {len(ALLOCATIONS)} allocations): "
                  f"**{len(ok)} ran** ({sum(r['within_tolerance'] for r in ok)} within the tolerance, "
                  f"{sum(not r['within_tolerance'] for r in ok)} outside), **{len(refused)} refused** "
                  f"(the method does not apply to the model, reason below), **{len(unreachable)} unreachable** "
                  f"(a BudgetError that says what is reachable, below), **{len(failed)} failed**, "
                  f"**{len(stopped) + absent} not run** ({len(stopped)} stopped by the deadline or the per-pair "
                  f"time limit, {absent} not attempted).", ""]
    if refused:
        lines += ["## Combinations refused", ""]
        for row in refused:
            lines.append(f"- {row['model']} / {row['method']} / {row['metric']} {row['requested']:g} / "
                         f"{row['allocation']}: {row['refused']}")
        lines.append("")
    if errors:
        lines += ["## Combinations unreachable, failed or not run", ""]
        for row in sorted(errors, key=lambda r: (not _unreachable(r), _stopped(r))):
            message = row["error"].replace("\n", " ").replace("|", "\\|")[:400]
            lines.append(f"- {row['model']} / {row['method']} / {row['metric']} {row['requested']:g} / "
                         f"{row['allocation']}: {message}")
        lines.append("")
    if payload.get("notes"):
        lines += ["## Notes", "", *(f"- {note}" for note in payload["notes"]), ""]
    speed = payload.get("speed")
    if speed:
        lines += [
            "## ResNet50: prune + one-shot + slim against Torch-Pruning and tfprune before",
            "",
            "Each variant runs in a fresh process (alternating, niced), ResNet50 224x224 built once, then the "
            "operation twice: *first* includes one-time costs (tracing, function building), *second* is warm. "
            f"`old` is tfprune at commit {speed.get('old_commit')} (`prune(sparsity={speed['sparsity_for_old_api']})` + "
            "`Pruner(p).step(0)` + `slim`, no target in that API); `new-sparsity` the same sparsity with "
            "`one_shot`; `new-target` is `prune(target=0.5)` + `one_shot` + `slim`. Load average "
            f"{speed['load_average_start']} -> {speed['load_average_end']}; measured from "
            f"{speed.get('started')} by `{' '.join(speed.get('argv', []))}`.",
            "",
            "| variant | runs | FLOPs ratio | first: prune / selection / slim = total s | "
            "second: prune / selection / slim = total s |",
            "| --- | --- | --- | --- | --- |",
        ]
        for variant, records in speed["variants"].items():
            good = [r for r in records if "runs" in r]
            if not good:
                lines.append(f"| {variant} | 0 | error | {records[0].get('error', '')[-200:]} | |")
                continue
            cells = []
            for i in range(2):
                med = {k: _median([r["runs"][i][k] for r in good])
                       for k in ("prune", "selection", "slim", "total", "cpu")}
                cells.append(f"{med['prune']:.2f} / {med['selection']:.2f} / {med['slim']:.2f} = "
                             f"**{med['total']:.2f}** (CPU {med['cpu']:.2f})")
            lines.append(f"| {variant} | {len(good)} | {good[0]['flops_ratio']:.3f} | {cells[0]} | {cells[1]} |")
        lines += [
            "",
            f"Medians over the runs. Torch-Pruning: {payload['references']['torch_pruning_resnet50_seconds']} s "
            "for DepGraph + 50 % pruning + physical removal of torchvision's ResNet50, as quoted in issue 13 "
            "(measured on these machines then; **not re-measured here**: torchvision is not installed). "
            f"Issue 13 quotes {payload['references']['tfprune_before_seconds_issue']} s for tfprune before.",
            "",
        ]
        if speed.get("profile"):
            lines += [f"cProfile of one cold `new-target` run: `{speed['profile']['file']}` "
                      f"(times under the profiler: {speed['profile']['runs'][0]}).", ""]
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--methods", nargs="+", default=None, help="default: every registered method")
    parser.add_argument("--targets", nargs="+", default=[f"{m}={v:g}" for m, v in TARGETS],
                        help="metric=fraction, e.g. flops=0.5 params=0.5")
    parser.add_argument("--allocations", nargs="+", default=list(ALLOCATIONS), choices=ALLOCATIONS)
    parser.add_argument("--quick", action="store_true",
                        help="tiny: MobileNetV2 alpha 0.35 at 96x96, l1 only (seconds)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per (model, method) subprocess")
    parser.add_argument("--speed", action="store_true", help="ResNet50 timing against --old (see module doc)")
    parser.add_argument("--speed-only", action="store_true", help="--speed without the table")
    parser.add_argument("--speed-from", type=Path, default=None,
                        help="take the --speed section (and its profile) from another budget.json")
    parser.add_argument("--merge-from", type=Path, nargs="+", default=None,
                        help="add the rows (and runs) of other budget.json files (with --merge)")
    parser.add_argument("--no-table", action="store_true", help="run no (model, method) pair")
    parser.add_argument("--old", type=Path, default=None, help="a checkout of tfprune before the budget work")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one cold new-target run (with --speed)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the rows of budget.json this call does not re-run")
    parser.add_argument("--note", nargs="+", default=None,
                        help="text added under the table (kept by --merge), e.g. why a combination missed")
    parser.add_argument("--replace-note", nargs=2, action="append", default=[], metavar=("OLD", "NEW"),
                        help="replace the text OLD by NEW in the notes kept by --merge (NEW '' removes it), "
                             "e.g. a sentence a later run made stale; repeatable")
    parser.add_argument("--deadline", help="HH:MM UTC: start no (model, method) after it, stop the running one")
    parser.add_argument("--_pair", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--_speed-child", dest="_speed_child", help=argparse.SUPPRESS)
    parser.add_argument("--_out", help=argparse.SUPPRESS)
    parser.add_argument("--_profile", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.speed = (args.speed or args.speed_only) and args.speed_from is None
    if args.quick:
        args.methods = args.methods or ["l1"]
        if "--targets" not in (sys.argv[1:] if argv is None else argv):
            args.targets = ["flops=0.5"]
    return args


if __name__ == "__main__":
    if "--_speed-child" not in sys.argv:  # an old tree's child imports tfprune from its PYTHONPATH only
        sys.path.insert(0, str(ROOT))
    sys.exit(main())
