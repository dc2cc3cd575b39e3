"""tf.data input pipelines built the way that runs steadily on small CPUs.

Passing numpy arrays straight to ``model.fit``, or a tf.data pipeline with
autotune on (the default), stalls about 20 s at most epoch boundaries on the
2-core machines tfprune is tested on: destroying the previous epoch's iterator
waits for a sleeping autotune thread. :func:`make_dataset` turns arrays (or an
existing dataset) into a batched pipeline with
``options.autotune.enabled = False`` and a fixed ``prefetch(2)``, which avoids
the stall and makes timings reproducible.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune import _validation, errors

#: Fixed prefetch depth (autotune, which would pick one, is disabled).
PREFETCH_BUFFER = 2


def pipeline_options() -> tf.data.Options:
    """Return the :class:`tf.data.Options` tfprune pipelines use.

    Returns:
        Options with ``autotune.enabled = False``; apply them with
        ``dataset.with_options(pipeline_options())``.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def make_dataset(
    x: np.ndarray | tf.Tensor | tf.data.Dataset,
    y: np.ndarray | tf.Tensor | None = None,
    batch_size: int = 128,
    shuffle: bool = False,
    seed: int | None = None,
    drop_remainder: bool = False,
    *,
    shuffle_buffer: int | None = None,
) -> tf.data.Dataset:
    """Build a batched tf.data pipeline with autotune off and prefetch(2).

    Args:
        x: Inputs (an array whose first axis indexes examples) or an existing,
            unbatched :class:`tf.data.Dataset` (then ``y`` must be None).
        y: Labels, one per row of ``x``; None for inputs only.
        batch_size: Examples per batch.
        shuffle: Shuffle the examples, reshuffling every epoch.
        seed: Seed of the shuffle; with a seed the order of each epoch is
            reproducible across runs.
        drop_remainder: Drop the last batch when it is smaller than
            ``batch_size`` (gives every batch a static shape).
        shuffle_buffer: Shuffle buffer size. Defaults to the number of
            examples for arrays (a full shuffle); required to shuffle a
            dataset of unknown size.

    Returns:
        A :class:`tf.data.Dataset` yielding ``(x_batch, y_batch)`` (or
        ``x_batch`` when ``y`` is None, or the dataset's own elements),
        with ``options().autotune.enabled`` False.

    Raises:
        PruningArgumentError: ``x`` and ``y`` disagree in length, ``y`` is given
            with a dataset, a size argument is not a positive integer, or a
            dataset of unknown size is shuffled without ``shuffle_buffer``.

    Example:
        >>> ds = make_dataset(x_train, y_train, batch_size=128, shuffle=True,
        ...                   seed=0)  # doctest: +SKIP
        >>> model.fit(ds, epochs=2)  # doctest: +SKIP
    """
    batch_size = _validation.check_positive_int("batch_size", batch_size)
    shuffle_buffer = _validation.check_positive_int(
        "shuffle_buffer", shuffle_buffer, allow_none=True
    )
    if isinstance(x, tf.data.Dataset):
        if y is not None:
            msg = (
                "Argument `y` must be None when `x` is a tf.data.Dataset (the "
                "dataset already holds the labels). Received: y of type "
                f"{type(y).__name__}."
            )
            raise errors.PruningArgumentError(msg)
        ds = x
        size = int(ds.cardinality())
    else:
        n = len(x)
        if y is not None and len(y) != n:
            msg = (
                "Arguments `x` and `y` must have the same number of examples. "
                f"Received: len(x)={n}, len(y)={len(y)}."
            )
            raise errors.PruningArgumentError(msg)
        ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
        size = n
    if shuffle:
        if shuffle_buffer is None:
            if size < 0:
                msg = (
                    "Argument `shuffle_buffer` is required to shuffle a "
                    "dataset of unknown or infinite size, e.g. "
                    "shuffle_buffer=10000."
                )
                raise errors.PruningArgumentError(msg)
            shuffle_buffer = max(size, 1)
        ds = ds.shuffle(
            shuffle_buffer, seed=seed, reshuffle_each_iteration=True
        )
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(PREFETCH_BUFFER).with_options(pipeline_options())
