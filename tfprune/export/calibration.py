"""Representative (calibration) data for full-integer TFLite quantization.

``export_tflite(quantize="int8", representative_data=...)`` runs the float
model on these samples to record the range of every activation, from which the
converter derives each tensor's int8 scale and zero point (Jacob et al. 2018,
"Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-
Only Inference", Section 2.1: ``real = scale * (q - zero_point)``).

Accepted forms (validated up front, before anything is converted, so a mistake
gives a clear error instead of a converter stack trace):

* a NumPy array of samples, batch first (single-input models);
* a ``tf.data.Dataset`` (batched or not) of inputs or of ``(inputs, labels)``
  / ``(inputs, labels, weights)`` tuples, e.g. the training dataset;
* an iterable, a generator, or a zero-argument callable returning one (the
  form ``tf.lite.TFLiteConverter.representative_dataset`` takes), yielding the
  same kinds of elements.

Inputs of a multi-input model are a list/tuple in the order of
``model.inputs`` or a dict keyed by the ``keras.Input`` names. Every element is
split into single examples; at most ``max_samples`` of them are used (the
converter needs a few hundred; more only costs time). Values must be finite
and have the model's input shape (batch excluded).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from tfprune import errors

__all__ = ["calibration_samples"]

_HOW = (
    "Pass a NumPy array of input samples (batch first), a tf.data.Dataset of "
    "inputs or (inputs, labels) batches, or a generator/callable yielding "
    "them, e.g. representative_data=x_train[:500]."
)


def calibration_samples(
    representative_data: object,
    input_names: Sequence[str],
    input_shapes: Sequence[tuple[int | None, ...]],
    input_dtypes: Sequence[str],
    *,
    max_samples: int,
) -> list[dict[str, np.ndarray]]:
    """Validate ``representative_data``; return single-example input dicts.

    Args:
        representative_data: See the module docstring.
        input_names: The SavedModel signature's input names, in the order of
            ``model.inputs``.
        input_shapes: The matching input shapes, batch dimension first.
        input_dtypes: The matching input dtypes (samples are cast to them).
        max_samples: Maximum number of examples returned.

    Returns:
        A list of ``{input_name: array of shape (1, *shape[1:])}``.

    Raises:
        PruningArgumentError: If the data has the wrong form, shape or
            dtype, contains NaN/inf, or is empty.
    """
    if representative_data is None:
        raise errors.PruningArgumentError(
            "quantize='int8' needs `representative_data` to calibrate the "
            "int8 ranges of the activations. " + _HOW
        )
    if isinstance(representative_data, (str, bytes)):
        raise errors.PruningArgumentError(
            "Argument `representative_data` must hold input samples. "
            f"Received a {type(representative_data).__name__}. " + _HOW
        )
    for name, dtype in zip(input_names, input_dtypes, strict=True):
        if not _numeric_dtype(dtype):
            raise errors.PruningArgumentError(
                f"quantize='int8' needs numeric model inputs, but input {name!r} "
                f"has dtype {dtype}: calibration cannot feed it. Export the "
                "model without quantize='int8' (quantize='dynamic' also makes "
                "the weights int8), or move the non-numeric preprocessing "
                "(e.g. StringLookup) out of the model into the input pipeline "
                "and export the numeric part."
            )
    elements = _elements(representative_data)
    samples: list[dict[str, np.ndarray]] = []
    for index, element in enumerate(elements):
        arrays = _split_element(
            element, index, input_names, input_shapes, input_dtypes
        )
        samples.extend(arrays)
        if len(samples) >= max_samples:
            break
    if not samples:
        raise errors.PruningArgumentError(
            "Argument `representative_data` yielded no samples; int8 "
            "calibration needs at least one (a few hundred is typical). " + _HOW
        )
    return samples[:max_samples]


def _elements(data: object) -> Iterator[Any]:
    """Iterate the top-level elements of the user's representative data."""
    if isinstance(data, np.ndarray):
        return iter([data])  # One "batch" of samples.
    if _is_tf_dataset(data):
        return _dataset_elements(data)
    if callable(data) and not isinstance(data, Iterable):
        try:
            produced = data()
        except Exception as exc:
            raise errors.PruningArgumentError(
                "Calling `representative_data()` failed with "
                f"{type(exc).__name__}: {exc}. A callable must take no "
                "arguments and return an iterable of input samples."
            ) from exc
        if isinstance(produced, np.ndarray) or _is_tf_dataset(produced):
            return _elements(produced)
        data = produced
    if isinstance(data, Mapping):
        return iter([data])  # A dict of input batches.
    if isinstance(data, Iterable):
        return iter(data)
    raise errors.PruningArgumentError(
        "Argument `representative_data` must be a NumPy array, a "
        "tf.data.Dataset, an iterable/generator or a callable returning one. "
        f"Received: {type(data).__module__}.{type(data).__qualname__}. " + _HOW
    )


def _is_tf_dataset(data: object) -> bool:
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - tensorflow is a dependency
        return False
    return isinstance(data, tf.data.Dataset)


def _dataset_elements(dataset: Any) -> Iterator[Any]:
    # Lazily iterated: an infinite (repeated) dataset is fine, the caller
    # stops after max_samples examples.
    return dataset.as_numpy_iterator()


def _split_element(
    element: Any,
    index: int,
    names: Sequence[str],
    shapes: Sequence[tuple[int | None, ...]],
    dtypes: Sequence[str],
) -> list[dict[str, np.ndarray]]:
    """Turn one element into single-example dicts keyed by input name."""
    inputs = _strip_labels(element, len(names))
    if isinstance(inputs, Mapping):
        missing = [n for n in names if n not in inputs]
        if missing:
            raise errors.PruningArgumentError(
                f"Element {index} of `representative_data` is a dict with "
                f"keys {sorted(map(str, inputs))}, but the model's inputs are "
                f"{list(names)} (missing {missing})."
            )
        arrays = [inputs[n] for n in names]
    elif len(names) == 1:
        # TF's representative_dataset convention yields [x] for one input.
        if isinstance(inputs, list) and len(inputs) == 1:
            inputs = inputs[0]
        arrays = [inputs]
    elif isinstance(inputs, (list, tuple)) and len(inputs) == len(names):
        arrays = list(inputs)
    else:
        raise errors.PruningArgumentError(
            f"The model has {len(names)} inputs {list(names)}; each element "
            "of `representative_data` must be a list of that many arrays or "
            f"a dict keyed by input name. Element {index} is a "
            f"{type(inputs).__name__}."
        )
    batches = []
    for name, shape, dtype, value in zip(
        names, shapes, dtypes, arrays, strict=True
    ):
        batches.append(_as_batch(value, name, shape, dtype, index))
    sizes = {len(b) for b in batches}
    if len(sizes) != 1:
        raise errors.PruningArgumentError(
            f"Element {index} of `representative_data` has inputs with "
            f"different batch sizes { {n: len(b) for n, b in zip(names, batches, strict=True)} }."
        )
    count = sizes.pop()
    return [
        {n: b[i : i + 1] for n, b in zip(names, batches, strict=True)}
        for i in range(count)
    ]


def _numeric_dtype(dtype: str) -> bool:
    if "float" in dtype:  # also bfloat16, which NumPy does not know
        return True
    try:
        kind = np.dtype(dtype).kind
    except TypeError:  # e.g. "string"
        return False
    return kind in "biuf"


def _strip_labels(element: Any, num_inputs: int) -> Any:
    """``(x, y)`` / ``(x, y, w)`` -> ``x`` (the Keras ``fit`` convention).

    For a single-input model any tuple is read as ``(inputs, labels, ...)``.
    For an n-input model a tuple of length n is read as the inputs unless its
    first item is itself a list/tuple/dict of inputs.
    """
    if isinstance(element, tuple) and element:
        first = element[0]
        if num_inputs == 1:
            return first
        if isinstance(first, (list, tuple, Mapping)):
            return first
    return element


def _as_batch(
    value: Any,
    name: str,
    shape: tuple[int | None, ...],
    dtype: str,
    index: int,
) -> np.ndarray:
    try:
        array = np.asarray(value)
    except Exception as exc:  # e.g. ragged nested lists
        raise errors.PruningArgumentError(
            f"Input {name!r} of element {index} of `representative_data` "
            f"cannot be converted to an array: {exc}"
        ) from exc
    if array.dtype == object or np.issubdtype(array.dtype, np.complexfloating) or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
    ):
        raise errors.PruningArgumentError(
            f"Input {name!r} of element {index} of `representative_data` must "
            f"be real numbers (the model input is {dtype}). Received dtype "
            f"{array.dtype}. " + _HOW
        )
    feature = tuple(shape[1:])
    if array.ndim == len(feature):  # A single example without batch axis.
        array = array[None]
    expected = "(batch, " + ", ".join(
        "any" if d is None else str(d) for d in feature
    ) + ")"
    if array.ndim != len(feature) + 1 or any(
        want is not None and want != got
        for want, got in zip(feature, array.shape[1:], strict=True)
    ):
        raise errors.PruningArgumentError(
            f"Input {name!r} of element {index} of `representative_data` has "
            f"shape {array.shape}; the model expects {expected} (or one "
            "example without the batch axis). Pass preprocessed model inputs "
            "(the same scaling as in training), not raw files or labels."
        )
    target = np.dtype(dtype)
    if np.issubdtype(target, np.integer) and array.dtype != target:
        info = np.iinfo(target)
        if not np.all(array == np.round(array)) or array.min() < info.min or array.max() > info.max:
            raise errors.PruningArgumentError(
                f"Input {name!r} of the model is {dtype} (e.g. token ids), but "
                f"element {index} of `representative_data` holds {array.dtype} "
                f"values in [{array.min()}, {array.max()}] that are not whole "
                f"numbers in [{info.min}, {info.max}]. Pass the integer inputs "
                "the model takes, not scaled or normalized values."
            )
    array = array.astype(target, copy=False)
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        raise errors.PruningArgumentError(
            f"Input {name!r} of element {index} of `representative_data` "
            "contains NaN or infinite values; calibration needs finite inputs. "
            "Drop or fix those samples."
        )
    return array
