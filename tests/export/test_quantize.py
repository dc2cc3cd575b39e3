"""Every quantize mode on a small CNN trained on real MNIST: runs in LiteRT and
stays close to Keras (float32/float16: outputs; dynamic/int8: top-1 agreement
on 2,000 real test images)."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from tfprune import data
from tfprune.errors import PruningArgumentError
from tfprune.export import (
    evaluate_tflite,
    export_tflite,
    inspect_tflite,
    io_signature,
    run_tflite,
    tflite_ops,
)

pytestmark = pytest.mark.tflite

#: Stated tolerances (README "Deployment").
FLOAT_REL_TOL = {None: 1e-5, "float16": 1e-2}
MIN_AGREEMENT = 0.98


@pytest.fixture(scope="module")
def mnist_cnn():
    """A small CNN trained for 150 steps on real MNIST (about 10 s)."""
    (x_train, y_train), (x_test, y_test) = data.load_mnist()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 3, name="conv2")(x)
    x = layers.BatchNormalization(momentum=0.9, name="bn2")(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, name="logits")(x)
    model = keras.Model(inputs, outputs, name="mnist_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    train = data.make_dataset(x_train[:9600], y_train[:9600], 64, shuffle=True, seed=0)
    model.fit(train, epochs=1, verbose=0)
    return model, (x_train[9600:10100], (x_test[:2000], y_test[:2000]))


@pytest.fixture(scope="module")
def exported(mnist_cnn, tmp_path_factory):
    model, (calibration, _) = mnist_cnn
    out = tmp_path_factory.mktemp("quantized")
    paths = {
        mode: export_tflite(
            model,
            out / f"{mode}.tflite",
            quantize=None if mode == "float32" else mode,
            representative_data=calibration if mode == "int8" else None,
        )
        for mode in ("float32", "float16", "dynamic", "int8")
    }
    paths["int8_io"] = export_tflite(
        model,
        out / "int8_io.tflite",
        quantize="int8",
        representative_data=calibration,
        int8_io=True,
    )
    return paths


@pytest.mark.parametrize("mode", ["float32", "float16"])
def test_float_modes_match_keras_outputs(mnist_cnn, exported, mode):
    model, (_, (x_test, _)) = mnist_cnn
    x = x_test[:256]
    expected = keras.ops.convert_to_numpy(model(x))
    got = run_tflite(exported[mode], x)
    tol = FLOAT_REL_TOL[None if mode == "float32" else mode]
    assert np.max(np.abs(got - expected)) <= tol * np.max(np.abs(expected))


@pytest.mark.parametrize("mode", ["dynamic", "int8", "int8_io"])
def test_quantized_modes_agree_with_keras_on_real_mnist(mnist_cnn, exported, mode):
    model, (_, (x_test, y_test)) = mnist_cnn
    result = evaluate_tflite(exported[mode], (x_test, y_test), reference=model)
    assert result["num_examples"] == 2000
    assert result["reference_accuracy"] > 0.8  # the model did learn
    assert result["agreement"] >= MIN_AGREEMENT
    assert abs(result["accuracy_delta"]) <= 0.02


def test_int8_file_is_integer_inside_and_smaller(exported):
    float_report = inspect_tflite(exported["float32"])
    int8_report = inspect_tflite(exported["int8"])
    assert int8_report["size_bytes"] < 0.5 * float_report["size_bytes"]
    # Float I/O: one QUANTIZE at the input, one DEQUANTIZE at the output.
    assert int8_report["ops"]["QUANTIZE"] == 1
    assert int8_report["ops"]["DEQUANTIZE"] == 1
    assert int8_report["tensor_types"]["int8"] > 5
    assert int8_report["inputs"][0]["dtype"] == "float32"
    assert int8_report["builtin_only"] and int8_report["android_ready"]


def test_int8_io_has_int8_tensors_with_quantization(mnist_cnn, exported):
    model, (_, (x_test, _)) = mnist_cnn
    inputs, outputs = io_signature(exported["int8_io"])
    assert inputs[0]["dtype"] == "int8" and outputs[0]["dtype"] == "int8"
    scale = inputs[0]["quantization"]["scale"]
    zero_point = inputs[0]["quantization"]["zero_point"]
    # Calibrated on [0, 1] pixels: the int8 range covers about [0, 1].
    assert (127 - zero_point) * scale == pytest.approx(1.0, abs=0.02)
    ops = tflite_ops(exported["int8_io"])
    assert "QUANTIZE" not in ops and "DEQUANTIZE" not in ops
    # Raw int8 in, raw int8 out: dequantizing by hand equals run_tflite's.
    x = x_test[:16]
    raw = run_tflite(exported["int8_io"], x, dequantize=False)
    assert raw.dtype == np.int8
    q = np.clip(np.rint(x / scale) + zero_point, -128, 127).astype(np.int8)
    same = run_tflite(exported["int8_io"], q, dequantize=False)
    np.testing.assert_array_equal(raw, same)
    out_q = outputs[0]["quantization"]
    np.testing.assert_allclose(
        run_tflite(exported["int8_io"], x),
        (raw.astype(np.float32) - out_q["zero_point"]) * out_q["scale"],
        rtol=1e-6,
    )


@pytest.mark.slow
def test_representative_data_forms_give_the_same_file(mnist_cnn, tmp_path):
    """Array, tf.data of (x, y) batches, generator, callable, TF's ``[x]``
    convention: same calibration, same file."""
    model, (calibration, _) = mnist_cnn
    x = calibration[:64]
    labels = np.zeros(64, "int64")
    forms = {
        "array": x,
        "dataset": tf.data.Dataset.from_tensor_slices((x, labels)).batch(16),
        "generator": (x[i] for i in range(64)),
        "callable": lambda: iter([x[:32], x[32:]]),
        "tf_convention": lambda: ([x[i : i + 1]] for i in range(64)),
    }
    blobs = {
        name: export_tflite(
            model, tmp_path / f"{name}.tflite", quantize="int8", representative_data=form
        ).read_bytes()
        for name, form in forms.items()
    }
    assert len(set(blobs.values())) == 1


def test_max_calibration_samples_limits_the_data(mnist_cnn, tmp_path):
    model, (calibration, _) = mnist_cnn
    seen = []

    def gen():
        for i in range(100):
            seen.append(i)
            yield calibration[i]

    export_tflite(
        model,
        tmp_path / "m.tflite",
        quantize="int8",
        representative_data=gen,
        max_calibration_samples=10,
    )
    assert len(seen) == 10


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (None, "needs `representative_data`"),
        (np.zeros((4, 28, 28, 3), "float32"), r"shape \(4, 28, 28, 3\)"),
        (np.full((2, 28, 28, 1), np.nan, "float32"), "NaN"),
        (np.array(["a", "b"]), "real numbers"),
        ([], "no samples"),
        ("images.npy", "must hold input samples"),
        (42, "must be a NumPy array"),
        (lambda n: n, "no arguments"),
    ],
)
def test_bad_representative_data_is_refused_before_export(mnist_cnn, tmp_path, bad, match):
    model, _ = mnist_cnn
    with pytest.raises(PruningArgumentError, match=match):
        export_tflite(model, tmp_path / "m.tflite", quantize="int8", representative_data=bad)
    assert os.listdir(tmp_path) == []


def test_int8_io_needs_int8(mnist_cnn, tmp_path):
    model, _ = mnist_cnn
    with pytest.raises(PruningArgumentError, match="int8_io=True"):
        export_tflite(model, tmp_path / "m.tflite", quantize="float16", int8_io=True)
    with pytest.raises(PruningArgumentError, match="int8_io"):
        export_tflite(model, tmp_path / "m.tflite", int8_io="yes")
    assert os.listdir(tmp_path) == []


def test_multi_input_int8_with_dict_calibration(tmp_path):
    keras.utils.set_random_seed(3)
    image = keras.Input((6, 6, 2), name="image")
    aux = keras.Input((3,), name="aux")
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3)(image))
    out = layers.Dense(4)(layers.Concatenate()([x, aux]))
    model = keras.Model([image, aux], out)
    rng = np.random.default_rng(0)
    xs = {"image": rng.random((50, 6, 6, 2), "float32"), "aux": rng.random((50, 3), "float32")}
    path = export_tflite(model, tmp_path / "m.tflite", quantize="int8", representative_data=[xs])
    expected = keras.ops.convert_to_numpy(model([xs["image"], xs["aux"]]))
    got = run_tflite(path, xs)
    assert np.max(np.abs(got - expected)) <= 0.05 * np.max(np.abs(expected))
    with pytest.raises(PruningArgumentError, match="missing"):
        export_tflite(
            model, tmp_path / "m2.tflite", quantize="int8", representative_data=[{"image": xs["image"]}]
        )


# --------------------------------------------------------------------------
# Sidecar


def test_sidecar_has_labels_normalization_and_io(mnist_cnn, tmp_path):
    model, (calibration, _) = mnist_cnn
    labels = [str(d) for d in range(10)]
    path = export_tflite(
        model,
        tmp_path / "digits.tflite",
        quantize="int8",
        representative_data=calibration,
        int8_io=True,
        labels=labels,
        normalization={"mean": 0.0, "std": 255.0},
    )
    assert sorted(os.listdir(tmp_path)) == ["digits.json", "digits.tflite"]
    sidecar = json.loads((tmp_path / "digits.json").read_text())
    assert sidecar["format"] == "tfprune.TFLiteSidecar/1"
    assert sidecar["model"] == "digits.tflite"
    assert sidecar["labels"] == labels
    assert sidecar["normalization"]["mean"] == [0.0]
    assert sidecar["normalization"]["std"] == [255.0]
    assert sidecar["quantize"] == "int8"
    inputs, outputs = io_signature(path)
    assert sidecar["inputs"] == inputs and sidecar["outputs"] == outputs
    assert sidecar["inputs"][0]["shape"] == [-1, 28, 28, 1]
    assert sidecar["inputs"][0]["quantization"]["scale"] > 0


def test_no_sidecar_without_labels_or_normalization(mnist_cnn, exported):
    assert not exported["float32"].with_suffix(".json").exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"labels": ["a", "b"]}, "2 labels"),
        ({"labels": "0123456789"}, "list of class names"),
        ({"labels": [1, 2]}, "non-empty strings"),
        ({"normalization": {"mean": 0}}, "exactly the keys"),
        ({"normalization": {"mean": 0, "std": 0}}, "must not contain 0"),
        ({"normalization": {"mean": [0, 0, 0], "std": 1}}, "3 values"),
        ({"normalization": {"mean": "0", "std": 1}}, "finite number"),
    ],
)
def test_bad_sidecar_arguments_write_nothing(mnist_cnn, tmp_path, kwargs, match):
    model, _ = mnist_cnn
    with pytest.raises(PruningArgumentError, match=match):
        export_tflite(model, tmp_path / "m.tflite", **kwargs)
    assert os.listdir(tmp_path) == []
