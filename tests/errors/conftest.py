"""Fixtures of the bad-input catalogue tests (see errors_catalogue.py)."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal

import keras
import pytest
from errors_catalogue import catalogue, matches, tiny_cnn


@pytest.fixture
def expect(tmp_path):
    """``expect(entry_id, error_or_stderr)``: check it against docs/errors.md.

    ``error_or_stderr`` is an exception (its class and message are checked)
    or, for the command line (exit code 1), what it printed on stderr:
    ``tfprune: error: `` and the message. With
    ``TFPRUNE_RECORD_CATALOGUE=<file>`` the actual messages are appended to
    that file (JSON lines) instead, to write the docs.
    """

    def check(entry_id: str, error) -> None:
        if isinstance(error, BaseException):
            kind, message = type(error).__name__, str(error)
        else:
            prefix = "tfprune: error: "
            assert str(error).startswith(prefix), f"not a tfprune CLI error: {error!r}"
            kind, message = None, str(error)[len(prefix) :].strip()
        message = message.replace(str(tmp_path), "<tmp>")
        record = os.environ.get("TFPRUNE_RECORD_CATALOGUE")
        if record:
            with open(record, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"id": entry_id, "error": kind, "message": message}) + "\n")
            return
        entries = catalogue()
        assert entry_id in entries, f"docs/errors.md has no entry `{entry_id}`"
        entry = entries[entry_id]
        if kind is not None:
            assert entry["error"] == kind, f"`{entry_id}`: documented {entry['error']}, raised {kind}"
        assert matches(entry["message"], message), (
            f"`{entry_id}`: the message differs from docs/errors.md.\n"
            f"documented:\n{entry['message']}\nactual:\n{message}"
        )

    return check


@pytest.fixture
def disk_full():
    """``with disk_full(n):`` makes every write past byte ``n`` of a file fail.

    RLIMIT_FSIZE is what a nearly full disk or a quota looks like to a
    writer: the write that crosses the limit fails with an OSError mid-file
    (EFBIG), whoever writes (Keras' zip writer, tfprune, the JSON encoder).
    """
    import contextlib

    @contextlib.contextmanager
    def limit(max_bytes: int):
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, previous)

    return limit


@pytest.fixture
def enospc(monkeypatch):
    """Make tfprune's atomic writes fail with ENOSPC after half of a file.

    Patches the one function that writes the bytes (tfprune._atomic._write_fd):
    half of the data reaches the temporary file, then the disk is "full".
    Returns the list of files the failing writes were aimed at.
    """
    import tfprune._atomic as atomic

    real = atomic._write_fd
    failed: list[str] = []

    def half_then_full(fd, data):
        real(fd, bytes(data)[: len(data) // 2])
        failed.append(os.readlink(f"/proc/self/fd/{fd}"))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "_write_fd", half_then_full)
    return failed


@pytest.fixture
def cnn() -> keras.Model:
    return tiny_cnn()
