"""tensorflow-datasets loading that never reaches for the network by default.

Three ways in, all returning ``tf.data`` datasets of ``(image, label)`` with
images float32 in [0, 1] and the tfprune pipeline options (autotune off):

- :func:`load_tfds`: a TFDS dataset by name (``"cifar10"``, ``"mnist"``, or
  one made with :func:`store_as_tfds`), from data already prepared in
  ``data_dir``. ``download=False`` by default: offline, ``tfds.load`` retries
  for minutes before it fails, so a missing dataset raises at once with
  instructions instead.
- :func:`store_as_tfds`: write local arrays as a real prepared TFDS dataset
  (``tfds.dataset_builders.store_as_tfds_dataset``) that :func:`load_tfds`
  can then load by name.
- :func:`load_image_folder`: a folder of images laid out as
  ``root/<split>/<label>/*.png`` through ``tfds.folder_dataset.ImageFolder``.

``tensorflow_datasets`` is imported inside the functions, so importing
:mod:`tfprune.data` stays cheap.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfprune import errors
from tfprune.data import _errors, pipeline

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

_HOW_TO_PREPARE = (
    "tfprune never lets TFDS download by default (offline, tfds.load retries "
    "for minutes before failing). To prepare the data offline, either: "
    "(1) on a machine with network, run `tfds build {name} --data_dir DIR` and "
    "copy DIR/{name} into the data_dir used here; "
    "(2) write your own arrays as a TFDS dataset with "
    "`tfprune.data.store_as_tfds(name, {{'train': (x, y), 'test': (x, y)}}, "
    "data_dir)`; "
    "(3) read a folder of images root/<split>/<label>/*.png with "
    "`tfprune.data.load_image_folder(root)`; or (4) use the offline data sets "
    "`tfprune.data.load_dataset('mnist')` / `load_dataset('digits')`. "
    "Pass download=True only where the TFDS hosts are reachable."
)


def _tfds() -> Any:
    """Import and return ``tensorflow_datasets``."""
    import tensorflow_datasets as tfds

    return tfds


def _to_unit_float(image: tf.Tensor) -> tf.Tensor:
    """Return ``image`` as float32: uint8 is divided by 255, floats are cast."""
    if image.dtype == tf.uint8:
        return tf.cast(image, tf.float32) / 255.0
    return tf.cast(image, tf.float32)


def _finish(ds: tf.data.Dataset, batch_size: int | None) -> tf.data.Dataset:
    """Batch (when asked) with prefetch(2) and apply the pipeline options."""
    if batch_size is None:
        return ds.with_options(pipeline.pipeline_options())
    return pipeline.make_dataset(ds, batch_size=batch_size)


def load_tfds(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = False,
    as_supervised: bool = True,
    *,
    batch_size: int | None = None,
    shuffle_files: bool = False,
    image_key: str = "image",
    label_key: str = "label",
    read_config: Any = None,
) -> tf.data.Dataset:
    """Load one split of a TFDS dataset with images as float32 in [0, 1].

    Examples are always read as dicts and normalised here, so datasets
    without ``supervised_keys`` (such as those written by
    :func:`store_as_tfds`) load the same way as catalog datasets.

    Args:
        name: TFDS name, e.g. ``"cifar10"`` or ``"mnist:3.0.1"``, or the name
            given to :func:`store_as_tfds`.
        split: A TFDS split string, e.g. ``"train"`` or ``"test[:10%]"``.
        data_dir: Where the prepared data is. None means the TFDS default
            (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``).
        download: Let TFDS download and prepare missing data. Off by default:
            the machines tfprune is built on have no network.
        as_supervised: With True, yield ``(image, label)`` tuples, using the
            dataset's ``supervised_keys`` when it has them and
            ``image_key``/``label_key`` otherwise. With False, yield the
            example dicts with ``image_key`` converted to float32.
        batch_size: Batch size; None yields single examples. Batched datasets
            are prefetched by 2.
        shuffle_files: Shuffle the order of the files read.
        image_key: Feature holding the image when there are no
            ``supervised_keys``.
        label_key: Feature holding the label when there are no
            ``supervised_keys``.
        read_config: Optional ``tfds.ReadConfig``.

    Returns:
        A :class:`tf.data.Dataset` with autotune off.

    Raises:
        DatasetNotFoundError: TFDS does not know ``name``, or its data is not
            prepared in ``data_dir`` and ``download`` is False.
        PruningArgumentError: The dataset has no ``image_key`` / ``label_key``
            feature.
    """
    tfds = _tfds()
    try:
        ds, info = tfds.load(
            name,
            split=split,
            data_dir=None if data_dir is None else os.fspath(data_dir),
            download=download,
            as_supervised=False,
            with_info=True,
            shuffle_files=shuffle_files,
            read_config=read_config,
        )
    except (tfds.core.DatasetNotFoundError, AssertionError) as e:
        where = (
            repr(os.fspath(data_dir))
            if data_dir is not None
            else "the TFDS default data_dir ($TFDS_DATA_DIR or "
            "~/tensorflow_datasets)"
        )
        first_line = (
            str(e).strip().splitlines()[0]
            if str(e).strip()
            else type(e).__name__
        )
        if isinstance(e, tfds.core.DatasetNotFoundError):
            what = (
                f"TFDS has no dataset named {name!r}: it is neither in the "
                f"TFDS catalog nor prepared in {where}."
            )
        else:
            what = (
                f"TFDS could not find prepared data for dataset {name!r} "
                f"(split {split!r}) in {where} with download={download}."
            )
        msg = f"{what} TFDS said: {first_line} " + _HOW_TO_PREPARE.format(
            name=name.split(":")[0].split("/")[0]
        )
        raise _errors.DatasetNotFoundError(msg) from e

    if as_supervised:
        keys = info.supervised_keys
        if (
            isinstance(keys, tuple)
            and len(keys) == 2
            and all(isinstance(k, str) for k in keys)
        ):
            image_key, label_key = keys
    features = set(info.features.keys())
    needed = [image_key, label_key] if as_supervised else [image_key]
    missing = [k for k in needed if k not in features]
    if missing:
        msg = (
            f"Dataset {name!r} has no feature {missing[0]!r}. Its features are "
            f"{sorted(features)}: pass image_key= and label_key= naming the "
            "image and the label."
        )
        raise errors.PruningArgumentError(msg)

    if as_supervised:

        def to_pair(ex: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
            return _to_unit_float(ex[image_key]), ex[label_key]

        ds = ds.map(to_pair)
    else:

        def to_float(ex: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
            return {**ex, image_key: _to_unit_float(ex[image_key])}

        ds = ds.map(to_float)
    return _finish(ds, batch_size)


def _as_uint8_images(x: Any, split: str) -> np.ndarray:
    """Return ``x`` as uint8 (N, H, W, C) for ``tfds.features.Image``."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        msg = (
            f"Images of split {split!r} must have shape (N, H, W) or "
            f"(N, H, W, C) with C in 1, 3, 4. Received: shape {x.shape}."
        )
        raise errors.PruningArgumentError(msg)
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.floating):
        if x.size and (
            np.nanmin(x) < 0.0 or np.nanmax(x) > 1.0 or np.isnan(x).any()
        ):
            msg = (
                f"Float images of split {split!r} must be in [0, 1] (they are "
                f"stored as uint8 pixel = round(255 * x)). Received: values in "
                f"[{np.nanmin(x)}, {np.nanmax(x)}]."
            )
            raise errors.PruningArgumentError(msg)
        return np.rint(x * 255.0).astype(np.uint8)
    if np.issubdtype(x.dtype, np.integer):
        if x.size and (x.min() < 0 or x.max() > 255):
            msg = (
                f"Integer images of split {split!r} must be in 0..255. "
                f"Received: values in [{x.min()}, {x.max()}]."
            )
            raise errors.PruningArgumentError(msg)
        return x.astype(np.uint8)
    msg = (
        f"Images of split {split!r} must be numeric. Received: dtype {x.dtype}."
    )
    raise errors.PruningArgumentError(msg)


def store_as_tfds(
    name: str,
    splits: Mapping[str, tuple[Any, Any]],
    data_dir: str | os.PathLike[str],
    *,
    version: str = "1.0.0",
    num_classes: int | None = None,
    label_names: list[str] | None = None,
    description: str | None = None,
    keep_order: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write local arrays as a prepared TFDS dataset that loads by name.

    Each split becomes ``{"image": uint8 (H, W, C), "label": ClassLabel}``
    examples written with ``tfds.dataset_builders.store_as_tfds_dataset``.
    Load it back with ``load_tfds(name, split=..., data_dir=data_dir)`` (or
    plain ``tfds.load``, which yields dicts: the dataset has no
    ``supervised_keys``).

    Args:
        name: Dataset name, snake_case (``[a-z][a-z0-9_]*``); it should not be
            the name of a TFDS catalog dataset.
        splits: ``{split_name: (x, y)}``. ``x``: (N, H, W) or (N, H, W, C)
            images with C in 1, 3, 4, as uint8, integers in 0..255, or floats
            in [0, 1] (stored as ``round(255 * x)``, so they read back to within
            0.5/255). ``y``: N integer labels. All splits share H, W, C.
        data_dir: Directory to write ``<name>/<version>/`` into.
        version: Dataset version, ``"MAJOR.MINOR.PATCH"``.
        num_classes: Number of classes; defaults to the largest label + 1.
            Ignored when ``label_names`` is given.
        label_names: Optional class names, one per label value.
        description: Optional description stored in the dataset info.
        keep_order: Keep the examples in array order (TFDS otherwise shuffles
            them when writing).
        overwrite: Replace an existing ``<data_dir>/<name>/<version>``.
            Without it, an existing one raises.

    Returns:
        The directory of the prepared dataset, ``<data_dir>/<name>/<version>``.

    Raises:
        PruningArgumentError: A bad name, no splits, mismatched lengths or
            shapes, labels out of range, or images out of range.
        DatasetExistsError: The dataset exists and ``overwrite`` is False.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        msg = (
            "Argument `name` must be a snake_case TFDS name matching "
            f"[a-z][a-z0-9_]*, e.g. 'digits_offline'. Received: name={name!r}."
        )
        raise errors.PruningArgumentError(msg)
    if not splits:
        msg = (
            "Argument `splits` must map at least one split name to (x, y). "
            "Received: {}."
        )
        raise errors.PruningArgumentError(msg)

    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, pair in splits.items():
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            msg = (
                f"splits[{split!r}] must be a pair (x, y). "
                f"Received: {type(pair).__name__}."
            )
            raise errors.PruningArgumentError(msg)
        x = _as_uint8_images(pair[0], split)
        y = np.asarray(pair[1])
        if (
            y.ndim != 1
            or len(y) != len(x)
            or not np.issubdtype(y.dtype, np.integer)
        ):
            msg = (
                f"Labels of split {split!r} must be N={len(x)} integers, one "
                f"per image. Received: shape {y.shape}, dtype {y.dtype}."
            )
            raise errors.PruningArgumentError(msg)
        arrays[split] = (x, y.astype(np.int64))

    shapes = {split: x.shape[1:] for split, (x, _) in arrays.items()}
    if len(set(shapes.values())) != 1:
        msg = (
            "All splits must share one image shape (H, W, C). "
            f"Received: {shapes}."
        )
        raise errors.PruningArgumentError(msg)
    image_shape = next(iter(shapes.values()))

    max_label = max(
        (int(y.max()) for _, y in arrays.values() if len(y)), default=-1
    )
    min_label = min(
        (int(y.min()) for _, y in arrays.values() if len(y)), default=0
    )
    if label_names is not None:
        n_classes = len(label_names)
    else:
        n_classes = num_classes if num_classes is not None else max_label + 1
    if min_label < 0 or max_label >= n_classes or n_classes < 1:
        msg = (
            f"Labels must be in [0, {n_classes}) for {n_classes} classes. "
            f"Received: labels in [{min_label}, {max_label}]."
        )
        raise errors.PruningArgumentError(msg)

    tfds = _tfds()
    root = Path(data_dir).expanduser().resolve()
    target = root / name / str(tfds.core.utils.Version(version))
    if target.exists():
        if not overwrite:
            msg = (
                f"TFDS dataset {name!r} version {version} already exists at "
                f"{str(target)!r}. Load it with load_tfds({name!r}, "
                f"data_dir={str(root)!r}), pick another name or version, or "
                "pass overwrite=True to replace it."
            )
            raise _errors.DatasetExistsError(msg)
        shutil.rmtree(target)

    label = (
        tfds.features.ClassLabel(names=list(label_names))
        if label_names is not None
        else tfds.features.ClassLabel(num_classes=n_classes)
    )
    features = tfds.features.FeaturesDict(
        {"image": tfds.features.Image(shape=image_shape), "label": label}
    )
    split_datasets = {
        split: tf.data.Dataset.from_tensor_slices({"image": x, "label": y})
        for split, (x, y) in arrays.items()
    }
    builder = tfds.dataset_builders.store_as_tfds_dataset(
        name=name,
        version=version,
        features=features,
        split_datasets=split_datasets,
        data_dir=os.fspath(root),
        description=description,
        disable_shuffling=keep_order,
    )
    return Path(os.fspath(builder.data_dir))


def load_image_folder(
    root: str | os.PathLike[str],
    split: str = "train",
    *,
    shape: tuple[int | None, int | None, int] | None = None,
    batch_size: int | None = None,
    shuffle_files: bool = False,
    with_info: bool = False,
) -> tf.data.Dataset | tuple[tf.data.Dataset, Any]:
    """Load ``root/<split>/<label>/<image>`` files as ``(image, label)``.

    Uses ``tfds.folder_dataset.ImageFolder``. Labels are indices into the
    label folder names sorted as strings (so ``"10"`` sorts before ``"2"``);
    ``info.features["label"].names`` lists them.

    Args:
        root: The folder holding one sub-folder per split.
        split: The split (sub-folder) to load; TFDS slicing such as
            ``"train[:50%]"`` works.
        shape: Image shape ``(H, W, C)``. By default ImageFolder decodes every
            image to 3 channels of any size; pass e.g. ``(28, 28, 1)`` for
            grayscale images of a fixed size (needed to batch).
        batch_size: Batch size; None yields single examples.
        shuffle_files: Shuffle the order of the files read.
        with_info: Also return the ``tfds.core.DatasetInfo``.

    Returns:
        A :class:`tf.data.Dataset` of ``(image float32 in [0, 1], label
        int64)`` with autotune off, or ``(dataset, info)`` with ``with_info``.

    Raises:
        DatasetNotFoundError: ``root`` is not a directory, or has no ``split``.
    """
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
        msg = (
            f"Image folder {str(root_path)!r} does not exist. Expected a "
            "layout root/<split>/<label>/<image>.png (or .jpg)."
        )
        raise _errors.DatasetNotFoundError(msg)
    tfds = _tfds()
    builder = tfds.folder_dataset.ImageFolder(
        os.fspath(root_path), shape=None if shape is None else tuple(shape)
    )
    available = sorted(builder.info.splits.keys())
    if split.split("[", 1)[0] not in available:
        msg = (
            f"Image folder {str(root_path)!r} has no split {split!r}: it has "
            f"{available}. Expected a layout root/<split>/<label>/<image>."
        )
        raise _errors.DatasetNotFoundError(msg)
    ds = builder.as_dataset(
        split=split, as_supervised=True, shuffle_files=shuffle_files
    )
    ds = _finish(
        ds.map(lambda image, label: (_to_unit_float(image), label)), batch_size
    )
    if with_info:
        return ds, builder.info
    return ds
