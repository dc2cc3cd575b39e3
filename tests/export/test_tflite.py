"""export_tflite: numerics vs Keras, builtin ops only, errors, atomic writes."""

from __future__ import annotations

import os
import pathlib

import keras
import numpy as np
import pytest
from keras import layers, ops

from tfprune.errors import ExportError, PruningArgumentError, TfpruneError
from tfprune.export import export_tflite, run_tflite, tflite_ops

pytestmark = pytest.mark.tflite


def _non_builtin_model() -> keras.Model:
    """A model whose Lambda needs tf.Qr (a TF Select op) and tf.Svd (neither).

    Verified on TF 2.21: with TFLITE_BUILTINS only, the converter rejects both
    (ERROR_NEEDS_FLEX_OPS for Qr, ERROR_NEEDS_CUSTOM_OPS for Svd).
    """
    inputs = keras.Input((4, 4), name="matrix")
    x = layers.Dense(4, name="proj")(inputs)
    x = layers.Lambda(
        lambda t: (
            ops.linalg.qr(t)[0]
            + ops.linalg.svd(t, compute_uv=False)[:, :, None]
        ),
        output_shape=(4, 4),
        name="linalg_lambda",
    )(x)
    return keras.Model(inputs, x, name="needs_flex")


@pytest.fixture(scope="module")
def non_builtin_model() -> keras.Model:
    return _non_builtin_model()


# --------------------------------------------------------------------------
# Numerics and ops


@pytest.mark.parametrize("batch", [1, 5])
def test_functional_cnn_matches_keras(
    cnn, cnn_tflite, assert_close, rng, batch
):
    x = rng.standard_normal((batch, 8, 8, 3)).astype("float32")
    assert_close(run_tflite(cnn_tflite, x), keras.ops.convert_to_numpy(cnn(x)))


@pytest.mark.parametrize("batch", [1, 5])
def test_sequential_with_flatten_matches_keras(
    seq_model, seq_tflite, assert_close, rng, batch
):
    x = rng.standard_normal((batch, 8, 8, 1)).astype("float32")
    assert_close(
        run_tflite(seq_tflite, x), keras.ops.convert_to_numpy(seq_model(x))
    )


def test_cnn_ops_are_builtin_and_batchnorm_is_folded(cnn_tflite):
    found = tflite_ops(cnn_tflite)
    assert found["CONV_2D"] == 3
    assert found["ADD"] == 1  # the residual Add, ReLU fused into it
    assert found["FULLY_CONNECTED"] == 1
    assert "MEAN" in found  # GlobalAveragePooling2D
    assert not [
        name for name in found if name.startswith("CUSTOM") or "Flex" in name
    ]
    # BatchNormalization folded into the convs: no standalone MUL/SUB/RSQRT.
    assert not {"MUL", "SUB", "RSQRT"} & set(found)


def test_sequential_ops_are_builtin(seq_tflite):
    found = tflite_ops(seq_tflite)
    assert {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "RESHAPE"} <= set(
        found
    )
    assert not [
        name for name in found if name.startswith("CUSTOM") or "Flex" in name
    ]


def test_returns_absolute_path_and_creates_parent_dirs(
    seq_model, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    out = export_tflite(seq_model, os.path.join("a", "b", "m.tflite"))
    assert isinstance(out, pathlib.Path)
    assert out.is_absolute()
    assert out == tmp_path / "a" / "b" / "m.tflite"
    assert out.read_bytes()[4:8] == b"TFL3"
    assert sorted(os.listdir(out.parent)) == ["m.tflite"]  # no temp files left


def test_successful_export_replaces_existing_file(seq_model, tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(b"stale")
    export_tflite(seq_model, str(path))
    assert path.read_bytes()[4:8] == b"TFL3"
    assert sorted(os.listdir(tmp_path)) == ["m.tflite"]


def test_fixed_batch_size_gives_static_graph(
    seq_model, tmp_path, assert_close, rng
):
    path = export_tflite(seq_model, tmp_path / "b1.tflite", batch_size=1)
    from ai_edge_litert.interpreter import Interpreter

    detail = Interpreter(model_path=str(path)).get_input_details()[0]
    assert list(detail["shape_signature"]) == [1, 8, 8, 1]
    # Flatten of a static shape is a single RESHAPE (no SHAPE/PACK ops).
    assert "SHAPE" not in tflite_ops(path)
    x = rng.standard_normal((3, 8, 8, 1)).astype("float32")
    assert_close(run_tflite(path, x), keras.ops.convert_to_numpy(seq_model(x)))


def test_nested_model_exports(cnn, tmp_path, assert_close, rng):
    inputs = keras.Input((8, 8, 3))
    outputs = layers.Softmax()(cnn(inputs))
    outer = keras.Model(inputs, outputs, name="outer")
    path = export_tflite(outer, tmp_path / "nested.tflite")
    x = rng.standard_normal((2, 8, 8, 3)).astype("float32")
    assert_close(run_tflite(path, x), keras.ops.convert_to_numpy(outer(x)))


@pytest.mark.parametrize("quantize", ["float16", "dynamic"])
def test_float16_and_dynamic_quantization(
    cnn, cnn_tflite, tmp_path, rng, quantize
):
    path = export_tflite(
        cnn, tmp_path / f"{quantize}.tflite", quantize=quantize
    )
    x = rng.standard_normal((4, 8, 8, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(cnn(x))
    got = run_tflite(path, x)
    assert np.max(np.abs(got - expected)) <= 1e-2 * np.max(np.abs(expected))
    found = tflite_ops(path)
    assert not [name for name in found if name.startswith("CUSTOM")]
    if quantize == "float16":
        # Weights are stored as float16 and dequantized at load time.
        assert "DEQUANTIZE" in found
        assert path.stat().st_size < cnn_tflite.stat().st_size


# --------------------------------------------------------------------------
# Non-builtin ops


def test_non_builtin_op_raises_export_error_naming_op(
    non_builtin_model, tmp_path
):
    path = tmp_path / "bad.tflite"
    with pytest.raises(ExportError) as info:
        export_tflite(non_builtin_model, path)
    message = str(info.value)
    assert "Qr" in message and "Svd" in message
    assert "linalg_lambda" in message  # the Keras layer that produced them
    assert "remove" in message.lower() or "replace" in message.lower()
    assert isinstance(info.value, TfpruneError)
    assert isinstance(info.value, RuntimeError)
    assert not path.exists()
    assert os.listdir(tmp_path) == []  # no temp file left behind


def test_failed_export_leaves_existing_file_untouched(
    non_builtin_model, tmp_path
):
    path = tmp_path / "keep.tflite"
    path.write_bytes(b"previous good model")
    with pytest.raises(ExportError):
        export_tflite(non_builtin_model, path)
    assert path.read_bytes() == b"previous good model"
    assert sorted(os.listdir(tmp_path)) == ["keep.tflite"]


def test_flex_op_refused_unless_allowed(tmp_path):
    inputs = keras.Input((4, 4), name="matrix")
    x = layers.Dense(4, name="proj")(inputs)
    x = layers.Lambda(
        lambda t: ops.linalg.qr(t)[0], output_shape=(4, 4), name="qr_layer"
    )(x)
    model = keras.Model(inputs, x, name="needs_qr")
    with pytest.raises(ExportError, match="allow_flex_ops=True") as info:
        export_tflite(model, tmp_path / "m.tflite")
    assert "Qr" in str(info.value) and "qr_layer" in str(info.value)
    assert os.listdir(tmp_path) == []
    path = export_tflite(model, tmp_path / "m.tflite", allow_flex_ops=True)
    assert tflite_ops(path)["CUSTOM:FlexQr"] == 1


def test_allow_custom_ops_emits_custom_ops(non_builtin_model, tmp_path):
    path = export_tflite(
        non_builtin_model, tmp_path / "custom.tflite", allow_custom_ops=True
    )
    found = tflite_ops(path)
    assert found["CUSTOM:Qr"] == 1
    assert found["CUSTOM:Svd"] == 1
    assert found["FULLY_CONNECTED"] == 1


# --------------------------------------------------------------------------
# Argument errors


@pytest.mark.parametrize("mode", ["int8", "INT8"])
def test_int8_without_representative_data_raises(seq_model, tmp_path, mode):
    with pytest.raises(PruningArgumentError, match="representative_data") as info:
        export_tflite(seq_model, tmp_path / "m.tflite", quantize=mode)
    assert "x_train[:500]" in str(info.value)  # how to fix it
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("bad", ["fp16", "", 8, True])
def test_bad_quantize_value_raises(seq_model, tmp_path, bad):
    with pytest.raises(PruningArgumentError) as info:
        export_tflite(seq_model, tmp_path / "new" / "m.tflite", quantize=bad)
    message = str(info.value)
    assert repr(bad) in message  # what was received
    assert "'float16'" in message and "'dynamic'" in message  # what is accepted
    assert isinstance(info.value, ValueError)
    assert os.listdir(tmp_path) == []  # not even the parent directory


def test_representative_data_without_int8_raises(seq_model, tmp_path):
    with pytest.raises(PruningArgumentError, match="representative_data"):
        export_tflite(
            seq_model,
            tmp_path / "m.tflite",
            representative_data=[np.zeros((1, 8, 8, 1))],
        )


@pytest.mark.parametrize("bad", ["model.h5", "model", "model.tflite/"])
def test_path_must_end_with_tflite(seq_model, tmp_path, bad):
    with pytest.raises(PruningArgumentError, match=r"\.tflite"):
        export_tflite(
            seq_model, str(tmp_path / bad) + ("/" if bad.endswith("/") else "")
        )


def test_path_must_be_str_or_pathlike(seq_model):
    with pytest.raises(PruningArgumentError, match=r"str or os\.PathLike"):
        export_tflite(seq_model, 42)


def test_path_that_is_a_directory_raises(seq_model, tmp_path):
    (tmp_path / "d.tflite").mkdir()
    with pytest.raises(PruningArgumentError, match="directory"):
        export_tflite(seq_model, tmp_path / "d.tflite")


def test_model_must_be_a_keras_model(tmp_path):
    with pytest.raises(PruningArgumentError, match=r"keras\.Model"):
        export_tflite(layers.Dense(3), tmp_path / "m.tflite")


@pytest.mark.parametrize("bad", [0, -1, 1.0, True])
def test_bad_batch_size_raises(seq_model, tmp_path, bad):
    with pytest.raises(PruningArgumentError, match="batch_size"):
        export_tflite(seq_model, tmp_path / "m.tflite", batch_size=bad)


def test_unbuilt_model_raises_export_error(tmp_path):
    class Unbuilt(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ExportError, match="built"):
        export_tflite(Unbuilt(), tmp_path / "m.tflite")
    assert os.listdir(tmp_path) == []


def test_unsupported_ops_parsed_from_message_without_structured_errors():
    """Fallback when the converter error has no ``errors`` protos."""
    from tfprune.export.tflite import _unsupported_ops

    message = (
        "<unknown>:0: error: 'tf.Erfinv' op is neither a custom op nor a flex op\n"
        "Some ops are not supported by the native TFLite runtime\n"
        "TF Select ops: Qr, FFT\n"
        "Custom ops: Erfinv\n"
    )
    assert set(_unsupported_ops(RuntimeError(message))) == {
        "Qr",
        "FFT",
        "Erfinv",
    }


def test_export_does_not_modify_model(cnn, tmp_path):
    before = [keras.ops.convert_to_numpy(w).copy() for w in cnn.weights]
    export_tflite(cnn, tmp_path / "m.tflite")
    after = [keras.ops.convert_to_numpy(w) for w in cnn.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
