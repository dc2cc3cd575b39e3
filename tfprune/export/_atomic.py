"""Atomic file writes: a temporary file in the destination directory, then
``os.replace``, so a failed or interrupted write never leaves a partial file
and never clobbers an existing one."""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile

from tfprune import errors

def default_file_mode() -> int:
    """Mode a newly created file gets from ``open()`` (0o666 minus umask)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)  # Not thread safe; only used off Linux.
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(dest: pathlib.Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` via a temp file in the same directory."""
    mode = (
        dest.stat().st_mode & 0o777 if dest.exists() else default_file_mode()
    )
    fd, tmp_name = tempfile.mkstemp(
        dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, dest)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise errors.ExportError(
                f"Could not write {str(dest)!r}: {exc}"
            ) from exc
        raise
