"""Atomic file writes shared by every part of tfprune that writes files.

The bytes go to a temporary file in the destination directory, are flushed to
disk, and the temporary file is renamed over the destination with
:func:`os.replace`, so a failed or interrupted write (a full disk, a quota, a
permission error) never leaves a partial file and never clobbers an existing
one. An existing file's permissions are kept; a new file gets the mode
``open()`` would give it.

:func:`write_atomic_files` commits several files together (a ``.tflite`` and
its JSON sidecar): every temporary file is written first, then all are
renamed; if anything fails, the destinations that were already replaced get
their previous content back. :func:`save_keras_atomic` does the same for
``model.save``, which writes its ``.keras`` zip straight to the path it is
given.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable, Iterable
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


def _write_fd(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd`` (the seam tests use to fill the disk)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _temp_beside(dest: Path, fill: Callable[[str], None]) -> str:
    """A temporary file next to ``dest``, filled by ``fill(name)``, synced.

    The file gets ``dest``'s current mode (or the default for a new file) and
    ``dest``'s suffix (``model.save`` checks it). It is removed if ``fill``
    fails.
    """
    mode = dest.stat().st_mode & 0o777 if dest.exists() else default_file_mode()
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=f".tmp{dest.suffix}")
    try:
        os.close(fd)
        fill(tmp_name)
        with open(tmp_name, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    return tmp_name


def _fill_with(data: bytes) -> Callable[[str], None]:
    def fill(name: str) -> None:
        fd = os.open(name, os.O_WRONLY | os.O_TRUNC)
        try:
            _write_fd(fd, data)
        finally:
            os.close(fd)

    return fill


def _commit(pairs: Iterable[tuple[Path, Callable[[str], None]]]) -> None:
    """Fill a temporary file per destination, then rename them all.

    On failure: every temporary file is removed and every destination already
    replaced gets its previous content back (or is removed if it is new).
    """
    temps: list[tuple[Path, str]] = []
    backups: list[tuple[Path, str | None]] = []
    try:
        for dest, fill in pairs:
            temps.append((dest, _temp_beside(dest, fill)))
        for dest, tmp in temps:
            backup = None
            if len(temps) > 1 and dest.exists():  # one file: os.replace is atomic
                backup = str(dest.parent / f".{dest.name}.{secrets.token_hex(6)}.bak")
                os.link(dest, backup)
            backups.append((dest, backup))
            os.replace(tmp, dest)
    except BaseException:
        for _, tmp in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for dest, backup in reversed(backups):
            with contextlib.suppress(OSError):
                if backup is None:
                    os.unlink(dest)
                else:
                    os.replace(backup, dest)
        raise
    finally:
        for _, backup in backups:
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.unlink(backup)


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
    _commit([(dest, _fill_with(data))])
    return dest


def write_atomic_files(files: Iterable[tuple[str | os.PathLike[str], bytes]]) -> list[Path]:
    """Write several files so that either all are written or none changes.

    Args:
        files: ``(path, content)`` pairs; the parent directories must exist.

    Returns:
        The paths, as Paths.
    """
    pairs = [(Path(path), _fill_with(data)) for path, data in files]
    _commit(pairs)
    return [dest for dest, _ in pairs]


def save_keras_atomic(model, path: str | os.PathLike[str]) -> Path:
    """``model.save(path)`` through a temporary ``.keras`` file beside ``path``.

    A failed save (full disk, unserializable layer) leaves no partial file
    and an existing ``path`` unchanged.
    """
    dest = Path(path)
    _commit([(dest, lambda name: model.save(name))])
    return dest
