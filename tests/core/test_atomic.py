"""tfprune._atomic: all-or-nothing writes of one or several files."""

from __future__ import annotations

import os

import keras
import pytest

from tfprune import _atomic


def test_several_files_are_replaced_together(tmp_path):
    a, b = tmp_path / "m.tflite", tmp_path / "m.json"
    a.write_bytes(b"old a")
    os.chmod(a, 0o640)
    _atomic.write_atomic_files([(a, b"new a"), (b, b"new b")])
    assert a.read_bytes() == b"new a" and b.read_bytes() == b"new b"
    assert a.stat().st_mode & 0o777 == 0o640  # an existing file keeps its mode
    assert sorted(os.listdir(tmp_path)) == ["m.json", "m.tflite"]


def test_a_failed_rename_rolls_back_the_files_already_replaced(tmp_path, monkeypatch):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    a.write_bytes(b"old a")
    c.write_bytes(b"old c")
    real = os.replace
    renames = []

    def third_rename_fails(src, dst):
        renames.append(dst)
        if len(renames) == 3:
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(_atomic.os, "replace", third_rename_fails)
    with pytest.raises(OSError, match="Input/output"):
        _atomic.write_atomic_files([(a, b"new a"), (b, b"new b"), (c, b"new c")])
    monkeypatch.undo()
    assert a.read_bytes() == b"old a"  # restored from its backup
    assert not b.exists()  # was new: removed again
    assert c.read_bytes() == b"old c"  # never replaced
    assert sorted(os.listdir(tmp_path)) == ["a", "c"]  # no temporary or backup file


def test_save_keras_atomic_replaces_only_a_complete_file(tmp_path):
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(2)(x))
    path = tmp_path / "m.keras"
    path.write_bytes(b"old")
    _atomic.save_keras_atomic(model, path)
    assert keras.models.load_model(path).count_params() == 8
    assert os.listdir(tmp_path) == ["m.keras"]
    with pytest.raises(ValueError):  # Keras refuses a path without .keras: nothing written
        _atomic.save_keras_atomic(model, tmp_path / "m.h6")
    assert os.listdir(tmp_path) == ["m.keras"]
