"""make_dataset: batched tf.data pipelines with autotune off."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfprune import errors
from tfprune.data import make_dataset, pipeline_options


def _arrays(n=10):
    x = np.arange(n * 4, dtype=np.float32).reshape(n, 2, 2, 1)
    y = np.arange(n, dtype=np.int64)
    return x, y


def test_autotune_off_and_batch_shapes():
    x, y = _arrays(10)
    ds = make_dataset(x, y, batch_size=4)
    assert ds.options().autotune.enabled is False
    batches = list(ds.as_numpy_iterator())
    assert [b[0].shape for b in batches] == [
        (4, 2, 2, 1),
        (4, 2, 2, 1),
        (2, 2, 2, 1),
    ]
    assert [b[1].shape for b in batches] == [(4,), (4,), (2,)]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    np.testing.assert_array_equal(batches[0][0], x[:4])


def test_drop_remainder_gives_static_batch_shape():
    x, y = _arrays(10)
    ds = make_dataset(x, y, batch_size=4, drop_remainder=True)
    assert ds.element_spec[0].shape == (4, 2, 2, 1)
    assert [b[1].shape for b in ds.as_numpy_iterator()] == [(4,), (4,)]


def test_shuffle_is_seeded_and_reshuffles_each_epoch():
    x, y = _arrays(100)
    ds = make_dataset(x, y, batch_size=100, shuffle=True, seed=7)
    epoch1 = next(iter(ds))[1].numpy()
    epoch2 = next(iter(ds))[1].numpy()
    again = next(
        iter(make_dataset(x, y, batch_size=100, shuffle=True, seed=7))
    )[1].numpy()

    assert sorted(epoch1.tolist()) == list(range(100))
    assert not np.array_equal(epoch1, y)
    assert not np.array_equal(epoch1, epoch2)
    np.testing.assert_array_equal(epoch1, again)
    # Pairs stay aligned.
    xb, yb = next(iter(ds))
    np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])


def test_inputs_only_and_existing_dataset():
    x, _ = _arrays(5)
    ds = make_dataset(x, batch_size=2)
    assert [b.shape for b in ds.as_numpy_iterator()] == [
        (2, 2, 2, 1),
        (2, 2, 2, 1),
        (1, 2, 2, 1),
    ]

    base = tf.data.Dataset.range(10).map(lambda i: (tf.cast(i, tf.float32), i))
    ds = make_dataset(base, batch_size=3)
    assert ds.options().autotune.enabled is False
    assert [b[1].tolist() for b in ds.as_numpy_iterator()] == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7, 8],
        [9],
    ]

    unknown = tf.data.Dataset.range(10).filter(lambda i: i % 2 == 0)
    with pytest.raises(errors.PruningArgumentError, match="shuffle_buffer"):
        make_dataset(unknown, shuffle=True)
    shuffled = make_dataset(
        unknown, batch_size=5, shuffle=True, shuffle_buffer=5, seed=0
    )
    assert sorted(next(iter(shuffled)).numpy().tolist()) == [0, 2, 4, 6, 8]


def test_bad_arguments():
    x, y = _arrays(4)
    with pytest.raises(errors.PruningArgumentError, match="same number"):
        make_dataset(x, y[:3])
    with pytest.raises(errors.PruningArgumentError, match="batch_size"):
        make_dataset(x, y, batch_size=0)
    with pytest.raises(errors.PruningArgumentError, match="must be None"):
        make_dataset(tf.data.Dataset.range(3), y)


def test_pipeline_options():
    assert pipeline_options().autotune.enabled is False
