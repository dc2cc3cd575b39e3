"""Where tfprune keeps downloaded data, and how it writes it safely."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tfprune._atomic import write_atomic

#: Environment variable that overrides the default cache directory.
DATA_DIR_ENV = "TFPRUNE_DATA_DIR"


def default_data_dir() -> Path:
    """Return the directory tfprune caches data files in.

    The first of these that is set wins: the ``TFPRUNE_DATA_DIR`` environment
    variable, ``$XDG_CACHE_HOME/tfprune``, ``~/.cache/tfprune``. The directory
    is not created here.

    Returns:
        The cache directory as an absolute :class:`pathlib.Path`.
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "tfprune").resolve()


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """Return ``data_dir`` as a Path, or :func:`default_data_dir` when None."""
    if data_dir is None:
        return default_data_dir()
    return Path(data_dir).expanduser().resolve()


def sha256_bytes(data: bytes) -> str:
    """Return the hex sha256 digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 digest of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path``: readers see the old file or the new one.

    The bytes go to a temporary file in the same directory, are flushed to
    disk, and the temporary file is renamed over ``path`` with
    :func:`os.replace`. On any error the temporary file is removed and
    ``path`` is left as it was.

    Args:
        path: Destination file. Its parent directories are created.
        data: The file's full content.

    Returns:
        ``path`` as a :class:`pathlib.Path`.
    """
    return write_atomic(path, data, make_parents=True)
