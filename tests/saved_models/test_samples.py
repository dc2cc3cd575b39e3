"""The sample models in saved_models/ load and run (Keras and LiteRT) and are
accurate on real MNIST test images."""

from __future__ import annotations

import json
import pathlib

import keras
import numpy as np
import pytest

from tfprune import data
from tfprune.export import evaluate_tflite, inspect_tflite, io_signature, run_tflite

pytestmark = pytest.mark.tflite

SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "saved_models"
MAX_KB = 400


@pytest.fixture(scope="module")
def mnist_test():
    _, (x_test, y_test) = data.load_mnist()
    return x_test[:2000], y_test[:2000]


@pytest.fixture(scope="module")
def keras_model():
    return keras.models.load_model(SAMPLES / "mnist_slim.keras", compile=False)


def test_keras_sample_is_a_slim_accurate_plain_model(keras_model, mnist_test):
    x, y = mnist_test
    assert (SAMPLES / "mnist_slim.keras").stat().st_size < MAX_KB * 1024
    # Plain Keras layers only: it loads and runs without tfprune's wrappers.
    assert not [l for l in keras_model.layers if type(l).__module__.startswith("tfprune")]
    accuracy = float((keras_model.predict(x, verbose=0).argmax(-1) == y).mean())
    assert accuracy >= 0.96  # 0.975 on all 10k test images (samples.json)
    widths = [l.filters for l in keras_model.layers if isinstance(l, keras.layers.Conv2D)]
    assert max(widths) <= 32  # slimmed from 16/32/64
    assert all(w % 8 == 0 for w in widths)  # round_to=8


@pytest.mark.parametrize("name", ["mnist_slim_float32", "mnist_slim_int8"])
def test_tflite_samples_run_and_agree_with_keras(name, keras_model, mnist_test):
    x, y = mnist_test
    path = SAMPLES / f"{name}.tflite"
    assert path.stat().st_size < MAX_KB * 1024
    result = evaluate_tflite(path, (x, y), reference=keras_model)
    assert result["accuracy"] >= 0.96
    assert result["agreement"] >= (0.999 if name.endswith("float32") else 0.98)
    report = inspect_tflite(path)
    assert report["android_ready"] and report["xnnpack"]["all_delegated"]
    if name.endswith("float32"):
        expected = keras.ops.convert_to_numpy(keras_model(x[:64]))
        got = run_tflite(path, x[:64])
        assert np.max(np.abs(got - expected)) <= 1e-4 * np.max(np.abs(expected))


@pytest.mark.parametrize("name", ["mnist_slim_float32", "mnist_slim_int8"])
def test_sidecars_describe_the_files(name):
    sidecar = json.loads((SAMPLES / f"{name}.json").read_text())
    inputs, outputs = io_signature(SAMPLES / f"{name}.tflite")
    assert sidecar["model"] == f"{name}.tflite"
    assert sidecar["labels"] == [str(d) for d in range(10)]
    assert sidecar["normalization"]["std"] == [255.0]
    assert sidecar["inputs"] == inputs and sidecar["outputs"] == outputs
    expected_dtype = "int8" if name.endswith("int8") else "float32"
    assert inputs[0]["dtype"] == outputs[0]["dtype"] == expected_dtype


def test_int8_sample_from_raw_pixels(mnist_test):
    """What the Android app does: pixel -> (pixel - mean) / std -> quantize."""
    sidecar = json.loads((SAMPLES / "mnist_slim_int8.json").read_text())
    x, y = mnist_test
    pixels = np.rint(x[:1000] * 255.0)
    mean, std = sidecar["normalization"]["mean"][0], sidecar["normalization"]["std"][0]
    q_in = sidecar["inputs"][0]["quantization"]
    q = np.clip(np.rint((pixels - mean) / std / q_in["scale"]) + q_in["zero_point"], -128, 127)
    raw = run_tflite(SAMPLES / "mnist_slim_int8.tflite", q.astype(np.int8), dequantize=False)
    assert raw.dtype == np.int8
    assert (raw.argmax(-1) == y[:1000]).mean() >= 0.96
