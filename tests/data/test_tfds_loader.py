"""tensorflow-datasets loading, offline: mock data, local arrays, folders."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import tfprune.data
from tfprune import errors
from tfprune.data import (
    DatasetExistsError,
    DatasetNotFoundError,
    load_dataset,
    load_digits,
    load_image_folder,
    load_tfds,
    store_as_tfds,
)


@pytest.fixture(scope="module", autouse=True)
def _tfds_temp_dirs_in_pytest_tmp(tmp_path_factory):
    """Keep TFDS's stray temp dirs out of /tmp.

    tfds 4.9.10 leaves an empty ``tempfile.mkdtemp("tfds")`` directory behind
    each time it builds a builder for data that is not prepared yet
    (``DatasetInfo.initialize_from_bucket``; GCS itself is disabled).
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            tempfile, "tempdir", str(tmp_path_factory.mktemp("tfds_tmp"))
        )
        yield


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


@pytest.fixture(scope="module")
def digits_tfds(tmp_path_factory, digits):
    """Real digits arrays stored as a prepared TFDS dataset."""
    data_dir = tmp_path_factory.mktemp("tfds")
    (x_train, y_train), (x_test, y_test) = digits
    path = store_as_tfds(
        "digits_offline",
        {"train": (x_train, y_train), "test": (x_test, y_test)},
        data_dir,
    )
    return data_dir, path


def test_load_tfds_under_mock_data_needs_no_network():
    with tfds.testing.mock_data(
        num_examples=10, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        ds = load_tfds("mnist", split="train", batch_size=4)
        batches = [(x.numpy(), y.numpy()) for x, y in ds]
    assert ds.options().autotune.enabled is False
    assert [x.shape for x, _ in batches] == [
        (4, 28, 28, 1),
        (4, 28, 28, 1),
        (2, 28, 28, 1),
    ]
    for x, y in batches:
        assert x.dtype == np.float32
        assert x.min() >= 0.0
        assert x.max() <= 1.0
        assert y.dtype == np.int64
        assert ((y >= 0) & (y < 10)).all()


def test_load_tfds_dicts_when_not_supervised():
    with tfds.testing.mock_data(
        num_examples=3, policy=tfds.testing.MockPolicy.USE_CODE
    ):
        ds = load_tfds("mnist", split="test", as_supervised=False)
        examples = list(ds)
    assert len(examples) == 3
    assert examples[0]["image"].dtype == tf.float32
    assert examples[0]["image"].shape == (28, 28, 1)
    assert examples[0]["label"].dtype == tf.int64


def test_store_as_tfds_round_trip(digits, digits_tfds):
    (_, y_train), (x_test, y_test) = digits
    data_dir, path = digits_tfds
    assert path == (data_dir / "digits_offline" / "1.0.0").resolve()

    ds = load_tfds(
        "digits_offline", split="test", data_dir=data_dir, batch_size=64
    )
    assert ds.options().autotune.enabled is False
    x = np.concatenate([b[0] for b in ds.as_numpy_iterator()])
    y = np.concatenate([b[1] for b in ds.as_numpy_iterator()])
    np.testing.assert_array_equal(y, y_test)  # same labels, same order
    assert x.shape == x_test.shape
    assert x.dtype == np.float32
    np.testing.assert_allclose(
        x, x_test, atol=0.5 / 255 + 1e-6
    )  # stored as uint8

    # Plain tfds.load finds it by name too, as dicts without supervised keys.
    raw = tfds.load("digits_offline", split="train", data_dir=str(data_dir))
    assert set(raw.element_spec) == {"image", "label"}

    (xa, ya), (_xb, yb) = load_dataset("digits_offline", data_dir=data_dir)
    np.testing.assert_array_equal(ya, y_train)
    np.testing.assert_array_equal(yb, y_test)
    assert xa.shape == (1437, 8, 8, 1)
    assert xa.dtype == np.float32


def test_store_as_tfds_refuses_to_overwrite_unless_asked(
    digits, digits_tfds, tmp_path
):
    (x_train, y_train), _ = digits
    data_dir, _ = digits_tfds
    with pytest.raises(DatasetExistsError, match="overwrite=True"):
        store_as_tfds("digits_offline", {"train": (x_train, y_train)}, data_dir)

    store_as_tfds(
        "tiny", {"train": (x_train[:5], y_train[:5])}, tmp_path, num_classes=10
    )
    store_as_tfds(
        "tiny",
        {"train": (x_train[5:8], y_train[5:8])},
        tmp_path,
        num_classes=10,
        overwrite=True,
    )
    y = [int(lbl) for _, lbl in load_tfds("tiny", data_dir=tmp_path)]
    assert y == y_train[5:8].tolist()


@pytest.mark.parametrize(
    ("name", "splits", "match"),
    [
        (
            "Bad-Name",
            {"train": (np.zeros((2, 4, 4)), np.zeros(2, int))},
            "snake_case",
        ),
        ("ok", {}, "at least one split"),
        (
            "ok",
            {"train": (np.full((2, 4, 4), 2.0), np.zeros(2, int))},
            r"\[0, 1\]",
        ),
        (
            "ok",
            {"train": (np.zeros((2, 4, 4)), np.zeros(3, int))},
            "one per image",
        ),
        (
            "ok",
            {"train": (np.zeros((2, 4, 4)), np.array([0, 5]))},
            "Labels must be in",
        ),
        (
            "ok",
            {"a": (np.zeros((1, 4, 4)), [0]), "b": (np.zeros((1, 5, 4)), [0])},
            "one image shape",
        ),
    ],
)
def test_store_as_tfds_validates_inputs(tmp_path, name, splits, match):
    kwargs = {"num_classes": 2} if name == "ok" else {}
    with pytest.raises(errors.PruningArgumentError, match=match):
        store_as_tfds(name, splits, tmp_path, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_missing_tfds_data_is_a_clear_error_without_download(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_tfds("cifar10", split="train", data_dir=tmp_path)
    msg = str(info.value)
    assert "cifar10" in msg
    assert "download=False" in msg
    assert "store_as_tfds" in msg
    assert "tfds build cifar10" in msg
    assert list(tmp_path.iterdir()) == []

    with pytest.raises(
        DatasetNotFoundError, match="no dataset named 'no_such_dataset_xyz'"
    ):
        load_dataset("no_such_dataset_xyz", data_dir=tmp_path)


def test_load_dataset_dispatches_mnist_offline(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(
        tfprune.data, "load_mnist", lambda **kw: calls.append(kw) or "mnist"
    )
    assert load_dataset("mnist", data_dir=tmp_path, fetch=False) == "mnist"
    assert calls == [{"data_dir": tmp_path, "fetch": False}]


def _write_png_folder(root, counts):
    """Write 6x5 grayscale PNGs; pixel 20 * label + index identifies each."""
    for split, n in counts.items():
        for label in range(3):
            folder = root / split / str(label)
            folder.mkdir(parents=True)
            for i in range(n):
                image = np.full((6, 5, 1), 20 * label + i, dtype=np.uint8)
                image[0, 0, 0] = 255  # not a constant image
                tf.io.write_file(
                    str(folder / f"{i}.png"), tf.io.encode_png(image)
                )


def test_image_folder(tmp_path):
    _write_png_folder(tmp_path, {"train": 4, "test": 2})

    ds, info = load_image_folder(tmp_path, "train", with_info=True)
    assert info.splits["train"].num_examples == 12
    assert info.splits["test"].num_examples == 6
    names = info.features["label"].names
    assert names == ["0", "1", "2"]
    examples = [(x.numpy(), int(y)) for x, y in ds]
    assert len(examples) == 12
    for x, y in examples:
        assert x.shape == (6, 5, 3)
        assert x.dtype == np.float32
        value = round(float(x[1, 1, 0]) * 255)
        np.testing.assert_allclose(x[..., 0], x[..., 2])
        assert names[y] == str(value // 20)
    assert sorted(
        round(float(x[1, 1, 0]) * 255) for x, _ in examples
    ) == sorted(20 * lbl + i for lbl in range(3) for i in range(4))

    gray = load_image_folder(tmp_path, "test", shape=(6, 5, 1), batch_size=4)
    assert gray.options().autotune.enabled is False
    batches = list(gray.as_numpy_iterator())
    assert [b[0].shape for b in batches] == [(4, 6, 5, 1), (2, 6, 5, 1)]
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert x[:, 0, 0, 0].tolist() == [1.0] * 6
    np.testing.assert_array_equal(
        np.rint(x[:, 1, 1, 0] * 255).astype(int) // 20, y
    )


def test_image_folder_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "nowhere")
    _write_png_folder(tmp_path, {"train": 1})
    with pytest.raises(
        DatasetNotFoundError, match=r"no split 'test'.*\['train'\]"
    ):
        load_image_folder(tmp_path, "test")


def test_public_api():
    for name in tfprune.data.__all__:
        assert hasattr(tfprune.data, name), name
