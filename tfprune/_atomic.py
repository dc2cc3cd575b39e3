"""Atomic file writes shared by every part of tfprune that writes files.

The bytes go to a temporary file in the destination directory, are flushed to
disk, and the temporary file is renamed over the destination with
:func:`os.replace`, so a failed or interrupted write never leaves a partial
file and never clobbers an existing one. An existing file's permissions are
kept; a new file gets the mode ``open()`` would give it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


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


def write_atomic(path: str | os.PathLike[str], data: bytes, *, make_parents: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; return ``path`` as a Path.

    Args:
        path: destination file.
        data: the file's full content.
        make_parents: create missing parent directories first.
    """
    dest = Path(path)
    if make_parents:
        dest.parent.mkdir(parents=True, exist_ok=True)
    mode = dest.stat().st_mode & 0o777 if dest.exists() else default_file_mode()
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    return dest
