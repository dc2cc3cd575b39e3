"""Shared by the coverage benchmarks (``coverage.py``, ``keras_hub_coverage.py``).

One architecture goes through the same pipeline in both: random
normalization statistics, ``tfprune.prune(model, "l1", sparsity=0.5,
round_to=None)`` with the masks applied at step 0, ``strip_pruning`` and
``slim`` compared with the masked model, parameters and FLOPs counted before
and after, and the slim model exported to TFLite and run with LiteRT. Each
architecture runs in its own subprocess (:func:`run_subprocess`) with a time
limit, so a crash does not stop the others; the worker writes one JSON result
(:func:`run_worker`). The helpers at the end format the Markdown tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Relative tolerance: max |slim - strip| <= RTOL * max |strip|.
RTOL = 1e-5

#: LiteRT vs Keras tolerance, relative to max |out|.
TFLITE_RTOL = 1e-3


# --------------------------------------------------------------------------
# Worker side (one model, in a subprocess)
# --------------------------------------------------------------------------


def randomise_normalization(model, rng) -> None:
    """Random BatchNorm statistics/gamma/beta and LayerScale gammas.

    Random statistics make a channel that is not masked after its
    normalization show up as a mismatch. ``LayerScale`` layers (ConvNeXt) are
    initialised to 1e-6, which would hide any mismatch in the residual
    branches under the tolerance, so their ``gamma`` is drawn too.
    """
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
            layer.gamma.assign(rng.uniform(0.5, 1.5, layer.gamma.shape).astype("float32"))


def sample_input(model, rng, batch: int = 2):
    """A uniform [0, 1) batch for every input of ``model``, in its structure.

    ``model.input`` is a tensor, a list or a dict (keras-hub backbones name
    their inputs, e.g. ``{"images": ...}``); the batch has the same structure.
    """
    import keras

    return keras.tree.map_structure(
        lambda t: rng.uniform(0.0, 1.0, (batch, *t.shape[1:])).astype(t.dtype or "float32"),
        model.input,
    )


def flat_outputs(y) -> list:
    """The outputs of a model call as a list of arrays, in ``model.outputs`` order."""
    import keras
    import numpy as np

    return [np.asarray(v) for v in keras.tree.flatten(y)]


def max_diff(a: list, b: list) -> float:
    return max(float(abs(u - v).max()) for u, v in zip(a, b, strict=True))


def max_abs(y: list) -> float:
    return max(float(abs(v).max()) for v in y)


def _prune_and_compare(model, rng):
    """prune(0.5), pruned at once (``tfprune.one_shot``); (pruned, stripped, slim, x)."""
    import tfprune

    pruned = tfprune.one_shot(tfprune.prune(model, "l1", sparsity=0.5, round_to=None))
    x = sample_input(model, rng)
    return pruned, tfprune.strip_pruning(pruned), tfprune.slim(pruned), x


def float64_rel_diff(build: Callable[[dict[str, Any]], Any]) -> float:
    """max|slim - strip| / max|strip| of the same pipeline run in float64.

    Round-off or a real bug? A missing mask or a wrong slice does not shrink
    with the precision; float32 summation-order differences do.
    """
    import keras
    import numpy as np

    previous = keras.config.floatx(), keras.config.dtype_policy()
    # Both: the global dtype policy is cached from floatx at its first use.
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        model = build({})
        randomise_normalization(model, rng)
        _, stripped, slim, x = _prune_and_compare(model, rng)
        y_strip = flat_outputs(stripped(x, training=False))
        y_slim = flat_outputs(slim(x, training=False))
        assert y_strip[0].dtype == np.float64, y_strip[0].dtype
        return max_diff(y_slim, y_strip) / max_abs(y_strip)
    finally:
        keras.config.set_floatx(previous[0])
        keras.config.set_dtype_policy(previous[1])


def run_worker(
    result: dict[str, Any],
    out_path: str,
    build: Callable[[dict[str, Any]], Any],
    *,
    tflite: bool,
    float64_check: bool = True,
) -> None:
    """Run the pipeline on one model and write ``result`` to ``out_path``.

    Args:
        result: the fields identifying the model (``model``, ``input_size``);
            filled in with the measurements.
        out_path: JSON file written (atomically) when the worker ends.
        build: builds the model (random weights), may add fields to ``result``.
        tflite: export the slim model to TFLite and compare LiteRT with Keras.
        float64_check: on a mismatch, re-run the pipeline in float64
            (:func:`float64_rel_diff`) and record ``rel_diff_float64``.

    ``result["status"]`` is ``ok``, ``mismatch`` or ``error``; an error records
    the stage, the exception type and message, and ``tfprune_error`` (True
    when tfprune refused the model with one of its own exceptions).
    """
    import numpy as np

    result["status"] = "error"
    timings: dict[str, float] = {}
    result["seconds"] = timings
    stage = "import"

    try:
        import keras

        import tfprune
        from tfprune import metrics

        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)

        stage = "build"
        t = time.perf_counter()
        model = build(result)
        randomise_normalization(model, rng)
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

        x = sample_input(model, rng)

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
        y_masked = flat_outputs(pruned(x, training=False))
        y_strip = flat_outputs(stripped(x, training=False))
        y_slim = flat_outputs(slim(x, training=False))
        scale = max_abs(y_strip)
        result["max_abs_out"] = scale
        result["diff_slim_strip"] = max_diff(y_slim, y_strip)
        result["diff_masked_strip"] = max_diff(y_masked, y_strip)
        result["rel_diff"] = result["diff_slim_strip"] / max(scale, 1e-30)
        result["match"] = bool(
            result["diff_slim_strip"] <= RTOL * scale
            and result["diff_masked_strip"] <= RTOL * scale
        )

        if not result["match"] and float64_check:
            stage = "float64 check"
            result["rel_diff_float64"] = float64_rel_diff(build)

        if tflite:
            stage = "tflite"
            from tfprune import export

            t = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="tfprune_cov_") as tmp:
                path = os.path.join(tmp, f"{result['model']}.tflite".replace("/", "_"))
                export.export_tflite(slim, path)
                result["tflite_bytes"] = os.path.getsize(path)
                y_lite = export.run_tflite(path, x)
            y_lite = [np.asarray(v) for v in (y_lite if isinstance(y_lite, list) else [y_lite])]
            timings["tflite"] = time.perf_counter() - t
            result["diff_tflite_slim"] = max_diff(y_lite, y_slim)
            result["tflite_ok"] = bool(
                result["diff_tflite_slim"] <= TFLITE_RTOL * max(scale, 1e-30)
            )
        else:
            result["tflite_ok"] = None

        ok = result["match"] and result["params_after"] < result["params_before"]
        if tflite:
            ok = ok and result["tflite_ok"]
        result["status"] = "ok" if ok else "mismatch"
    except BaseException as exc:  # noqa: BLE001 - reported, never raised
        from tfprune.errors import TfpruneError

        result["stage"] = stage
        result["error_type"] = type(exc).__name__
        result["tfprune_error"] = isinstance(exc, TfpruneError)
        text = str(exc).strip()
        result["error"] = text.splitlines()[0] if text else ""
        result["traceback"] = traceback.format_exc()[-4000:]
    tmp = f"{out_path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, default=str)
    os.replace(tmp, out_path)


# --------------------------------------------------------------------------
# Driver side
# --------------------------------------------------------------------------


def run_subprocess(
    script: str | Path, worker_args: list[str], fields: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """Run ``script --out FILE *worker_args`` and return the JSON it writes.

    A worker that crashes or exceeds ``timeout`` seconds gives an ``error``
    result with ``fields`` and the tail of its log.
    """
    with tempfile.TemporaryDirectory(prefix="tfprune_cov_") as tmp:
        out = os.path.join(tmp, "result.json")
        log = os.path.join(tmp, "log.txt")
        cmd = [sys.executable, str(Path(script).resolve()), *worker_args, "--out", out]
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
            result = {**fields, "status": "error",
                      "error_type": "Timeout" if code is None else f"ExitCode{code}",
                      "error": (f"no result after {timeout:.0f} s" if code is None
                                else f"worker exited with code {code}"),
                      "traceback": tail}
        result["wall_seconds"] = elapsed
        return result


def atomic_write(path: Path, text: str) -> None:
    from tfprune._atomic import write_atomic

    write_atomic(path, text.encode("utf-8"), make_parents=True)


def fmt_int(value) -> str:
    if value is None:
        return "-"
    value = float(value)
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= div:
            return f"{value / div:.2f}{unit}"
    return f"{value:.0f}"


def ratio(after, before) -> str:
    if not after or not before:
        return "-"
    return f"{after / before:.2f}"


#: Header of the measurement columns of :func:`measurement_cells`.
MEASUREMENT_HEADER = (
    "params before | params after | ratio | FLOPs before | FLOPs after | ratio | "
    "max abs diff (slim vs strip) | rel diff | TFLite ok | time (s)"
)


def measurement_cells(r: dict[str, Any]) -> str:
    """The measurement columns of one result row (see MEASUREMENT_HEADER)."""
    tfl = r.get("tflite_ok")
    tfl = "n/a" if tfl is None else ("yes" if tfl else "no")
    diff = r.get("diff_slim_strip")
    rel = r.get("rel_diff")
    return (
        f"{fmt_int(r.get('params_before'))} | {fmt_int(r.get('params_after'))} | "
        f"{ratio(r.get('params_after'), r.get('params_before'))} | "
        f"{fmt_int(r.get('flops_before'))} | {fmt_int(r.get('flops_after'))} | "
        f"{ratio(r.get('flops_after'), r.get('flops_before'))} | "
        f"{'-' if diff is None else f'{diff:.2e}'} | "
        f"{'-' if rel is None else f'{rel:.1e}'} | {tfl} | "
        f"{r.get('wall_seconds', 0):.0f}"
    )


def error_cell(r: dict[str, Any], limit: int = 300) -> str:
    """``ErrorType`` at stage: message, escaped for a Markdown table."""
    if r.get("status") != "error":
        return ""
    error = f"`{r.get('error_type')}` at {r.get('stage', '?')}: {r.get('error', '')}"
    return error.replace("|", "\\|")[:limit]


# --------------------------------------------------------------------------
# Command line (both scripts)
# --------------------------------------------------------------------------


def add_arguments(parser, *, default_output: Path, timeout: float) -> None:
    """The options both coverage scripts take (plus the hidden worker ones)."""
    import argparse

    parser.add_argument("--models", nargs="+", help="names or glob patterns (default: all)")
    parser.add_argument("--no-tflite", action="store_true", help="skip the TFLite export")
    parser.add_argument("--timeout", type=float, default=timeout, help="seconds per model")
    parser.add_argument("--output", default=str(default_output),
                        help=f"output path without extension (default {default_output})")
    parser.add_argument("--merge", action="store_true",
                        help="keep the results of models not run this time from the existing JSON")
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    parser.add_argument("--render", action="store_true",
                        help="only re-write the Markdown report from the existing JSON")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)


def base_meta() -> dict[str, Any]:
    """Date, versions, machine and the pruning settings of a run."""
    import datetime
    import platform

    import keras
    import tensorflow as tf

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "sparsity": 0.5,
        "method": "l1",
        "rtol": RTOL,
    }


def drive(
    args,
    names: list[str],
    *,
    run: Callable[[str], dict[str, Any]],
    render: Callable[[list[dict[str, Any]], dict[str, Any]], str],
    meta: Callable[[], dict[str, Any]],
    summary: Callable[[dict[str, Any]], str],
    tag: str,
) -> int:
    """--render / --list / the run over the selected models (see add_arguments).

    ``run(name)`` returns one result; after each, the JSON and Markdown
    reports (``render(results, meta)``) are rewritten atomically, in the
    order of ``names``. ``summary(result)`` is ``"ok"`` or a one-line reason.
    """
    import fnmatch

    output = Path(args.output)
    if args.render:
        data = json.loads(output.with_suffix(".json").read_text())
        atomic_write(output.with_suffix(".md"), render(data["results"], data["meta"]))
        return 0
    if args.list:
        print("\n".join(names))
        return 0
    chosen: list[str] = []
    for pattern in args.models or names:
        hits = [m for m in names if fnmatch.fnmatchcase(m, pattern)]
        if not hits:
            sys.exit(f"--models: nothing matches {pattern!r}; known: {names}")
        chosen.extend(h for h in hits if h not in chosen)
    results: dict[str, dict[str, Any]] = {}
    if args.merge and output.with_suffix(".json").exists():
        data = json.loads(output.with_suffix(".json").read_text())
        results = {r["model"]: r for r in data.get("results", [])}
    run_meta = meta()

    def flush():
        run_meta["load_average"] = [round(v, 2) for v in os.getloadavg()]
        ordered = [results[m] for m in names if m in results]
        atomic_write(output.with_suffix(".json"),
                     json.dumps({"meta": run_meta, "results": ordered}, indent=1, default=str))
        atomic_write(output.with_suffix(".md"), render(ordered, run_meta))

    for name in chosen:
        print(f"[{tag}] {name} ...", flush=True)
        result = run(name)
        # Per model: with --merge the rows of one report come from several runs.
        result["load_average"] = [round(v, 2) for v in os.getloadavg()]
        result["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        results[name] = result
        print(f"[{tag}] {name}: {summary(result)} ({result['wall_seconds']:.0f} s)", flush=True)
        flush()
    flush()
    n_ok = sum(1 for r in results.values() if summary(r) == "ok")
    print(f"[{tag}] {n_ok}/{len(results)} ok -> {output}.json, {output}.md")
    return 0
