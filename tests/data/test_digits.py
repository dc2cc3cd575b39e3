"""scikit-learn digits as a seeded, stratified train/test split."""

from __future__ import annotations

import numpy as np
import pytest

from tfprune import errors
from tfprune.data import load_dataset, load_digits


def test_shapes_dtypes_and_range():
    (x_train, y_train), (x_test, y_test) = load_digits()
    assert x_train.shape == (1437, 8, 8, 1)
    assert x_test.shape == (360, 8, 8, 1)
    assert x_train.dtype == np.float32
    assert y_train.dtype == np.int64
    assert y_train.shape == (1437,)
    assert y_test.shape == (360,)
    assert x_train.min() == 0.0
    assert x_train.max() == 1.0
    # Pixels are k / 16.
    np.testing.assert_array_equal(x_test * 16, np.rint(x_test * 16))
    # Stratified: every class in both splits, in about the same share.
    train_counts = np.bincount(y_train, minlength=10)
    test_counts = np.bincount(y_test, minlength=10)
    assert (train_counts > 0).all()
    assert (test_counts > 0).all()
    np.testing.assert_allclose(
        test_counts / (train_counts + test_counts), 0.2, atol=0.02
    )


def test_split_is_deterministic_and_seeded():
    (a_x, a_y), (a_xt, a_yt) = load_digits(seed=3)
    (b_x, b_y), (b_xt, b_yt) = load_digits(seed=3)
    np.testing.assert_array_equal(a_x, b_x)
    np.testing.assert_array_equal(a_y, b_y)
    np.testing.assert_array_equal(a_xt, b_xt)
    np.testing.assert_array_equal(a_yt, b_yt)

    (c_x, c_y), _ = load_digits(seed=4)
    assert not np.array_equal(a_y, c_y)
    # Same images in a different split, nothing lost or duplicated.
    full_a = np.concatenate([a_x, a_xt]).reshape(1797, -1)
    full_c = np.concatenate([c_x, load_digits(seed=4)[1][0]]).reshape(1797, -1)
    np.testing.assert_array_equal(
        np.unique(full_a, axis=0), np.unique(full_c, axis=0)
    )


def test_test_fraction():
    (x_train, _), (x_test, _) = load_digits(test_fraction=0.5)
    assert len(x_train) + len(x_test) == 1797
    assert abs(len(x_test) - 898.5) <= 1
    for bad in (0.0, 1.0, -0.1, "0.2"):
        with pytest.raises(errors.PruningArgumentError, match="test_fraction"):
            load_digits(test_fraction=bad)


def test_load_dataset_dispatches_digits():
    (x, _y), (_xt, yt) = load_dataset("digits", seed=1)
    (x2, _y2), (_xt2, yt2) = load_digits(seed=1)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(yt, yt2)
