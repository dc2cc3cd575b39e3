"""evaluate_tflite: accuracy and agreement computed on known predictions."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfprune.errors import PruningArgumentError
from tfprune.export import evaluate_tflite, run_tflite

pytestmark = pytest.mark.tflite


@pytest.fixture(scope="module")
def labelled(cnn_tflite):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 8, 8, 3)).astype("float32")
    predicted = run_tflite(cnn_tflite, x).argmax(-1)
    y = predicted.copy()
    y[:10] = (y[:10] + 1) % 5  # exactly 10 of 40 wrong
    return x, y


def test_accuracy_from_arrays_and_dataset(cnn_tflite, labelled):
    x, y = labelled
    assert evaluate_tflite(cnn_tflite, (x, y)) == {"accuracy": 0.75, "num_examples": 40}
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(7)
    assert evaluate_tflite(cnn_tflite, ds)["accuracy"] == 0.75
    one_hot = np.eye(5, dtype="float32")[y]
    assert evaluate_tflite(cnn_tflite, (x, one_hot))["accuracy"] == 0.75
    assert evaluate_tflite(cnn_tflite, (x, y), max_examples=10) == {"accuracy": 0.0, "num_examples": 10}


def test_reference_keras_model_and_tflite(cnn, cnn_tflite, labelled):
    x, y = labelled
    by_model = evaluate_tflite(cnn_tflite, (x, y), reference=cnn)
    assert by_model["agreement"] == 1.0  # float32 file == Keras model
    assert by_model["reference_accuracy"] == 0.75 and by_model["accuracy_delta"] == 0.0
    by_file = evaluate_tflite(cnn_tflite, (x, y), reference=cnn_tflite)
    assert by_file["agreement"] == 1.0


@pytest.mark.parametrize(
    ("dataset", "match"),
    [
        ((np.zeros((2, 8, 8, 3), "float32"), np.zeros(3)), "same length"),
        ([np.zeros((2, 8, 8, 3), "float32")], r"not an \(x, y\) pair"),
        (42, "int"),
        ((np.zeros((0, 8, 8, 3), "float32"), np.zeros(0)), "no examples"),
        ((np.zeros((2, 8, 8, 3), "float32"), np.array([0.5, 1.0])), "integer class ids"),
    ],
)
def test_bad_datasets(cnn_tflite, dataset, match):
    with pytest.raises(PruningArgumentError, match=match):
        evaluate_tflite(cnn_tflite, dataset)


def test_bad_reference(cnn_tflite, labelled):
    with pytest.raises(PruningArgumentError, match="reference"):
        evaluate_tflite(cnn_tflite, labelled, reference=3)
    with pytest.raises(PruningArgumentError, match="max_examples"):
        evaluate_tflite(cnn_tflite, labelled, max_examples=0)
