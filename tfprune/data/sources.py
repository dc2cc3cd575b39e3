"""Labelled image data from where users keep it, shaped for a given model.

:func:`load_source` reads one of

- a **tensorflow-datasets name** (``"mnist"``, ``"cifar10"``,
  ``"oxford_flowers102"``), from data prepared in ``data_dir``
  (:func:`tfprune.data.load_tfds`; never downloads);
- an **image folder** with one sub-folder per class
  (``root/<class>/<image>.png|.jpg|.jpeg|.bmp|.gif``); classes are numbered in
  the sorted order of the sub-folder names;
- an **``.npz`` file** holding ``x`` (images) and ``y`` (integer labels), and
  optionally ``x_val``/``y_val`` (or ``x_test``/``y_test``) for validation;

and returns a :class:`Source`: unbatched ``tf.data`` datasets of ``(image,
label)`` whose images are float32 of the model's input shape ``(H, W, C)``:

- pixel values in [0, 1] (uint8 images are divided by 255; floats are kept);
- resized to ``(H, W)`` (bilinear) when their size differs;
- 1 channel repeated to 3 (grey to RGB), 3 channels averaged to 1 (ITU-R 601
  luma, ``tf.image.rgb_to_grayscale``), and an alpha channel dropped, when
  the channel counts differ; other combinations are refused with an error.

A ``.npz`` whose ``x`` already has the model's input shape (any rank) is
passed through unchanged except for the cast to float32 (uint8 is divided by
255), so non-image models work too. When the data has no validation split,
``validation_fraction`` of the training examples (chosen with ``seed``) are
held out.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from tfprune import errors
from tfprune.data import _errors, pipeline

#: File name extensions read from an image folder (what tf.io.decode_image reads).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

_VALIDATION_KEYS = (("x_val", "y_val"), ("x_validation", "y_validation"), ("x_test", "y_test"))


@dataclasses.dataclass
class Source:
    """Training and validation data fit to a model's input.

    Unpacks as ``train, validation = source``.

    Attributes:
        train: unbatched dataset of ``(image float32 (H, W, C), label int32)``.
        validation: the same for the validation examples.
        num_train: number of training examples.
        num_validation: number of validation examples.
        num_classes: number of classes of the data (largest label + 1 for an
            ``.npz``), or None when unknown.
        class_names: class names (the folder names, the TFDS label names), or
            None.
        description: one line saying what was read and how it was converted.
        shuffled: ``shuffled(seed)`` returns the training set in an order
            that depends on ``seed`` only (see :meth:`train_in_order`).
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    num_train: int
    num_validation: int
    num_classes: int | None = None
    class_names: list[str] | None = None
    description: str = ""
    shuffled: Callable[[int], tf.data.Dataset] | None = dataclasses.field(default=None, repr=False)

    def __iter__(self) -> Iterator[tf.data.Dataset]:
        return iter((self.train, self.validation))

    def train_in_order(self, seed: int) -> tf.data.Dataset:
        """The training set, unbatched, shuffled in an order fixed by ``seed``.

        The same seed gives the same order in any process, so a run that
        uses ``seed + epoch`` for every epoch can be resumed from any epoch
        with the data in the order an uninterrupted run would have seen.
        Folders and ``.npz`` files shuffle indices (nothing is buffered);
        TFDS data goes through a shuffle buffer of up to 10,000 examples.
        """
        if self.shuffled is not None:
            return self.shuffled(seed)
        buffer = max(1, min(self.num_train, 10_000))
        return self.train.shuffle(buffer, seed=seed, reshuffle_each_iteration=False)

    def batched(self, batch_size: int = 32, *, shuffle: bool = True, seed: int | None = 0) -> tuple[Any, Any]:
        """``(train, validation)`` batched with :func:`tfprune.data.make_dataset`.

        The training set is shuffled every epoch (with ``shuffle``); the
        validation set is not.
        """
        train = pipeline.make_dataset(
            self.train, batch_size=batch_size, shuffle=shuffle, seed=seed,
            shuffle_buffer=max(1, self.num_train),
        )
        return train, pipeline.make_dataset(self.validation, batch_size=batch_size)


def load_source(
    source: str | os.PathLike[str],
    input_shape: Sequence[int | None],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    validation_fraction: float = 0.1,
    seed: int = 0,
    num_classes: int | None = None,
) -> Source:
    """Read labelled images from a TFDS name, a class folder or an ``.npz``.

    Args:
        source: an existing directory (image folder), a path ending in
            ``.npz``, or otherwise a TFDS dataset name (``"mnist"``,
            ``"cifar10:3.0.2"``).
        input_shape: the model's input shape without the batch axis, e.g.
            ``model.input_shape[1:]`` = ``(28, 28, 1)``. ``H``/``W`` may be
            None (a fully convolutional model): the data's own size is kept.
        data_dir: TFDS data directory (TFDS names only; None is the TFDS
            default).
        validation_fraction: fraction of the training examples held out
            when the data has no validation split, in (0, 1).
        seed: seed of that hold-out.
        num_classes: the model's number of outputs; labels must be below it.

    Returns:
        A :class:`Source` (``train, validation = load_source(...)``).

    Raises:
        DatasetNotFoundError: a missing folder or file, or TFDS data that is
            not prepared.
        PruningArgumentError: a folder without class sub-folders or images,
            an ``.npz`` without ``x``/``y``, labels out of range, or images
            whose shape cannot be made to fit ``input_shape``.
    """
    shape = _check_input_shape(input_shape)
    if not (isinstance(validation_fraction, float | int) and 0 < validation_fraction < 1):
        msg = (
            "Argument `validation_fraction` must be a number in (0, 1), e.g. 0.1. "
            f"Received: validation_fraction={validation_fraction!r}."
        )
        raise errors.PruningArgumentError(msg)
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_dir():
        result = load_folder(path, shape, validation_fraction=validation_fraction, seed=seed)
    elif text.endswith(".npz"):
        result = load_npz(path, shape, validation_fraction=validation_fraction, seed=seed)
    elif os.sep in text or text.startswith("."):
        msg = (
            f"Data {text!r} does not exist. Expected an image folder with one "
            "sub-folder per class (root/<class>/<image>.png), an .npz file "
            "holding x and y, or a tensorflow-datasets name such as 'mnist'. "
            "Check the path."
        )
        raise _errors.DatasetNotFoundError(msg)
    else:
        try:
            result = load_tfds_source(text, shape, data_dir=data_dir, validation_fraction=validation_fraction)
        except _errors.DatasetNotFoundError as exc:
            msg = (
                f"There is no folder or .npz file {text!r} here, so it was read as a "
                f"tensorflow-datasets name, and: {exc}"
            )
            raise _errors.DatasetNotFoundError(msg) from exc
    if num_classes is not None and result.num_classes is not None and result.num_classes > num_classes:
        msg = (
            f"The data has {result.num_classes} classes but the model has "
            f"{num_classes} outputs: labels must be in [0, {num_classes}). "
            f"Received: {result.description}. Give the model a {result.num_classes}-unit "
            "output layer (e.g. replace its head for transfer learning), or "
            "use data with at most that many classes."
        )
        raise errors.PruningArgumentError(msg)
    return result


# Conversion to the input shape ----------------------------------------------


def _check_input_shape(input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
    shape = tuple(None if d is None else int(d) for d in input_shape)
    if not shape or any(d is not None and d < 1 for d in shape):
        msg = (
            "Argument `input_shape` must be the model's input shape without the "
            f"batch axis, e.g. (28, 28, 1). Received: {tuple(input_shape)!r}."
        )
        raise errors.PruningArgumentError(msg)
    return shape


def _fmt(shape: Sequence[int | None]) -> str:
    return str(tuple(None if d is None else int(d) for d in shape))


def _image_target(shape: tuple[int | None, ...], what: str, received: Sequence[int | None]) -> tuple[int | None, int | None, int]:
    """``(H, W, C)`` of an image model, or an error saying images cannot fit."""
    if len(shape) != 3 or shape[-1] is None:
        msg = (
            f"The model takes inputs of shape {_fmt(shape)} (without the batch "
            f"axis), but {what} holds images of shape {_fmt(received)}. Images "
            "need a model whose input is (height, width, channels). Add a "
            "keras.layers.Reshape or Flatten after a keras.Input((H, W, C)), "
            "or save x in an .npz already shaped like the model's input."
        )
        raise errors.PruningArgumentError(msg)
    return shape  # type: ignore[return-value]


def _channel_plan(have: int, want: int, what: str, received, shape) -> str | None:
    if have == want:
        return None
    if (have, want) in ((1, 3), (3, 1), (4, 3)):
        return {(1, 3): "grey->RGB", (3, 1): "RGB->grey", (4, 3): "alpha dropped"}[(have, want)]
    if (have, want) == (4, 1):
        return "alpha dropped, RGB->grey"
    msg = (
        f"The model expects images with {want} channel(s) {_fmt(shape)}, but "
        f"{what} holds images of shape {_fmt(received)} ({have} channel(s)). "
        "tfprune converts 1 <-> 3 channels and drops an alpha channel, nothing "
        f"else: convert the images to {want} channel(s) first."
    )
    raise errors.PruningArgumentError(msg)


def _converter(shape, what: str, received: Sequence[int | None], *, may_vary: bool = False):
    """A function mapping one float32 (h, w, c) image to ``shape``, and its note."""
    height, width, channels = _image_target(shape, what, received)
    have = int(received[-1])  # type: ignore[arg-type]
    plan = _channel_plan(have, channels, what, received, shape)
    size = (height or received[0], width or received[1])
    resize = may_vary or tuple(received[:2]) != size or None in received[:2]
    resized = tuple(received[:2]) != size and None not in size
    notes = [n for n in (plan, f"resized to {size[0]}x{size[1]}" if resized else None) if n]
    if resize and None in size:
        msg = (
            f"The model's input {_fmt(shape)} has no fixed height/width and the "
            f"images of {what} differ in size; tfprune cannot batch them. Give the "
            "model a fixed input size, e.g. keras.Input((224, 224, 3))."
        )
        raise errors.PruningArgumentError(msg)

    def convert(image: tf.Tensor) -> tf.Tensor:
        if have == 4:
            image = image[..., :3]
        if plan is not None and plan.endswith("RGB->grey"):
            image = tf.image.rgb_to_grayscale(image)
        elif plan == "grey->RGB":
            image = tf.image.grayscale_to_rgb(image)
        if resize:
            image = tf.image.resize(image, size)
        return tf.ensure_shape(image, (size[0], size[1], channels))

    return convert, ", ".join(notes)


def _unit_float(image: tf.Tensor) -> tf.Tensor:
    if image.dtype == tf.uint8:
        return tf.cast(image, tf.float32) / 255.0
    return tf.cast(image, tf.float32)


def _with_options(ds: tf.data.Dataset) -> tf.data.Dataset:
    return ds.with_options(pipeline.pipeline_options())


# Image folder ----------------------------------------------------------------


def load_folder(
    root: str | os.PathLike[str],
    input_shape: Sequence[int | None],
    *,
    validation_fraction: float = 0.1,
    seed: int = 0,
) -> Source:
    """Images in ``root/<class>/<image>``; see :func:`load_source`.

    A random ``validation_fraction`` of each class (drawn with ``seed``) is
    held out for validation.
    """
    shape = _check_input_shape(input_shape)
    root = Path(root).expanduser()
    layout = "root/<class>/<image>.png (one sub-folder per class, e.g. root/cat/1.png, root/dog/2.jpg)"
    if not root.is_dir():
        msg = f"Image folder {str(root)!r} does not exist. Expected a layout {layout}. Check the path."
        raise _errors.DatasetNotFoundError(msg)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = sorted(
            str(p) for p in (root / name).iterdir()
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        files += found
        labels += [label] * len(found)
    loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    if not classes or not files:
        what = (
            f"it has no sub-folders ({len(loose)} image file(s) directly inside it)"
            if not classes
            else f"its sub-folders {classes[:10]} hold no {'/'.join(IMAGE_EXTENSIONS)} files"
        )
        msg = (
            f"Image folder {str(root)!r} has no images to read: {what}. Expected "
            f"a layout {layout}. Move the images of each class into a "
            "sub-folder named after the class."
        )
        raise errors.PruningArgumentError(msg)
    first = _decode(tf.io.read_file(files[0]), None).numpy()
    received = first.shape
    what = f"the image folder {str(root)!r}"
    _image_target(shape, what, received)
    # Files may differ in size: every image is resized (to the first one's size
    # for a model without a fixed height/width).
    convert, note = _converter(shape, what, received, may_vary=True)
    rng = np.random.default_rng(seed)
    labels_arr = np.asarray(labels, dtype=np.int32)
    is_val = np.zeros(len(files), dtype=bool)
    for label in range(len(classes)):
        members = np.flatnonzero(labels_arr == label)
        if len(members) > 1:
            count = max(1, int(round(validation_fraction * len(members))))
            is_val[rng.choice(members, size=min(count, len(members) - 1), replace=False)] = True
    files_arr = np.asarray(files)
    num_channels_read = int(received[-1])

    def read(path, label):
        image = _decode(tf.io.read_file(path), num_channels_read)
        return convert(_unit_float(image)), label

    def dataset(mask):
        ds = tf.data.Dataset.from_tensor_slices((files_arr[mask], labels_arr[mask]))
        return _with_options(ds.map(read))

    train_items = (tf.constant(files_arr[~is_val]), tf.constant(labels_arr[~is_val]))

    description = (
        f"image folder {str(root)!r}: {len(files)} images of {len(classes)} classes, "
        f"{_fmt(received)}" + (f" ({note})" if note else "")
    )
    return Source(
        train=dataset(~is_val), validation=dataset(is_val),
        num_train=int((~is_val).sum()), num_validation=int(is_val.sum()),
        num_classes=len(classes), class_names=classes, description=description,
        shuffled=_index_shuffler(train_items, read),
    )


def _index_shuffler(items: tuple[tf.Tensor, tf.Tensor], read) -> Callable[[int], tf.data.Dataset]:
    """``shuffled(seed)``: the examples ``read(*items[i])`` in a seeded random order of ``i``."""
    n = int(items[1].shape[0])

    def shuffled(seed: int) -> tf.data.Dataset:
        order = np.random.default_rng(seed).permutation(n)
        ds = tf.data.Dataset.from_tensor_slices(order)
        return _with_options(ds.map(lambda i: read(tf.gather(items[0], i), tf.gather(items[1], i))))

    return shuffled


def _decode(contents: tf.Tensor, channels: int | None) -> tf.Tensor:
    return tf.io.decode_image(contents, channels=channels or 0, expand_animations=False)


# .npz ------------------------------------------------------------------------


def load_npz(
    path: str | os.PathLike[str],
    input_shape: Sequence[int | None],
    *,
    validation_fraction: float = 0.1,
    seed: int = 0,
) -> Source:
    """Arrays ``x``/``y`` (and optionally ``x_val``/``y_val``) of an ``.npz``; see :func:`load_source`."""
    shape = _check_input_shape(input_shape)
    path = Path(path).expanduser()
    how = "Save it with numpy.savez('data.npz', x=images, y=labels) (optionally x_val=..., y_val=...)."
    if not path.is_file():
        msg = f"No .npz file at {str(path)!r}. {how}"
        raise _errors.DatasetNotFoundError(msg)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        msg = f"Cannot read {str(path)!r} as an .npz file of arrays ({type(exc).__name__}: {exc}). {how}"
        raise errors.PruningArgumentError(msg) from exc
    if "x" not in arrays or "y" not in arrays:
        msg = (
            f"{str(path)!r} must hold arrays named 'x' (images) and 'y' (integer "
            f"labels). Received: arrays {sorted(arrays)}. {how}"
        )
        raise errors.PruningArgumentError(msg)
    what = f"{path.name!r}"
    x, y = _check_pair(arrays["x"], arrays["y"], what, "x", "y")
    val_keys = next(((kx, ky) for kx, ky in _VALIDATION_KEYS if kx in arrays and ky in arrays), None)
    if val_keys is not None:
        x_val, y_val = _check_pair(arrays[val_keys[0]], arrays[val_keys[1]], what, *val_keys)
        if x_val.shape[1:] != x.shape[1:]:
            msg = (
                f"{what}: {val_keys[0]} has shape {x_val.shape} but x has {x.shape}; "
                "both must hold examples of one shape."
            )
            raise errors.PruningArgumentError(msg)
    else:
        order = np.random.default_rng(seed).permutation(len(x))
        count = min(len(x) - 1, max(1, int(round(validation_fraction * len(x)))))
        val, train = order[:count], np.sort(order[count:])
        x, y, x_val, y_val = x[train], y[train], x[np.sort(val)], y[np.sort(val)]
    received = x.shape[1:]
    if tuple(received) == tuple(shape):
        convert, note = (lambda image: image), ""
    else:
        if x.ndim == 3:  # (N, H, W) greyscale
            x, x_val = x[..., np.newaxis], x_val[..., np.newaxis]
            received = x.shape[1:]
        if x.ndim != 4:
            _image_target((), what, received)  # raises: not images
        convert, note = _converter(shape, what, received)

    def read(a, b):
        return convert(_unit_float(a)), b

    def dataset(xs, ys):
        return _with_options(tf.data.Dataset.from_tensor_slices((xs, ys)).map(read))

    num_classes = int(max(y.max(), y_val.max() if len(y_val) else 0)) + 1
    description = (
        f"{str(path)!r}: {len(x) + len(x_val)} examples {_fmt(received)} {x.dtype}, "
        f"{num_classes} classes" + (f" ({note})" if note else "")
    )
    return Source(
        train=dataset(x, y), validation=dataset(x_val, y_val),
        num_train=len(x), num_validation=len(x_val),
        num_classes=num_classes, description=description,
        shuffled=_index_shuffler((tf.constant(x), tf.constant(y)), read),
    )


def _check_pair(x: np.ndarray, y: np.ndarray, what: str, kx: str, ky: str) -> tuple[np.ndarray, np.ndarray]:
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or x.ndim < 2 or len(x) < 2:
        msg = (
            f"{what}: '{kx}' must be a numeric array of at least 2 examples, first "
            f"axis = examples. Received: shape {x.shape}, dtype {x.dtype}."
        )
        raise errors.PruningArgumentError(msg)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        msg = (
            f"{what}: '{ky}' must hold one integer class id >= 0 per example of "
            f"'{kx}' ({len(x)}). Received: shape {y.shape}, dtype {y.dtype}. Store "
            "labels as integers (y.argmax(-1) for one-hot labels)."
        )
        raise errors.PruningArgumentError(msg)
    return x, y.astype(np.int32)


# TFDS ------------------------------------------------------------------------


def load_tfds_source(
    name: str,
    input_shape: Sequence[int | None],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    validation_fraction: float = 0.1,
) -> Source:
    """A TFDS dataset by name; see :func:`load_source`.

    Validation is the ``validation`` split, else ``test``, else the last
    ``validation_fraction`` of ``train``.
    """
    from tfprune.data.tfds_loader import load_tfds

    shape = _check_input_shape(input_shape)
    train = load_tfds(name, split="train", data_dir=data_dir)
    validation = None
    for split in ("validation", "test"):
        try:
            validation = load_tfds(name, split=split, data_dir=data_dir)
            break
        except (ValueError, _errors.DatasetNotFoundError):  # no such split
            continue
    if validation is None:
        percent = int(round(100 * (1 - validation_fraction)))
        train = load_tfds(name, split=f"train[:{percent}%]", data_dir=data_dir)
        validation = load_tfds(name, split=f"train[{percent}%:]", data_dir=data_dir)
    received = tuple(train.element_spec[0].shape)
    what = f"the TFDS dataset {name!r}"
    if len(received) == 2:
        train, validation = (d.map(lambda a, b: (a[..., tf.newaxis], b)) for d in (train, validation))
        received = (*received, 1)
    if received == tuple(shape):
        convert, note = (lambda image: image), ""
    else:
        if len(received) != 3 or received[-1] is None:
            _image_target((), what, received)
        convert, note = _converter(shape, what, received)

    def finish(ds):
        return _with_options(ds.map(lambda a, b: (convert(a), tf.cast(b, tf.int32))))

    num_classes, class_names = _tfds_classes(name, data_dir)
    counts = [_cardinality(d) for d in (train, validation)]
    description = f"TFDS {name!r}: {counts[0]} + {counts[1]} examples {_fmt(received)}" + (
        f" ({note})" if note else ""
    )
    return Source(
        train=finish(train), validation=finish(validation),
        num_train=counts[0], num_validation=counts[1],
        num_classes=num_classes, class_names=class_names, description=description,
    )


def _tfds_classes(name: str, data_dir) -> tuple[int | None, list[str] | None]:
    """Number and names of the TFDS label classes, when the info says."""
    try:
        import tensorflow_datasets as tfds

        builder = tfds.builder(name, data_dir=None if data_dir is None else os.fspath(data_dir))
        label = builder.info.features["label"]
        return int(label.num_classes), list(label.names)
    except Exception:  # noqa: BLE001  (the info is optional: labels are checked by fit)
        return None, None


def _cardinality(ds: tf.data.Dataset) -> int:
    n = int(ds.cardinality())
    if n >= 0:
        return n
    return int(ds.reduce(np.int64(0), lambda count, _: count + 1))


__all__ = ["IMAGE_EXTENSIONS", "Source", "load_folder", "load_npz", "load_source", "load_tfds_source"]
