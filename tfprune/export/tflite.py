"""Export any Keras 3 model to a TFLite (LiteRT) file with builtin ops only.

The export goes through a TensorFlow SavedModel:

1. ``model.export(tmpdir, format="tf_saved_model")`` (Keras 3
   ``ExportArchive``) traces the model in inference mode and writes a
   SavedModel with one ``serving_default`` signature. Its inputs are named
   after the model's input tensors (the ``keras.Input(name=...)`` names when
   given, ``keras_tensor`` or ``args_0`` otherwise); its outputs are
   ``output_0``, ``output_1``, ... in the order of ``model.outputs``. The
   batch dimension stays dynamic even for ``keras.Input(batch_size=1)``: the
   ``.tflite`` input has ``shape [1, ...]`` and ``shape_signature [-1, ...]``,
   so LiteRT can resize it to any batch size. ``export_tflite(batch_size=n)``
   fixes it instead, through an explicit ``input_signature``.
2. ``tf.lite.TFLiteConverter.from_saved_model`` converts it with
   ``target_spec.supported_ops = [TFLITE_BUILTINS]``. BatchNormalization is
   folded into the preceding convolution and activations are fused.

Only builtin ops are allowed: a model that needs a TF Select ("Flex") kernel or
an unregistered custom op fails with :class:`~tfprune.errors.ExportError`
naming the op(s) and the layer they come from, because such a file would not
run on a stock LiteRT runtime (Android, XNNPACK).

The file is written atomically (temporary file in the destination directory,
then ``os.replace``), so a failed export never leaves a partial file behind and
never clobbers an existing one.

Converter noise: TensorFlow's C++ code logs a dozen ``I0000``/``W0000`` lines
per conversion straight to file descriptor 2 and only reads
``TF_CPP_MIN_LOG_LEVEL`` at start-up. During ``model.export`` and
``converter.convert()`` fd 2 is therefore redirected to a temporary file whose
content goes to the ``tfprune.export`` logger at DEBUG level. Anything another
thread writes to stderr in that window (usually well under a second) ends up
there too.

This module depends on nothing in tfprune except :mod:`tfprune.errors` and the
argument checks of :mod:`tfprune._validation`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import keras

from tfprune import _validation, errors
from tfprune.export import sidecar as sidecar_lib
from tfprune.export._atomic import atomic_write_files
from tfprune.export.calibration import calibration_samples

__all__ = ["QUANTIZE_MODES", "export_tflite"]

_LOG = logging.getLogger("tfprune.export")

#: Values accepted by ``export_tflite(quantize=...)``.
QUANTIZE_MODES: tuple[str | None, ...] = (None, "float16", "dynamic", "int8")

#: Default number of calibration examples used for ``quantize="int8"``.
MAX_CALIBRATION_SAMPLES = 500


#: Keras backends whose models ``model.export(format="tf_saved_model")`` can
#: write (JAX through jax2tf); other backends save ``.keras`` and export in a
#: TensorFlow process (docs/backends.md).
EXPORT_BACKENDS = ("tensorflow", "jax")


def export_tflite(
    model: keras.Model,
    path: str | os.PathLike[str],
    *,
    quantize: str | None = None,
    representative_data: Any = None,
    int8_io: bool = False,
    allow_custom_ops: bool = False,
    allow_flex_ops: bool = False,
    batch_size: int | None = None,
    labels: Sequence[str] | None = None,
    normalization: Mapping[str, Any] | None = None,
    max_calibration_samples: int = MAX_CALIBRATION_SAMPLES,
) -> pathlib.Path:
    """Convert a Keras model to a ``.tflite`` file that uses builtin ops only.

    Args:
        model: Any built ``keras.Model`` (Sequential, Functional or
            subclassed with known input shapes). It is not modified.
        path: Destination file; must end with ``.tflite``. Missing parent
            directories are created. An existing file is replaced only once
            the conversion has succeeded.
        quantize: ``None`` (float32, default), ``"float16"`` (weights stored
            as float16, computed in float32), ``"dynamic"`` (dynamic-range:
            int8 weights, float activations; the converter leaves tensors
            with fewer than 1024 elements in float32, so tiny models come
            out unchanged) or ``"int8"`` (full integer: int8 weights and
            activations, int32 biases, per-channel weight scales; needs
            ``representative_data``). int8 makes the file about 4x smaller;
            whether it runs faster depends on the CPU (on x86 without
            VNNI it is often slower than float32 with XNNPACK; ARM phones
            with dot-product instructions gain): measure it with
            :func:`~tfprune.export.compare_latency`.
        representative_data: Calibration inputs for ``quantize="int8"``
            (required there, rejected otherwise): a NumPy array of samples,
            a ``tf.data.Dataset`` of inputs or ``(inputs, labels)`` batches,
            or a generator/iterable/callable yielding them; see
            :mod:`tfprune.export.calibration`. Use preprocessed inputs (the
            same scaling as in training), a few hundred examples.
        int8_io: With ``quantize="int8"``: if True the model's inputs and
            outputs are int8 too (``q = round(x / scale) + zero_point``,
            the scale and zero point are in the file and in the sidecar),
            so an app on an integer-only accelerator needs no float
            conversion. If False (default) they stay float32 and the file
            quantizes/dequantizes at its edges. int8, not uint8: uint8 is
            the legacy (TF1) scheme; the converter's full-integer path and
            every current LiteRT delegate use int8.
        allow_custom_ops: If True, ops that are not TFLite builtins are
            emitted as ``CUSTOM`` ops instead of failing the export. The file
            then only runs on a runtime where those ops are registered.
        allow_flex_ops: If True, ops without a builtin kernel may use TF
            Select ("Flex") kernels (``SELECT_TF_OPS``). Such a file needs
            the Flex delegate (an extra multi-megabyte Android dependency,
            ``tensorflow-lite-select-tf-ops``) and is not XNNPACK-friendly;
            :func:`~tfprune.export.inspect_tflite` lists those ops as
            ``CUSTOM:Flex...``.
        batch_size: ``None`` (default) keeps the batch dimension dynamic
            (``shape_signature[0] == -1``; LiteRT resizes it at run time).
            An integer fixes it, e.g. ``1`` for on-device single-image
            inference; the graph is then fully static (a ``Flatten`` becomes
            a single ``RESHAPE`` instead of ``SHAPE``/``STRIDED_SLICE``/
            ``PACK``/``RESHAPE``). Needs a model with known inputs
            (``model.input``).
        labels: Class names, one per unit of the last axis of the first
            output. Written to the JSON sidecar (see below).
        normalization: ``{"mean": m, "std": s}`` (numbers, or one per input
            channel): the app computes ``input = (value - mean) / std`` from
            raw values (e.g. pixels 0..255). Written to the sidecar.
        max_calibration_samples: At most this many examples of
            ``representative_data`` are used.

    When ``labels`` or ``normalization`` is given, ``<path stem>.json`` is
    written next to the ``.tflite`` file (atomically too) with them and the
    input/output names, shapes, dtypes and quantization parameters: what an
    Android app needs (see :mod:`tfprune.export.sidecar` and
    ``docs/android.md``).

    Returns:
        The absolute path of the written file.

    Raises:
        PruningArgumentError: If an argument is invalid (``model``,
            ``path``, ``quantize``, ``representative_data``, ``int8_io``,
            the ``allow_*`` flags, ``batch_size``, ``labels``,
            ``normalization``). Nothing is written or created then.
        ExportError: If the model cannot be saved or converted, e.g. because
            it uses an op that has no TFLite builtin kernel (the message
            names the op and the layer).
        WriteError: If the file (or its sidecar) cannot be written, e.g. on
            a full disk; nothing is left behind and existing files are
            unchanged.
    """
    import tensorflow as tf

    if not isinstance(model, keras.Model):
        raise errors.PruningArgumentError(
            "Argument `model` must be a keras.Model (Keras 3). "
            f"Received: model of type {type(model).__module__}."
            f"{type(model).__qualname__}. If you have a single layer, wrap it "
            "in a functional model: keras.Model(inputs, layer(inputs))."
        )
    backend = keras.backend.backend()
    if backend not in EXPORT_BACKENDS:
        raise errors.ExportError(
            "TFLite export converts a TensorFlow SavedModel, which Keras writes "
            f"from the {' and '.join(EXPORT_BACKENDS)} backends only; the Keras "
            f"backend is {backend!r}. Save the model (model.save('slim.keras')) "
            "and export it in a TensorFlow process: `tfprune export slim.keras "
            "slim.tflite` with KERAS_BACKEND unset (docs/backends.md)."
        )
    dest = _check_path(path)
    quantize = _check_quantize(quantize)
    if representative_data is not None and quantize != "int8":
        raise errors.PruningArgumentError(
            "Argument `representative_data` is only used for full-integer "
            f"quantization (quantize='int8'). Received: representative_data "
            f"with quantize={quantize!r}. Pass quantize='int8' or "
            "representative_data=None."
        )
    for flag, value in (
        ("int8_io", int8_io),
        ("allow_custom_ops", allow_custom_ops),
        ("allow_flex_ops", allow_flex_ops),
    ):
        if not isinstance(value, bool):
            raise errors.PruningArgumentError(
                f"Argument `{flag}` must be a bool. Received: {flag}={value!r}."
            )
    if int8_io and quantize != "int8":
        raise errors.PruningArgumentError(
            "int8_io=True (integer input/output tensors) needs "
            f"quantize='int8'. Received: quantize={quantize!r}."
        )
    max_calibration_samples = _validation.check_positive_int("max_calibration_samples", max_calibration_samples)
    labels = sidecar_lib.check_labels(labels)
    normalization = sidecar_lib.check_normalization(normalization)
    calibration = None
    if quantize == "int8":
        names, shapes, dtypes = _input_specs(model)
        calibration = calibration_samples(
            representative_data,
            names,
            shapes,
            dtypes,
            max_samples=max_calibration_samples,
        )

    export_kwargs: dict[str, Any] = {}
    if batch_size is not None:
        export_kwargs["input_signature"] = _fixed_batch_signature(
            model, batch_size
        )

    with tempfile.TemporaryDirectory(prefix="tfprune_export_") as tmp:
        saved_model_dir = os.path.join(tmp, "saved_model")
        try:
            with _native_output_to_log():
                model.export(
                    saved_model_dir,
                    format="tf_saved_model",
                    verbose=False,
                    **export_kwargs,
                )
        except Exception as exc:
            raise errors.ExportError(
                f"Could not save model {model.name!r} as a TensorFlow "
                f"SavedModel (the first step of TFLite export): "
                f"{type(exc).__name__}: {exc}\n"
                "Make sure the model is built (call it once on an input or "
                "give it a keras.Input) and runs in inference mode."
            ) from exc

        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
        ops_sets = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8
            if quantize == "int8"
            else tf.lite.OpsSet.TFLITE_BUILTINS
        ]
        if allow_flex_ops:
            ops_sets.append(tf.lite.OpsSet.SELECT_TF_OPS)
        converter.target_spec.supported_ops = ops_sets
        converter.allow_custom_ops = allow_custom_ops
        if quantize is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if quantize == "int8":
            samples = _keyed_by_signature(saved_model_dir, calibration)
            converter.representative_dataset = lambda: iter(samples)
            if int8_io:
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
        try:
            with _native_output_to_log():
                flatbuffer = converter.convert()
        except Exception as exc:
            raise _conversion_error(model, exc) from exc

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise errors.write_error(
            f"{str(dest)!r} (cannot create its directory {str(dest.parent)!r})", dest, exc
        ) from exc
    sidecar = None
    if labels is not None or normalization is not None:
        sidecar = sidecar_lib.build_sidecar(
            flatbuffer,
            dest.name,
            quantize=quantize,
            labels=labels,
            normalization=normalization,
        )
    files = [(dest, flatbuffer)]
    if sidecar is not None:
        files.append((sidecar_lib.sidecar_path(dest), sidecar_lib.sidecar_bytes(sidecar)))
    atomic_write_files(files)  # both or neither
    return dest


def _keyed_by_signature(
    saved_model_dir: str, samples: list[dict[str, Any]]
) -> list[Any]:
    """Calibration samples in the form the converter maps unambiguously.

    A single input is given as a one-element list. Several inputs are given
    as a dict keyed by the SavedModel signature's input names (Keras names
    them after the ``keras.Input`` names, which the samples use).
    """
    import tensorflow as tf

    if len(samples[0]) == 1:
        return [list(sample.values()) for sample in samples]
    loaded = tf.saved_model.load(saved_model_dir)
    signature = loaded.signatures["serving_default"].structured_input_signature
    names = sorted(signature[1])
    if set(names) != set(samples[0]):
        raise errors.ExportError(
            "Cannot match the calibration inputs "
            f"{sorted(samples[0])} to the SavedModel signature inputs "
            f"{names}. Give every keras.Input a distinct name."
        )
    return samples


def _known_inputs(model: keras.Model, needed_by: str, alternative: str) -> list[Any]:
    """``model.inputs`` as a list, or a clear error naming what needs them."""
    try:
        inputs = list(model.inputs or ())
    except (AttributeError, ValueError):
        inputs = []
    if not inputs:
        raise errors.PruningArgumentError(
            f"{needed_by} needs a model with known inputs, but model "
            f"{model.name!r} has no `inputs`. Use a Functional or Sequential "
            f"model built from keras.Input{alternative}."
        ) from None
    return inputs


def _input_specs(
    model: keras.Model,
) -> tuple[list[str], list[tuple[int | None, ...]], list[str]]:
    """Names (as in the SavedModel signature), shapes and dtypes of inputs."""
    inputs = _known_inputs(model, "quantize='int8'", "")
    names = [t.name for t in inputs]
    shapes = [tuple(t.shape) for t in inputs]
    dtypes = [str(getattr(t.dtype, "name", t.dtype)) for t in inputs]
    return names, shapes, dtypes


def _check_path(path: object) -> pathlib.Path:
    """Validate the destination path; return it absolute."""
    if not isinstance(path, (str, os.PathLike)):
        raise errors.PruningArgumentError(
            "Argument `path` must be a str or os.PathLike ending with "
            f"'.tflite'. Received: path={path!r} (type {type(path).__name__})."
        )
    raw = os.fspath(path)
    dest = pathlib.Path(raw).expanduser()
    if dest.suffix != ".tflite" or raw.endswith(("/", os.sep)):
        raise errors.PruningArgumentError(
            "Argument `path` must end with '.tflite'. "
            f"Received: path={os.fspath(path)!r}. "
            f"Use e.g. {str(dest.with_suffix('.tflite'))!r}."
        )
    if dest.is_dir():
        raise errors.PruningArgumentError(
            f"Argument `path` must be a file, but {str(dest)!r} is a "
            "directory. Pass a file name such as 'model.tflite'."
        )
    return dest.absolute()


def _fixed_batch_signature(model: keras.Model, batch_size: object) -> list[Any]:
    """``input_signature`` for ``model.export`` with a static batch size.

    Mirrors the structure of ``model.input`` (a tensor, list or dict) and keeps
    the input names, so the TFLite signature still uses the ``keras.Input``
    names.
    """
    _validation.check_positive_int("batch_size", batch_size, allow_none=True)  # None: dynamic batch
    try:
        structure = model.input  # Functional: tensor, list or dict.
    except (AttributeError, ValueError):
        # Sequential models and called subclassed models may only know a
        # flat `inputs` list.
        inputs = _known_inputs(model, f"batch_size={batch_size}", ", or pass batch_size=None")
        structure = inputs[0] if len(inputs) == 1 else inputs

    def spec(tensor: Any) -> keras.InputSpec:
        shape = (batch_size, *tuple(tensor.shape)[1:])
        return keras.InputSpec(
            shape=shape, dtype=tensor.dtype, name=tensor.name
        )

    return [keras.tree.map_structure(spec, structure)]


def _check_quantize(quantize: object) -> str | None:
    """Return the validated ``quantize`` mode or raise PruningArgumentError."""
    accepted = ", ".join(repr(q) for q in QUANTIZE_MODES)
    if quantize is None:
        return None
    if isinstance(quantize, str):
        key = quantize.lower()
        if key in QUANTIZE_MODES:
            return key
    raise errors.PruningArgumentError(
        f"Argument `quantize` must be one of {accepted}. "
        f"Received: quantize={quantize!r}."
    )


# Converter summary lines, e.g. "TF Select ops: Qr" or "Custom ops: Svd".
_SUMMARY_RE = re.compile(r"^(?:TF Select|Flex|Custom) ops: (.+)$", re.MULTILINE)
# Per-op diagnostics, e.g. "'tf.Svd' op is neither a custom op nor a flex op".
_NEITHER_RE = re.compile(
    r"'(?:tf\.)?([\w.]+)' op is neither a custom op nor a flex op"
)
_NEEDS_OPS_CODES = ("ERROR_NEEDS_FLEX_OPS", "ERROR_NEEDS_CUSTOM_OPS")


def _unsupported_ops(exc: BaseException) -> dict[str, list[str]]:
    """Ops the converter could not lower to builtins, mapped to their locations.

    Reads the structured ``ConverterError.errors`` (ConverterErrorData protos,
    with the op name and the TF name scope, e.g.
    ``functional/lambda/Svd``) and falls back to parsing the message.
    """
    found: dict[str, list[str]] = {}
    for data in getattr(exc, "errors", None) or ():
        try:
            code_name = type(data).ErrorCode.Name(data.error_code)
            op_name = data.operator.name
        except (AttributeError, ValueError):
            continue
        if code_name not in _NEEDS_OPS_CODES or not op_name:
            continue
        op_name = op_name.removeprefix("tf.")
        where = []
        for call in getattr(getattr(data, "location", None), "call", ()):
            scope = call.name.split("@", 1)[0]
            if "/" in scope:  # Skip the PartitionedCall wrappers.
                where.append(scope)
        found.setdefault(op_name, [])
        for scope in where[:1]:
            if scope not in found[op_name]:
                found[op_name].append(scope)
    if found:
        return found
    message = str(exc)
    for line in _SUMMARY_RE.findall(message):
        for op_name in line.split(","):
            if op_name.strip():
                found.setdefault(op_name.strip(), [])
    for op_name in _NEITHER_RE.findall(message):
        found.setdefault(op_name, [])
    return found


def _conversion_error(
    model: keras.Model, exc: BaseException
) -> errors.ExportError:
    """Build a helpful ExportError from a converter exception."""
    ops = _unsupported_ops(exc)
    if not ops:
        return errors.ExportError(
            f"TFLite conversion of model {model.name!r} failed: "
            f"{type(exc).__name__}: {exc}"
        )
    layer_names = _layer_names(model)
    lines = []
    for op_name, scopes in sorted(ops.items()):
        where = []
        for scope in scopes:
            layer = _layer_of_scope(scope, layer_names)
            where.append(
                f"layer {layer!r}, TF scope {scope}" if layer else scope
            )
        suffix = f" (in {'; '.join(where)})" if where else ""
        lines.append(f"  - {op_name}{suffix}")
    return errors.ExportError(
        f"Model {model.name!r} uses {len(ops)} op(s) that are not TFLite "
        f"builtin ops: {', '.join(sorted(ops))}.\n"
        + "\n".join(lines)
        + "\ntfprune exports builtin ops only (no TF Select/Flex or custom "
        "ops), so the file runs on any LiteRT runtime. To fix it, remove the "
        "layer that produces these ops or replace it with layers/ops that "
        "have builtin TFLite kernels (e.g. standard Conv2D/Dense/pooling/"
        "elementwise ops instead of a Lambda calling linear-algebra or FFT "
        "ops). If your app ships the Flex delegate "
        "(tensorflow-lite-select-tf-ops), pass allow_flex_ops=True; if it "
        "registers custom kernels for them, pass allow_custom_ops=True."
    )


def _layer_names(model: keras.Model) -> set[str]:
    """Names of all layers of ``model``, including those of nested models."""
    names: set[str] = set()
    stack = list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        if layer.name not in names:
            names.add(layer.name)
            stack.extend(getattr(layer, "layers", []))
    return names


def _layer_of_scope(scope: str, layer_names: set[str]) -> str | None:
    """Map a TF name scope such as ``functional_1/conv_1/Op`` to a layer name.

    TensorFlow makes name scopes unique by appending ``_<n>``, so each path
    segment is tried as is and without that suffix; the deepest match wins.
    """
    match = None
    for segment in scope.split("/")[:-1]:
        for candidate in (segment, re.sub(r"_\d+$", "", segment)):
            if candidate in layer_names:
                match = candidate
                break
    return match


@contextlib.contextmanager
def _native_output_to_log() -> Iterator[None]:
    """Send native (C++) stderr output to the ``tfprune.export`` logger.

    The TF converter and SavedModel loader log a dozen ``I0000``/``W0000``
    lines from C++ straight to file descriptor 2; ``TF_CPP_MIN_LOG_LEVEL`` is
    only read when TensorFlow starts. While the block runs, fd 2 is pointed
    at a temporary file whose content is then logged at DEBUG level (enable
    it with ``logging.getLogger("tfprune.export").setLevel(logging.DEBUG)``).
    Converter errors are raised as exceptions, so nothing is lost. Falls back
    to doing nothing when fd 2 cannot be redirected.
    """
    try:
        stderr_fd = sys.__stderr__.fileno() if sys.__stderr__ else 2
        saved_fd = os.dup(stderr_fd)
    except (OSError, ValueError, AttributeError):
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(sink.fileno(), stderr_fd)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os.dup2(saved_fd, stderr_fd)
            os.close(saved_fd)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace").strip()
            if text:
                _LOG.debug("TensorFlow native output during export:\n%s", text)
