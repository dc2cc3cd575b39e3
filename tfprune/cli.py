"""Command line: ``tfprune prune|groups|slim|export|flops|inspect|benchmark ...``.

Calls only the public tfprune API; returns 0 on success, 1 on a tfprune error
(message on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from tfprune import errors


def _load(path: str):
    """Load a ``.keras`` file, or raise a clear error naming what is wrong."""
    import os
    import zipfile

    import keras

    import tfprune  # noqa: F401  (registers the wrapper and methods for loading)

    how = (
        "Pass a model saved with model.save('model.keras') (Keras 3); "
        "re-save it if the file was cut short by a full disk or an "
        "interrupted copy."
    )
    if not os.path.isfile(path):
        raise errors.PruningArgumentError(f"No model file at {path!r}. {how}")
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise errors.PruningArgumentError(
            f"{path!r} is not a valid .keras file: it is not a zip archive "
            f"({os.path.getsize(path)} bytes; truncated or corrupt). {how}"
        )
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise errors.PruningArgumentError(
            f"Keras could not load {path!r} ({type(exc).__name__}: "
            f"{str(exc).strip()[:500]}). The file is damaged, or it needs custom "
            f"layers that are not registered in this process. {how}"
        ) from exc


def _groups(args) -> int:
    import tfprune

    model = _load(args.model)
    graph = tfprune.ChannelGraph.build(model, exclude=args.exclude)
    rows = [
        {"id": g.id, "num_channels": g.num_channels, "layers": list(g.layers)}
        for g in graph.groups
    ]
    print(json.dumps(rows, indent=1))
    return 0


def _slim(args) -> int:
    import tfprune
    from tfprune._atomic import save_keras_atomic

    if not args.output.endswith((".keras", ".h5", ".hdf5")):
        raise errors.PruningArgumentError(
            "The output of `tfprune slim` is a Keras model file and must end with "
            f"'.keras' (or the legacy '.h5'). Received: {args.output!r}. Use e.g. "
            "'slim.keras'; export it to TFLite afterwards with `tfprune export`."
        )
    model = _load(args.model)
    plan = tfprune.PrunePlan.from_json(args.plan) if args.plan else None
    small = tfprune.slim(model, plan)
    try:
        save_keras_atomic(small, args.output)
    except OSError as exc:
        raise errors.write_error(f"the slim model {args.output!r}", args.output, exc) from exc
    print(
        f"{args.output}: {tfprune.count_params(small):,} parameters, "
        f"{tfprune.count_flops(small):,} MACs"
    )
    return 0


def _export(args) -> int:
    import numpy as np

    import tfprune

    representative = None
    if args.representative is not None:
        how = "Save the preprocessed input samples with numpy.save('calib.npy', x_train[:500])."
        try:
            with open(args.representative, "rb") as handle:
                magic = handle.read(6)
            if magic == b"\x93NUMPY":
                representative = np.load(args.representative, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise errors.PruningArgumentError(
                f"Cannot read --representative {args.representative!r} as a "
                f".npy array of input samples: {exc}. {how}"
            ) from exc
        if magic != b"\x93NUMPY":
            raise errors.PruningArgumentError(
                f"--representative {args.representative!r} is not a .npy file "
                f"(it starts with {magic!r}, not the NumPy header). {how}"
            )
    labels = None
    if args.labels is not None:
        try:
            with open(args.labels, encoding="utf-8") as handle:
                labels = [line.strip() for line in handle if line.strip()]
        except OSError as exc:
            raise errors.PruningArgumentError(
                f"Cannot read --labels {args.labels!r} (one label per line): {exc}"
            ) from exc
    normalization = None
    if args.mean is not None or args.std is not None:
        normalization = {
            "mean": args.mean if args.mean is not None else [0.0],
            "std": args.std if args.std is not None else [1.0],
        }
    path = tfprune.export_tflite(
        _load(args.model),
        args.output,
        quantize=args.quantize,
        representative_data=representative,
        int8_io=args.int8_io,
        batch_size=args.batch_size,
        labels=labels,
        normalization=normalization,
    )
    print(path)
    return 0


def _inspect(args) -> int:
    import tfprune.export

    report = tfprune.export.inspect_tflite(args.tflite)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(tfprune.export.format_report(report))
    return 0 if report["android_ready"] or not args.strict else 1


def _benchmark(args) -> int:
    import tfprune.export

    if args.compare is None:
        result = tfprune.export.benchmark_tflite(
            args.tflite, num_threads=args.threads, runs=args.runs, warmup=args.warmup
        )
        text = (
            f"{args.tflite}: median {result['median_ms']:.3f} ms, "
            f"p90 {result['p90_ms']:.3f} ms ({result['runs']} runs, "
            f"{result['threads']} thread(s))"
        )
    else:
        result = tfprune.export.compare_latency(
            args.tflite,
            args.compare,
            num_threads=args.threads,
            rounds=args.rounds,
            runs_per_round=max(1, args.runs // args.rounds),
            warmup=args.warmup,
        )
        text = (
            f"A {args.tflite}: median {result['median_a_ms']:.3f} ms, p90 {result['p90_a_ms']:.3f} ms\n"
            f"B {args.compare}: median {result['median_b_ms']:.3f} ms, p90 {result['p90_b_ms']:.3f} ms\n"
            f"B/A = {result['ratio']:.3f} (B is {result['speedup']:.2f}x as fast; "
            f"{result['rounds']} alternating rounds, {result['threads']} thread(s))"
        )
    print(json.dumps(result, indent=1) if args.json else text)
    return 0


def _flops(args) -> int:
    import tfprune

    model = _load(args.model)
    print(json.dumps({"params": tfprune.count_params(model), "flops": tfprune.count_flops(model)}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = argparse.ArgumentParser(prog="tfprune", description="Structured pruning for Keras 3.")
    sub = parser.add_subparsers(dest="command", required=True)
    from tfprune import cli_prune

    cli_prune.add_parser(sub)
    groups = sub.add_parser("groups", help="print the prunable channel groups of a .keras model")
    groups.add_argument("model")
    groups.add_argument("--exclude", nargs="*", default=[])
    groups.set_defaults(run=_groups)
    slim = sub.add_parser("slim", help="remove pruned channels (masks or --plan) and save")
    slim.add_argument("model")
    slim.add_argument("output")
    slim.add_argument("--plan", help="PrunePlan JSON file to apply instead of the masks")
    slim.set_defaults(run=_slim)
    export = sub.add_parser("export", help="export a .keras model to .tflite (builtin ops only)")
    export.add_argument("model")
    export.add_argument("output")
    export.add_argument("--quantize", choices=["float16", "dynamic", "int8"], default=None)
    export.add_argument(
        "--representative", help="int8: .npy file of preprocessed input samples (batch first)"
    )
    export.add_argument("--int8-io", action="store_true", help="int8: int8 input/output tensors")
    export.add_argument("--batch-size", type=int, default=None, help="fix the batch dimension (e.g. 1)")
    export.add_argument("--labels", help="text file, one class name per line (written to the JSON sidecar)")
    export.add_argument("--mean", type=float, nargs="+", help="normalization mean (sidecar)")
    export.add_argument("--std", type=float, nargs="+", help="normalization std (sidecar)")
    export.set_defaults(run=_export)
    inspect = sub.add_parser(
        "inspect", help="ops, tensor types, signature, size and Android/XNNPACK readiness of a .tflite"
    )
    inspect.add_argument("tflite")
    inspect.add_argument("--json", action="store_true")
    inspect.add_argument("--strict", action="store_true", help="exit 1 unless Android-ready")
    inspect.set_defaults(run=_inspect)
    bench = sub.add_parser("benchmark", help="LiteRT latency of a .tflite (or two, alternated)")
    bench.add_argument("tflite")
    bench.add_argument("--compare", help="second .tflite timed alternately with the first")
    bench.add_argument("--threads", type=int, default=1)
    bench.add_argument("--runs", type=int, default=100)
    bench.add_argument("--rounds", type=int, default=10)
    bench.add_argument("--warmup", type=int, default=10)
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(run=_benchmark)
    flops = sub.add_parser("flops", help="print parameters and MACs")
    flops.add_argument("model")
    flops.set_defaults(run=_flops)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except errors.TfpruneError as exc:
        print(f"tfprune: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
