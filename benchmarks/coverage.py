"""Architecture coverage: prune(0.5) -> slim -> TFLite on every keras.applications model.

For every public model constructor in ``keras.applications`` (built with
``weights=None`` at a small input size, ``classes=10``, no softmax so logits
are compared), this script

1. randomises the BatchNormalization statistics and betas (so a channel that
   is not masked after its normalization shows up as a mismatch),
2. runs ``tfprune.prune(model, "l1", sparsity=0.5, round_to=None)`` and prunes at once
   (``tfprune.one_shot``),
3. compares the masked model, ``strip_pruning`` and ``slim`` on a batch of 2,
4. counts parameters and FLOPs (MACs) before and after with
   ``tfprune.metrics``,
5. exports the slim model with ``tfprune.export.export_tflite`` and runs it
   with LiteRT (``run_tflite``), comparing with Keras.

Every model runs in its own subprocess (with a time limit), so one failure or
a crash does not stop the others. Results are written atomically to
``benchmarks/results/coverage.json`` and ``benchmarks/results/coverage.md``.

No rule is registered: ConvNeXt's ``LayerScale`` and InceptionResNetV2's
``CustomScaleLayer`` (Keras layers outside the public API) have rules shipped
with tfprune, so every architecture runs as a user would run it.

Usage::

    python benchmarks/coverage.py                       # every architecture
    python benchmarks/coverage.py --models ResNet50 MobileNet
    python benchmarks/coverage.py --models 'EfficientNetB*' --input-size 96
    python benchmarks/coverage.py --no-tflite --timeout 600
    python benchmarks/coverage.py --models 'ConvNeXt*' --merge   # re-run, keep the rest
    python benchmarks/coverage.py --render                       # Markdown from the JSON
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from _coverage_common import (
    MEASUREMENT_HEADER,
    RTOL,
    add_arguments,
    base_meta,
    drive,
    error_cell,
    measurement_cells,
    run_subprocess,
    run_worker,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

#: Smallest input side each architecture accepts (keras.applications checks
#: these when weights=None); every other model accepts 32.
MIN_SIZE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}

def list_models() -> list[str]:
    """Public model constructors of ``keras.applications``, sorted."""
    import keras

    apps = keras.applications
    return sorted(
        name
        for name in dir(apps)
        if not name.startswith("_")
        and name[0].isupper()
        and callable(getattr(apps, name))
    )


# --------------------------------------------------------------------------
# Worker (one model, in a subprocess)
# --------------------------------------------------------------------------


def _build(name: str, size: int):
    import keras

    ctor = getattr(keras.applications, name)
    kwargs: dict[str, Any] = {
        "weights": None,
        "input_shape": (size, size, 3),
        "classes": 10,
        "classifier_activation": None,
    }
    try:
        return ctor(**kwargs)
    except TypeError:  # constructor without classifier_activation
        kwargs.pop("classifier_activation")
        return ctor(**kwargs)


def run_one(name: str, size: int, tflite: bool, out_path: str) -> None:
    """Run the pipeline on one architecture and write a JSON result."""

    run_worker({"model": name, "input_size": size}, out_path,
               lambda result: _build(name, size), tflite=tflite)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def _run_subprocess(name, size, tflite, timeout) -> dict[str, Any]:
    args = ["--worker", name, "--input-size", str(size)]
    if not tflite:
        args.append("--no-tflite")
    return run_subprocess(__file__, args, {"model": name, "input_size": size}, timeout)


#: Explanations of known failures, shown in the Markdown report:
#: (error type, text the error message contains, explanation).
KNOWN_FAILURES: list[tuple[str, str, str]] = [
    (
        "AttributeError",
        "has no attribute 'get_weights'",
        "the model contains raw ops called on symbolic tensors (`x + y`, "
        "`x * 0.5`: ConvNeXt's residual adds, MobileNetV3's hard-sigmoid). "
        "tfprune traces them (built-in rules for element-wise `keras.ops`), but "
        "`tfprune.graph.rebuild.copy_weights`, used by `prune` to copy the model, calls "
        "`get_weights()` on them and raw ops have no weights. Fix (one line, "
        "reported): skip objects that are not `keras.layers.Layer`. With that "
        "fix applied these architectures pass (checked on ConvNeXtTiny and "
        "MobileNetV3Small).",
    ),
]


def explain(result: dict[str, Any]) -> str | None:
    """The known explanation of a failed result, if any."""
    rel64 = result.get("rel_diff_float64")
    if result.get("status") == "mismatch" and rel64 is not None and rel64 < 1e-9:
        lite = result.get("diff_tflite_slim")
        lite_note = ("" if lite is None else
                     f" The LiteRT output of the same slim model differs from Keras by {lite:.1e}, "
                     "the same order.")
        return (
            f"float32 round-off, not a pruning error: slim and strip differ by "
            f"{result['diff_slim_strip']:.1e} = {result['rel_diff']:.1e} x max|out| in float32 "
            f"(tolerance {RTOL:g}), but by only {rel64:.1e} x max|out| when the same pipeline "
            "runs in float64; a missing mask or a wrong slice would not shrink with the "
            "precision. The masked model and `strip_pruning` differ by "
            f"{result.get('diff_masked_strip', float('nan')):.1e} (the masks are right); slim "
            "sums over fewer channels, in another order. This deep network with random weights "
            f"and random BatchNorm statistics reaches |logits| ~ {result.get('max_abs_out', 0):.0f}, "
            f"which amplifies float32 summation-order differences.{lite_note}"
        )
    for error_type, text, explanation in KNOWN_FAILURES:
        if result.get("error_type") == error_type and text in result.get("error", ""):
            return explanation
    return None


def render_markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    ok = [r for r in results if r.get("status") == "ok"]
    lines = [
        "# Architecture coverage",
        "",
        f"Generated by `benchmarks/coverage.py` on {meta['date']} "
        f"(keras {meta['keras']}, tensorflow {meta['tensorflow']}, {meta['machine']}).",
        "",
        "Every public `keras.applications` constructor is built with `weights=None`, "
        "`classes=10`, no classifier softmax (logits are compared) and random "
        "BatchNorm statistics/gamma/beta; pruned with `tfprune.prune(model, \"l1\", "
        "sparsity=0.5)` (masks applied at step 0, no training), then converted with "
        "`strip_pruning` and `slim`, and the slim model exported with "
        "`tfprune.export.export_tflite` and run with LiteRT on a batch of 2.",
        "",
        f"A model is **ok** when `max|slim - strip| <= {RTOL:g} * max|strip|`, "
        f"the masked model matches `strip` within the same tolerance, the slim model "
        "has fewer parameters, and the LiteRT output matches Keras within "
        "`1e-3 * max|out|`. FLOPs are multiply-accumulates (`tfprune.metrics.count_flops`) "
        "of one image at the given input size; they are theoretical counts, not "
        "measured latency. 50% of the channels of every prunable group are removed; "
        "channels coupled to the model input/output or to a channel-mixing layer "
        "(LayerNormalization over channels, softmax) are kept, so the reduction "
        "differs per architecture.",
        "",
        f"**{len(ok)} / {len(results)} architectures ok.**",
        "",
    ]
    ran = {r["model"] for r in results}
    missing = [name for name in list_models() if name not in ran]
    if missing:
        lines += [f"Not run yet ({len(missing)} of {len(ran) + len(missing)}): {', '.join(missing)}; "
                  "`python benchmarks/coverage.py --merge --models NAME ...` adds them.", ""]
    lines += [
        f"| model | input | status | {MEASUREMENT_HEADER} | error |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['model']} | {r.get('input_size')} | {r.get('status')} | "
            f"{measurement_cells(r)} | {error_cell(r)} |"
        )
    lines += ["", "## Notes", ""]
    lines.append(
        f"- Input side {meta.get('input_size', 64)} px, raised to the smallest size an "
        "architecture accepts (" + ", ".join(f"{k} {v}" for k, v in sorted(MIN_SIZE.items()))
        + "). `time` is the wall time of the whole pipeline for one model, TFLite "
        "conversion included (most of it), measured on a shared machine."
    )
    lines.append(
        "- Raw ops in Functional graphs (ConvNeXt's residual `x + y`, MobileNetV3's "
        "hard-sigmoid `x + 3`, `x * (1/6)`) are traced with tfprune's built-in rules for "
        "element-wise `keras.ops`. Grouped convs with one group per channel (ConvNeXt's "
        "depthwise `Conv2D(C, groups=C)`) are coupled like `DepthwiseConv2D`."
    )
    lines.append(
        "- Channels that feed LayerNormalization over the channel axis are kept, so "
        "ConvNeXt's residual stream is not pruned: only the 4x expansion inside every block "
        "is (params and FLOPs ~0.52 instead of ~0.26)."
    )
    lines.append(
        "- In InceptionResNetV2 the branches of a reduction block's Concatenate feed a "
        "residual merge, so they form one group ranked together and L1 can prune every "
        "filter of one branch conv; `slim` then keeps one all-zero channel for it "
        "(Keras cannot build `Conv2D(filters=0)`; 3 such channels here). The same "
        "group-wide L1 ranking (unnormalised across layers) keeps other branches whole "
        "(e.g. `conv2d_72`, 1.1M parameters, keeps all its filters and inputs), which is "
        "why its parameter ratio is 0.33 rather than 0.25."
    )
    lines.append(
        "- ConvNeXt's `LayerScale` (a per-channel `gamma`) and InceptionResNetV2's "
        "`CustomScaleLayer` (`inputs[0] + inputs[1] * scale`, scalar `scale`) are Keras "
        "layers outside the public `keras.layers` API; tfprune ships rules for them "
        "(matched by class name and `keras.src.applications` module), so no user rule "
        "is registered."
    )
    earlier: dict[str, list[str]] = {}
    for r in results:
        if r.get("from_run"):
            earlier.setdefault(r["from_run"], []).append(r["model"])
    for run, models in earlier.items():
        lines.append(
            f"- From an earlier run ({run}), not re-run for this report: {', '.join(models)}. "
            "`python benchmarks/coverage.py --merge --models NAME ...` re-runs them."
        )
    no_tflite = [r["model"] for r in results if r.get("status") == "ok" and r.get("tflite_ok") is None]
    if no_tflite:
        lines.append(
            f"- TFLite n/a: {', '.join(no_tflite)} ran with `--no-tflite` (prune, strip, slim "
            "and the comparisons only; the export is most of the time of a model), so "
            "their row does not check LiteRT."
        )
    loads = [r["load_average"][0] for r in results if r.get("load_average")]
    if loads:
        lines.append(
            f"- Load average (1 min) when each model finished: {min(loads):.1f} to "
            f"{max(loads):.1f} on {meta['machine']}; the times are wall times on that "
            "shared machine."
        )
    by_explanation: dict[str, list[str]] = {}
    unexplained = []
    for r in results:
        if r.get("status") == "ok":
            continue
        note = explain(r)
        if note is None:
            unexplained.append(r)
        else:
            by_explanation.setdefault(note, []).append(r["model"])
    if by_explanation or unexplained:
        lines += ["", "## Failures", ""]
    for note, models in by_explanation.items():
        lines.append(f"- **{', '.join(models)}**: {note}")
    for r in unexplained:
        lines.append(f"- **{r['model']}**: not explained yet "
                     f"({r.get('error_type', r.get('status'))}: {r.get('error', '')}).")
    lines.append("")
    return "\n".join(lines)


def _summary(result: dict[str, Any]) -> str:
    if result.get("status") == "ok":
        return "ok"
    return f"{result.get('status')} {result.get('error_type', '')}: {result.get('error', '')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, default_output=RESULTS / "coverage", timeout=1800)
    parser.add_argument("--input-size", type=int, default=64,
                        help="input side in pixels (raised to the model's minimum; default 64)")
    args = parser.parse_args(argv)

    if args.worker:
        run_one(args.worker, args.input_size, not args.no_tflite, args.out)
        return 0

    def run(name):
        size = max(args.input_size, MIN_SIZE.get(name, 32))
        return _run_subprocess(name, size, not args.no_tflite, args.timeout)

    return drive(args, list_models(), run=run, render=render_markdown,
                 meta=lambda: {**base_meta(), "input_size": args.input_size},
                 summary=_summary, tag="coverage")


if __name__ == "__main__":
    sys.exit(main())
