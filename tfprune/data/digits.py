"""scikit-learn's 8x8 handwritten digits as a seeded train/test split.

The 1,797 images (UCI "Optical Recognition of Handwritten Digits", pixels
0..16) ship inside the scikit-learn wheel, so this loader works offline and in
every test. It is tiny: use it for fast, real-data tests, not for benchmarks.
"""

from __future__ import annotations

import numpy as np

from tfprune import _validation, errors


def load_digits(
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load scikit-learn's digits as a deterministic, stratified split.

    Args:
        test_fraction: Share of the 1,797 images put in the test set, in
            (0, 1). The split is stratified by class.
        seed: Seed of the split. The same seed always gives the same split.

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` with ``x`` float32 of shape
        ``(N, 8, 8, 1)`` in [0, 1] (pixel / 16) and ``y`` int64 labels 0..9
        of shape ``(N,)``. With the default 0.2, N is 1,437 and 360.

    Raises:
        PruningArgumentError: ``test_fraction`` is not in (0, 1).
        ImportError: scikit-learn is not installed.
    """
    fraction = _validation.check_fraction("test_fraction", test_fraction)
    if fraction == 0.0:
        msg = (
            "Argument `test_fraction` must be in (0, 1), e.g. 0.2. "
            f"Received: test_fraction={test_fraction}."
        )
        raise errors.PruningArgumentError(msg)
    try:
        from sklearn import datasets, model_selection
    except ImportError as e:
        msg = (
            "tfprune.data.load_digits needs scikit-learn, which ships the "
            "digits data: `pip install scikit-learn`."
        )
        raise ImportError(msg) from e
    digits = datasets.load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        x, y, test_size=fraction, random_state=seed, stratify=y
    )
    return (x_train, y_train), (x_test, y_test)
