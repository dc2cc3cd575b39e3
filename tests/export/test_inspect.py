"""inspect_tflite on known models: op counts, tensor types, signature, size,
builtin-only / Android readiness and which ops XNNPACK takes."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers, ops

from tfprune.errors import PruningArgumentError
from tfprune.export import export_tflite, format_report, inspect_tflite

pytestmark = pytest.mark.tflite


def test_known_cnn_op_counts_and_signature(cnn_tflite):
    report = inspect_tflite(cnn_tflite)
    # build_cnn: 3 Conv2D (BN folded), one residual Add, GAP (MEAN), Dense.
    assert report["ops"] == {"ADD": 1, "CONV_2D": 3, "FULLY_CONNECTED": 1, "MEAN": 1}
    assert report["num_ops"] == 6
    assert report["size_bytes"] == cnn_tflite.stat().st_size
    assert report["inputs"] == [
        {"name": "image", "shape": [-1, 8, 8, 3], "dtype": "float32", "quantization": None}
    ]
    assert report["outputs"][0]["shape"] == [-1, 5]
    assert set(report["tensor_types"]) <= {"float32", "int32"}
    assert report["tensor_types"]["float32"] >= 10  # weights, biases, activations
    assert report["builtin_only"] and report["custom_ops"] == []
    assert report["xnnpack"]["all_delegated"]
    assert report["xnnpack"]["delegated"] == report["ops"]
    assert report["android_ready"]
    assert report["min_runtime_version"].count(".") == 2


def test_dynamic_flatten_ops_are_not_delegated(seq_tflite, seq_model, tmp_path):
    """A dynamic-batch Flatten adds SHAPE/STRIDED_SLICE/PACK that XNNPACK refuses;
    a fixed batch size removes them."""
    dynamic = inspect_tflite(seq_tflite)["xnnpack"]
    assert not dynamic["all_delegated"]
    assert {"SHAPE", "STRIDED_SLICE", "PACK"} <= set(dynamic["not_delegated"])
    assert dynamic["delegated"]["CONV_2D"] == 1
    fixed = inspect_tflite(export_tflite(seq_model, tmp_path / "b1.tflite", batch_size=1))
    assert fixed["xnnpack"]["all_delegated"]
    assert fixed["inputs"][0]["shape"] == [1, 8, 8, 1]


def test_flex_model_is_reported_not_android_ready(tmp_path):
    inputs = keras.Input((4, 4), name="matrix")
    x = layers.Dense(4)(inputs)
    x = layers.Lambda(lambda t: ops.linalg.qr(t)[0], output_shape=(4, 4), name="qr")(x)
    path = export_tflite(keras.Model(inputs, x), tmp_path / "flex.tflite", allow_flex_ops=True)
    report = inspect_tflite(path)
    assert report["custom_ops"] == ["CUSTOM:FlexQr"]
    assert not report["builtin_only"] and not report["android_ready"]
    text = format_report(report)
    assert "NOT ready" in text and "CUSTOM:FlexQr" in text


def test_format_report_lists_ops_and_io(cnn_tflite):
    text = format_report(inspect_tflite(cnn_tflite))
    assert "CONV_2D x3" in text
    assert "input image: float32 [-1, 8, 8, 3]" in text
    assert "every op delegated" in text and "ready" in text


def test_inspect_rejects_missing_and_non_tflite_files(tmp_path):
    with pytest.raises(PruningArgumentError, match="No TFLite file"):
        inspect_tflite(tmp_path / "missing.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(np.zeros(64, np.uint8).tobytes())
    with pytest.raises(PruningArgumentError, match="not a TFLite flatbuffer"):
        inspect_tflite(bad)
