"""StructADMM (filter pruning) against the L1 baseline at the same FLOPs, on MNIST.

StructADMM (Zhang et al., arXiv 1807.11091) prunes a copy of the dense small
ResNet inside ``model.fit``, within the same ``--prune-epochs`` budget the L1
baseline gets:

* **ADMM phase**: the loss gets ``rho/2 ||W - Z + U||^2`` for every pruned
  conv; ``Z <- Proj_S(W + U)``, ``U <- U + W - Z`` and ``rho <- 1.5 rho``
  ``--updates-per-epoch`` times per epoch (the residual ``||W - Z|| / ||W||``
  and rho are printed at the end of every epoch), trained with SGD
  (momentum 0.9, ``--admm-lr``) as in the authors' code: with Adam's bounded
  steps the W-step cannot follow ``Z - U`` in a short budget and the
  supports keep flipping (measured: residual stays near 1);
* **hard prune** a quarter of an epoch before the end of the budget (the L1
  ramp also ends there), to ``--target`` FLOPs (``tfprune.prune(...,
  target=)``: the library gives every coupled group the same kept ratio that
  meets it; joint norm over the residual Add partners);
* **masked retraining** for the rest of the budget.

Then both pruned models are slimmed, fine-tuned for ``--finetune-epochs``,
exported to TFLite and timed with LiteRT (``examples/_common.py``)::

    python examples/admm_vs_l1.py                      # ~15 min on 2 busy CPUs
    python examples/admm_vs_l1.py --train-size 2000 --prune-epochs 1 --finetune-epochs 0
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
import keras  # noqa: E402

import tfprune  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _common.add_arguments(parser, out="build/examples/admm")
    parser.add_argument("--target", type=float, default=0.25, help="FLOPs of the slim model, fraction of dense")
    parser.add_argument("--rho", type=float, default=0.5, help="initial ADMM penalty weight")
    parser.add_argument("--rho-factor", type=float, default=1.3, help="rho growth per Z/U update")
    parser.add_argument("--rho-max", type=float, default=2.0)
    parser.add_argument("--updates-per-epoch", type=int, default=2, help="Z/U updates per epoch")
    parser.add_argument("--admm-lr", type=float, default=0.01,
                        help="SGD (momentum 0.9) learning rate of the ADMM phase and its retraining")
    return parser.parse_args(argv)


def admm_schedule(args: argparse.Namespace, steps_per_epoch: int) -> tfprune.schedules.ADMMSchedule:
    """ADMM until a quarter epoch before the end of the budget, then hard prune and retrain."""
    budget = args.prune_epochs * steps_per_epoch
    admm_steps = max(1, budget - steps_per_epoch // 4)
    update_every = max(1, min(admm_steps, steps_per_epoch // args.updates_per_epoch))
    # With ``target=`` the schedule's sparsity is progress: 0.5 is only its shape.
    return tfprune.schedules.ADMMSchedule(0.5, admm_steps=admm_steps, update_every=update_every)


def run_method(dense: keras.Model, task: _common.Task, args: argparse.Namespace, callbacks=()) -> keras.Model:
    schedule = admm_schedule(args, task.steps_per_epoch)
    print(f"ADMM: {schedule}")
    pruned = tfprune.prune(
        dense, "admm", target=args.target, schedule=schedule, round_to=args.round_to, seed=args.seed,
        rho=args.rho, rho_factor=args.rho_factor, rho_max=args.rho_max,
    )
    # The authors' group trains the ADMM phase with SGD (lr 0.01 on CIFAR,
    # docs/methods/admm.md#hyper-parameters): the W-step must follow Z - U between two updates,
    # which Adam's bounded steps (lr 1e-3) cannot do in a short budget.
    pruned.compile(
        optimizer=keras.optimizers.SGD(args.admm_lr, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    pruned.fit(task.train, epochs=args.prune_epochs, verbose=args.verbose, shuffle=False,
               callbacks=[*callbacks, tfprune.UpdatePruning(verbose=1)])
    method = tfprune.layers.find_wrappers(pruned)[0].method
    for entry in method.history:
        print(f"  step {entry['step']}: ||W - Z|| / ||W|| = {entry['residual']:.4f} (rho {entry['rho']:.3g})")
    return pruned


def main(argv=None) -> dict:
    args = parse_args(argv)
    settings = {
        "granularity": "filter", "target": args.target, "rho": args.rho, "rho_factor": args.rho_factor,
        "rho_max": args.rho_max, "updates_per_epoch": args.updates_per_epoch,
        "admm_optimizer": f"SGD(lr={args.admm_lr}, momentum=0.9)",
    }
    return _common.compare("admm", run_method, args, settings)


if __name__ == "__main__":
    main()
