"""Transfer learning: prune a pretrained CNN while fine-tuning it on a new, small dataset.

The transfer scenario of Structured Probabilistic Pruning (Wang et al., BMVC
2018): a network trained on one task is adapted to another one with little
data, and made smaller during that same fine-tuning, instead of being pruned
on the first task and transferred afterwards.

1. **pretrain**: the small ResNet of :func:`tfprune.zoo.small_resnet` on real
   MNIST (offline; cached under ``--cache`` like the other examples,
   ``examples/_common.py``);
2. **new task**: ``--data`` (default scikit-learn's 8x8 digits, 1,437
   training and 360 test images, a different real dataset, resized to the
   28x28 MNIST input; ``--train-per-class N`` keeps N training images per
   class); the MNIST head is replaced by a new ``Dense`` layer for the new
   classes, trained for ``--head-epochs`` with the rest frozen;
3. **two fine-tunings of that same model**, with the same epochs and learning
   rates:
   - *unpruned*: ``--prune-epochs`` + ``--finetune-epochs`` of plain
     fine-tuning;
   - *pruned*: ``tfprune.prune(model, --method, target=--target)`` ramped
     inside ``fit`` (``tfprune.UpdatePruning``) during ``--prune-epochs``,
     then ``tfprune.slim`` and ``--finetune-epochs`` of the slim model;
4. **report**: test accuracy, FLOPs (MACs), parameters, ``.tflite`` size and
   accuracy, and LiteRT latency of the two timed side by side
   (``tfprune.compare_latency``, 1 thread), with the load average, as
   ``results.json`` and ``results.md`` in ``--out``.

``--data`` also takes whatever :func:`tfprune.data.load_source` reads (the
loader of the ``tfprune prune`` command): a tensorflow-datasets name prepared
in ``--data-dir`` (e.g. ``oxford_flowers102``: RGB photos of any size,
converted to the model's 28x28 grey input; its ``validation`` split is the
test set here), an image folder with one sub-folder per class (10 % of each
class held out for testing), or an ``.npz`` holding ``x`` and ``y``.

    python examples/transfer.py                      # about 10 minutes on 2 shared CPU cores
    python examples/transfer.py --train-per-class 10 # 100 training images
    python examples/transfer.py --method fpgm --target 0.5
    python examples/transfer.py --data oxford_flowers102 --data-dir ~/tensorflow_datasets
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _common  # noqa: E402  (examples/_common.py)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfprune  # noqa: E402
from tfprune import data  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _common.add_arguments(parser, out="build/examples/transfer")
    parser.set_defaults(prune_epochs=6, finetune_epochs=4)
    parser.add_argument("--data", default="digits",
                        help="'digits', a tensorflow-datasets name (e.g. oxford_flowers102) or an image folder")
    parser.add_argument("--data-dir", default=None, help="tensorflow-datasets data directory")
    parser.add_argument("--transfer-batch-size", type=int, default=32, help="batch size on the new dataset")
    parser.add_argument("--train-per-class", type=int, default=None,
                        help="keep only this many training images of each class (a smaller new dataset)")
    parser.add_argument("--head-epochs", type=int, default=3,
                        help="epochs training only the new head before both fine-tunings")
    parser.add_argument("--method", default="l1", choices=["l1", "l2", "fpgm", "taylor"],
                        help="score-based pruning method, ramped to --target inside fit")
    parser.add_argument("--target", type=_target, default=0.25,
                        help="budget for tfprune.prune(target=): a FLOPs fraction (0.25) or e.g. 'params=0.5'")
    parser.add_argument("--allocation", default="uniform", choices=["uniform", "global"])
    return parser.parse_args(argv)


def _target(text: str) -> float | str:
    """``--target``: a number is a FLOPs fraction, anything else goes to ``prune`` as is."""
    try:
        return float(text)
    except ValueError:
        return text


# -- data ---------------------------------------------------------------------------------


def _arrays(ds: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """An unbatched ``(image, label)`` dataset read into two arrays."""
    xs, ys = [], []
    for x, y in data.make_dataset(ds, batch_size=256).as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64)


def load_images(
    source: str,
    shape: tuple[int, int, int],
    *,
    data_dir: str | None = None,
    seed: int = 0,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], int, str]:
    """The new task's ``(train, test)`` images at the model's input ``shape``.

    ``source``: ``"digits"`` (scikit-learn's 8x8 digits, offline, with its
    seeded 20 % test split, resized bilinearly), or anything
    :func:`tfprune.data.load_source` reads: an image folder with one
    sub-folder per class, an ``.npz`` or a tensorflow-datasets name prepared
    in ``data_dir`` (its ``validation`` split, else ``test``, is the test set
    here). Returns the arrays, the number of classes and a description.
    """
    if source == "digits":
        (x_train, y_train), (x_test, y_test) = data.load_digits(seed=seed)
        resize = keras.layers.Resizing(shape[0], shape[1], interpolation="bilinear", antialias=True)
        return ((np.asarray(resize(x_train)), y_train), (np.asarray(resize(x_test)), y_test), 10,
                f"scikit-learn digits: {len(x_train)} + {len(x_test)} images (8, 8, 1), resized to {shape}")
    found = data.load_source(source, shape, data_dir=data_dir, seed=seed)
    train, test = _arrays(found.train), _arrays(found.validation)
    num_classes = found.num_classes or int(max(train[1].max(), test[1].max())) + 1
    return train, test, num_classes, found.description


def per_class(x: np.ndarray, y: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` examples of every class, in their original order."""
    keep = np.concatenate([np.flatnonzero(y == label)[:count] for label in np.unique(y)])
    keep.sort()
    return x[keep], y[keep]


# -- the transfer model -------------------------------------------------------------------


def with_new_head(pretrained: keras.Model, num_classes: int) -> keras.Model:
    """A copy of ``pretrained`` whose last layer is a new ``Dense(num_classes)`` (logits).

    The new kernel starts at zero (uniform predictions, loss ln(num_classes)).
    """
    backbone = keras.models.clone_model(pretrained)
    backbone.set_weights(pretrained.get_weights())
    features = backbone.layers[-2].output
    logits = keras.layers.Dense(num_classes, name="new_head", kernel_initializer="zeros")(features)
    return keras.Model(backbone.inputs, logits, name="transfer")


def copy_model(model: keras.Model) -> keras.Model:
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def train_head(model: keras.Model, task: _common.Task, args: argparse.Namespace) -> None:
    """``--head-epochs`` of the new head alone (the pretrained layers frozen), Adam(1e-2)."""
    if not args.head_epochs:
        return
    for layer in model.layers[:-1]:
        layer.trainable = False
    _common.compile_model(model, 1e-2)  # a linear layer on fixed features: a larger step converges in an epoch
    model.fit(task.train, epochs=args.head_epochs, verbose=args.verbose, shuffle=False)
    for layer in model.layers:
        layer.trainable = True


# -- results ------------------------------------------------------------------------------


def write_results(result: dict, out: pathlib.Path) -> str:
    table = markdown_table(result)
    for name, text in (("results.json", json.dumps(result, indent=2, default=str)), ("results.md", table)):
        tmp = out / f".{name}.partial"
        tmp.write_text(text)
        os.replace(tmp, out / name)
    return table


def markdown_table(result: dict) -> str:
    rows, a, s = result["rows"], result["args"], result["settings"]
    base = rows["unpruned"]
    lines = [
        f"# Transfer learning: MNIST -> {s['data']}, pruned ({a['method']}, target={a['target']}) "
        "vs unpruned fine-tuning",
        "",
        f"Small ResNet pretrained on {a['train_size']} MNIST images ({a['dense_epochs']} epochs, "
        f"test accuracy {s['pretrained_mnist_accuracy']:.4f}); new task: {s['train_images']} training / "
        f"{s['test_images']} test images, {s['num_classes']} classes, resized to {s['input_shape']}. "
        f"New head trained alone for {a['head_epochs']} epoch(s) (test accuracy "
        f"{s['head_only_accuracy']:.4f}), then both models get {a['prune_epochs']} + {a['finetune_epochs']} "
        f"epochs (pruned: pruning ramped inside fit, then slim, then fine-tuning), batch "
        f"{a['transfer_batch_size']}, allocation {a['allocation']}, round_to={a['round_to']}. "
        "*acc before FT*: after the first phase (pruned: after slim). "
        "Latency: LiteRT, 1 thread, the two models timed alternately; ratios are pruned / unpruned.",
        "",
        "| model | acc before FT | test acc | TFLite acc | params | MFLOPs | FLOPs ratio | params ratio | "
        ".tflite KB | LiteRT ms | latency ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['accuracy_before_finetuning']:.4f} | {r['accuracy']:.4f} | {r['tflite_accuracy']:.4f} | "
            f"{r['params']:,} | "
            f"{r['flops'] / 1e6:.3f} | {r['flops'] / base['flops']:.3f} | {r['params'] / base['params']:.3f} | "
            f"{r['tflite_kb']:.1f} | {r['latency_ms']:.4f} | {r['latency_ms'] / base['latency_ms']:.2f} |"
        )
    lines += [
        "",
        f"Pruning: {rows['pruned']['prune_seconds']:.0f} s; `max |slim - masked|` = "
        f"{rows['pruned']['max_abs_diff_slim_vs_masked']:.1e}. Wall time {result['seconds'] / 60:.1f} min, "
        f"load average {result['load_average_start']} -> {result['load_average_end']}. "
        f"Produced by `{result['command']}`.",
    ]
    return "\n".join(lines) + "\n"


# -- main ---------------------------------------------------------------------------------


def main(argv=None) -> dict:
    args = parse_args(argv)
    start, load_start = time.perf_counter(), [round(v, 2) for v in os.getloadavg()]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    print("== 1. pretrained model (MNIST)")
    mnist = _common.load_task(args)
    pretrained = _common.dense_baseline(mnist, args)
    mnist_accuracy = float(pretrained.evaluate(mnist.test, verbose=0)[1])
    shape = tuple(pretrained.input_shape[1:])

    print(f"\n== 2. new task: {args.data}")
    (x_train, y_train), (x_test, y_test), num_classes, description = load_images(
        args.data, shape, data_dir=args.data_dir, seed=args.seed)
    if args.train_per_class:
        x_train, y_train = per_class(x_train, y_train, args.train_per_class)
    task = _common.Task(
        train=data.make_dataset(x_train, y_train, args.transfer_batch_size, shuffle=True, seed=args.seed),
        test=data.make_dataset(x_test, y_test, 512),
        x_test=x_test, y_test=y_test,
        steps_per_epoch=int(np.ceil(len(x_train) / args.transfer_batch_size)),
    )
    print(f"{description}; {num_classes} classes")
    keras.utils.set_random_seed(args.seed)
    start_model = with_new_head(pretrained, num_classes)
    train_head(start_model, task, args)
    _common.compile_model(start_model, 1e-3)
    head_accuracy = float(start_model.evaluate(task.test, verbose=0)[1])

    print(f"\n== 3a. fine-tuning without pruning ({args.prune_epochs} + {args.finetune_epochs} epochs)")
    keras.utils.set_random_seed(args.seed)
    unpruned = _common.compile_model(copy_model(start_model), 1e-3)
    unpruned.fit(task.train, epochs=args.prune_epochs, verbose=args.verbose, shuffle=False)
    rows = {"unpruned": _common.finish("unpruned", unpruned, task, args, out)}

    print(f"\n== 3b. pruning ({args.method}, target={args.target}) while fine-tuning")
    keras.utils.set_random_seed(args.seed)
    t0 = time.perf_counter()
    options = {"data": task.train} if args.method == "taylor" else {}  # Taylor differentiates the loss on batches
    pruned = _common.run_l1(start_model, task, args, args.target, method=args.method, allocation=args.allocation,
                            **options)
    prune_seconds = time.perf_counter() - t0
    rows["pruned"] = _common.finish("pruned", pruned, task, args, out)
    rows["pruned"]["prune_seconds"] = prune_seconds

    print("\n== 4. LiteRT latency, side by side (1 thread)")
    latency = tfprune.compare_latency(rows["unpruned"]["tflite"], rows["pruned"]["tflite"], num_threads=1,
                                      rounds=args.latency_rounds, runs_per_round=50)
    rows["unpruned"]["latency_ms"] = latency["median_a_ms"]
    rows["pruned"]["latency_ms"] = latency["median_b_ms"]

    result = {
        "example": "transfer",
        "command": " ".join(["python examples/transfer.py", *(sys.argv[1:] if argv is None else argv)]),
        "settings": {
            "data": args.data, "description": description, "input_shape": list(shape), "num_classes": num_classes,
            "train_images": len(x_train), "test_images": len(x_test),
            "pretrained_mnist_accuracy": mnist_accuracy, "head_only_accuracy": head_accuracy,
        },
        "args": vars(args),
        "rows": rows,
        "ratios": {
            "accuracy_delta": rows["pruned"]["accuracy"] - rows["unpruned"]["accuracy"],
            "flops": rows["pruned"]["flops"] / rows["unpruned"]["flops"],
            "params": rows["pruned"]["params"] / rows["unpruned"]["params"],
            "latency": latency["ratio"],
            "latency_round_ratios": latency["round_ratios"],
        },
        "seconds": time.perf_counter() - start,
        "load_average_start": load_start,
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
    }
    print("\n" + write_results(result, out))
    return result


if __name__ == "__main__":
    main()
