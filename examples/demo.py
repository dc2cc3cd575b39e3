"""The tfprune main job, end to end on real offline data (MNIST).

1. train a small ResNet-style CNN on MNIST (dense baseline);
2. prune with the L1 criterion (Li et al. 2017) to a FLOPs budget, 4x fewer
   FLOPs by default (``tfprune.prune(model, "l1", target=0.25)``): the
   library picks how many filters every coupled group keeps, and a
   PolynomialDecay schedule ramps the budget from dense to the target inside
   ``model.fit``;
3. ``slim`` the model (physically remove the channels), print the requested
   and achieved FLOPs (and parameters), check that its outputs equal the
   masked model's, and fine-tune the slim model;
4. export both models to TFLite and time them with LiteRT side by side;
5. print one table: parameters, FLOPs, accuracy, .tflite size, latency.

Run with ``make demo`` (about 4 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ logs quiet

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfprune  # noqa: E402
from tfprune import data, export, metrics, zoo  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=20000, help="training images used (max 60000)")
    parser.add_argument("--epochs", type=int, default=2, help="dense training epochs")
    parser.add_argument("--prune-epochs", type=int, default=1, help="epochs over which the sparsity ramps up")
    parser.add_argument("--finetune-epochs", type=int, default=2, help="fine-tuning epochs of the slim model")
    parser.add_argument("--target", type=float, default=0.25,
                        help="FLOPs of the pruned model as a fraction of the dense model's (0.25: 4x fewer)")
    parser.add_argument("--round-to", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="build/demo", help="where the models and results are written")
    parser.add_argument("--verbose", type=int, default=1, help="Keras fit verbosity (1: progress bars)")
    return parser.parse_args(argv)


def compile_model(model, learning_rate):
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def main(argv=None) -> dict:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    x_train, y_train = x_train[: args.train_size], y_train[: args.train_size]
    train = data.make_dataset(x_train, y_train, args.batch_size, shuffle=True, seed=args.seed)
    test = data.make_dataset(x_test, y_test, 512)
    steps_per_epoch = int(np.ceil(len(x_train) / args.batch_size))
    print(f"MNIST: {len(x_train)} training / {len(x_test)} test images")

    t0 = time.perf_counter()
    print("\n== 1. dense training")
    dense = compile_model(
        zoo.small_resnet(), keras.optimizers.schedules.CosineDecay(2e-3, args.epochs * steps_per_epoch)
    )
    dense.fit(train, epochs=args.epochs, verbose=args.verbose, shuffle=False)

    dense_flops, dense_params = metrics.count_flops(dense), metrics.count_params(dense)
    requested = args.target * dense_flops
    print(f"\n== 2. L1 pruning to {args.target:g} x the dense FLOPs ({requested / 1e6:.2f} MFLOPs) inside fit")
    # With `target=`, the schedule's sparsity is read as progress: the budget
    # moves from the dense FLOPs (0) to the target (final_sparsity).
    schedule = tfprune.schedules.PolynomialDecay(
        initial_sparsity=0.0,
        final_sparsity=0.5,
        begin_step=0,
        end_step=max(1, args.prune_epochs * steps_per_epoch - steps_per_epoch // 4),
        frequency=max(1, steps_per_epoch // 8),
    )
    pruned = tfprune.prune(dense, "l1", target=args.target, schedule=schedule, round_to=args.round_to)
    compile_model(pruned, 1e-3)
    pruned.fit(
        train,
        epochs=args.prune_epochs,
        verbose=args.verbose,
        callbacks=[tfprune.UpdatePruning(verbose=1)],
        shuffle=False,  # the tf.data pipeline shuffles
    )
    pruned.save(out / "pruned.keras")

    print("\n== 3. slim (physically remove the pruned channels), then fine-tune it")
    slim = tfprune.slim(pruned)
    tfprune.make_plan(pruned).to_json(out / "plan.json")
    achieved, params = metrics.count_flops(slim), metrics.count_params(slim)
    budget = {
        "requested_flops": requested, "achieved_flops": achieved, "dense_flops": dense_flops,
        "achieved_params": params, "dense_params": dense_params,
    }
    print(f"FLOPs (MACs): requested {requested / 1e6:.3f} M ({args.target:.3f} x dense), "
          f"achieved {achieved / 1e6:.3f} M ({achieved / dense_flops:.3f} x dense)")
    print(f"parameters: {dense_params:,} dense -> {params:,} ({params / dense_params:.3f} x dense)")
    x_check = x_test[:256]
    masked_out = pruned.predict(x_check, verbose=0)
    slim_out = slim.predict(x_check, verbose=0)
    max_diff = float(np.abs(masked_out - slim_out).max())
    print(f"max |slim - masked| = {max_diff:.2e} (max |output| {np.abs(masked_out).max():.2f})")
    compile_model(slim, 1e-3)
    pruned_accuracy = float(slim.evaluate(test, verbose=0)[1])
    print(f"accuracy right after pruning (before fine-tuning): {pruned_accuracy:.4f}")
    if args.finetune_epochs:
        schedule = keras.optimizers.schedules.CosineDecay(1e-3, args.finetune_epochs * steps_per_epoch)
        compile_model(slim, schedule)
        slim.fit(train, epochs=args.finetune_epochs, verbose=args.verbose, shuffle=False)
    slim.save(out / "slim.keras")

    print("\n== 4. TFLite export and LiteRT latency (side by side)")
    rows = {}
    paths = {}
    for name, model in (("dense", dense), ("slim", slim)):
        path = export.export_tflite(model, out / f"{name}.tflite")
        paths[name] = path
        tflite_logits = export.run_tflite(path, x_test)
        rows[name] = {
            "params": metrics.count_params(model),
            "flops": metrics.count_flops(model),
            "accuracy": float(model.evaluate(test, verbose=0)[1]),
            "tflite_accuracy": float((tflite_logits.argmax(-1) == y_test).mean()),
            "tflite_kb": os.path.getsize(path) / 1024,
        }
    latency = export.compare_latency(paths["dense"], paths["slim"], num_threads=1, rounds=20, runs_per_round=50)
    rows["dense"]["latency_ms"] = latency["median_a_ms"]
    rows["slim"]["latency_ms"] = latency["median_b_ms"]
    wall = time.perf_counter() - t0

    print_table(rows)
    print(f"\nFLOPs requested {requested / 1e6:.3f} M, achieved {achieved / 1e6:.3f} M "
          f"({achieved / dense_flops:.3f} x dense); params {params:,} ({params / dense_params:.3f} x dense)")
    print(f"slim vs masked max abs difference: {max_diff:.2e}; total time {wall / 60:.1f} min")
    result = {
        "rows": rows,
        "budget": budget,
        "max_abs_diff": max_diff,
        "accuracy_before_finetuning": pruned_accuracy,
        "latency": latency,
        "wall_seconds": wall,
        "args": vars(args),
    }
    (out / "results.json").write_text(json.dumps(result, indent=2))
    return result


def print_table(rows):
    header = f"{'model':<7}{'params':>10}{'MFLOPs':>9}{'test acc':>10}{'tflite acc':>11}{'.tflite KB':>11}{'LiteRT ms':>11}"
    print("\n" + header)
    print("-" * len(header))
    for name, r in rows.items():
        print(
            f"{name:<7}{r['params']:>10,}{r['flops'] / 1e6:>9.2f}{r['accuracy']:>10.4f}"
            f"{r['tflite_accuracy']:>11.4f}{r['tflite_kb']:>11.1f}{r['latency_ms']:>11.3f}"
        )
    d, s = rows["dense"], rows["slim"]
    print(
        f"{'ratio':<7}{s['params'] / d['params']:>10.2f}{s['flops'] / d['flops']:>9.2f}"
        f"{'':>10}{'':>11}{s['tflite_kb'] / d['tflite_kb']:>11.2f}{s['latency_ms'] / d['latency_ms']:>11.2f}"
    )


if __name__ == "__main__":
    main()
