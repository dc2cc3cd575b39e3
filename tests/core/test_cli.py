"""The tfprune command line on real .keras files."""

from __future__ import annotations

import json

import keras

import tfprune
from tfprune import cli


def test_groups_slim_export_flops(residual_cnn, tmp_path, capsys):
    pruned = tfprune.prune(residual_cnn, "l1", 0.5, round_to=None)
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


def test_export_int8_with_sidecar_inspect_and_benchmark(residual_cnn, tmp_path, capsys):
    import numpy as np

    model_path = tmp_path / "dense.keras"
    residual_cnn.save(model_path)
    shape = tuple(residual_cnn.input.shape[1:])
    rng = np.random.default_rng(0)
    np.save(tmp_path / "calib.npy", rng.random((20, *shape), dtype="float32"))
    units = residual_cnn.output.shape[-1]
    (tmp_path / "labels.txt").write_text("".join(f"class{i}\n" for i in range(units)))
    out = tmp_path / "m.tflite"
    argv = ["export", str(model_path), str(out), "--quantize", "int8", "--int8-io",
            "--representative", str(tmp_path / "calib.npy"), "--labels", str(tmp_path / "labels.txt"),
            "--mean", "0", "--std", "255"]
    assert cli.main(argv) == 0
    capsys.readouterr()
    sidecar = json.loads((tmp_path / "m.json").read_text())
    assert sidecar["labels"] == [f"class{i}" for i in range(units)]
    assert sidecar["normalization"]["std"] == [255.0]
    assert sidecar["inputs"][0]["dtype"] == "int8"

    assert cli.main(["inspect", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ops"] == tfprune.export.tflite_ops(out)
    assert report["android_ready"] is True
    assert cli.main(["inspect", str(out), "--strict"]) == 0
    assert "Android (stock LiteRT runtime): ready" in capsys.readouterr().out

    assert cli.main(["benchmark", str(out), "--runs", "3", "--warmup", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == 3
    float_path = tmp_path / "f.tflite"
    assert cli.main(["export", str(model_path), str(float_path)]) == 0
    capsys.readouterr()
    assert cli.main(["benchmark", str(float_path), "--compare", str(out), "--runs", "4", "--rounds", "2"]) == 0
    assert "B/A = " in capsys.readouterr().out


def test_export_bad_representative_file(residual_cnn, tmp_path, capsys):
    model_path = tmp_path / "dense.keras"
    residual_cnn.save(model_path)
    (tmp_path / "calib.npy").write_text("not numpy")
    argv = ["export", str(model_path), str(tmp_path / "m.tflite"), "--quantize", "int8",
            "--representative", str(tmp_path / "calib.npy")]
    assert cli.main(argv) == 1
    assert "--representative" in capsys.readouterr().err
    assert not (tmp_path / "m.tflite").exists()


def test_prune_refuses_a_bad_target_or_limit_clearly(residual_cnn, tmp_path, capsys):
    model_path = tmp_path / "dense.keras"
    residual_cnn.save(model_path)
    data = tmp_path / "data.npz"
    import numpy as np

    np.savez(data, x=np.zeros((4, *residual_cnn.input_shape[1:]), "float32"), y=np.zeros(4, "int64"))
    argv = ["prune", str(model_path), "--data", str(data), "--target", "latency=2", "--out", str(tmp_path / "out")]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "--target 'latency=2'" in err and "latency_ms" in err  # a fraction in (0, 1]; ms have their own key
    assert not (tmp_path / "out").exists()
    argv[argv.index("latency=2")] = "flops=0.5"
    assert cli.main([*argv, "--max-group-sparsity", "1.5"]) == 1
    err = capsys.readouterr().err
    assert "max_group_sparsity" in err and "[0, 1)" in err and "Received: max_group_sparsity=1.5" in err
