"""``evaluate_tflite``: accuracy of an exported model on labelled data.

Quantization changes a model's outputs; this measures what it costs in
top-1 accuracy instead of guessing, and (with ``reference=``) how often the
exported model's top-1 class agrees with the Keras model's or another file's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from tfprune import _validation, errors
from tfprune.export.litert import run_tflite

__all__ = ["evaluate_tflite"]


def evaluate_tflite(
    path: str | os.PathLike[str],
    dataset: Any,
    *,
    reference: Any = None,
    num_threads: int = 1,
    max_examples: int | None = None,
) -> dict[str, Any]:
    """Top-1 accuracy of a single-output classifier ``.tflite`` file.

    Args:
        path: Path of the ``.tflite`` file (any quantization; integer
            inputs are fed by quantizing the float data, integer outputs
            are dequantized, see :func:`~tfprune.export.run_tflite`).
        dataset: Labelled data: a tuple ``(x, y)`` of arrays, or a
            ``tf.data.Dataset`` / iterable of ``(x, y)`` batches (the form
            ``model.fit`` takes). ``y`` holds integer class ids, or one-hot
            rows (argmax is used). ``x`` must be preprocessed like the
            training data.
        reference: Optional ``keras.Model`` or path of another ``.tflite``
            file run on the same inputs; its accuracy and the top-1
            agreement (fraction of examples where both predict the same
            class) are reported too.
        num_threads: LiteRT threads.
        max_examples: Stop after this many examples (None: all).

    Returns:
        ``{"accuracy", "num_examples"}`` plus, with ``reference``,
        ``"reference_accuracy"``, ``"agreement"`` and
        ``"accuracy_delta"`` (this file minus the reference).

    Raises:
        PruningArgumentError: If the data is not labelled batches, the
            labels do not match the number of outputs, or it is empty.
    """
    max_examples = _validation.check_positive_int("max_examples", max_examples, allow_none=True)
    run_reference = _reference_runner(reference, num_threads)
    correct = agree = ref_correct = total = 0
    for x, y in _batches(dataset):
        if max_examples is not None:
            x, y = x[: max_examples - total], y[: max_examples - total]
            if len(y) == 0:
                break
        logits = run_tflite(path, x, num_threads=num_threads)
        if isinstance(logits, list):
            raise errors.PruningArgumentError(
                "evaluate_tflite needs a model with one output (class "
                f"scores); this one has {len(logits)} outputs."
            )
        labels = _labels(y, logits)
        predicted = logits.reshape(len(logits), -1).argmax(-1)
        correct += int((predicted == labels).sum())
        if run_reference is not None:
            ref_predicted = run_reference(x).reshape(len(x), -1).argmax(-1)
            ref_correct += int((ref_predicted == labels).sum())
            agree += int((ref_predicted == predicted).sum())
        total += len(labels)
        if max_examples is not None and total >= max_examples:
            break
    if total == 0:
        raise errors.PruningArgumentError(
            "Argument `dataset` yielded no examples."
        )
    result: dict[str, Any] = {"accuracy": correct / total, "num_examples": total}
    if run_reference is not None:
        result["reference_accuracy"] = ref_correct / total
        result["agreement"] = agree / total
        result["accuracy_delta"] = result["accuracy"] - result["reference_accuracy"]
    return result


def _reference_runner(reference: Any, num_threads: int):
    if reference is None:
        return None
    if isinstance(reference, (str, os.PathLike)):
        return lambda x: np.asarray(
            run_tflite(reference, x, num_threads=num_threads)
        )
    if callable(getattr(reference, "predict", None)):
        return lambda x: np.asarray(reference.predict(x, verbose=0))
    raise errors.PruningArgumentError(
        "Argument `reference` must be None, a keras.Model or the path of a "
        f".tflite file. Received: {type(reference).__name__}."
    )


def _batches(dataset: Any) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    how = (
        "Pass (x, y) arrays or a tf.data.Dataset / iterable of (x, y) "
        "batches with integer (or one-hot) labels."
    )
    if isinstance(dataset, tuple) and len(dataset) == 2 and all(
        isinstance(v, np.ndarray) for v in dataset
    ):
        x, y = dataset
        if len(x) != len(y):
            raise errors.PruningArgumentError(
                f"x and y must have the same length. Received {len(x)} "
                f"inputs and {len(y)} labels."
            )
        for start in range(0, len(x), 256):
            yield x[start : start + 256], y[start : start + 256]
        return
    try:
        import tensorflow as tf

        if isinstance(dataset, tf.data.Dataset):
            dataset = dataset.as_numpy_iterator()
    except ImportError:  # pragma: no cover - tensorflow is a dependency
        pass
    try:
        iterator = iter(dataset)
    except TypeError:
        raise errors.PruningArgumentError(
            f"Argument `dataset` is a {type(dataset).__name__}. " + how
        ) from None
    for index, element in enumerate(iterator):
        if not isinstance(element, (tuple, list)) or len(element) < 2:
            raise errors.PruningArgumentError(
                f"Element {index} of `dataset` is not an (x, y) pair but a "
                f"{type(element).__name__}. " + how
            )
        yield np.asarray(element[0]), np.asarray(element[1])


def _labels(y: np.ndarray, logits: np.ndarray) -> np.ndarray:
    classes = logits.reshape(len(logits), -1).shape[-1]
    if y.ndim == 2 and y.shape[-1] == classes and classes > 1:
        return y.argmax(-1)
    y = y.reshape(len(y))
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise errors.PruningArgumentError(
                "Labels must be integer class ids or one-hot rows. Received "
                f"non-integer labels of dtype {y.dtype}."
            )
        y = y.astype(np.int64)
    return y
