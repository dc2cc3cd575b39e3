"""Catalogue: bad TFLite export arguments and int8 calibration data."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from errors_catalogue import listing
from keras import layers

import tfprune
from tfprune.errors import PruningArgumentError


def _export_error(model, path, **kwargs) -> PruningArgumentError:
    with pytest.raises(PruningArgumentError) as info:
        tfprune.export_tflite(model, path, **kwargs)
    assert listing(path.parent) == []  # refused before anything is written
    return info.value


def test_int8_representative_wrong_shape(cnn, tmp_path, expect):
    data = np.zeros((4, 6, 6, 3), "float32")  # 3 channels, the model takes 2
    expect("int8-representative-wrong-shape",
           _export_error(cnn, tmp_path / "m.tflite", quantize="int8", representative_data=data))


def test_int8_representative_wrong_dtype(cnn, tmp_path, expect):
    for data in (np.full((4, 6, 6, 2), "0.5"), np.zeros((4, 6, 6, 2), "complex64")):
        expect("int8-representative-wrong-dtype",
               _export_error(cnn, tmp_path / "m.tflite", quantize="int8", representative_data=data))


def test_int8_representative_not_finite(cnn, tmp_path, expect):
    data = np.zeros((4, 6, 6, 2), "float32")
    data[2, 0, 0, 0] = np.nan
    expect("int8-representative-not-finite",
           _export_error(cnn, tmp_path / "m.tflite", quantize="int8", representative_data=data))


def test_int8_representative_not_integer(tmp_path, expect):
    x = keras.Input((5,), dtype="int32", name="tokens")
    y = layers.Embedding(50, 8, name="embedding")(x)
    y = layers.GlobalAveragePooling1D(name="gap")(y)
    model = keras.Model(x, layers.Dense(3, name="head")(y))
    scaled = np.arange(20, dtype="float32").reshape(4, 5) / 50.0  # normalized ids
    expect("int8-representative-not-integer",
           _export_error(model, tmp_path / "m.tflite", quantize="int8", representative_data=scaled))


def test_int8_without_representative(cnn, tmp_path, expect):
    expect("int8-without-representative", _export_error(cnn, tmp_path / "m.tflite", quantize="int8"))


def test_int8_string_input(tmp_path, expect):
    x = keras.Input((1,), dtype="string", name="word")
    y = layers.StringLookup(vocabulary=["a", "b"], name="lookup")(x)
    y = layers.Embedding(4, 8, name="embedding")(y)
    model = keras.Model(x, layers.Dense(3, name="head")(layers.Flatten()(y)))
    expect("int8-string-input", _export_error(model, tmp_path / "m.tflite", quantize="int8",
                                              representative_data=np.array([["a"], ["b"]])))


def test_export_path_not_tflite(cnn, tmp_path, expect):
    expect("export-path-not-tflite", _export_error(cnn, tmp_path / "m.keras"))


def test_cli_representative_not_npy(cnn, tmp_path, capsys, expect):
    from tfprune import cli

    model_path = tmp_path / "model.keras"
    cnn.save(model_path)
    calib = tmp_path / "calib.npy"
    calib.write_text("0.1,0.2,0.3\n")  # a CSV renamed to .npy
    argv = ["export", model_path, tmp_path / "m.tflite", "--quantize", "int8", "--representative", calib]
    assert cli.main([str(a) for a in argv]) == 1
    expect("cli-representative-not-npy", capsys.readouterr().err)
    assert listing(tmp_path) == ["calib.npy", "model.keras"]
    np.save(calib, np.zeros((4, 6, 6, 2), "float32"))
    assert cli.main([str(a) for a in argv]) == 0


def test_export_quantize_unknown(cnn, tmp_path, expect):
    expect("export-quantize-unknown", _export_error(cnn, tmp_path / "m.tflite", quantize="uint8"))


def test_export_int8_options_without_int8(cnn, tmp_path, expect):
    expect("export-int8-options-without-int8", _export_error(cnn, tmp_path / "m.tflite", int8_io=True))
    expect("export-int8-options-without-int8",
           _export_error(cnn, tmp_path / "m.tflite", representative_data=np.zeros((2, 6, 6, 2), "float32")))


def test_export_labels_count(cnn, tmp_path, expect):
    expect("export-labels-count", _export_error(cnn, tmp_path / "m.tflite", labels=["cat", "dog"]))


def test_export_normalization_invalid(cnn, tmp_path, expect):
    expect("export-normalization-invalid",
           _export_error(cnn, tmp_path / "m.tflite", normalization={"mean": 0.0, "std": 0.0}))


def test_export_under_torch_backend(cnn, tmp_path, expect, monkeypatch):
    """The check, in this process; tests/backends/ exports torch- and JAX-trained models in a TF process."""
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(tfprune.errors.ExportError) as info:
        tfprune.export_tflite(cnn, tmp_path / "m.tflite")
    assert listing(tmp_path) == []
    expect("export-under-torch-backend", info.value)
