"""Run, inspect and time ``.tflite`` files with the LiteRT Python interpreter.

All helpers use ``ai_edge_litert.interpreter.Interpreter`` with its default op
resolver, which applies the XNNPACK delegate to float models (the runtime
Android apps use). They take any ``.tflite`` file, not only files written by
:func:`tfprune.export.export_tflite`.

Timing notes: absolute latencies drift on shared machines, so
:func:`compare_latency` interleaves the two models and reports their ratio;
prefer it to comparing two :func:`benchmark_tflite` calls made at different
times. Timings are wall-clock (``time.perf_counter``) around ``invoke()``
only; setting inputs and reading outputs is not timed.

Op listing: :func:`tflite_ops` reads the flatbuffer directly with the schema
bindings shipped in ``ai_edge_litert.schema_py_generated`` instead of the
interpreter's private ``_get_ops_details()``: it needs no interpreter (so it
also works on files whose custom ops are not registered and therefore cannot
be loaded), sees every subgraph, and is not affected by delegates.
"""

from __future__ import annotations

import os
import pathlib
import re
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tfprune import errors

__all__ = [
    "benchmark_tflite",
    "compare_latency",
    "io_signature",
    "run_tflite",
    "tflite_ops",
]

_SIGNATURE_KEY = "serving_default"


def tflite_ops(path: str | os.PathLike[str]) -> dict[str, int]:
    """Count the operators in a ``.tflite`` file, by op name.

    Builtin ops are named as in the TFLite schema (``"CONV_2D"``,
    ``"FULLY_CONNECTED"``, ``"ADD"``, ...). Custom ops, including TF Select
    (Flex) ops, are named ``"CUSTOM:<custom_code>"`` (e.g. ``"CUSTOM:Svd"``,
    ``"CUSTOM:FlexQr"``), so ``any(k.startswith("CUSTOM:") for k in ops)``
    tells whether the file needs anything beyond builtin kernels. Ops of all
    subgraphs (e.g. bodies of ``WHILE``) are counted.

    Args:
        path: Path of the ``.tflite`` file.

    Returns:
        Mapping from op name to the number of times it occurs, sorted by name.

    Raises:
        PruningArgumentError: If the file does not exist or is not a TFLite
            flatbuffer.
    """
    from ai_edge_litert import schema_py_generated as schema

    buf = _read_model_bytes(path)
    model = schema.Model.GetRootAs(buf, 0)
    code_names = {
        value: name
        for name, value in vars(schema.BuiltinOperator).items()
        if not name.startswith("_") and isinstance(value, int)
    }
    opcode_names = []
    for i in range(model.OperatorCodesLength()):
        opcode = model.OperatorCodes(i)
        code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
        if code == schema.BuiltinOperator.CUSTOM:
            custom = opcode.CustomCode()
            custom = custom.decode("utf-8", "replace") if custom else "?"
            opcode_names.append(f"CUSTOM:{custom}")
        else:
            opcode_names.append(code_names.get(code, f"BUILTIN_{code}"))
    counts: dict[str, int] = {}
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            name = opcode_names[subgraph.Operators(o).OpcodeIndex()]
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def run_tflite(
    path: str | os.PathLike[str],
    x: np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray],
    *,
    num_threads: int = 1,
    dequantize: bool = True,
) -> np.ndarray | list[np.ndarray]:
    """Run a batch of inputs through a ``.tflite`` model with LiteRT.

    If the model's batch dimension is dynamic (``shape_signature[0] == -1``,
    as in files written by :func:`~tfprune.export.export_tflite`), the input
    tensors are resized to the batch size and the batch runs in one
    ``invoke``. Otherwise the batch is split into chunks of the model's fixed
    batch size (usually 1) and the outputs are concatenated.

    Args:
        path: Path of the ``.tflite`` file.
        x: The inputs, batch first. A single array for a single-input model;
            for several inputs either a mapping from input name (the
            ``keras.Input`` names, see ``Interpreter.get_signature_list()``)
            to array, or a sequence of arrays in the order of the model's
            inputs. Arrays are cast to the input dtype; float arrays given
            to an integer-quantized input (``export_tflite(...,
            int8_io=True)``) are quantized with its scale and zero point,
            integer arrays are passed as they are.
        num_threads: Number of CPU threads for the interpreter.
        dequantize: If True (default), integer-quantized outputs are
            returned as float32 ``(q - zero_point) * scale``, so every
            export mode is compared on the same scale; False returns the
            raw integers.

    Returns:
        One array for a single-output model, else a list of arrays in the
        order of the Keras model's outputs (``output_0``, ``output_1``, ...).

    Raises:
        PruningArgumentError: If the inputs do not match the model's inputs.
    """
    num_threads = _check_int("num_threads", num_threads)
    if not isinstance(dequantize, bool):
        raise errors.PruningArgumentError(
            f"Argument `dequantize` must be a bool. Received: {dequantize!r}."
        )
    interpreter = _make_interpreter(path, num_threads)
    inputs, outputs = _io_details(interpreter)
    arrays = _match_inputs(inputs, x)

    batch = {len(a) for a in arrays.values()}
    if len(batch) != 1:
        raise errors.PruningArgumentError(
            "All inputs must have the same batch size. Received batch sizes "
            f"{ {name: len(a) for name, a in arrays.items()} }."
        )
    n = batch.pop()
    if n == 0:
        raise errors.PruningArgumentError(
            "Argument `x` must contain at least one example (batch size 0)."
        )
    dynamic = all(int(d["shape_signature"][0]) == -1 for d in inputs.values())
    if dynamic:
        chunk = n
    else:
        chunk = int(next(iter(inputs.values()))["shape"][0])
        if n % chunk:
            raise errors.PruningArgumentError(
                f"The model has a fixed batch size of {chunk} and its batch "
                f"dimension cannot be resized, so the number of examples "
                f"must be a multiple of {chunk}. Received {n} examples."
            )

    results: list[list[np.ndarray]] = [[] for _ in outputs]
    resized = None
    for start in range(0, n, chunk):
        if dynamic and resized != chunk:
            for name, detail in inputs.items():
                interpreter.resize_tensor_input(
                    detail["index"],
                    [chunk, *arrays[name].shape[1:]],
                    strict=True,
                )
            interpreter.allocate_tensors()
            resized = chunk
        elif resized is None:
            interpreter.allocate_tensors()
            resized = chunk
        for name, detail in inputs.items():
            part = arrays[name][start : start + chunk]
            interpreter.set_tensor(detail["index"], part)
        interpreter.invoke()
        for k, detail in enumerate(outputs.values()):
            value = np.array(interpreter.get_tensor(detail["index"]))
            if dequantize:
                value = _dequantize_output(value, detail)
            results[k].append(value)
    merged = [np.concatenate(parts, axis=0) for parts in results]
    return merged[0] if len(merged) == 1 else merged


def benchmark_tflite(
    path: str | os.PathLike[str],
    *,
    num_threads: int = 1,
    warmup: int = 10,
    runs: int = 100,
    batch_size: int = 1,
    seed: int = 0,
    threads: int | None = None,
) -> dict[str, float | int]:
    """Measure the latency of one ``invoke()`` of a ``.tflite`` model.

    Inputs are random (standard normal for float inputs, uniform over a small
    range for integer inputs) with the model's input shape and the given batch
    size, generated once with ``seed``.

    Args:
        path: Path of the ``.tflite`` file.
        num_threads: Number of CPU threads for the interpreter.
        warmup: Untimed invokes before measuring (XNNPACK sets up its
            kernels on the first call).
        runs: Timed invokes.
        batch_size: Batch size of the random input. Must equal the model's
            batch size unless the batch dimension is dynamic.
        seed: Seed of the random input.
        threads: Alias of ``num_threads``.

    Returns:
        ``{"median_ms", "p90_ms", "mean_ms", "min_ms", "max_ms", "stdev_ms",
        "runs", "warmup", "threads", "batch_size"}``; times in milliseconds
        per ``invoke()``.

    Raises:
        PruningArgumentError: If an argument is invalid or the model has
            dynamic non-batch dimensions (no shape to generate inputs for).
    """
    num_threads = _threads(num_threads, threads)
    warmup = _check_int("warmup", warmup, minimum=0)
    runs = _check_int("runs", runs)
    batch_size = _check_int("batch_size", batch_size)
    interpreter = _prepared_interpreter(path, num_threads, batch_size, seed)
    _timed_invokes(interpreter, warmup)
    times = _timed_invokes(interpreter, runs)
    return {
        **_summary(times),
        "warmup": warmup,
        "threads": num_threads,
        "batch_size": batch_size,
    }


def compare_latency(
    path_a: str | os.PathLike[str],
    path_b: str | os.PathLike[str],
    *,
    num_threads: int = 1,
    rounds: int = 10,
    runs_per_round: int = 20,
    warmup: int = 10,
    batch_size: int = 1,
    seed: int = 0,
    threads: int | None = None,
) -> dict[str, float | int]:
    """Time two ``.tflite`` models side by side and report their ratio.

    Both interpreters are loaded and warmed up, then timed in interleaved
    rounds of ``runs_per_round`` invokes each. The order alternates as
    A B, B A, A B, ... so that slow drifts of the machine's speed (thermal,
    other processes) affect both models alike and neither model always runs
    right after the other. The medians are taken over all timed invokes.

    Args:
        path_a: The reference model (e.g. the unpruned one).
        path_b: The model to compare (e.g. the pruned one).
        num_threads: Number of CPU threads for each interpreter.
        rounds: Number of interleaved rounds.
        runs_per_round: Timed invokes per model and round.
        warmup: Untimed invokes per model before the first round.
        batch_size: Batch size of the random inputs.
        seed: Seed of the random inputs.
        threads: Alias of ``num_threads``.

    Returns:
        ``{"median_a_ms", "median_b_ms", "ratio", "speedup", "p90_a_ms",
        "p90_b_ms", "mean_a_ms", "mean_b_ms", "min_a_ms", "min_b_ms",
        "round_ratios", "rounds", "runs_per_round", "threads",
        "batch_size"}`` where ``ratio = median_b_ms / median_a_ms`` (below
        1: B is faster), ``speedup = 1 / ratio`` and ``round_ratios`` are
        the per-round ratios of medians (their spread shows how noisy the
        machine was).

    Raises:
        PruningArgumentError: If an argument is invalid.
    """
    num_threads = _threads(num_threads, threads)
    rounds = _check_int("rounds", rounds)
    runs_per_round = _check_int("runs_per_round", runs_per_round)
    warmup = _check_int("warmup", warmup, minimum=0)
    batch_size = _check_int("batch_size", batch_size)
    interpreters = {
        "a": _prepared_interpreter(path_a, num_threads, batch_size, seed),
        "b": _prepared_interpreter(path_b, num_threads, batch_size, seed),
    }
    for interpreter in interpreters.values():
        _timed_invokes(interpreter, warmup)
    times: dict[str, list[float]] = {"a": [], "b": []}
    round_ratios = []
    for r in range(rounds):
        this_round = {}
        for key in ("a", "b") if r % 2 == 0 else ("b", "a"):
            this_round[key] = _timed_invokes(interpreters[key], runs_per_round)
            times[key].extend(this_round[key])
        round_ratios.append(
            statistics.median(this_round["b"])
            / statistics.median(this_round["a"])
        )
    a, b = _summary(times["a"]), _summary(times["b"])
    return {
        "median_a_ms": a["median_ms"],
        "median_b_ms": b["median_ms"],
        "ratio": b["median_ms"] / a["median_ms"],
        "speedup": a["median_ms"] / b["median_ms"],
        "p90_a_ms": a["p90_ms"],
        "p90_b_ms": b["p90_ms"],
        "mean_a_ms": a["mean_ms"],
        "mean_b_ms": b["mean_ms"],
        "min_a_ms": a["min_ms"],
        "min_b_ms": b["min_ms"],
        "round_ratios": round_ratios,
        "rounds": rounds,
        "runs_per_round": runs_per_round,
        "threads": num_threads,
        "batch_size": batch_size,
    }


def io_signature(
    model: str | os.PathLike[str] | bytes,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Inputs and outputs of a ``.tflite`` model as plain JSON-able dicts.

    Args:
        model: Path of a ``.tflite`` file, or its bytes.

    Returns:
        ``(inputs, outputs)``: lists (Keras order) of ``{"name", "shape",
        "dtype", "quantization"}`` where ``shape`` is the shape signature
        (``-1`` for a dynamic dimension) and ``quantization`` is
        ``{"scale", "zero_point"}`` or None for unquantized tensors.
    """
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(model, (bytes, bytearray)):
        interpreter = Interpreter(model_content=bytes(model))
    else:
        interpreter = _make_interpreter(model, 1)
    inputs, outputs = _io_details(interpreter)

    def describe(name: str, detail: dict) -> dict[str, Any]:
        params = _quantization(detail)
        return {
            "name": name,
            "shape": [int(d) for d in detail["shape_signature"]],
            "dtype": np.dtype(detail["dtype"]).name,
            "quantization": None
            if params is None
            else {"scale": params[0], "zero_point": params[1]},
        }

    return (
        [describe(n, d) for n, d in inputs.items()],
        [describe(n, d) for n, d in outputs.items()],
    )


# --------------------------------------------------------------------------
# Internals


def _threads(num_threads: object, threads: object) -> int:
    """Resolve ``num_threads`` and its alias ``threads``."""
    if threads is None:
        return _check_int("num_threads", num_threads)
    threads = _check_int("threads", threads)
    if num_threads not in (1, threads):
        raise errors.PruningArgumentError(
            "Pass the thread count once: `threads` is an alias of "
            f"`num_threads`. Received: num_threads={num_threads!r}, "
            f"threads={threads!r}."
        )
    return threads


def _check_int(name: str, value: object, *, minimum: int = 1) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < minimum
    ):
        raise errors.PruningArgumentError(
            f"Argument `{name}` must be an integer >= {minimum}. "
            f"Received: {name}={value!r}."
        )
    return int(value)


def _resolve_path(path: object) -> pathlib.Path:
    if not isinstance(path, (str, os.PathLike)):
        raise errors.PruningArgumentError(
            "Argument `path` must be a str or os.PathLike pointing to a "
            f".tflite file. Received: {path!r} (type {type(path).__name__})."
        )
    resolved = pathlib.Path(os.fspath(path)).expanduser()
    if not resolved.is_file():
        raise errors.PruningArgumentError(
            f"No TFLite file at {str(resolved)!r}. Create one with "
            "tfprune.export.export_tflite(model, path)."
        )
    return resolved


def _read_model_bytes(path: object) -> bytes:
    from ai_edge_litert import schema_py_generated as schema

    resolved = _resolve_path(path)
    buf = resolved.read_bytes()
    if len(buf) < 8 or not schema.Model.ModelBufferHasIdentifier(buf, 0):
        raise errors.PruningArgumentError(
            f"{str(resolved)!r} is not a TFLite flatbuffer (missing the "
            "'TFL3' file identifier). Pass a file written by "
            "tfprune.export.export_tflite (or tf.lite.TFLiteConverter)."
        )
    try:  # Walks every table: a cut-short file fails here, not mid-report.
        schema.ModelT.InitFromPackedBuf(buf, 0)
    except Exception as exc:
        raise errors.PruningArgumentError(
            f"{str(resolved)!r} is not a valid TFLite file: it is truncated or "
            f"corrupt ({len(buf)} bytes; {type(exc).__name__}: {exc}). Export "
            "it again with tfprune.export.export_tflite, or copy it again."
        ) from exc
    return buf


def _make_interpreter(path: object, num_threads: int) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    resolved = _resolve_path(path)
    try:
        return Interpreter(model_path=str(resolved), num_threads=num_threads)
    except (ValueError, RuntimeError) as exc:
        raise errors.ExportError(
            f"LiteRT could not load {str(resolved)!r}: {exc}\n"
            "If the model uses custom or Flex ops, re-export it with "
            "builtin ops only (tfprune.export.export_tflite)."
        ) from exc


def _natural_key(name: str) -> tuple[Any, ...]:
    """Sort ``output_10`` after ``output_2``."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


def _io_details(interpreter: Any) -> tuple[dict[str, dict], dict[str, dict]]:
    """Input and output tensor details keyed by signature name.

    Inputs keep the order of the subgraph's input tensors (the order of the
    Keras model's inputs); outputs are sorted by name (``output_0``, ...),
    the order of the Keras model's outputs. Files without a signature fall
    back to the interpreter's tensor names and order.
    """
    signatures = interpreter.get_signature_list()
    if signatures:
        key = (
            _SIGNATURE_KEY
            if _SIGNATURE_KEY in signatures
            else next(iter(signatures))
        )
        runner = interpreter.get_signature_runner(key)
        sig_in, sig_out = (
            runner.get_input_details(),
            runner.get_output_details(),
        )
        order = {
            d["index"]: k for k, d in enumerate(interpreter.get_input_details())
        }
        inputs = dict(
            sorted(sig_in.items(), key=lambda kv: order.get(kv[1]["index"], 0))
        )
        outputs = dict(
            sorted(sig_out.items(), key=lambda kv: _natural_key(kv[0]))
        )
        return inputs, outputs
    inputs = {d["name"]: d for d in interpreter.get_input_details()}
    outputs = {d["name"]: d for d in interpreter.get_output_details()}
    return inputs, outputs


def _match_inputs(inputs: dict[str, dict], x: object) -> dict[str, np.ndarray]:
    """Map the user's ``x`` to input names, cast to the input dtypes."""
    names = list(inputs)
    if isinstance(x, Mapping):
        if set(x) != set(names):
            raise errors.PruningArgumentError(
                f"The model's inputs are {names}. Received a mapping with "
                f"keys {sorted(x)}."
            )
        raw = {name: x[name] for name in names}
    elif isinstance(x, (list, tuple)):
        if len(x) != len(names):
            raise errors.PruningArgumentError(
                f"The model has {len(names)} input(s) {names}. Received a "
                f"sequence of {len(x)} array(s)."
            )
        raw = dict(zip(names, x, strict=True))
    else:
        if len(names) != 1:
            raise errors.PruningArgumentError(
                f"The model has {len(names)} inputs {names}; pass a list of "
                "arrays or a dict keyed by input name. Received a single array."
            )
        raw = {names[0]: x}
    arrays = {}
    for name, value in raw.items():
        detail = inputs[name]
        array = np.asarray(value)
        signature = [int(d) for d in detail["shape_signature"]]
        if array.ndim != len(signature) or any(
            want not in (-1, got)
            for want, got in zip(signature[1:], array.shape[1:], strict=True)
        ):
            raise errors.PruningArgumentError(
                f"Input {name!r} must have shape {_fmt_shape(signature)} "
                f"(batch first). Received an array of shape {array.shape}."
            )
        arrays[name] = _quantize_input(array, detail)
    return arrays


def _quantization(detail: dict) -> tuple[float, int] | None:
    """``(scale, zero_point)`` of a per-tensor quantized tensor, else None."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if not scale:
        return None
    return float(scale), int(zero_point)


def _quantize_input(array: np.ndarray, detail: dict) -> np.ndarray:
    """Cast to the input dtype; quantize float values for int8/uint8 inputs.

    ``q = clip(round(x / scale) + zero_point)`` (TFLite's affine scheme);
    integer arrays are passed through unchanged (already quantized).
    """
    dtype = np.dtype(detail["dtype"])
    params = _quantization(detail)
    if (
        params is not None
        and np.issubdtype(dtype, np.integer)
        and np.issubdtype(array.dtype, np.floating)
    ):
        scale, zero_point = params
        info = np.iinfo(dtype)
        q = np.rint(array / scale) + zero_point
        return np.ascontiguousarray(np.clip(q, info.min, info.max), dtype=dtype)
    return np.ascontiguousarray(array, dtype=dtype)


def _dequantize_output(array: np.ndarray, detail: dict) -> np.ndarray:
    params = _quantization(detail)
    if params is None or not np.issubdtype(array.dtype, np.integer):
        return array
    scale, zero_point = params
    return ((array.astype(np.float32) - zero_point) * scale).astype(np.float32)


def _fmt_shape(signature: Sequence[int]) -> str:
    return (
        "(" + ", ".join("None" if d == -1 else str(d) for d in signature) + ")"
    )


def _random_input(
    detail: dict, batch_size: int, rng: np.random.Generator
) -> np.ndarray:
    signature = [int(d) for d in detail["shape_signature"]]
    if not signature:
        shape: list[int] = []
    else:
        if any(d == -1 for d in signature[1:]):
            raise errors.PruningArgumentError(
                f"Input {detail['name']!r} has dynamic non-batch dimensions "
                f"{_fmt_shape(signature)}, so no random input can be built. "
                "Export the model with a fixed input shape, e.g. "
                "keras.Input((32, 32, 3))."
            )
        if signature[0] != -1 and signature[0] != batch_size:
            raise errors.PruningArgumentError(
                f"The model has a fixed batch size of {signature[0]}. "
                f"Received: batch_size={batch_size}."
            )
        shape = [batch_size, *signature[1:]]
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        low, high = max(info.min, 0), min(info.max, 10)
        return rng.integers(low, high, size=shape, endpoint=True).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 1, size=shape, endpoint=True).astype(np.bool_)
    raise errors.PruningArgumentError(
        f"Cannot build a random input of dtype {dtype} for input "
        f"{detail['name']!r}."
    )


def _prepared_interpreter(
    path: object, num_threads: int, batch_size: int, seed: int
) -> Any:
    """Interpreter with random inputs of the given batch size already set."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise errors.PruningArgumentError(
            f"Argument `seed` must be an integer. Received: seed={seed!r}."
        )
    interpreter = _make_interpreter(path, num_threads)
    inputs, _ = _io_details(interpreter)
    rng = np.random.default_rng(int(seed))
    values = {
        name: _random_input(d, batch_size, rng) for name, d in inputs.items()
    }
    for name, detail in inputs.items():
        if list(detail["shape"]) != list(values[name].shape):
            interpreter.resize_tensor_input(
                detail["index"], list(values[name].shape), strict=True
            )
    interpreter.allocate_tensors()
    for name, detail in inputs.items():
        interpreter.set_tensor(detail["index"], values[name])
    return interpreter


def _timed_invokes(interpreter: Any, n: int) -> list[float]:
    """Run ``invoke()`` ``n`` times; return each duration in milliseconds."""
    invoke = interpreter.invoke
    clock = time.perf_counter
    times = []
    for _ in range(n):
        start = clock()
        invoke()
        times.append((clock() - start) * 1e3)
    return times


def _summary(times: Sequence[float]) -> dict[str, float | int]:
    ordered = sorted(times)
    return {
        "median_ms": statistics.median(ordered),
        "p90_ms": float(np.percentile(ordered, 90)),
        "mean_ms": statistics.fmean(ordered),
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
        "stdev_ms": statistics.stdev(ordered) if len(ordered) > 1 else 0.0,
        "runs": len(ordered),
    }
