"""LRF (Joo et al., AAAI 2021) vs the L1 baseline at the same FLOPs, on MNIST.

LRF inserts identity 1x1 convs ``P``/``Q`` around every 3x3 conv of the small
ResNet except the stem, then removes filters and input channels of those convs
one at a time with Weights Compensation, fine-tuning with CE + KD (T=2,
teacher = the dense model). The FLOPs budget ``--target`` (a fraction of the
dense model's FLOPs, P/Q excluded) is given to the library as an absolute
``tfprune.prune(model_pq, "lrf", target={"flops": ...})``, because the
P/Q-inserted model costs more than the dense one; the slim model keeps ``P``
and ``Q`` and its FLOPs count them. The L1 baseline is given the FLOPs LRF
reached.

Budget: both methods get ``--prune-epochs`` epochs of training while pruning.
The library ramps the budget from the P/Q model's cost to the target after
``--initial-fraction`` of them (the same ramp shape as L1's), removing at every
update the channels the uniform allocation asks for, one at a time with
compensation, in all wrapped convs at once (the paper's procedure goes conv by
conv, last to first, with one fine-tuning phase each: ``tfprune.lrf.run``,
which takes a ratio ``p``, not a budget). Then ``--finetune-epochs`` of the
slim model each. Both use Adam(1e-3) (the harness's optimizer; the paper uses
SGD 1e-3 with momentum, see ``--sgd``).

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
    parser.add_argument("--target", type=float, default=0.25,
                        help="FLOPs of the slim model (P/Q counted), fraction of the dense model's")
    parser.add_argument("--initial-fraction", type=float, default=0.1,
                        help="share of the pruning epochs trained before the budget ramp starts")
    parser.add_argument("--allocation", default="uniform", choices=["uniform", "global"],
                        help="how the budget is shared out among the convs (tfprune.prune's `allocation`)")
    parser.add_argument("--no-distill", action="store_true", help="fine-tune with CE only (no KD)")
    parser.add_argument("--sgd", action="store_true", help="SGD(1e-3, momentum 0.9, wd 1e-4) as in the paper")
    return parser.parse_args(argv)


def make_run_method(settings: dict):
    def run_method(dense: keras.Model, task: _common.Task, args: argparse.Namespace, callbacks=()) -> keras.Model:
        model_pq = tfprune.lrf.insert_pq(dense)
        convs = tfprune.lrf.wrapped_convs(model_pq)
        target_flops = args.target * tfprune.count_flops(dense)
        initial = int(round(args.initial_fraction * args.prune_epochs * task.steps_per_epoch))
        schedule = _common.ramp(args, task, begin_step=initial)
        settings.update(convs=convs, target_flops=target_flops, ramp=schedule.get_config())
        print(f"lrf: {len(convs)} convs, target {target_flops / 1e6:.2f} MFLOPs "
              f"(P/Q model {tfprune.count_flops(model_pq) / 1e6:.2f}), ramp from step {initial}")
        pruned = tfprune.prune(model_pq, "lrf", convs=convs, target={"flops": target_flops}, schedule=schedule,
                               allocation=args.allocation, round_to=args.round_to)
        trainer = pruned if args.no_distill else tfprune.Distiller(pruned, dense, temperature=2.0)
        optimizer = keras.optimizers.SGD(1e-3, momentum=0.9, weight_decay=1e-4) if args.sgd \
            else keras.optimizers.Adam(1e-3)
        trainer.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        metrics=["accuracy"])
        trainer.fit(task.train, epochs=args.prune_epochs, verbose=args.verbose, shuffle=False,
                    callbacks=[*callbacks, tfprune.UpdatePruning()])
        _common.compile_model(pruned, 1e-3)
        return pruned

    return run_method


def main(argv=None) -> dict:
    args = parse_args(argv)
    settings = {"target": args.target, "allocation": args.allocation, "distill": not args.no_distill, "optimizer": "sgd" if args.sgd else "adam",
                "pq_kept": True, "pq_counted_in_flops": True, "layer_order": "all convs together, on the budget ramp"}
    result = _common.compare("lrf", make_run_method(settings), args, settings)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
