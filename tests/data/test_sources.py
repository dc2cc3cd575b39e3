"""load_source: TFDS names (mock data), class folders and .npz files fit to a model's input."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfprune import errors
from tfprune.data import DatasetNotFoundError, load_digits
from tfprune.data.sources import load_source


def _write_folder(root, images, labels, names=("zero", "one", "two")):
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())


@pytest.fixture(scope="module")
def digits_uint8():
    (x, y), _ = load_digits(seed=0)
    keep = y < 3
    return np.rint(x[keep][:60] * 255).astype(np.uint8), y[keep][:60].astype(np.int64)


def _all(ds):
    xs, ys = zip(*ds.as_numpy_iterator(), strict=True)
    return np.stack(xs), np.array(ys)


def test_tfds_name_under_mock_data_is_resized_to_the_model_input():
    with tfds.testing.mock_data(num_examples=10, policy=tfds.testing.MockPolicy.USE_CODE):
        source = load_source("mnist", (32, 32, 3), num_classes=10)
        x, y = _all(source.train)
        xv, _ = _all(source.validation)
    assert x.shape == (10, 32, 32, 3) and xv.shape == (10, 32, 32, 3)
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(x[..., 0], x[..., 2])  # grey repeated to RGB
    assert y.dtype == np.int32 and ((y >= 0) & (y < 10)).all()
    assert source.num_classes == 10 and (source.num_train, source.num_validation) == (10, 10)


def test_folder_with_class_subfolders(tmp_path, digits_uint8):
    images, labels = digits_uint8
    _write_folder(tmp_path / "data", images[..., np.newaxis] if images.ndim == 3 else images, labels)
    source = load_source(tmp_path / "data", (8, 8, 1), validation_fraction=0.2, seed=1)
    assert source.class_names == ["one", "two", "zero"]  # sorted folder names
    assert source.num_train + source.num_validation == len(images)
    x, y = _all(source.train)
    xv, yv = _all(source.validation)
    assert len(x) == source.num_train and set(np.unique(yv)) == {0, 1, 2}  # every class held out
    # PNG round trip is lossless: each read image is one of the written ones, scaled to [0, 1].
    written = {img.tobytes(): name for img, name in zip(images, labels, strict=True)}
    names = ["zero", "one", "two"]
    for image, label in zip(np.concatenate([x, xv]), np.concatenate([y, yv]), strict=True):
        original = np.rint(image[..., 0] * 255).astype(np.uint8)
        assert names[written[original.tobytes()]] == source.class_names[label]
    train_rgb, _ = load_source(tmp_path / "data", (16, 16, 3), seed=1)
    assert next(iter(train_rgb.batch(4)))[0].shape == (4, 16, 16, 3)


def test_npz_split_and_passthrough(tmp_path, digits_uint8):
    images, labels = digits_uint8
    np.savez(tmp_path / "d.npz", x=images, y=labels)
    source = load_source(tmp_path / "d.npz", (8, 8, 1), validation_fraction=0.25, seed=0)
    assert (source.num_train, source.num_validation) == (45, 15)
    x, y = _all(source.train)
    xv, yv = _all(source.validation)
    np.testing.assert_allclose(np.sort(np.concatenate([x, xv]).reshape(60, -1).sum(1)),
                               np.sort(images.reshape(60, -1).sum(1) / 255.0), rtol=1e-5)
    # a seeded order: the same in any process for a seed, a permutation of train
    first, again, other = (_all(source.train_in_order(s))[1] for s in (3, 3, 4))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(np.sort(first), np.sort(y))
    # an explicit validation split, and a flat (non-image) model input
    flat = images.reshape(60, 64).astype(np.float32)
    np.savez(tmp_path / "f.npz", x=flat[:50], y=labels[:50], x_val=flat[50:], y_val=labels[50:])
    flat_source = load_source(tmp_path / "f.npz", (64,))
    assert (flat_source.num_train, flat_source.num_validation) == (50, 10)
    np.testing.assert_array_equal(_all(flat_source.validation)[0], flat[50:])


def test_clear_errors(tmp_path, digits_uint8):
    images, labels = digits_uint8
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_source(tmp_path / "nope", (8, 8, 1))
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(tf.io.encode_png(images[0][..., None]).numpy())
    with pytest.raises(errors.PruningArgumentError, match="no sub-folders"):
        load_source(tmp_path / "flat", (8, 8, 1))
    np.savez(tmp_path / "bad.npz", images=images, labels=labels)
    with pytest.raises(errors.PruningArgumentError, match=r"named 'x'.*Received: arrays \['images', 'labels'\]"):
        load_source(tmp_path / "bad.npz", (8, 8, 1))
    np.savez(tmp_path / "d.npz", x=images, y=labels)
    with pytest.raises(errors.PruningArgumentError, match=r"model takes inputs of shape \(10,\)"):
        load_source(tmp_path / "d.npz", (10,))
    with pytest.raises(errors.PruningArgumentError, match="2 channel"):
        load_source(tmp_path / "d.npz", (8, 8, 2))
    with pytest.raises(errors.PruningArgumentError, match="3 classes but the model has 2 outputs"):
        load_source(tmp_path / "d.npz", (8, 8, 1), num_classes=2)


def test_folder_of_mixed_sizes_is_resized(tmp_path):
    for i, size in enumerate((8, 12, 10, 8)):
        folder = tmp_path / f"c{i % 2}"
        folder.mkdir(exist_ok=True)
        (folder / f"{i}.png").write_bytes(tf.io.encode_png(np.full((size, size, 1), 9 * i, np.uint8)).numpy())
    for shape, expected in (((6, 6, 1), (6, 6, 1)), ((None, None, 1), (8, 8, 1))):  # first file: 8x8
        source = load_source(tmp_path, shape, validation_fraction=0.5)
        x, _ = _all(source.train.concatenate(source.validation))
        assert x.shape == (4, *expected)
