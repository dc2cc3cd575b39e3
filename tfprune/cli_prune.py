"""``tfprune prune``: from a ``.keras`` model and labelled data to a slim ``.tflite``.

::

    tfprune prune model.keras --data DATA --target flops=0.5 --method l1 \\
        --epochs 3 --finetune-epochs 2 --out run/ [--quantize int8]

1. The model is loaded (:func:`tfprune.cli._load`) and the data read with
   :func:`tfprune.data.load_source` (a TFDS name, a folder with one
   sub-folder per class, or an ``.npz`` of ``x``/``y``), converted to the
   model's input shape.
2. The model is compiled with ``--loss``/``--optimizer``/``--learning-rate``
   and the dense model evaluated on the validation set.
3. :func:`tfprune.prune` wraps a copy with ``target=``; ``fit`` with
   :class:`tfprune.UpdatePruning` runs ``--epochs`` pruning epochs along a
   gradual ramp (Zhu & Gupta 2018's polynomial schedule, read as progress
   from the dense cost to the target; see docs/budgets.md), then
   ``--finetune-epochs`` epochs with the masks fixed: prune, then retrain
   (Li et al. 2017).
4. :func:`tfprune.slim` removes the pruned channels; the slim model is
   evaluated, exported to float32 ``.tflite`` (and int8 with ``--quantize
   int8``, calibrated on training samples), its LiteRT accuracy measured and
   its LiteRT latency timed side by side with the dense model
   (:func:`tfprune.compare_latency`).
5. ``report.json`` and ``report.md`` (see :mod:`tfprune.cli_report`).

**Resume.** After every epoch the pruned, compiled model (masks, pruning
state and optimizer state included) is saved atomically in
``OUT/checkpoints/`` with a ``state.json`` naming it. Running the same
command again continues after the last saved epoch; every epoch ``e``
reads the training data in the order of seed ``--seed + e``, so a resumed
run sees the batches an uninterrupted one would. Results are written to a
staging directory inside ``OUT`` and moved into place only when all of them
are complete, so a failure leaves no half-written file.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import keras

from tfprune import errors
from tfprune._atomic import save_keras_atomic, write_atomic

#: Methods that run from their name with the ramp; ``taylor`` also gets the training batches.
RAMPED_METHODS = ("l1", "l2", "fpgm", "taylor")
#: Methods whose own rule decides the pace (SPP's probabilities; fuzzy's alpha-cut, run ~8
#: times over the pruning epochs); they stop at the target, if they reach it in time.
OWN_PACE_METHODS = ("spp", "fuzzy")
#: Methods the command runs; ``admm`` gets an ADMMSchedule over the pruning epochs.
METHODS = (*RAMPED_METHODS, *OWN_PACE_METHODS, "admm")

#: Settings that must not change when a run is resumed (they shape the pruning).
_RESUME_KEYS = (
    "model_sha256", "data", "data_dir", "method", "target", "epochs", "loss",
    "optimizer", "learning_rate", "batch_size", "validation_fraction", "seed",
    "round_to", "allocation", "max_group_sparsity", "exclude",
)
_CE_LOSSES = {
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "binary_crossentropy": "BinaryCrossentropy",
}


def add_parser(sub: Any) -> None:
    """Add the ``prune`` sub-command to the ``tfprune`` argument parser."""
    p = sub.add_parser(
        "prune",
        help="prune a .keras model on your data inside fit, fine-tune, slim, export and report",
        description="Prune MODEL to --target inside model.fit on --data, fine-tune, slim, export "
        "float32 (and int8) .tflite, and write report.json/report.md into --out. Re-running "
        "with the same --out resumes after the last saved epoch.",
    )
    p.add_argument("model", help="the dense model, a .keras file")
    p.add_argument("--data", required=True,
                   help="a tensorflow-datasets name, a folder with one sub-folder per class, or an .npz with x and y")
    p.add_argument("--data-dir", help="tensorflow-datasets data directory (TFDS names only)")
    p.add_argument("--target", required=True, help="budget: flops=0.5 (fraction of the dense MACs), params=0.5, "
                   "flops=2e6 (absolute), 0.5 (= flops=0.5), latency=0.5 (fraction of the dense model's "
                   "measured LiteRT latency, with --threads; of the int8 model with --quantize int8) or "
                   "latency_ms=3.0")
    p.add_argument("--method", default="l1", help=f"pruning method: {', '.join(METHODS)} (default l1)")
    p.add_argument("--epochs", type=int, default=2, help="pruning epochs: the budget ramps from dense to the target")
    p.add_argument("--finetune-epochs", type=int, default=1, help="epochs with the final masks (default 1)")
    p.add_argument("--out", required=True, help="output directory (also holds the checkpoints to resume from)")
    p.add_argument("--loss", default="sparse_categorical_crossentropy",
                   help="a Keras loss name (from_logits is set from the model's last activation)")
    p.add_argument("--optimizer", default="adam", help="a Keras optimizer name (default adam)")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--validation-fraction", type=float, default=0.1,
                   help="training examples held out when the data has no validation split")
    p.add_argument("--quantize", choices=["int8"], default=None, help="also export an int8 .tflite")
    p.add_argument("--calibration-samples", type=int, default=200, help="int8: training samples for calibration")
    p.add_argument("--round-to", type=int, default=8,
                   help="keep channel counts multiples of this (0: exact counts; default 8)")
    p.add_argument("--allocation", choices=["uniform", "global"], default="uniform")
    p.add_argument("--max-group-sparsity", type=float, default=None,
                   help="no group loses more than this fraction of its channels, e.g. 0.8 (default: no limit)")
    p.add_argument("--exclude", nargs="*", default=[], help="layers whose filters are kept")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--latency-rounds", type=int, default=10, help="A/B rounds of the LiteRT timing (0: skip)")
    p.add_argument("--threads", type=int, default=1,
                   help="LiteRT interpreter threads of the latency timing and of a latency target (default 1)")
    p.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2], help="Keras fit verbosity (1: progress bars)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``tfprune prune``; return the exit code (130 when interrupted)."""
    _check_args(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise errors.PruningArgumentError(
            f"--out {args.out!r} is a file; it must be a directory (created if missing). Pass e.g. --out run1/."
        )
    import tfprune
    from tfprune import cli
    from tfprune.data import load_source

    model = cli._load(args.model)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise errors.PruningArgumentError(
            f"`tfprune prune` trains models with one input and one output; {args.model!r} has "
            f"{len(model.inputs)} input(s) and {len(model.outputs)} output(s). Use the Python API "
            "(tfprune.prune + model.fit) for other models."
        )
    units = model.output_shape[-1]
    source = load_source(
        args.data, model.input_shape[1:], data_dir=args.data_dir,
        validation_fraction=args.validation_fraction, seed=args.seed,
        num_classes=None if units is None else max(2, int(units)),
    )
    print(f"tfprune prune: data: {source.description}")
    print(f"tfprune prune: {source.num_train} training / {source.num_validation} validation examples")
    settings = _settings(args)
    dense = compile_model(model, args)  # checks --loss/--optimizer before anything is written
    checkpoints = out / "checkpoints"
    state = _read_state(checkpoints, settings)
    steps_per_epoch = math.ceil(source.num_train / args.batch_size)
    total_epochs = args.epochs + args.finetune_epochs
    validation = tfprune.data.make_dataset(source.validation, batch_size=max(args.batch_size, 256))
    keras.utils.set_random_seed(args.seed)

    if state is None:
        dense_eval = evaluate_model(dense, validation, args)
        print(f"tfprune prune: dense model: accuracy {dense_eval['accuracy']:.4f}")
        pruned = tfprune.prune(model, args.method, target=args.target, **_prune_options(args, source, steps_per_epoch))
        compile_model(pruned, args)
        state = {"settings": settings, "epoch": 0, "checkpoint": None, "dense": dense_eval, "history": []}
    else:
        print(f"tfprune prune: resuming {out} after epoch {state['epoch']} of {total_epochs}")
        pruned = keras.models.load_model(checkpoints / state["checkpoint"], compile=True)
        if args.method == "taylor":
            tfprune.methods.TaylorPruning.set_data(pruned, _batches(source, args, args.seed))
    done = min(state["epoch"], total_epochs)
    if done < total_epochs:
        train = _epochs(source, done, total_epochs, args)
        checkpoint = Checkpoint(checkpoints, state)
        try:
            pruned.fit(
                train, epochs=total_epochs, initial_epoch=done, steps_per_epoch=steps_per_epoch,
                validation_data=validation, verbose=args.verbose, shuffle=False,
                callbacks=[tfprune.UpdatePruning(), checkpoint],
            )
        except KeyboardInterrupt:
            saved = (
                f"epochs 1-{state['epoch']} are saved in {checkpoints}. Run the same command again to resume."
                if state["epoch"]
                else "no epoch was finished, nothing was saved."
            )
            print(f"tfprune prune: interrupted; {saved}")
            return 130
    from tfprune import cli_report

    out.mkdir(parents=True, exist_ok=True)
    with _staging(out) as staging:
        try:
            report = cli_report.finish(pruned, model, source, validation, state, args, staging)
            for name in report["files"].values():
                os.replace(staging / name, out / name)
        except OSError as exc:
            if isinstance(exc, errors.TfpruneError):
                raise
            raise errors.write_error(f"the results into {str(out)!r}", out, exc) from exc
    print(f"tfprune prune: wrote {', '.join(sorted(report['files'].values()))} to {out}")
    print(cli_report.summary_line(report))
    if not report["target"]["met"]:
        why = (
            f"{args.method} prunes at its own pace. Run with more --epochs (and a new --out), or use "
            "l1/l2/fpgm/taylor, which follow the budget ramp."
            if args.method in OWN_PACE_METHODS
            else "the channel counts could not reach it (see the BudgetWarning above)."
        )
        print(
            f"tfprune prune: warning: the target was not reached in {args.epochs} pruning epoch(s); {why}",
            file=sys.stderr,
        )
    return 0


def _check_args(args: argparse.Namespace) -> None:
    for name in ("epochs", "batch_size", "calibration_samples", "threads"):
        value = getattr(args, name)
        if value < 1:
            flag = "--" + name.replace("_", "-")
            raise errors.PruningArgumentError(f"{flag} must be >= 1. Received: {flag} {value}.")
    for name in ("finetune_epochs", "latency_rounds", "round_to"):
        value = getattr(args, name)
        if value < 0:
            flag = "--" + name.replace("_", "-")
            raise errors.PruningArgumentError(f"{flag} must be >= 0. Received: {flag} {value}.")
    if not 0 < args.validation_fraction < 1:
        raise errors.PruningArgumentError(
            f"--validation-fraction must be in (0, 1), e.g. 0.1. Received: {args.validation_fraction}."
        )
    if not (args.learning_rate > 0 and math.isfinite(args.learning_rate)):
        raise errors.PruningArgumentError(
            f"--learning-rate must be a positive number, e.g. 1e-3. Received: {args.learning_rate}."
        )
    method = args.method.lower()
    if method == "lrf":
        raise errors.PruningArgumentError(
            "Method 'lrf' cannot run from `tfprune prune`: it needs the model prepared with "
            "tfprune.lrf.insert_pq (1x1 P/Q layers around the convolutions), which changes the "
            "architecture. Use the Python API (see examples/lrf_vs_l1.py), or pick one of "
            f"{', '.join(METHODS)}."
        )
    if method not in METHODS:
        raise errors.PruningArgumentError(
            f"Unknown --method {args.method!r}. `tfprune prune` runs {', '.join(METHODS)} "
            "(lrf and methods added with tfprune.register_method need the Python API)."
        )
    args.method = method
    from tfprune.selection import Target

    target = _target_value(args.target)
    try:
        parsed = Target.parse(target)
    except ValueError as exc:
        raise errors.PruningArgumentError(
            f"--target {args.target!r} is not a budget: {exc} Examples: --target flops=0.5, params=1e6, "
            "latency=0.5, latency_ms=3.0."
        ) from None
    if parsed.is_latency:
        # The deployed model is timed: the int8 one with --quantize int8, with --threads threads.
        target = Target(parsed.metric, parsed.value, threads=args.threads, quantize=args.quantize).get_config()
    args.target = target


def _target_value(text: str) -> Any:
    """``"0.5"`` -> 0.5; ``"flops=0.5"`` stays a string (prune parses it)."""
    try:
        return float(text)
    except ValueError:
        return text


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    digest = hashlib.sha256()
    with open(args.model, "rb") as handle:
        for block in iter(functools.partial(handle.read, 1 << 20), b""):
            digest.update(block)
    return {
        "model": str(args.model), "model_sha256": digest.hexdigest(), "data": str(args.data),
        "data_dir": args.data_dir, "method": args.method, "target": args.target, "epochs": args.epochs,
        "finetune_epochs": args.finetune_epochs, "loss": args.loss, "optimizer": args.optimizer,
        "learning_rate": args.learning_rate, "batch_size": args.batch_size,
        "validation_fraction": args.validation_fraction, "seed": args.seed, "round_to": args.round_to,
        "allocation": args.allocation, "max_group_sparsity": args.max_group_sparsity,
        "exclude": sorted(args.exclude), "threads": args.threads,
    }


def _read_state(checkpoints: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The saved state of an earlier run in the same ``--out``, or None."""
    path = checkpoints / "state.json"
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise errors.PruningArgumentError(
            f"Cannot read the resume state {str(path)!r} ({exc}). Delete {str(checkpoints)!r} to "
            "start over, or pass another --out."
        ) from exc
    changed = {k: (state["settings"].get(k), settings[k]) for k in _RESUME_KEYS if state["settings"].get(k) != settings[k]}
    if changed:
        what = "; ".join(f"{k}: {old!r} then, {new!r} now" for k, (old, new) in changed.items())
        raise errors.PruningArgumentError(
            f"--out {str(checkpoints.parent)!r} holds a run with other settings ({what}), so it cannot "
            "be resumed with these. Re-run with the same settings to resume it (only "
            "--finetune-epochs, --quantize, --latency-rounds and --verbose may change), or pass "
            "another --out to start a new run."
        )
    if state.get("checkpoint") is None:
        return None  # nothing was saved yet
    state["settings"] = settings
    return state


def compile_model(model: Any, args: argparse.Namespace) -> Any:
    """Compile ``model`` with the named loss and optimizer, or raise a clear error."""
    try:
        optimizer = keras.optimizers.get(args.optimizer)
        optimizer = optimizer.__class__.from_config({**optimizer.get_config(), "learning_rate": args.learning_rate})
    except (ValueError, TypeError) as exc:
        raise errors.PruningArgumentError(
            f"Unknown --optimizer {args.optimizer!r} ({exc}). Expected a Keras optimizer name such as "
            "adam, sgd, rmsprop, adamw."
        ) from exc
    name = args.loss.lower()
    try:
        if name in _CE_LOSSES:
            loss = getattr(keras.losses, _CE_LOSSES[name])(from_logits=not _outputs_probabilities(model))
        else:
            loss = keras.losses.get(args.loss)
    except (ValueError, TypeError) as exc:
        raise errors.PruningArgumentError(
            f"Unknown --loss {args.loss!r} ({exc}). Expected a Keras loss name such as "
            "sparse_categorical_crossentropy (integer labels, the default), categorical_crossentropy, "
            "binary_crossentropy."
        ) from exc
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


def _outputs_probabilities(model: Any) -> bool:
    """Whether the model's output layer ends with a softmax/sigmoid (else: logits)."""
    layer = model.layers[-1]
    activation = getattr(getattr(layer, "activation", None), "__name__", "")
    return activation in ("softmax", "sigmoid") or type(layer).__name__ == "Softmax"


def evaluate_model(model: Any, validation: Any, args: argparse.Namespace) -> dict[str, float]:
    """Loss and accuracy of ``model`` on the validation set; the first use of loss and data."""
    try:
        values = model.evaluate(validation, verbose=0, return_dict=True)
    except Exception as exc:  # noqa: BLE001  (any Keras failure here means loss, model and data do not fit)
        first = str(exc).strip().splitlines()[0][:400] if str(exc).strip() else type(exc).__name__
        raise errors.PruningArgumentError(
            f"The model cannot be trained with --loss {args.loss} on this data: Keras said "
            f"{type(exc).__name__}: {first}. The model outputs shape {tuple(model.output_shape)}; the "
            "data has one integer class id per example. Use --loss sparse_categorical_crossentropy "
            "for a classifier with one output unit per class."
        ) from exc
    return {"loss": float(values["loss"]), "accuracy": float(values.get("accuracy", float("nan")))}


def _prune_options(args: argparse.Namespace, source: Any, steps_per_epoch: int) -> dict[str, Any]:
    """``tfprune.prune`` arguments besides model, method and target."""
    import tfprune

    prune_steps = args.epochs * steps_per_epoch
    options: dict[str, Any] = {
        "round_to": args.round_to or None, "allocation": args.allocation,
        "max_group_sparsity": args.max_group_sparsity, "exclude": args.exclude, "seed": args.seed,
    }
    if args.method in RAMPED_METHODS and prune_steps >= 2:
        options["schedule"] = budget_ramp(prune_steps, steps_per_epoch)
    elif args.method == "admm":
        # ADMM, then the hard prune a quarter epoch before the pruning epochs end, then masked retraining.
        admm_steps = max(1, prune_steps - max(1, steps_per_epoch // 4))
        options["schedule"] = tfprune.schedules.ADMMSchedule(
            0.5, admm_steps=admm_steps, update_every=max(1, min(admm_steps, steps_per_epoch // 4))
        )
    elif args.method == "fuzzy":
        # The alpha-cut decides how many filters go; it runs ~8 times over the pruning epochs.
        options["schedule"] = tfprune.schedules.IntervalSchedule(
            begin_step=0, end_step=max(1, prune_steps - 1), frequency=max(1, prune_steps // 8)
        )
    if args.method == "taylor":
        options["data"] = _batches(source, args, args.seed)
    return options


def budget_ramp(prune_steps: int, steps_per_epoch: int) -> Any:
    """The ramp of the score-based methods: from the dense cost to the target.

    Zhu & Gupta (2018)'s polynomial schedule, read by ``target=`` as progress
    (its final sparsity only sets the shape): ~8 mask updates per epoch, the
    last one (progress 1, the target) a quarter epoch before the pruning
    epochs end, on a step that training reaches (steps are 0-based and the
    masks change only at multiples of the frequency).
    """
    import tfprune

    frequency = max(1, steps_per_epoch // 8)
    last = max(1, prune_steps - 1 - steps_per_epoch // 4)
    end = (last // frequency) * frequency
    if end < 1:
        frequency, end = 1, last
    return tfprune.schedules.PolynomialDecay(0.0, 0.5, begin_step=0, end_step=end, frequency=frequency)


def _batches(source: Any, args: argparse.Namespace, seed: int) -> Any:
    from tfprune.data import pipeline_options

    return source.train_in_order(seed).batch(args.batch_size).prefetch(2).with_options(pipeline_options())


def _epochs(source: Any, first: int, last: int, args: argparse.Namespace) -> Any:
    """Epochs ``first..last-1`` of training batches, epoch ``e`` in the order of seed ``--seed + e``."""
    from tfprune.data import pipeline_options

    parts = [source.train_in_order(args.seed + e).batch(args.batch_size) for e in range(first, last)]
    return functools.reduce(lambda a, b: a.concatenate(b), parts).prefetch(2).with_options(pipeline_options())


class Checkpoint(keras.callbacks.Callback):
    """Save the model, then ``state.json`` naming it, atomically after every epoch.

    The previous epoch's file is removed only once the state names the new one,
    so a crash at any point leaves a state that names a complete checkpoint.
    """

    def __init__(self, directory: Path, state: dict[str, Any]):
        super().__init__()
        self.directory = directory
        self.state = state

    def on_epoch_end(self, epoch, logs=None):
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{epoch + 1:03d}.keras"
        try:
            save_keras_atomic(self.model, self.directory / name)
            history = [h for h in self.state["history"] if h["epoch"] <= epoch]
            history.append({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}})
            self.state.update(epoch=epoch + 1, checkpoint=name, history=history)
            write_atomic(self.directory / "state.json", json.dumps(self.state, indent=1).encode())
        except OSError as exc:
            raise errors.write_error(f"the checkpoint of epoch {epoch + 1}", self.directory / name, exc) from exc
        for old in self.directory.glob("epoch-*.keras"):
            if old.name != name:
                with contextlib.suppress(OSError):
                    old.unlink()


@contextlib.contextmanager
def _staging(out: Path):
    """A temporary directory inside ``out``, removed at the end whatever happens."""
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
