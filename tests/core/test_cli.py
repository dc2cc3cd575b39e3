"""The tfprune command line on real .keras files."""

from __future__ import annotations

import json

import keras

import tfprune
from tfprune import cli


def test_groups_slim_export_flops(residual_cnn, tmp_path, capsys):
    pruned = tfprune.prune(residual_cnn, "l1", 0.5)
    tfprune.Pruner(pruned).step(0)
    pruned_path = tmp_path / "pruned.keras"
    pruned.save(pruned_path)

    residual_cnn_path = tmp_path / "dense.keras"
    residual_cnn.save(residual_cnn_path)
    assert cli.main(["groups", str(residual_cnn_path)]) == 0
    groups = json.loads(capsys.readouterr().out)
    assert {g["id"]: g["num_channels"] for g in groups} == {"stem": 8, "inner": 16}

    small_path = tmp_path / "small.keras"
    assert cli.main(["slim", str(pruned_path), str(small_path)]) == 0
    capsys.readouterr()
    small = keras.models.load_model(small_path)
    assert small.count_params() == tfprune.slim(pruned).count_params()

    assert cli.main(["flops", str(small_path)]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["params"] == small.count_params()
    assert counts["flops"] == tfprune.count_flops(small)

    out = tmp_path / "small.tflite"
    assert cli.main(["export", str(small_path), str(out)]) == 0
    assert out.stat().st_size > 0


def test_error_exit_code_and_message(residual_cnn, tmp_path, capsys):
    path = tmp_path / "dense.keras"
    residual_cnn.save(path)
    assert cli.main(["slim", str(path), str(tmp_path / "x.keras")]) == 1
    err = capsys.readouterr().err
    assert "no PruningWrapper" in err
    assert not (tmp_path / "x.keras").exists()
