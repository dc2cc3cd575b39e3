"""The restricted unpickler rebuilds numpy arrays and refuses all else."""

from __future__ import annotations

import builtins
import codecs
import io
import os
import pickle
import posix
import warnings

import numpy as np
import pytest

from tfprune.data import NumpyOnlyUnpickler, _safe_pickle


class _RunsShell:
    def __reduce__(self):
        return (os.system, ("echo",))


class _CallsEval:
    def __reduce__(self):
        return (builtins.eval, ("1 + 1",))


class _NumpyButNotArray:
    def __reduce__(self):
        return (np.frombuffer, (b"\x00" * 4, "f4"))


class _OtherCodec:
    def __reduce__(self):
        return (codecs.encode, ("hello", "rot13"))


def test_refuses_os_system_without_calling_it(monkeypatch):
    payload = pickle.dumps(_RunsShell(), protocol=2)
    calls = []
    recorder = lambda command: calls.append(command) or 0
    monkeypatch.setattr(posix, "system", recorder)
    monkeypatch.setattr(os, "system", recorder)

    with pytest.raises(
        pickle.UnpicklingError, match=r"posix\.system|os\.system"
    ):
        _safe_pickle.loads(payload)
    assert calls == []

    # Control: the payload is live, a plain pickle.loads would run it.
    pickle.loads(payload)
    assert calls == ["echo"]


@pytest.mark.parametrize(
    ("obj", "refused"),
    [
        (_CallsEval(), r"(__builtin__|builtins)\.eval"),
        (_NumpyButNotArray(), "frombuffer"),
    ],
)
@pytest.mark.parametrize("protocol", [2, 4])
def test_refuses_globals_outside_the_numpy_array_set(obj, refused, protocol):
    payload = pickle.dumps(obj, protocol=protocol)
    with pytest.raises(pickle.UnpicklingError, match=refused):
        NumpyOnlyUnpickler(io.BytesIO(payload)).load()


def test_codecs_encode_only_for_latin1_bytes():
    with pytest.raises(pickle.UnpicklingError, match="rot13"):
        _safe_pickle.loads(pickle.dumps(_OtherCodec(), protocol=2))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_accepts_numpy_arrays(protocol):
    x = np.linspace(0.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
    y = np.array([3, 1, 4], dtype=np.int64)
    f = np.asfortranarray(np.arange(6, dtype=np.uint8).reshape(2, 3))
    payload = pickle.dumps(((x, y), [f], {"b": b"\x00\xff"}), protocol=protocol)

    (x2, y2), [f2], extra = _safe_pickle.loads(payload)

    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(f2, f)
    assert (x2.dtype, y2.dtype, f2.dtype) == (np.float32, np.int64, np.uint8)
    assert extra == {"b": b"\x00\xff"}


def test_maps_numpy1_module_names_without_importing_numpy_core():
    x = np.arange(5, dtype=np.float32)
    payload = pickle.dumps(x, protocol=2)
    new, old = (
        b"numpy._core.multiarray\n_reconstruct",
        b"numpy.core.multiarray\n_reconstruct",
    )
    assert new in payload
    old_payload = payload.replace(new, old)

    with warnings.catch_warnings():
        warnings.simplefilter(
            "error"
        )  # numpy 2 warns when numpy.core is imported
        np.testing.assert_array_equal(_safe_pickle.loads(old_payload), x)
