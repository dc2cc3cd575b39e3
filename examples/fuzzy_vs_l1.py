"""Fuzzy pruning (Zhao et al. 2019, reconstructed) vs the L1 baseline at the same FLOPs.

The fuzzy method runs its alpha-cut every ``steps_per_epoch // 8`` steps of
the ``--prune-epochs`` pruning epochs (an :class:`IntervalSchedule`); the cut
decides how many filters of each coupled group go at each step, until the
model's FLOPs after slimming reach ``--target-flops`` (a fraction of the dense
FLOPs, passed as ``tfprune.prune(..., target=)``). The L1 baseline (Li et al.
2017) is then given the FLOPs fuzzy pruning reached as its target, over the
same epochs, and both slim models get the
same fine-tuning (``examples/_common.py``).

On a trained network the L1 norms of one layer's filters are usually within a
factor 1.5 of each other, so with the default ``s / max s`` normalisation and
breakpoints ``(0.1, 0.5)`` no filter falls in the cut (fuzzy pruning
correctly refuses to prune a balanced layer). The example therefore uses
``normalization="minmax"`` by default; ``--normalization max`` shows the
other behaviour.

    python examples/fuzzy_vs_l1.py            # ~20-30 min on 2 shared CPU cores
"""

from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _common  # noqa: E402

import tfprune  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _common.add_arguments(parser, out="build/examples/fuzzy")
    parser.add_argument("--alpha", type=float, default=0.9, help="alpha-cut of non-importance")
    parser.add_argument("--alpha-importance", type=float, default=0.1, help="alpha-cut of importance")
    parser.add_argument("--memberships", default="ramp", choices=["ramp", "gaussian", "sigmoid"])
    parser.add_argument("--breakpoints", default="0.1,0.5", help='"a,b" on normalised scores, or "quantile"')
    parser.add_argument("--normalization", default="minmax", choices=["max", "minmax"])
    parser.add_argument("--target-flops", type=float, default=0.35, help="fraction of the dense FLOPs")
    parser.add_argument("--max-sparsity", type=float, default=0.8, help="per-group cap")
    parser.add_argument("--max-step-fraction", type=float, default=0.5, help="per-step cap (r_max)")
    return parser.parse_args(argv)


def _breakpoints(text: str):
    if text == "quantile":
        return text
    a, b = (float(v) for v in text.split(","))
    return (a, b)


def run_fuzzy(dense, task, args, report: dict | None = None, callbacks=()):
    """Prune a copy of ``dense`` with the fuzzy alpha-cut during ``--prune-epochs``.

    ``report`` (if given) receives the per-group cut history (``rows``, ``table``).
    """
    steps = args.prune_epochs * task.steps_per_epoch
    schedule = tfprune.schedules.IntervalSchedule(
        begin_step=0, end_step=max(0, steps - task.steps_per_epoch // 4),
        frequency=max(1, task.steps_per_epoch // 8), max_sparsity=args.max_sparsity,
    )
    pruned = tfprune.prune(
        dense, "fuzzy", schedule=schedule, round_to=args.round_to, seed=args.seed,
        alpha=args.alpha, alpha_importance=args.alpha_importance, memberships=args.memberships,
        breakpoints=_breakpoints(args.breakpoints), normalization=args.normalization,
        target=args.target_flops, max_step_fraction=args.max_step_fraction,
    )
    _common.compile_model(pruned, 1e-3)
    pruned.fit(task.train, epochs=args.prune_epochs, verbose=args.verbose,
               callbacks=[*callbacks, tfprune.UpdatePruning()], shuffle=False)
    if report is not None:
        method = tfprune.Pruner(pruned).method
        report["rows"] = method.report(pruned)
        report["table"] = method.format_report(report["rows"])
    return pruned


def main(argv=None) -> dict:
    args = parse_args(argv)
    report: dict = {}

    def run_method(dense, task, args):
        return run_fuzzy(dense, task, args, report)

    settings = {
        "method": "fuzzy-alpha-cut (reconstructed)",
        "alpha": args.alpha, "alpha_importance": args.alpha_importance,
        "memberships": args.memberships, "breakpoints": args.breakpoints,
        "normalization": args.normalization, "target_flops": args.target_flops,
        "max_sparsity": args.max_sparsity, "max_step_fraction": args.max_step_fraction,
        "cut_history": report,
    }
    result = _common.compare("fuzzy", run_method, args, settings)
    out = pathlib.Path(args.out)
    (out / "fuzzy_report.md").write_text(report.get("table", ""))
    with open(out / "results.md", "a") as f:
        f.write(
            "\nFuzzy alpha-cut per group and pruning step (counts over the filters kept before the step; "
            "`important` = mu_I >= alpha_importance, `unimportant` = mu_U >= alpha, `in cut` = the prune set):\n\n"
        )
        f.write(report.get("table", ""))
    print(report.get("table", ""))
    return result


if __name__ == "__main__":
    main()
