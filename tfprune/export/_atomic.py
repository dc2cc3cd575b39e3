"""Atomic file writes for the export: :func:`tfprune._atomic.write_atomic`
with OS errors reported as :class:`~tfprune.errors.ExportError`."""

from __future__ import annotations

import pathlib

from tfprune import errors
from tfprune._atomic import default_file_mode, write_atomic

__all__ = ["atomic_write", "default_file_mode"]


def atomic_write(dest: pathlib.Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` via a temp file in the same directory."""
    try:
        write_atomic(dest, data)
    except OSError as exc:
        raise errors.ExportError(f"Could not write {str(dest)!r}: {exc}") from exc
