"""examples/transfer.py: its data paths (digits, TFDS oxford_flowers102, an image
folder) and one short run end to end (MNIST pretraining -> pruned fine-tuning on digits)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfprune import zoo

SHAPE = (28, 28, 1)


@pytest.fixture
def example(load_example):
    return load_example("transfer")


def test_digits_are_resized_to_the_mnist_input(example):
    (x_train, y_train), (x_test, y_test), num_classes, _ = example.load_images("digits", SHAPE)
    assert x_train.shape == (1437, *SHAPE) and x_test.shape == (360, *SHAPE)
    assert num_classes == 10 and set(np.unique(y_train)) == set(range(10))
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    # Bilinear resizing keeps the ink: the mean brightness is that of the 8x8 images.
    from tfprune.data import load_digits

    (x8, _), _ = load_digits(seed=0)
    assert abs(float(x_train.mean()) - float(x8.mean())) < 0.02


def test_oxford_flowers102_from_tfds_mock_data_fits_the_model_input(example):
    # Mock data: RGB photos of random sizes, 102 classes, as the real dataset (nothing is downloaded).
    with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
        (x_train, y_train), (x_test, y_test), num_classes, description = example.load_images(
            "oxford_flowers102", SHAPE)
    assert x_train.shape == (12, *SHAPE) and x_test.shape == (12, *SHAPE)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert num_classes == 102
    assert y_train.max() < 102 and y_test.max() < 102
    assert "oxford_flowers102" in description and "RGB->grey" in description


def test_image_folder_of_pngs_gives_one_label_per_class_folder(example, tmp_path):
    # Three classes of RGB PNGs (24x20, not the model's size); each class has its own grey level.
    levels = {"cat": 40, "dog": 120, "owl": 220}
    rng = np.random.default_rng(0)
    for name, level in levels.items():
        (tmp_path / name).mkdir()
        for i in range(10):
            image = np.clip(level + rng.integers(-5, 6, size=(24, 20, 3)), 0, 255).astype(np.uint8)
            (tmp_path / name / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    (x_train, y_train), (x_test, y_test), num_classes, _ = example.load_images(str(tmp_path), SHAPE, seed=1)
    assert num_classes == 3
    assert len(x_train) + len(x_test) == 30 and len(x_test) == 3  # 10 % of each class held out
    assert x_train.shape[1:] == SHAPE
    x, y = np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test])
    for label, level in enumerate(levels.values()):  # classes in sorted folder order
        assert abs(float(x[y == label].mean()) - level / 255) < 0.01


def test_per_class_keeps_the_first_images_of_every_class_in_order(example):
    y = np.array([2, 0, 2, 1, 0, 2, 1, 0])
    x = np.arange(len(y))[:, None]
    xs, ys = example.per_class(x, y, 2)
    np.testing.assert_array_equal(xs[:, 0], [0, 1, 2, 3, 4, 6])
    np.testing.assert_array_equal(ys, y[[0, 1, 2, 3, 4, 6]])


def test_new_head_copies_the_pretrained_weights_and_leaves_the_model_alone(example):
    pretrained = zoo.small_resnet()
    before = [w.copy() for w in pretrained.get_weights()]
    model = example.with_new_head(pretrained, 5)
    assert model.output_shape == (None, 5)
    assert model.layers[-1].name == "new_head"
    for a, b in zip(model.get_weights()[:-2], before[:-2], strict=True):
        np.testing.assert_array_equal(a, b)
    model.layers[1].kernel.assign(keras.ops.zeros_like(model.layers[1].kernel))
    for a, b in zip(pretrained.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_transfer_prunes_while_fine_tuning_and_reports_both(example, tmp_path):
    result = example.main([
        "--train-size", "256", "--dense-epochs", "1", "--head-epochs", "0", "--prune-epochs", "1",
        "--finetune-epochs", "0", "--train-per-class", "30", "--transfer-batch-size", "64", "--target", "0.5", "--latency-rounds", "2",
        "--out", str(tmp_path), "--cache", str(tmp_path / "cache"), "--verbose", "0",
    ])
    rows, ratios = result["rows"], result["ratios"]
    assert set(rows) == {"unpruned", "pruned"}
    assert result["settings"]["train_images"] == 300 and result["settings"]["num_classes"] == 10
    # The budget is met (within 2 % of the transfer model's FLOPs) and the parameters dropped.
    assert abs(ratios["flops"] - 0.5) <= 0.02
    assert ratios["params"] < 0.7
    assert rows["pruned"]["max_abs_diff_slim_vs_masked"] < 1e-4
    for row in rows.values():
        assert row["latency_ms"] > 0
        assert abs(row["tflite_accuracy"] - row["accuracy"]) < 0.01
    assert rows["pruned"]["tflite_kb"] < rows["unpruned"]["tflite_kb"]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["ratios"]["latency"] == pytest.approx(ratios["latency"])
    assert len(saved["load_average_start"]) == 3
    table = (tmp_path / "results.md").read_text()
    assert "| pruned |" in table and "| unpruned |" in table
