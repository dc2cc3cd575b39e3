"""``inspect_tflite``: what is inside a ``.tflite`` file and where it will run.

Reports the op counts, the tensor types, the input/output signature, the file
size, the minimum runtime version the converter recorded, and two deployment
checks:

* **builtin only**: every op is a TFLite builtin (no ``CUSTOM`` op, which
  includes TF Select "Flex" ops). The stock LiteRT Android runtime
  (``com.google.ai.edge.litert:litert`` / ``org.tensorflow:tensorflow-lite``)
  registers every builtin op through its builtin op resolver, so such a file
  runs there, provided the runtime is at least ``min_runtime_version``.
* **XNNPACK**: which ops the XNNPACK delegate takes. This is *measured*, not
  looked up in a table: the file is loaded with the LiteRT Python interpreter,
  whose default resolver applies the XNNPACK delegate as the Android runtime
  does on CPU, and the graph after delegation is walked backwards from the
  outputs. Nodes reached outside a delegate partition run on the reference
  kernels (slower, e.g. ``SHAPE``/``PACK`` from a dynamic-batch ``Flatten``).
  The Android build of XNNPACK supports the same op set as this one of the
  same version.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from tfprune.export.litert import (
    _make_interpreter,
    _read_model_bytes,
    io_signature,
    tflite_ops,
)

__all__ = ["inspect_tflite", "format_report"]


def inspect_tflite(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Describe a ``.tflite`` file for deployment.

    Args:
        path: Path of the ``.tflite`` file.

    Returns:
        A JSON-able dict with ``path``, ``size_bytes``, ``ops`` (op name ->
        count, all subgraphs), ``num_ops``, ``custom_ops`` (list of
        ``CUSTOM:...`` names), ``builtin_only`` (bool), ``tensor_types``
        (dtype name -> number of tensors), ``inputs`` / ``outputs`` (name,
        shape with -1 for dynamic dimensions, dtype, quantization),
        ``min_runtime_version`` (str or None), ``xnnpack`` (``{"delegated":
        {op: n}, "not_delegated": {op: n}, "all_delegated": bool}``, or
        ``{"error": message}`` when LiteRT cannot load the file, e.g.
        because of unregistered custom ops) and ``android_ready`` (builtin
        only and loadable).

    Raises:
        PruningArgumentError: If the file does not exist or is not a TFLite
            flatbuffer.
    """
    buf = _read_model_bytes(path)
    resolved = pathlib.Path(os.fspath(path)).expanduser().absolute()
    ops = tflite_ops(resolved)
    custom = sorted(name for name in ops if name.startswith("CUSTOM:"))
    report: dict[str, Any] = {
        "path": str(resolved),
        "size_bytes": len(buf),
        "ops": ops,
        "num_ops": sum(ops.values()),
        "custom_ops": custom,
        "builtin_only": not custom,
        "tensor_types": _tensor_types(buf),
        "min_runtime_version": _min_runtime_version(buf),
    }
    try:
        interpreter = _make_interpreter(resolved, 1)
        interpreter.allocate_tensors()
    except Exception as exc:  # unregistered custom/Flex ops cannot load
        report["inputs"] = report["outputs"] = None
        report["xnnpack"] = {"error": f"{type(exc).__name__}: {exc}"}
        report["android_ready"] = False
        return report
    report["inputs"], report["outputs"] = io_signature(resolved)
    report["xnnpack"] = _delegation(interpreter)
    report["android_ready"] = report["builtin_only"]
    return report


def format_report(report: dict[str, Any]) -> str:
    """A short human-readable text of :func:`inspect_tflite`'s result."""
    lines = [
        f"{report['path']}: {report['size_bytes'] / 1024:.1f} KB, "
        f"{report['num_ops']} ops",
    ]
    for kind in ("inputs", "outputs"):
        for t in report.get(kind) or []:
            q = t["quantization"]
            quant = (
                f" scale={q['scale']:.6g} zero_point={q['zero_point']}"
                if q
                else ""
            )
            lines.append(
                f"  {kind[:-1]} {t['name']}: {t['dtype']} {t['shape']}{quant}"
            )
    lines.append("  ops: " + ", ".join(f"{k} x{v}" for k, v in report["ops"].items()))
    lines.append(
        "  tensor types: "
        + ", ".join(f"{k} x{v}" for k, v in report["tensor_types"].items())
    )
    xnn = report["xnnpack"]
    if "error" in xnn:
        lines.append(f"  XNNPACK: not checked ({xnn['error'].splitlines()[0]})")
    elif xnn["all_delegated"]:
        lines.append("  XNNPACK: every op delegated")
    else:
        lines.append(
            "  XNNPACK: not delegated: "
            + ", ".join(f"{k} x{v}" for k, v in xnn["not_delegated"].items())
        )
    lines.append(
        f"  builtin ops only: {'yes' if report['builtin_only'] else 'no'}"
        + (f" (custom: {', '.join(report['custom_ops'])})" if report["custom_ops"] else "")
        + f"; min runtime version: {report['min_runtime_version'] or 'unknown'}"
    )
    lines.append(f"  Android (stock LiteRT runtime): {'ready' if report['android_ready'] else 'NOT ready'}")
    return "\n".join(lines)


def _tensor_types(buf: bytes) -> dict[str, int]:
    from ai_edge_litert import schema_py_generated as schema

    names = {
        value: name.lower()
        for name, value in vars(schema.TensorType).items()
        if not name.startswith("_") and isinstance(value, int)
    }
    model = schema.Model.GetRootAs(buf, 0)
    counts: dict[str, int] = {}
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for t in range(subgraph.TensorsLength()):
            name = names.get(subgraph.Tensors(t).Type(), "unknown")
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def _min_runtime_version(buf: bytes) -> str | None:
    """The ``min_runtime_version`` metadata entry the converter writes."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(buf, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() != b"min_runtime_version":
            continue
        data = model.Buffers(entry.Buffer()).DataAsNumpy()
        if isinstance(data, int):  # empty buffer
            return None
        text = bytes(data).split(b"\0", 1)[0].decode("ascii", "replace")
        return text or None
    return None


def _delegation(interpreter: Any) -> dict[str, Any]:
    """Which ops of subgraph 0 run inside a delegate (XNNPACK) partition.

    After delegation the node list still holds the original nodes, plus one
    ``DELEGATE`` node per partition whose outputs are the partition's outputs.
    Walking backwards from the graph outputs, a tensor produced by a
    ``DELEGATE`` node leads to that node; any other tensor leads to its
    original producer, which therefore runs outside every delegate.
    """
    nodes = interpreter._get_ops_details()  # noqa: SLF001 - no public API
    producer: dict[int, dict] = {}
    for node in nodes:
        if node["op_name"] != "DELEGATE":
            for t in node["outputs"]:
                producer.setdefault(int(t), node)
    for node in nodes:
        if node["op_name"] == "DELEGATE":
            for t in node["outputs"]:
                producer[int(t)] = node
    outputs = [int(d["index"]) for d in interpreter.get_output_details()]
    seen_nodes: set[int] = set()
    executed: list[dict] = []
    stack = list(outputs)
    seen_tensors: set[int] = set()
    while stack:
        t = stack.pop()
        if t in seen_tensors or t < 0:
            continue
        seen_tensors.add(t)
        node = producer.get(t)
        if node is None or id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if node["op_name"] != "DELEGATE":
            executed.append(node)
        stack.extend(int(i) for i in node["inputs"])
    originals = [n for n in nodes if n["op_name"] != "DELEGATE"]
    outside = {id(n) for n in executed}
    delegated: dict[str, int] = {}
    not_delegated: dict[str, int] = {}
    for node in originals:
        bucket = not_delegated if id(node) in outside else delegated
        bucket[node["op_name"]] = bucket.get(node["op_name"], 0) + 1
    return {
        "delegated": dict(sorted(delegated.items())),
        "not_delegated": dict(sorted(not_delegated.items())),
        "all_delegated": not not_delegated,
    }
