"""Catalogue: damaged or missing model files (.keras, .tflite)."""

from __future__ import annotations

import zipfile

import keras
import pytest
from errors_catalogue import listing

import tfprune
from tfprune import cli


def _saved(model, tmp_path, name="model.keras"):
    path = tmp_path / name
    model.save(path)
    return path


def _cli_error(argv, capsys) -> str:
    assert cli.main([str(a) for a in argv]) == 1
    return capsys.readouterr().err


def test_keras_file_missing(tmp_path, capsys, expect):
    expect("keras-file-missing", _cli_error(["export", tmp_path / "nope.keras", tmp_path / "m.tflite"], capsys))
    assert listing(tmp_path) == []


def test_keras_file_truncated(cnn, tmp_path, capsys, expect):
    path = _saved(cnn, tmp_path)
    path.write_bytes(path.read_bytes()[:5000])  # an interrupted copy
    for argv in (["export", path, tmp_path / "m.tflite"], ["slim", path, tmp_path / "s.keras"], ["flops", path]):
        expect("keras-file-truncated", _cli_error(argv, capsys))
    assert listing(tmp_path) == ["model.keras"]


def test_keras_file_truncated_in_keras(cnn, tmp_path, expect):
    path = _saved(cnn, tmp_path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ValueError) as info:
        keras.models.load_model(path)
    expect("keras-file-truncated-in-keras", info.value)


def test_keras_file_damaged(cnn, tmp_path, capsys, expect):
    path = _saved(cnn, tmp_path)
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts["config.json"] = parts["config.json"][: len(parts["config.json"]) // 2]
    with zipfile.ZipFile(path, "w") as damaged:
        for name, data in parts.items():
            damaged.writestr(name, data)
    expect("keras-file-damaged", _cli_error(["export", path, tmp_path / "m.tflite"], capsys))
    assert listing(tmp_path) == ["model.keras"]


def test_pruned_model_loaded_without_tfprune(cnn, tmp_path, monkeypatch, expect):
    pruned = tfprune.prune(cnn, "l1", 0.5, round_to=None)
    path = _saved(pruned, tmp_path, "pruned.keras")
    registry = keras.saving.get_custom_objects()
    for name in [n for n in registry if n.startswith("tfprune>")]:
        monkeypatch.delitem(registry, name)  # as in a process that never imported tfprune
    with pytest.raises(TypeError) as info:
        keras.models.load_model(path)
    expect("pruned-model-loaded-without-tfprune", info.value)
    monkeypatch.undo()
    assert tfprune.layers.find_wrappers(keras.models.load_model(path))  # loads once registered


def test_tflite_file_truncated(tmp_path, capsys, expect):
    path = tfprune.export_tflite(_tiny_dense(), tmp_path / "m.tflite")
    path.write_bytes(path.read_bytes()[:-100])
    expect("tflite-file-truncated", _cli_error(["inspect", path], capsys))
    with pytest.raises(tfprune.errors.PruningArgumentError):
        tfprune.inspect_tflite(path)


def test_tflite_file_not_tflite(cnn, tmp_path, capsys, expect):
    path = _saved(cnn, tmp_path)
    expect("tflite-file-not-tflite", _cli_error(["inspect", path], capsys))


def _tiny_dense() -> keras.Model:
    x = keras.Input((4,), name="x")
    return keras.Model(x, keras.layers.Dense(2, name="out")(x), name="dense")
