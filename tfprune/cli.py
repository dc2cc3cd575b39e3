"""Command line: ``tfprune groups|slim|export|flops ...`` on ``.keras`` files.

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
    import keras

    import tfprune  # noqa: F401  (registers the wrapper and methods for loading)

    return keras.models.load_model(path, compile=False)


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

    model = _load(args.model)
    plan = tfprune.PrunePlan.from_json(args.plan) if args.plan else None
    small = tfprune.slim(model, plan)
    small.save(args.output)
    print(
        f"{args.output}: {tfprune.count_params(small):,} parameters, "
        f"{tfprune.count_flops(small):,} MACs"
    )
    return 0


def _export(args) -> int:
    import tfprune

    path = tfprune.export_tflite(_load(args.model), args.output)
    print(path)
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
    groups = sub.add_parser("groups", help="print the prunable channel groups of a .keras model")
    groups.add_argument("model")
    groups.add_argument("--exclude", nargs="*", default=[])
    groups.set_defaults(run=_groups)
    slim = sub.add_parser("slim", help="remove pruned channels (masks or --plan) and save")
    slim.add_argument("model")
    slim.add_argument("output")
    slim.add_argument("--plan", help="PrunePlan JSON file to apply instead of the masks")
    slim.set_defaults(run=_slim)
    export = sub.add_parser("export", help="export a .keras model to .tflite (float32)")
    export.add_argument("model")
    export.add_argument("output")
    export.set_defaults(run=_export)
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
