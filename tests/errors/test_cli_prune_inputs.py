"""Catalogue: bad inputs of `tfprune prune` (data, loss, method, resume); nothing is written."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from errors_catalogue import listing

from tfprune import cli, cli_prune


@pytest.fixture
def model_path(cnn, tmp_path):
    path = tmp_path / "model.keras"
    cnn.save(path)  # input (6, 6, 2), 3 classes
    return path


def _prune(model_path, data, *extra):
    out = model_path.parent / "run"
    return ["prune", str(model_path), "--data", str(data), "--target", "flops=0.5", "--out", str(out),
            "--round-to", "0", "--epochs", "1", "--finetune-epochs", "0", "--latency-rounds", "0",
            "--verbose", "0", *extra]


def _cli_error(argv, capsys) -> str:
    assert cli.main([str(a) for a in argv]) == 1
    return capsys.readouterr().err


def _npz(tmp_path, name="d.npz", shape=(6, 6, 2), classes=3, **arrays):
    rng = np.random.default_rng(0)
    if not arrays:
        arrays = {"x": rng.random((24, *shape), dtype=np.float32), "y": np.arange(24) % classes}
    np.savez(tmp_path / name, **arrays)
    return tmp_path / name


def test_prune_data_missing(model_path, tmp_path, capsys, expect):
    expect("prune-data-missing", _cli_error(_prune(model_path, tmp_path / "photos"), capsys))
    assert listing(tmp_path) == ["model.keras"]


def test_prune_data_no_class_folders(model_path, tmp_path, capsys, expect):
    (tmp_path / "photos").mkdir()
    for i in range(3):  # images straight in the folder, no class sub-folders
        png = tf.io.encode_png(np.zeros((6, 6, 1), np.uint8)).numpy()
        (tmp_path / "photos" / f"{i}.png").write_bytes(png)
    expect("prune-data-no-class-folders", _cli_error(_prune(model_path, tmp_path / "photos"), capsys))
    assert listing(tmp_path) == ["model.keras", "photos"]


def test_prune_npz_without_x_y(model_path, tmp_path, capsys, expect):
    data = _npz(tmp_path, images=np.zeros((4, 6, 6, 2)), labels=np.zeros(4, int))
    expect("prune-npz-without-x-y", _cli_error(_prune(model_path, data), capsys))
    assert listing(tmp_path) == ["d.npz", "model.keras"]


def test_prune_data_shape_mismatch(model_path, tmp_path, capsys, expect):
    data = _npz(tmp_path, shape=(6, 6, 3))  # RGB images, the model takes 2 channels
    expect("prune-data-shape-mismatch", _cli_error(_prune(model_path, data), capsys))
    assert listing(tmp_path) == ["d.npz", "model.keras"]


def test_prune_data_more_classes(model_path, tmp_path, capsys, expect):
    data = _npz(tmp_path, classes=5)  # labels 0..4, the model has 3 outputs
    expect("prune-data-more-classes", _cli_error(_prune(model_path, data), capsys))
    assert listing(tmp_path) == ["d.npz", "model.keras"]


def test_prune_unknown_loss(model_path, tmp_path, capsys, expect):
    data = _npz(tmp_path)
    expect("prune-unknown-loss", _cli_error(_prune(model_path, data, "--loss", "crossentropy"), capsys))
    assert listing(tmp_path) == ["d.npz", "model.keras"]


def test_prune_loss_does_not_fit(model_path, tmp_path, capsys, expect):
    data = _npz(tmp_path)  # integer labels, a loss that needs one-hot rows
    argv = _prune(model_path, data, "--loss", "categorical_crossentropy")
    expect("prune-loss-does-not-fit", _cli_error(argv, capsys))
    assert listing(tmp_path) == ["d.npz", "model.keras"]


def test_prune_method_lrf(model_path, tmp_path, capsys, expect):
    expect("prune-method-lrf", _cli_error(_prune(model_path, _npz(tmp_path), "--method", "lrf"), capsys))
    assert listing(tmp_path) == ["d.npz", "model.keras"]


def test_prune_resume_other_settings(model_path, tmp_path, capsys, monkeypatch, expect):
    data = _npz(tmp_path)
    real = cli_prune.Checkpoint.on_epoch_end

    def killed_after_saving(self, epoch, logs=None):
        real(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_prune.Checkpoint, "on_epoch_end", killed_after_saving)
    assert cli.main(_prune(model_path, data, "--epochs", "2")) == 130
    before = {p.name: p.read_bytes() for p in (tmp_path / "run" / "checkpoints").iterdir()}
    argv = [a if a != "flops=0.5" else "flops=0.3" for a in _prune(model_path, data, "--epochs", "2")]
    expect("prune-resume-other-settings", _cli_error(argv, capsys))
    assert {p.name: p.read_bytes() for p in (tmp_path / "run" / "checkpoints").iterdir()} == before
