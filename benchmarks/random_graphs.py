"""Random graphs: prune -> masks -> slim on thousands of random Functional models.

Case ``i`` is :func:`tfprune.testing.random_models.case_from_seed` of
``seed + i`` (a random model from the layers tfprune supports, a method among
l1/l2/spp/fuzzy/admm, a sparsity and ``round_to``); each is checked with
:func:`tfprune.testing.properties.check_case`: ``slim`` equals the masked
model within 1e-5 relative, the input model is untouched and the parameters
drop, or a clear tfprune error names the layer. Outcomes:

* ok: channels removed, slim == masked (``unchanged``: the method masked
  nothing, e.g. ``round_to`` above every group's width, and slim kept every
  parameter; counted among ok);
* refused: a TfpruneError that names the layer or the model;
* failed: anything else, with its seed and message.

A failure is reproduced with
``case_from_seed(seed)`` and ``properties.check_case(case)``;
``case.describe()`` prints the model's recipe.

Results go to ``benchmarks/results/random_graphs.json`` and ``.md``,
atomically, every ``--save-every`` cases and at the end. Runs over disjoint
seed ranges (run one after the other, or on other machines) are added up
with ``--combine``: one report with a row per run and the totals.

Usage::

    python benchmarks/random_graphs.py                      # 2,000 cases from seed 0
    python benchmarks/random_graphs.py --cases 200 --seed 5000
    python benchmarks/random_graphs.py --without functional_subclasses
    python benchmarks/random_graphs.py --cases 1000 --seed 1000 --out /tmp/rg1000
    python benchmarks/random_graphs.py --combine benchmarks/results/random_graphs.json /tmp/rg1000.json
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import json
import os
import pathlib
import platform
import re
import subprocess
import sys
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = pathlib.Path(__file__).resolve().parent
RESULTS = HERE / "results"

import keras  # noqa: E402

from tfprune._atomic import write_atomic_files  # noqa: E402
from tfprune.testing import properties, random_models  # noqa: E402

KIND = "tfprune-random-graphs"

#: Failures this benchmark found and that were fixed afterwards (seed: how).
#: They stay in the counts of the run that found them; the report says how
#: each was fixed and which regression test keeps it fixed.
FIXED = {
    1186: "fixed: the channel a slice drops scored higher than the one it keeps, so L2 masked the "
          "live one and slim, which must keep the slice non-empty, removed nothing; channels nothing "
          "reads now score 0 and are pruned first (`ChannelGraph.unread_units`, "
          "docs/methods/magnitude.md#unread-channels). Tests: "
          "tests/graph/test_random_graphs.py::test_seeds_that_failed_in_the_benchmark, "
          "tests/convert/test_channel_slices.py::test_unread_channels_are_pruned_before_live_ones.",
}


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def _kind_of(message: str) -> str:
    """A refusal or failure message with names and numbers blanked (to group them)."""
    first = message.splitlines()[0] if message else ""
    first = re.sub(r"`[^`]*`", "`…`", first)
    return re.sub(r"\d+", "N", first)[:200]


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    counts = collections.Counter(r["status"] for r in records)
    by_method: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in records:
        by_method[r["method"]]["failed" if r["status"] == "failed" else
                               "refused" if r["status"] == properties.REFUSED else "ok"] += 1
    refusals = collections.Counter(_kind_of(r["message"]) for r in records if r["status"] == properties.REFUSED)
    failure_kinds = collections.Counter(
        f"{r['error']}: {_kind_of(r['message'])}" for r in records if r["status"] == "failed"
    )
    ratios = [r["params"][1] / r["params"][0] for r in records if r["status"] == properties.OK]
    diffs = [r["max_rel_diff"] for r in records if r["status"] == properties.OK]
    return {
        "cases": len(records),
        "ok": counts[properties.OK] + counts[properties.UNCHANGED],
        "ok_channels_removed": counts[properties.OK],
        "ok_unchanged": counts[properties.UNCHANGED],
        "refused": counts[properties.REFUSED],
        "failed": counts["failed"],
        "by_method": {m: dict(c) for m, c in sorted(by_method.items())},
        "refusal_kinds": dict(refusals.most_common()),
        "failure_kinds": dict(failure_kinds.most_common()),
        "median_param_ratio": sorted(ratios)[len(ratios) // 2] if ratios else None,
        "max_rel_diff": max(diffs) if diffs else None,
    }


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def runs_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs in a result: a combined result lists them, a single run is its own."""
    if "runs" in result:
        return result["runs"]
    return [{k: v for k, v in result.items() if k not in ("kind", "records")}]


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several (same features, disjoint seeds): every run, counts over all cases.

    Raises:
        ValueError: the runs drew different model features, or a seed ran twice
            (its case would be counted twice).
    """
    features = results[0]["features"]
    for result in results[1:]:
        if result["features"] != features:
            raise ValueError(
                f"cannot combine runs with different features: {features} and {result['features']}; "
                "combine only runs made with the same --with/--without flags"
            )
    records = sorted((r for result in results for r in result["records"]), key=lambda r: r["seed"])
    seen = collections.Counter(r["seed"] for r in records)
    twice = sorted(seed for seed, n in seen.items() if n > 1)
    if twice:
        raise ValueError(
            f"seeds {twice[:5]}{' ...' if len(twice) > 5 else ''} ran in more than one of the runs "
            f"({len(twice)} seeds); combine runs over disjoint seed ranges (--seed)"
        )
    runs = [run for result in results for run in runs_of(result)]
    return {
        "kind": KIND,
        "features": features,
        "runs": runs,
        "complete": all(run.get("complete") for run in runs),
        "summary": summarize(records),
        "records": records,
    }


def _command(args: dict[str, Any]) -> str:
    return (f"python benchmarks/random_graphs.py --cases {args['cases']} --seed {args['seed']}"
            + "".join(f" --without {f}" for f in args["without"])
            + "".join(f" --with {f}" for f in args["with_"]))


def _counts_row(label: str, s: dict[str, Any]) -> str:
    return (f"| {label} | {s['cases']} | {s['ok']} | {s['ok_channels_removed']} | {s['ok_unchanged']} | "
            f"{s['refused']} | {s['failed']} |")


def markdown(result: dict[str, Any]) -> str:
    s = result["summary"]
    runs = runs_of(result)
    lines = ["# Random graphs: slim == masked on random Functional models", ""]
    if len(runs) > 1:
        lines += [f"{len(runs)} runs over disjoint seeds, added up with `--combine`:", ""]
    for run in runs:
        args, n = run["args"], run["summary"]["cases"]
        lines.append(
            ("- " if len(runs) > 1 else "")
            + f"`{_command(args)}`: seeds {args['seed']}..{args['seed'] + n - 1}, "
            f"{run['seconds'] / 60:.1f} min, load average {run['load_average_start']} -> "
            f"{run['load_average_end']} ({run['machine']}, commit {(run.get('commit') or '?')[:10]})."
            + ("" if run.get("complete") else f" Partial: {n} of {args['cases']} cases ran.")
        )
    lines += [
        "",
        "Each case: a random model (tfprune/testing/random_models.py), a method, a sparsity and "
        "`round_to`; `slim` must equal the masked model within 1e-5 relative, the input model "
        "must stay untouched and the parameters must drop, or tfprune must refuse the model with "
        "an error naming the layer (tfprune/testing/properties.py).",
        "",
        "| seeds | cases | ok | (channels removed) | (method masked nothing) | refused | failed |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        first = run["args"]["seed"]
        lines.append(_counts_row(f"{first}..{first + run['summary']['cases'] - 1}", run["summary"]))
    if len(runs) > 1:
        lines.append(_counts_row("**total**", s))
    lines += [
        "",
        f"Largest max|slim - masked| / max|masked| over ok cases: {_num(s['max_rel_diff'])}; median "
        f"parameter ratio slim / dense: {_num(s['median_param_ratio'])}. Features: {result['features']}.",
        "",
        "## By method",
        "",
        "| method | ok | refused | failed |",
        "|---|---|---|---|",
    ]
    for method, c in s["by_method"].items():
        lines.append(f"| {method} | {c.get('ok', 0)} | {c.get('refused', 0)} | {c.get('failed', 0)} |")
    lines += ["", "## Refusals", "", "| count | message (names blanked) |", "|---|---|"]
    lines += [f"| {n} | {k} |" for k, n in s["refusal_kinds"].items()] or ["| 0 | |"]
    lines += ["", "## Failures", ""]
    failures = [r for r in result["records"] if r["status"] == "failed"]
    if not failures:
        lines.append("None.")
    for r in failures:
        fixed = f" **{FIXED[r['seed']]}**" if r["seed"] in FIXED else ""
        lines.append(f"- seed {r['seed']} ({r['method']}): {r['error']}: {r['message'].splitlines()[0][:300]}.{fixed}")
    return "\n".join(lines) + "\n"


def save(result: dict[str, Any], out: pathlib.Path) -> None:
    """The JSON and the Markdown report, both or neither (atomically)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic_files([(out.with_suffix(".json"), json.dumps(result, indent=1, default=str).encode()),
                        (out.with_suffix(".md"), markdown(result).encode())])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first case (case i: seed + i)")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS / "random_graphs")
    parser.add_argument("--save-every", type=int, default=50)
    flags = [f.name for f in dataclasses.fields(random_models.Features)]
    parser.add_argument("--without", action="append", default=[], choices=flags,
                        help="leave a construct out of the models (repeatable)")
    parser.add_argument("--with", dest="with_", action="append", default=[], choices=flags,
                        help="put a construct that is off by default into the models (repeatable)")
    parser.add_argument("--combine", nargs="+", type=pathlib.Path, metavar="JSON",
                        help="run nothing: add up these results (disjoint seeds) into --out")
    args = parser.parse_args(argv)
    if args.combine:
        combined = combine([json.loads(path.read_text()) for path in args.combine])
        save(combined, args.out)
        s = combined["summary"]
        print(f"{s['cases']} cases in {len(combined['runs'])} runs: ok {s['ok']}, refused {s['refused']}, "
              f"failed {s['failed']} -> {args.out}.json, .md")
        return combined
    features = dataclasses.replace(
        random_models.Features(), **{f: False for f in args.without}, **{f: True for f in args.with_}
    )
    result: dict[str, Any] = {
        "kind": KIND,
        "args": {k: str(v) if isinstance(v, pathlib.Path) else v for k, v in vars(args).items()},
        "features": dataclasses.asdict(features),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, keras {keras.__version__}",
        "commit": _commit(),
        "load_average_start": _load(),
    }
    records: list[dict[str, Any]] = []
    start = time.perf_counter()
    for i in range(args.cases):
        seed = args.seed + i
        t0 = time.perf_counter()
        try:
            case = random_models.case_from_seed(seed, features)
        except Exception as exc:  # noqa: BLE001  (a generator bug is a failure too)
            record = {"status": "failed", "error": type(exc).__name__, "message": f"building: {exc}"[:2000],
                      "method": "?"}
        else:
            record = {**properties.run(case), "method": case.config.method,
                      "round_to": case.config.round_to, "sparsity": case.config.sparsity}
        record.update(seed=seed, seconds=round(time.perf_counter() - t0, 2))
        records.append(record)
        if record["status"] == "failed":
            print(f"seed {seed}: FAILED {record['error']}: {record['message'][:300]}", file=sys.stderr, flush=True)
        if (i + 1) % args.save_every == 0 or i + 1 == args.cases:
            result.update(
                finished=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                complete=i + 1 == args.cases, seconds=round(time.perf_counter() - start, 1),
                load_average_end=_load(), summary=summarize(records), records=records,
            )
            save(result, args.out)
            s = result["summary"]
            print(f"{i + 1}/{args.cases}: ok {s['ok']}, refused {s['refused']}, failed {s['failed']}", flush=True)
    return result


if __name__ == "__main__":
    main()
