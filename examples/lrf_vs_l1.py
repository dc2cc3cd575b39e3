"""LRF (Joo et al., AAAI 2021) vs the L1 baseline at the same FLOPs, on MNIST.

LRF inserts identity 1x1 convs ``P``/``Q`` around every 3x3 conv of the small
ResNet except the stem, then, conv by conv from the last to the first,
removes ``--ratio`` of its filters and of its input channels one at a time
with Weights Compensation, fine-tuning with CE + KD (T=2, teacher = the dense
model) after each of the two phases. The slim model keeps ``P`` and ``Q`` and
its FLOPs count them; the L1 baseline is matched to those FLOPs.

Budget: both methods get ``--prune-epochs`` epochs of training while pruning
(L1: a PolynomialDecay ramp inside fit; LRF: ``--initial-fraction`` of it
as CE-only fine-tuning after inserting P/Q, the rest split evenly between the
``2 x convs`` fine-tuning phases, i.e. a fraction of an epoch per phase
where the paper uses one epoch), then ``--finetune-epochs`` of the slim
model each. Both use Adam(1e-3) (the harness's optimizer; the paper uses SGD
1e-3 with momentum, see ``--sgd``).

    .venv/bin/python examples/lrf_vs_l1.py            # ~15 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _common  # noqa: E402  (examples/_common.py)
import keras  # noqa: E402

import tfprune  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _common.add_arguments(parser, out="build/examples/lrf")
    parser.add_argument("--ratio", type=float, default=0.5, help="LRF p: fraction of filters and inputs removed per conv")
    parser.add_argument("--initial-fraction", type=float, default=0.1,
                        help="share of the LRF pruning budget used for CE-only fine-tuning after inserting P/Q")
    parser.add_argument("--phase-steps", type=int, default=None,
                        help="fine-tuning steps per LRF phase (default: from the budget; 0: none)")
    parser.add_argument("--no-distill", action="store_true", help="fine-tune with CE only (no KD)")
    parser.add_argument("--sgd", action="store_true", help="SGD(1e-3, momentum 0.9, wd 1e-4) as in the paper")
    return parser.parse_args(argv)


def make_run_method(settings: dict):
    def run_method(dense: keras.Model, task: _common.Task, args: argparse.Namespace, callbacks=()) -> keras.Model:
        convs = tfprune.lrf.candidate_convs(dense)
        total = args.prune_epochs * task.steps_per_epoch
        initial = int(round(args.initial_fraction * total))
        per_layer = max(1, (total - initial) // (2 * len(convs)))
        if args.phase_steps is not None:
            per_layer = args.phase_steps
        settings.update(convs=convs, initial_steps=initial, steps_per_layer=per_layer,
                        phases=2 * len(convs), steps_per_epoch=task.steps_per_epoch)
        print(f"lrf: {len(convs)} convs, {initial} initial steps, {per_layer} steps per phase "
              f"({per_layer / task.steps_per_epoch:.2f} epoch each)")
        optimizer = (lambda: keras.optimizers.SGD(1e-3, momentum=0.9, weight_decay=1e-4)) if args.sgd \
            else (lambda: keras.optimizers.Adam(1e-3))
        pruned = tfprune.lrf.run(
            dense, task.train, ratio=args.ratio, steps_per_layer=per_layer, initial_steps=initial,
            distill=not args.no_distill, optimizer=optimizer, round_to=args.round_to,
            callbacks=callbacks, verbose=1 + (args.verbose == 1),
        )
        _common.compile_model(pruned, 1e-3)
        return pruned

    return run_method


def main(argv=None) -> dict:
    args = parse_args(argv)
    settings = {"ratio": args.ratio, "distill": not args.no_distill, "optimizer": "sgd" if args.sgd else "adam",
                "pq_kept": True, "pq_counted_in_flops": True, "layer_order": "last to first"}
    result = _common.compare("lrf", make_run_method(settings), args, settings)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
