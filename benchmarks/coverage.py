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

ConvNeXt uses ``LayerScale``, a Keras layer that is not part of the public
``keras.layers`` API and that tfprune has no built-in rule for. The benchmark
registers a rule for it exactly as a user would
(``tfprune.graph.register_rule``; see ``_register_user_rules``).

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
import datetime
import fnmatch
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

#: Smallest input side each architecture accepts (keras.applications checks
#: these when weights=None); every other model accepts 32.
MIN_SIZE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}

#: Relative tolerance: max |slim - strip| <= RTOL * max |strip|.
RTOL = 1e-5


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


def _register_user_rules(model) -> list[str]:
    """Register rules for non-public layers, as a tfprune user would.

    Two keras.applications architectures use layers that live in
    ``keras.src`` (private, so tfprune has no built-in rule for them); the
    classes are taken from the model instead of imported:

    * ``LayerScale`` (ConvNeXt) multiplies each channel by a learned ``gamma``
      of shape ``(projection_dim,)``: a channel-wise layer whose config holds
      the channel count.
    * ``CustomScaleLayer`` (InceptionResNetV2) computes
      ``inputs[0] + inputs[1] * scale`` with a scalar ``scale``: an element-wise
      merge of two tensors, like ``keras.layers.Add``.
    """
    import tfprune
    from tfprune.graph import iter_layers
    from tfprune.graph.rules import AFFINE, ChannelwiseRule, MergeRule

    class LayerScaleRule(ChannelwiseRule):
        def trace(self, ctx):
            (layout,) = super().trace(ctx)
            # The variable is created without a name: refer to it by object.
            ctx.weight(ctx.layer.gamma.name, -1, layout, AFFINE)
            return [layout]

        def slim_config(self, config, num_in, num_out):
            return {**config, "projection_dim": num_out}

    rules = {"LayerScale": LayerScaleRule(), "CustomScaleLayer": MergeRule()}
    registered = []
    for layer in iter_layers(model):
        cls = type(layer)
        if cls.__name__ in rules and cls.__name__ not in registered:
            tfprune.graph.register_rule(cls, rules[cls.__name__])
            registered.append(cls.__name__)
    return registered


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


def _randomise_normalization(model, rng) -> None:
    """Random BatchNorm statistics/gamma/beta and ConvNeXt LayerScale gammas."""
    import keras

    from tfprune.graph import iter_layers

    for layer in iter_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            for var, low, high in (
                (layer.moving_mean, -0.5, 0.5),
                (layer.moving_variance, 0.5, 1.5),
                (layer.beta, -0.5, 0.5),
                (layer.gamma, 0.5, 1.5),
            ):
                if var is not None:
                    var.assign(rng.uniform(low, high, var.shape).astype("float32"))
        elif type(layer).__name__ == "LayerScale":
            # ConvNeXt initialises the scale to 1e-6, which would hide any
            # mismatch in the residual branches under the tolerance.
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape).astype("float32"))


def _float64_rel_diff(name: str, size: int) -> float:
    """max|slim - strip| / max|strip| of the same pipeline run in float64."""
    import keras
    import numpy as np

    import tfprune

    previous = keras.config.floatx(), keras.config.dtype_policy()
    # Both: the global dtype policy is cached from floatx at its first use.
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        model = _build(name, size)
        _register_user_rules(model)
        _randomise_normalization(model, rng)
        pruned = tfprune.one_shot(tfprune.prune(model, "l1", sparsity=0.5, round_to=None))
        x = rng.uniform(0.0, 1.0, (2, size, size, 3))
        y_strip = np.asarray(tfprune.strip_pruning(pruned)(x, training=False))
        y_slim = np.asarray(tfprune.slim(pruned)(x, training=False))
        assert y_strip.dtype == np.float64, y_strip.dtype
        return float(np.abs(y_slim - y_strip).max() / np.abs(y_strip).max())
    finally:
        keras.config.set_floatx(previous[0])
        keras.config.set_dtype_policy(previous[1])


def run_one(name: str, size: int, tflite: bool, out_path: str) -> None:
    """Run the pipeline on one architecture and write a JSON result."""
    import numpy as np

    result: dict[str, Any] = {"model": name, "input_size": size, "status": "error"}
    timings: dict[str, float] = {}
    result["seconds"] = timings
    stage = "import"

    def write():
        tmp = f"{out_path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1, default=str)
        os.replace(tmp, out_path)

    try:
        import keras

        import tfprune
        from tfprune import metrics

        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)

        stage = "build"
        t = time.perf_counter()
        model = _build(name, size)
        result["user_rules"] = _register_user_rules(model)
        _randomise_normalization(model, rng)
        timings["build"] = time.perf_counter() - t

        stage = "count"
        result["params_before"] = metrics.count_params(model)
        result["flops_before"] = metrics.count_flops(model)

        stage = "prune"
        t = time.perf_counter()
        pruned = tfprune.one_shot(tfprune.prune(model, "l1", sparsity=0.5, round_to=None))
        pruner = tfprune.Pruner(pruned)
        timings["prune"] = time.perf_counter() - t
        result["groups"] = len(pruner.graph.groups)
        result["pruned_fraction"] = pruner.pruned_fraction()
        result["flops_effective"] = metrics.count_flops(pruned, effective=True)

        x = rng.uniform(0.0, 1.0, (2, size, size, 3)).astype("float32")

        stage = "strip"
        t = time.perf_counter()
        stripped = tfprune.strip_pruning(pruned)
        timings["strip"] = time.perf_counter() - t

        stage = "slim"
        t = time.perf_counter()
        slim = tfprune.slim(pruned)
        timings["slim"] = time.perf_counter() - t
        result["params_after"] = metrics.count_params(slim)
        result["flops_after"] = metrics.count_flops(slim)

        stage = "compare"
        y_masked = np.asarray(pruned(x, training=False))
        y_strip = np.asarray(stripped(x, training=False))
        y_slim = np.asarray(slim(x, training=False))
        scale = float(np.abs(y_strip).max())
        result["max_abs_out"] = scale
        result["diff_slim_strip"] = float(np.abs(y_slim - y_strip).max())
        result["diff_masked_strip"] = float(np.abs(y_masked - y_strip).max())
        result["rel_diff"] = result["diff_slim_strip"] / max(scale, 1e-30)
        result["match"] = bool(
            result["diff_slim_strip"] <= RTOL * scale
            and result["diff_masked_strip"] <= RTOL * scale
        )

        if not result["match"]:
            # Round-off or a real bug? Repeat the comparison in float64: a
            # missing mask or a wrong slice does not shrink with precision.
            stage = "float64 check"
            result["rel_diff_float64"] = _float64_rel_diff(name, size)

        if tflite:
            stage = "tflite"
            from tfprune import export

            t = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="tfprune_cov_") as tmp:
                path = os.path.join(tmp, f"{name}.tflite")
                export.export_tflite(slim, path)
                result["tflite_bytes"] = os.path.getsize(path)
                y_lite = np.asarray(export.run_tflite(path, x))
            timings["tflite"] = time.perf_counter() - t
            result["diff_tflite_slim"] = float(np.abs(y_lite - y_slim).max())
            result["tflite_ok"] = bool(
                result["diff_tflite_slim"] <= 1e-3 * max(scale, 1e-30)
            )
        else:
            result["tflite_ok"] = None

        ok = result["match"] and result["params_after"] < result["params_before"]
        if tflite:
            ok = ok and result["tflite_ok"]
        result["status"] = "ok" if ok else "mismatch"
    except BaseException as exc:  # noqa: BLE001 - reported, never raised
        result["stage"] = stage
        result["error_type"] = type(exc).__name__
        text = str(exc).strip()
        result["error"] = text.splitlines()[0] if text else ""
        result["traceback"] = traceback.format_exc()[-4000:]
    write()


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def _select(all_models: list[str], patterns: list[str] | None) -> list[str]:
    if not patterns:
        return all_models
    chosen = []
    for pattern in patterns:
        hits = [m for m in all_models if fnmatch.fnmatchcase(m, pattern)]
        if not hits:
            sys.exit(f"--models: no keras.applications model matches {pattern!r}; known: {all_models}")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def _run_subprocess(name, size, tflite, timeout) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tfprune_cov_") as tmp:
        out = os.path.join(tmp, "result.json")
        log = os.path.join(tmp, "log.txt")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name,
               "--input-size", str(size), "--out", out]
        if not tflite:
            cmd.append("--no-tflite")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        t = time.perf_counter()
        with open(log, "w") as logf:
            try:
                proc = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                      timeout=timeout, check=False)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = None
        elapsed = time.perf_counter() - t
        if os.path.exists(out):
            with open(out, encoding="utf-8") as f:
                result = json.load(f)
        else:
            with open(log, encoding="utf-8", errors="replace") as f:
                tail = f.read()[-2000:]
            result = {"model": name, "input_size": size, "status": "error",
                      "error_type": "Timeout" if code is None else f"ExitCode{code}",
                      "error": (f"no result after {timeout:.0f} s" if code is None
                                else f"worker exited with code {code}"),
                      "traceback": tail}
        result["wall_seconds"] = elapsed
        return result


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _fmt_int(value) -> str:
    if value is None:
        return "-"
    value = float(value)
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= div:
            return f"{value / div:.2f}{unit}"
    return f"{value:.0f}"


def _ratio(after, before) -> str:
    if not after or not before:
        return "-"
    return f"{after / before:.2f}"


#: Explanations of known failures, shown in the Markdown report:
#: (error type, text the error message contains, explanation).
KNOWN_FAILURES: list[tuple[str, str, str]] = [
    (
        "AttributeError",
        "has no attribute 'get_weights'",
        "the model contains raw ops called on symbolic tensors (`x + y`, "
        "`x * 0.5`: ConvNeXt's residual adds, MobileNetV3's hard-sigmoid). "
        "tfprune traces them (built-in rules for element-wise `keras.ops`), but "
        "`tfprune/_clone.copy_weights`, used by `prune` to copy the model, calls "
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
        return (
            f"float32 round-off, not a pruning error: slim and strip differ by "
            f"{result['rel_diff']:.1e} x max|out| in float32 (tolerance {RTOL:g}), "
            f"but by only {rel64:.1e} x max|out| when the same pipeline runs in "
            "float64; a missing mask or a wrong slice would not shrink with the "
            "precision. This deep network with random weights and random "
            f"BatchNorm statistics reaches |logits| ~ {result.get('max_abs_out', 0):.0f}, "
            "which amplifies float32 summation-order differences (the LiteRT "
            "output of the same slim model differs from Keras by "
            f"{result.get('diff_tflite_slim', float('nan')):.1e}, the same order "
            f"as slim vs strip, {result.get('diff_slim_strip', float('nan')):.1e})."
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
        "| model | input | status | params before | params after | ratio | "
        "FLOPs before | FLOPs after | ratio | max abs diff (slim vs strip) | "
        "rel diff | TFLite ok | time (s) | error |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        error = ""
        if r.get("status") == "error":
            error = f"`{r.get('error_type')}` at {r.get('stage', '?')}: {r.get('error', '')}"
            error = error.replace("|", "\\|")[:300]
        tfl = r.get("tflite_ok")
        tfl = "n/a" if tfl is None else ("yes" if tfl else "no")
        diff = r.get("diff_slim_strip")
        rel = r.get("rel_diff")
        lines.append(
            f"| {r['model']} | {r.get('input_size')} | {r.get('status')} | "
            f"{_fmt_int(r.get('params_before'))} | {_fmt_int(r.get('params_after'))} | "
            f"{_ratio(r.get('params_after'), r.get('params_before'))} | "
            f"{_fmt_int(r.get('flops_before'))} | {_fmt_int(r.get('flops_after'))} | "
            f"{_ratio(r.get('flops_after'), r.get('flops_before'))} | "
            f"{'-' if diff is None else f'{diff:.2e}'} | "
            f"{'-' if rel is None else f'{rel:.1e}'} | {tfl} | "
            f"{r.get('wall_seconds', 0):.0f} | {error} |"
        )
    user_rules = sorted({n for r in results for n in r.get("user_rules", [])})
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
    if user_rules:
        lines.append(
            f"- User rules registered by the benchmark (as a user would): {', '.join(user_rules)}. "
            "ConvNeXt's `LayerScale` and InceptionResNetV2's `CustomScaleLayer` are Keras "
            "layers outside the public `keras.layers` API, so tfprune has no built-in rule "
            "for them and `prune` raises `UnsupportedLayerError` naming the layer. The "
            "benchmark registers rules with `tfprune.graph.register_rule` on the layer's "
            "class (taken from the model, not imported from `keras.src`): for `LayerScale` "
            "(multiplies every channel by a learned `gamma`) a `ChannelwiseRule` subclass "
            "that slices `gamma` and rewrites `projection_dim` in `slim_config`; for "
            "`CustomScaleLayer` (`inputs[0] + inputs[1] * scale`, scalar `scale`) a "
            "`MergeRule`, like `keras.layers.Add`."
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", help="names or glob patterns (default: all)")
    parser.add_argument("--input-size", type=int, default=64,
                        help="input side in pixels (raised to the model's minimum; default 64)")
    parser.add_argument("--no-tflite", action="store_true", help="skip the TFLite export")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per model")
    parser.add_argument("--output", default=str(RESULTS / "coverage"),
                        help="output path without extension (default benchmarks/results/coverage)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the results of models not run this time from the existing JSON")
    parser.add_argument("--list", action="store_true", help="list the architectures and exit")
    parser.add_argument("--render", action="store_true",
                        help="only re-write the Markdown report from the existing JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        run_one(args.worker, args.input_size, not args.no_tflite, args.out)
        return 0

    output = Path(args.output)
    if args.render:
        data = json.loads(output.with_suffix(".json").read_text())
        _atomic_write(output.with_suffix(".md"), render_markdown(data["results"], data["meta"]))
        return 0
    all_models = list_models()
    if args.list:
        print("\n".join(all_models))
        return 0
    models = _select(all_models, args.models)
    previous: dict[str, dict[str, Any]] = {}
    if args.merge and output.with_suffix(".json").exists():
        data = json.loads(output.with_suffix(".json").read_text())
        previous = {r["model"]: r for r in data.get("results", [])}

    import keras
    import tensorflow as tf

    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "input_size": args.input_size,
        "sparsity": 0.5,
        "method": "l1",
        "rtol": RTOL,
    }
    results_by_model = dict(previous)

    def flush():
        ordered = [results_by_model[m] for m in all_models if m in results_by_model]
        _atomic_write(output.with_suffix(".json"),
                      json.dumps({"meta": meta, "results": ordered}, indent=1, default=str))
        _atomic_write(output.with_suffix(".md"), render_markdown(ordered, meta))

    for name in models:
        size = max(args.input_size, MIN_SIZE.get(name, 32))
        print(f"[coverage] {name} @ {size}px ...", flush=True)
        result = _run_subprocess(name, size, not args.no_tflite, args.timeout)
        results_by_model[name] = result
        summary = result.get("status")
        if summary != "ok":
            summary += f" {result.get('error_type', '')}: {result.get('error', '')}"
        print(f"[coverage] {name}: {summary} ({result['wall_seconds']:.0f} s)", flush=True)
        flush()
    flush()
    n_ok = sum(1 for r in results_by_model.values() if r.get("status") == "ok")
    print(f"[coverage] {n_ok}/{len(results_by_model)} ok -> {output}.json, {output}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
