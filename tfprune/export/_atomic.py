"""Atomic file writes for the export: :mod:`tfprune._atomic` with OS errors
reported as :class:`~tfprune.errors.WriteError` (an ``ExportError``)."""

from __future__ import annotations

import pathlib

from tfprune import errors
from tfprune._atomic import write_atomic_files

__all__ = ["atomic_write_files"]


def atomic_write_files(files: list[tuple[pathlib.Path, bytes]]) -> None:
    """Write the ``.tflite`` (first) and its sidecar, or neither (see tfprune._atomic)."""
    try:
        write_atomic_files(files)
    except OSError as exc:
        names = [repr(str(dest)) for dest, _ in files]
        what = f"the TFLite file {names[0]}" + "".join(f" and its sidecar {n}" for n in names[1:])
        raise errors.write_error(what, files[0][0], exc) from exc
