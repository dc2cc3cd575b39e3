"""`tfprune prune` end to end: real MNIST PNGs in class folders, an .npz, resume."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune import cli, cli_prune, cli_report, data
from tfprune.latency import LatencyTable, use_table


@pytest.fixture(scope="module")
def mnist():
    (x, y), _ = data.load_mnist()
    return x, y


def _cnn(shape, classes=10):
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape)
    h = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv1")(inputs)
    h = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv2")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    return keras.Model(inputs, keras.layers.Dense(classes, name="head")(h), name="cnn")


def _trained(model, x, y, path):
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(data.make_dataset(x, y, 64, shuffle=True, seed=0), epochs=2, verbose=0)
    model.save(path)
    return path


def _check_report(out, model_path, target=0.5):
    report = json.loads((out / "report.json").read_text())
    dense, slim = report["dense"], report["slim"]
    for name in report["files"].values():
        assert (out / name).is_file(), name
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no staging left
    small = keras.models.load_model(out / "slim.keras")
    assert not tfprune.layers.find_wrappers(small)
    assert slim["params"] == tfprune.count_params(small) < dense["params"]
    assert slim["flops"] == tfprune.count_flops(small)
    assert dense["params"] == tfprune.count_params(keras.models.load_model(model_path))
    ratio = slim["flops"] / dense["flops"]
    assert report["target"]["met"] and report["target"]["within_2_percent"]
    assert target - 0.02 <= ratio <= target, ratio  # met within 2%
    assert report["ratios"]["flops"] == pytest.approx(ratio)
    assert abs(slim["tflite_accuracy"] - slim["accuracy"]) <= 0.02  # LiteRT runs the same model
    assert report["latency"]["median_a_ms"] > 0 and report["latency"]["median_b_ms"] > 0
    widths = {row["layer"]: (row["channels_before"], row["channels"]) for row in report["layers"]}
    assert widths["conv1"][0] == 16 and widths["conv1"][1] < 16 and widths["head"] == (10, 10)
    assert widths["conv2"][1] == small.get_layer("conv2").output.shape[-1]
    markdown = (out / "report.md").read_text()
    assert f"| `conv2` (Conv2D) | 16 -> {widths['conv2'][1]} |" in markdown
    assert (out / "widths.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "](widths.png)" in markdown
    assert f"| parameters | {dense['params']:,} | {slim['params']:,} |" in markdown
    return report


@pytest.mark.slow
def test_image_folder_end_to_end_with_resume(mnist, tmp_path, capsys, monkeypatch):
    x, y = mnist
    folder = tmp_path / "digits"
    for i in range(400):  # real MNIST images, one sub-folder per class
        (folder / f"class_{y[i]}").mkdir(parents=True, exist_ok=True)
        png = tf.io.encode_png(np.rint(x[i] * 255).astype(np.uint8)).numpy()
        (folder / f"class_{y[i]}" / f"{i}.png").write_bytes(png)
    model_path = _trained(_cnn((28, 28, 1)), x[1000:3000], y[1000:3000], tmp_path / "dense.keras")
    out = tmp_path / "run"
    argv = ["prune", str(model_path), "--data", str(folder), "--target", "flops=0.5", "--method", "l1",
            "--epochs", "2", "--finetune-epochs", "1", "--out", str(out), "--round-to", "0",
            "--batch-size", "32", "--latency-rounds", "2", "--verbose", "2"]

    real = cli_prune.Checkpoint.on_epoch_end

    def crash_after_first_epoch(self, epoch, logs=None):
        real(self, epoch, logs)
        raise KeyboardInterrupt  # killed once epoch 1 is saved

    monkeypatch.setattr(cli_prune.Checkpoint, "on_epoch_end", crash_after_first_epoch)
    assert cli.main(argv) == 130
    first = capsys.readouterr().out
    assert "Epoch 1/3" in first and "Epoch 2/3" not in first
    state = json.loads((out / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 1 and [p.name for p in out.iterdir()] == ["checkpoints"]  # no result yet
    saved = keras.models.load_model(out / "checkpoints" / state["checkpoint"])
    steps = int(saved.optimizer.iterations.numpy())
    assert steps == int(np.ceil(360 / 32))  # one epoch of the 360 training images

    monkeypatch.undo()
    assert cli.main(argv) == 0
    second = capsys.readouterr().out
    assert "resuming" in second and "after epoch 1 of 3" in second
    assert "Epoch 1/3" not in second and "Epoch 2/3" in second and "Epoch 3/3" in second
    report = _check_report(out, model_path)
    assert [h["epoch"] for h in report["history"]] == [1, 2, 3]
    assert [h["phase"] for h in report["history"]] == ["prune", "prune", "finetune"]
    assert report["history"][0] == {**state["history"][0], "phase": "prune"}  # epoch 1 was not redone
    assert report["data"]["class_names"] == [f"class_{d}" for d in range(10)]
    assert report["slim"]["accuracy"] > 0.5  # pruned and fine-tuned on real digits, far above chance
    assert json.loads((out / "slim.json").read_text())["labels"] == report["data"]["class_names"]

    # Exactly where an uninterrupted run ends: same steps, masks, weights and per-epoch losses.
    straight = tmp_path / "straight"
    assert cli.main([a if a != str(out) else str(straight) for a in argv]) == 0
    (a_history, a_model), (b_history, b_model) = (_last_checkpoint(d) for d in (straight, out))
    assert int(a_model.optimizer.iterations.numpy()) == int(b_model.optimizer.iterations.numpy()) == 3 * steps
    np.testing.assert_array_equal(tfprune.Pruner(a_model).keep, tfprune.Pruner(b_model).keep)
    for a, b in zip(a_model.get_weights(), b_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert [h["loss"] for h in a_history] == pytest.approx([h["loss"] for h in b_history], rel=1e-6)


def _last_checkpoint(out):
    state = json.loads((out / "checkpoints" / "state.json").read_text())
    return state["history"], keras.models.load_model(out / "checkpoints" / state["checkpoint"])


def test_npz_with_int8_and_a_failure_at_the_end(mnist, tmp_path, capsys, monkeypatch):
    x, y = mnist
    np.savez(tmp_path / "d.npz", x=np.rint(x[:300, ..., 0] * 255).astype(np.uint8), y=y[:300])  # (N, 28, 28)
    model_path = tmp_path / "dense.keras"
    _cnn((28, 28, 1)).save(model_path)  # untrained: the numbers checked here do not need accuracy
    out = tmp_path / "run"
    argv = ["prune", str(model_path), "--data", str(tmp_path / "d.npz"), "--target", "0.5",
            "--epochs", "1", "--finetune-epochs", "0", "--out", str(out), "--round-to", "0",
            "--quantize", "int8", "--calibration-samples", "32", "--latency-rounds", "1", "--verbose", "0"]

    def disk_full(model, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli_report, "save_keras_atomic", disk_full)  # the first result file
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert "300 examples (28, 28, 1) uint8, 10 classes" in captured.out
    assert "No space left on device. Nothing was written" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints"]  # no result file, no staging directory

    monkeypatch.undo()
    assert cli.main(argv) == 0
    assert "after epoch 1 of 1" in capsys.readouterr().out  # the trained epoch is not redone
    report = _check_report(out, model_path)
    assert sorted(report["files"].values()) == sorted(p.name for p in out.iterdir() if p.is_file())
    assert report["files"]["int8_tflite"] == "slim.int8.tflite"
    assert tfprune.inspect_tflite(out / "slim.int8.tflite")["tensor_types"].get("int8", 0) > 0
    assert 0 <= report["slim"]["int8_tflite_accuracy"] <= 1
    assert report["data"]["num_train"] == 270 and report["data"]["num_validation"] == 30

@pytest.mark.parametrize(("prune_steps", "steps_per_epoch"), [(2, 2), (3, 1), (12, 12), (34, 17), (100, 50)])
def test_budget_ramp_reaches_the_target_on_a_step_training_reaches(prune_steps, steps_per_epoch):
    schedule = cli_prune.budget_ramp(prune_steps, steps_per_epoch)
    fires = [step for step in range(prune_steps) if schedule(step)[0]]
    assert fires[0] == 0 and schedule(fires[-1])[1] == 0.5  # the last update is at full progress
    assert len(fires) >= 2 and fires[-1] <= max(1, prune_steps - 1 - steps_per_epoch // 4)


class _MacTimer:
    """Deterministic layer and model times (ms) from MACs, so the allocation does not follow timer noise."""

    runtime = "fake-macs"

    def time_layer(self, layer_class, config, input_shape):
        x = keras.Input(tuple(input_shape), batch_size=1)
        return 0.01 + 1e-6 * tfprune.count_flops(keras.Model(x, layer_class.from_config(config)(x)))

    def time_model(self, model):
        return 0.05 + 1e-6 * tfprune.count_flops(model)

    def overhead(self):
        return 0.01


def test_latency_target_reports_predicted_and_measured(mnist, tmp_path, capsys):
    """--target latency=r: the report puts the table's prediction next to the measured LiteRT latency
    of the exported slim model (the table's layer times are a deterministic stand-in here; the
    LiteRT timer is tested in tests/latency)."""
    x, y = mnist
    np.savez(tmp_path / "d.npz", x=x[:200], y=y[:200])
    model_path = tmp_path / "dense.keras"
    keras.utils.set_random_seed(0)
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="a")(inputs)
    h = keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="b")(h)  # ~0.1 ms: more than timer noise
    h = keras.layers.Conv2D(64, 3, strides=2, activation="relu")(keras.layers.MaxPooling2D()(h))
    keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(h))).save(model_path)
    out = tmp_path / "run"
    argv = ["prune", str(model_path), "--data", str(tmp_path / "d.npz"), "--target", "latency=0.6",
            "--epochs", "1", "--finetune-epochs", "0", "--out", str(out), "--latency-rounds", "2",
            "--round-to", "4", "--allocation", "global", "--max-group-sparsity", "0.75", "--verbose", "0"]
    table = LatencyTable(timer=_MacTimer(), cache_dir=tmp_path / "cache", verbose=0)
    with use_table(table):
        assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    target, check = report["target"], report["latency_target"]
    assert report["settings"]["target"] == {"metric": "latency", "value": 0.6, "threads": 1, "quantize": None}
    assert target["metric"] == "latency" and target["met"], target
    assert target["requested"] == pytest.approx(0.6 * check["table_dense_ms"])
    assert target["achieved"] == pytest.approx(check["predicted_ms"])
    # Inside fit the ramp's last step lands as close under the target as the channel steps allow.
    assert 0.5 <= check["predicted_ratio"] <= 0.6 + 1e-9
    assert target["within_2_percent"] == (check["predicted_ratio"] >= 0.58)
    assert check["measured_ms"] > 0 and check["dense_ms"] > 0 and check["threads"] == 1
    assert check["quantize"] is None and check["relative_error"] >= 0
    assert report["slim"]["flops"] < report["dense"]["flops"]
    assert report["settings"]["max_group_sparsity"] == 0.75
    slim = keras.models.load_model(out / "slim.keras")
    for name, dense_filters in (("a", 32), ("b", 64)):  # every group keeps at least a quarter
        assert dense_filters // 4 <= slim.get_layer(name).filters < dense_filters
    assert "latency target: predicted" in printed
    assert "Latency target, predicted vs measured" in (out / "report.md").read_text()
    assert list((tmp_path / "cache").glob("fake-macs-t1-float32-*.json"))  # the table is cached for the next run
