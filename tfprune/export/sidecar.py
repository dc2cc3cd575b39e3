"""The JSON sidecar an app needs beside a ``.tflite`` file.

``export_tflite(model, "m.tflite", labels=[...], normalization={...})`` writes
``m.json`` next to ``m.tflite`` (both atomically, together: if either write
fails, neither file changes)::

    {
      "format": "tfprune.TFLiteSidecar/1",
      "model": "m.tflite",
      "quantize": "int8",
      "labels": ["0", "1", ...],
      "normalization": {"mean": [0.0], "std": [255.0],
                        "formula": "input = (value - mean) / std"},
      "inputs":  [{"name": "image", "shape": [-1, 28, 28, 1], "dtype": "int8",
                   "quantization": {"scale": 0.0039, "zero_point": -128}}],
      "outputs": [{"name": "output_0", "shape": [-1, 10], "dtype": "int8",
                   "quantization": {...}}]
    }

``normalization`` is what the app applies to raw values (e.g. pixels 0..255)
to get the float input the Keras model was trained on; ``mean`` and ``std``
have one entry, or one per input channel (last axis). For a model with
integer (``int8_io=True``) inputs the app then quantizes:
``q = round(input / scale) + zero_point``; ``quantization`` is ``null`` for
float tensors. ``labels`` name the entries of the last axis of the first
output (``output_0``). ``shape`` uses ``-1`` for a dynamic dimension.

Why a sidecar and not TFLite metadata: the library that writes metadata,
``tflite-support`` (its metadata writers), has had no release since 0.4.4
(July 2023) and is not maintained any more, so tfprune does not depend on it.
The JSON is read with any JSON library on Android (``org.json.JSONObject``).

The sidecar is written only when ``labels`` or ``normalization`` is given
(otherwise there is nothing the ``.tflite`` file does not already say).
"""

from __future__ import annotations

import json
import math
import numbers
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tfprune import errors

__all__ = ["SIDECAR_FORMAT", "sidecar_path"]

SIDECAR_FORMAT = "tfprune.TFLiteSidecar/1"


def sidecar_path(tflite_path: str | pathlib.Path) -> pathlib.Path:
    """``model.tflite`` -> ``model.json`` (same directory)."""
    return pathlib.Path(tflite_path).with_suffix(".json")


def check_labels(labels: object) -> list[str] | None:
    """Validate ``labels``: None or a non-empty sequence of distinct strings."""
    if labels is None:
        return None
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise errors.PruningArgumentError(
            "Argument `labels` must be a list of class names, one per output "
            f"unit (e.g. ['cat', 'dog']). Received: {labels!r}."
        )
    if not labels or not all(isinstance(v, str) and v for v in labels):
        raise errors.PruningArgumentError(
            "Argument `labels` must be a non-empty list of non-empty "
            f"strings. Received: {list(labels)!r}."
        )
    return list(labels)


def check_normalization(normalization: object) -> dict[str, Any] | None:
    """Validate ``{"mean": m, "std": s}`` (numbers or per-channel lists)."""
    if normalization is None:
        return None
    example = "normalization={'mean': 0.0, 'std': 255.0}"
    if not isinstance(normalization, Mapping) or set(normalization) != {
        "mean",
        "std",
    }:
        raise errors.PruningArgumentError(
            "Argument `normalization` must be a dict with exactly the keys "
            "'mean' and 'std' (model input = (value - mean) / std), e.g. "
            f"{example} for pixels 0..255 scaled to [0, 1]. "
            f"Received: {normalization!r}."
        )
    out: dict[str, Any] = {}
    for key in ("mean", "std"):
        value = normalization[key]
        values = (
            [value] if isinstance(value, numbers.Real) else value
        )
        if (
            isinstance(values, (str, bytes))
            or not isinstance(values, Sequence)
            or not values
            or not all(
                isinstance(v, numbers.Real)
                and not isinstance(v, bool)
                and math.isfinite(v)
                for v in values
            )
        ):
            raise errors.PruningArgumentError(
                f"normalization[{key!r}] must be a finite number or a "
                f"non-empty list of them (one per channel). Received: "
                f"{value!r}. Example: {example}."
            )
        out[key] = [float(v) for v in values]
    if any(v == 0 for v in out["std"]):
        raise errors.PruningArgumentError(
            "normalization['std'] must not contain 0 (the app divides by "
            f"it). Received: {normalization['std']!r}."
        )
    if len(out["mean"]) != len(out["std"]) and 1 not in (
        len(out["mean"]),
        len(out["std"]),
    ):
        raise errors.PruningArgumentError(
            "normalization['mean'] and ['std'] must have the same length "
            f"(or one of them a single value). Received {len(out['mean'])} "
            f"and {len(out['std'])} values."
        )
    out["formula"] = "input = (value - mean) / std"
    return out


def build_sidecar(
    flatbuffer: bytes,
    tflite_name: str,
    *,
    quantize: str | None,
    labels: list[str] | None,
    normalization: dict[str, Any] | None,
) -> dict[str, Any]:
    """The sidecar for a converted model; checks labels/channels against it."""
    from tfprune.export.litert import io_signature

    inputs, outputs = io_signature(flatbuffer)
    if labels is not None:
        units = outputs[0]["shape"][-1] if outputs[0]["shape"] else None
        if units not in (-1, None) and units != len(labels):
            raise errors.PruningArgumentError(
                f"Got {len(labels)} labels, but the model's first output "
                f"{outputs[0]['name']!r} has {units} units on its last axis "
                f"(shape {outputs[0]['shape']}). Pass one label per unit."
            )
    if normalization is not None and len(inputs) == 1:
        channels = inputs[0]["shape"][-1] if inputs[0]["shape"] else None
        for key in ("mean", "std"):
            n = len(normalization[key])
            if n != 1 and channels not in (-1, None) and n != channels:
                raise errors.PruningArgumentError(
                    f"normalization[{key!r}] has {n} values, but the input "
                    f"{inputs[0]['name']!r} has {channels} channels (shape "
                    f"{inputs[0]['shape']}). Pass 1 or {channels} values."
                )
    return {
        "format": SIDECAR_FORMAT,
        "model": tflite_name,
        "quantize": quantize,
        "labels": labels,
        "normalization": normalization,
        "inputs": inputs,
        "outputs": outputs,
    }


def sidecar_bytes(content: Mapping[str, Any]) -> bytes:
    """The sidecar file's content (UTF-8 JSON)."""
    text = json.dumps(content, indent=2, default=_json_default) + "\n"
    return text.encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
