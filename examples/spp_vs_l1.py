"""SPP (filter granularity) vs the L1 baseline at the same FLOPs, on MNIST.

Structured Probabilistic Pruning (Wang et al., BMVC 2018) gives every filter
group a pruning probability, updated by rank with the centrosymmetric
exponential increment and sampled as a Bernoulli mask at every training step
(see :mod:`tfprune.methods.spp`). Here it prunes a copy of the dense small
ResNet during ``--prune-epochs`` epochs to the FLOPs budget ``--target``
(``tfprune.prune(..., target=)``: the library turns it into the count of
filters each group's probabilities are driven to); the L1 baseline (Li et al.
2017) is then given the FLOPs SPP reached as its target, with the same number
of epochs, and both slim models get the same fine-tuning
(``examples/_common.py``). The table reports accuracy, FLOPs, parameters,
.tflite size and LiteRT latency timed side by side with the dense model.

    python examples/spp_vs_l1.py            # about 15 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _common  # noqa: E402  (examples/_common.py)

import tfprune  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _common.add_arguments(parser, out="build/examples/spp")
    parser.add_argument("--target", type=float, default=0.25, help="FLOPs of the slim model, fraction of dense")
    parser.add_argument("--A", type=float, default=0.05, help="SPP increment of the least important group")
    parser.add_argument("--u", type=float, default=0.25, help="SPP Delta(r_c) / A")
    parser.add_argument("--interval", type=int, default=1, help="SPP update interval t (steps)")
    parser.add_argument("--granularity", default="filter", choices=["filter", "column"],
                        help="filter: slimmable groups; column: K[i,j,c,:] (theoretical FLOPs only)")
    return parser.parse_args(argv)


def run_spp(dense, task, args, callbacks=()):
    """SPP to ``--target`` FLOPs inside ``--prune-epochs`` epochs of fit.

    Filters: the library's budget (``target=``). Columns are mask-only, which
    a budget does not take: SPP's own ``target_flops`` stops it at the target
    (theoretical FLOPs), with the per-layer ratio ``R`` 0.1 above ``1 - target``
    so that the stop, not ``R``, ends the run.
    """
    options = {"round_to": args.round_to, "seed": args.seed, "A": args.A, "u": args.u, "interval": args.interval}
    if args.granularity == "filter":
        pruned = tfprune.prune(dense, "spp", target=args.target, **options)
    else:
        pruned = tfprune.prune(dense, "spp", sparsity=round(min(0.95, 1.1 - args.target), 3),
                               granularity=args.granularity, target_flops=args.target, **options)
    _common.compile_model(pruned, 1e-3)
    pruned.fit(task.train, epochs=args.prune_epochs, verbose=args.verbose,
               callbacks=[*callbacks, tfprune.UpdatePruning(verbose=1)], shuffle=False)
    return pruned


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.granularity != "filter":
        raise SystemExit("spp_vs_l1.py compares slim models: use --granularity filter "
                         "(benchmarks/compare.py runs column SPP).")
    settings = {k: getattr(args, k) for k in ("target", "A", "u", "interval")}
    return _common.compare("spp", run_spp, args, settings)


if __name__ == "__main__":
    main()
