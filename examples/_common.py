"""Shared harness of the ``<method>_vs_l1.py`` examples.

Every method example compares one pruning method with the L1 filter baseline
(Li et al. 2017) in the same way, so their numbers can be put side by side:

1. **task**: real MNIST (offline, :func:`tfprune.data.load_mnist`) and the
   small ResNet of :func:`tfprune.zoo.small_resnet`;
2. **dense baseline**: trained once and cached under ``build/examples/``;
3. **the method** prunes a copy of the dense model during ``--prune-epochs``
   epochs (the example's ``run_method``);
4. **L1 at the same FLOPs**: L1 with ``target=`` the FLOPs the method's slim
   model reached (the library allocates a uniform ratio that meets it), ramped
   from dense over the same ``--prune-epochs`` (:func:`ramp`);
5. **finish**, identical for both: ``slim`` (checked against the masked
   model), ``--finetune-epochs`` of fine-tuning of the slim model, test
   accuracy, FLOPs (MACs) and parameters, TFLite export, LiteRT accuracy and
   LiteRT latency timed side by side with the dense model (A B A B ...).

Both pruned models therefore get the same total epoch budget. Results are
written as ``results.json`` and ``results.md`` in ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import pathlib
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfprune  # noqa: E402
from tfprune import data, export, metrics, zoo  # noqa: E402
from tfprune._atomic import save_keras_atomic  # noqa: E402


@dataclasses.dataclass
class Task:
    """Training and test data of the comparison."""

    train: Any
    test: Any
    x_test: np.ndarray
    y_test: np.ndarray
    steps_per_epoch: int


def add_arguments(parser: argparse.ArgumentParser, *, out: str) -> argparse.ArgumentParser:
    """The options every comparison example shares."""
    parser.add_argument("--train-size", type=int, default=20000, help="training images used (max 60000)")
    parser.add_argument("--test-size", type=int, default=10000,
                        help="MNIST test images every accuracy is measured on (the first ones; max 10000)")
    parser.add_argument("--dense-epochs", type=int, default=3, help="epochs of the (cached) dense baseline")
    parser.add_argument("--prune-epochs", type=int, default=2, help="epochs of the pruning phase (both methods)")
    parser.add_argument("--finetune-epochs", type=int, default=2, help="fine-tuning epochs of each slim model")
    parser.add_argument("--round-to", type=int, default=None, help="channel multiple for both methods")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-rounds", type=int, default=20, help="A/B rounds of the LiteRT timing")
    parser.add_argument("--out", default=out, help="where models and results are written")
    parser.add_argument("--cache", default="build/examples", help="where the dense baseline is cached")
    parser.add_argument("--verbose", type=int, default=2, help="Keras fit verbosity")
    return parser


def compile_model(model: keras.Model, learning_rate: Any) -> keras.Model:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def load_task(args: argparse.Namespace) -> Task:
    """MNIST: the first ``--train-size`` training and ``--test-size`` test images (all 10,000 if not given)."""
    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    x_train, y_train = x_train[: args.train_size], y_train[: args.train_size]
    test_size = getattr(args, "test_size", None)
    if test_size is not None:
        if not 0 < test_size <= len(x_test):
            raise SystemExit(f"--test-size must be in 1..{len(x_test)} (MNIST test images); received {test_size}.")
        x_test, y_test = x_test[:test_size], y_test[:test_size]
    return Task(
        train=data.make_dataset(x_train, y_train, args.batch_size, shuffle=True, seed=args.seed),
        test=data.make_dataset(x_test, y_test, 512),
        x_test=x_test,
        y_test=y_test,
        steps_per_epoch=int(np.ceil(len(x_train) / args.batch_size)),
    )


def dense_baseline(task: Task, args: argparse.Namespace) -> keras.Model:
    """The trained dense small ResNet, cached by its training settings."""
    key = f"{args.train_size}-{args.dense_epochs}-{args.batch_size}-{args.seed}"
    path = pathlib.Path(args.cache) / f"dense-{hashlib.sha1(key.encode()).hexdigest()[:10]}.keras"
    if path.is_file():
        print(f"dense baseline: cached {path}")
        return compile_model(keras.saving.load_model(path, compile=False), 1e-3)
    keras.utils.set_random_seed(args.seed)
    model = compile_model(
        zoo.small_resnet(),
        keras.optimizers.schedules.CosineDecay(2e-3, args.dense_epochs * task.steps_per_epoch),
    )
    print(f"dense baseline: training {args.dense_epochs} epochs")
    model.fit(task.train, epochs=args.dense_epochs, verbose=args.verbose, shuffle=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary file of its own, renamed: processes sharing a cache never read or mix a partial file.
    save_keras_atomic(model, path)
    return model


def slim_flops(pruned: keras.Model) -> int:
    """FLOPs (MACs) of the model ``slim`` would build from ``pruned``."""
    return metrics.count_flops(pruned, effective=True)


def ramp(args: argparse.Namespace, task: Task, begin_step: int = 0) -> tfprune.schedules.PolynomialDecay:
    """The budget ramp of every ``target=`` run: from dense to the target over
    ``--prune-epochs``, ending a quarter epoch early, in 8 updates per epoch.

    With ``target=`` a schedule's sparsity is read as progress
    (``s(step) / s_final``), so the final value (0.5) only sets the shape.
    """
    steps = args.prune_epochs * task.steps_per_epoch
    return tfprune.schedules.PolynomialDecay(
        0.0, 0.5, begin_step=begin_step,
        end_step=max(begin_step + 1, steps - task.steps_per_epoch // 4),
        frequency=max(1, task.steps_per_epoch // 8),
    )


def run_l1(
    dense: keras.Model,
    task: Task,
    args: argparse.Namespace,
    target: Any,
    *,
    method: str = "l1",
    callbacks: tuple = (),
    allocation: str = "uniform",
    **options: Any,
) -> keras.Model:
    """A score-based method ramped to ``target`` (a FLOPs fraction of ``dense``
    or ``{"flops": MACs}``) over ``--prune-epochs`` inside fit.

    ``method`` is ``"l1"`` (Li et al. 2017, the baseline) or another
    score-only method (``"l2"``, ``"fpgm"``, ``"taylor"``; ``options`` go to
    it); ``allocation="global"`` ranks the normalised scores across groups.
    """
    pruned = tfprune.prune(dense, method, target=target, schedule=ramp(args, task), allocation=allocation,
                           round_to=args.round_to, seed=args.seed, **options)
    compile_model(pruned, 1e-3)
    pruned.fit(task.train, epochs=args.prune_epochs, verbose=args.verbose,
               callbacks=[*callbacks, tfprune.UpdatePruning()], shuffle=False)
    return pruned


def finish(name: str, model: keras.Model, task: Task, args: argparse.Namespace, out: pathlib.Path) -> dict:
    """Slim (if wrapped), fine-tune, measure and export one pruned model."""
    row: dict[str, Any] = {}
    if tfprune.layers.find_wrappers(model):
        small = tfprune.slim(model)
        x = task.x_test[:256]
        row["max_abs_diff_slim_vs_masked"] = float(
            np.abs(model.predict(x, verbose=0) - small.predict(x, verbose=0)).max()
        )
    else:
        small = model
    compile_model(small, 1e-3)
    row["accuracy_before_finetuning"] = float(small.evaluate(task.test, verbose=0)[1])
    if args.finetune_epochs:
        lr = keras.optimizers.schedules.CosineDecay(1e-3, args.finetune_epochs * task.steps_per_epoch)
        compile_model(small, lr)
        small.fit(task.train, epochs=args.finetune_epochs, verbose=args.verbose, shuffle=False)
    row.update(measure(name, small, task, out))
    return row


def measure(name: str, model: keras.Model, task: Task, out: pathlib.Path) -> dict:
    """Accuracy, FLOPs, parameters and TFLite size/accuracy of a plain model."""
    if model.optimizer is None:
        compile_model(model, 1e-3)
    model.save(out / f"{name}.keras")
    path = export.export_tflite(model, out / f"{name}.tflite")
    logits = export.run_tflite(path, task.x_test)
    return {
        "params": metrics.count_params(model),
        "flops": metrics.count_flops(model),
        "accuracy": float(model.evaluate(task.test, verbose=0)[1]),
        "tflite_accuracy": float((logits.argmax(-1) == task.y_test).mean()),
        "tflite_kb": os.path.getsize(path) / 1024,
        "tflite": str(path),
    }


def compare(
    method: str,
    run_method: Callable[[keras.Model, Task, argparse.Namespace], keras.Model],
    args: argparse.Namespace,
    settings: dict[str, Any] | None = None,
) -> dict:
    """Run ``method`` and the L1 baseline at the same FLOPs; write the results.

    ``run_method(dense, task, args)`` returns the method's pruned model after
    ``--prune-epochs`` epochs: a wrapped model (it is slimmed here) or an
    already smaller plain Keras model.
    """
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    task = load_task(args)
    dense = dense_baseline(task, args)
    rows = {"dense": measure("dense", dense, task, out)}
    timings = {}

    print(f"\n== {method}: pruning for {args.prune_epochs} epoch(s)")
    keras.utils.set_random_seed(args.seed)
    t0 = time.perf_counter()
    pruned = run_method(dense, task, args)
    timings[method] = time.perf_counter() - t0
    achieved = slim_flops(pruned) if tfprune.layers.find_wrappers(pruned) else metrics.count_flops(pruned)

    print(f"\n== l1: target {achieved / 1e6:.2f} MFLOPs (what {method} reached)")
    keras.utils.set_random_seed(args.seed)
    t0 = time.perf_counter()
    l1 = run_l1(dense, task, args, {"flops": achieved})
    timings["l1"] = time.perf_counter() - t0

    print("\n== slim, fine-tune, export")
    rows[method] = finish(method, pruned, task, args, out)
    rows["l1"] = finish("l1", l1, task, args, out)
    rows[method]["prune_seconds"] = timings[method]
    rows["l1"]["prune_seconds"] = timings["l1"]
    rows["l1"]["target_flops"] = achieved

    print("\n== LiteRT latency, side by side with the dense model (1 thread)")
    for name in (method, "l1"):
        latency = export.compare_latency(
            rows["dense"]["tflite"], rows[name]["tflite"], num_threads=1,
            rounds=args.latency_rounds, runs_per_round=50,
        )
        rows[name]["latency_ms"] = latency["median_b_ms"]
        rows[name]["dense_latency_ms"] = latency["median_a_ms"]
        rows[name]["latency_ratio"] = latency["ratio"]
    rows["dense"]["latency_ms"] = rows[method]["dense_latency_ms"]

    result = {
        "method": method,
        "settings": settings or {},
        "args": vars(args),
        "rows": rows,
    }
    (out / "results.json").write_text(json.dumps(result, indent=2, default=str))
    table = markdown_table(result)
    (out / "results.md").write_text(table)
    print("\n" + table)
    return result


def markdown_table(result: dict) -> str:
    rows = result["rows"]
    dense = rows["dense"]
    a = result["args"]
    lines = [
        f"# {result['method']} vs L1 at the same FLOPs (MNIST, small ResNet)",
        "",
        f"{a['train_size']} training / {a.get('test_size') or 10000} test images, dense {a['dense_epochs']} epochs; "
        "each pruned model: "
        f"{a['prune_epochs']} pruning + {a['finetune_epochs']} fine-tuning epochs; round_to={a['round_to']}. "
        "Latency: LiteRT, 1 thread, timed alternately with the dense model; `ratio` = pruned / dense.",
        "",
        "| model | params | MFLOPs | FLOPs ratio | acc before FT | test acc | TFLite acc | .tflite KB | LiteRT ms | latency ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        before = r.get("accuracy_before_finetuning")
        lines.append(
            f"| {name} | {r['params']:,} | {r['flops'] / 1e6:.2f} | {r['flops'] / dense['flops']:.3f} | "
            f"{'' if before is None else f'{before:.4f}'} | {r['accuracy']:.4f} | {r['tflite_accuracy']:.4f} | "
            f"{r['tflite_kb']:.1f} | {r['latency_ms']:.3f} | {r.get('latency_ratio', 1.0):.2f} |"
        )
    return "\n".join(lines) + "\n"
