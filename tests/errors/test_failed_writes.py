"""Catalogue: an unwritable or full output path.

After any failed write no partial file (.tflite, .keras, sidecar, plan) or
temporary file is left, and a file that was being replaced is unchanged.
"""

from __future__ import annotations

import errno
import os

import keras
import pytest
from errors_catalogue import listing

import tfprune
from tfprune import cli, errors


@pytest.fixture
def pruned(cnn):
    model = tfprune.prune(cnn, "l1", 0.5, round_to=None)
    tfprune.Pruner(model).step(0)
    return model


def test_tflite_write_fails(cnn, tmp_path, enospc, capsys, expect):
    old = {"m.tflite": b"old model", "m.json": b'{"old": true}'}
    for name, data in old.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(errors.WriteError) as info:
        tfprune.export_tflite(cnn, tmp_path / "m.tflite", labels=["a", "b", "c"])
    expect("tflite-write-fails", info.value)
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert enospc and os.path.basename(enospc[0]).startswith(".m.tflite.")  # it did fail mid-file
    assert listing(tmp_path) == ["m.json", "m.tflite"]
    assert {n: (tmp_path / n).read_bytes() for n in old} == old

    model_path = tmp_path / "model.keras"
    cnn.save(model_path)  # keras' own writer: not patched
    (tmp_path / "labels.txt").write_text("a\nb\nc\n")
    argv = ["export", model_path, tmp_path / "m.tflite", "--labels", tmp_path / "labels.txt"]
    assert cli.main([str(a) for a in argv]) == 1
    expect("tflite-write-fails", capsys.readouterr().err)
    assert listing(tmp_path) == ["labels.txt", "m.json", "m.tflite", "model.keras"]
    assert {n: (tmp_path / n).read_bytes() for n in old} == old


def test_sidecar_write_fails_after_tflite(cnn, tmp_path, monkeypatch, expect):
    """The second file of the pair fails: the first one is rolled back."""
    import tfprune._atomic as atomic

    (tmp_path / "m.tflite").write_bytes(b"old model")
    real = atomic._write_fd
    calls = []

    def second_fails(fd, data):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
        real(fd, data)

    monkeypatch.setattr(atomic, "_write_fd", second_fails)
    with pytest.raises(errors.WriteError) as info:
        tfprune.export_tflite(cnn, tmp_path / "m.tflite", normalization={"mean": 0.0, "std": 255.0})
    expect("sidecar-write-fails-after-tflite", info.value)
    assert listing(tmp_path) == ["m.tflite"]
    assert (tmp_path / "m.tflite").read_bytes() == b"old model"


def test_plan_write_fails(pruned, tmp_path, enospc, expect):
    path = tmp_path / "plan.json"
    path.write_text("previous plan")
    with pytest.raises(errors.WriteError) as info:
        tfprune.make_plan(pruned).to_json(path)
    expect("plan-write-fails", info.value)
    assert listing(tmp_path) == ["plan.json"] and path.read_text() == "previous plan"
    with pytest.raises(errors.WriteError):
        tfprune.make_plan(pruned).to_json(tmp_path / "missing_dir" / "plan.json")
    assert listing(tmp_path) == ["plan.json"]


def test_slim_save_fails(pruned, tmp_path, disk_full, capsys, expect):
    source = tmp_path / "pruned.keras"
    pruned.save(source)
    out = tmp_path / "slim.keras"
    out.write_bytes(b"previous slim model")
    with disk_full(4096):  # Keras' zip writer hits the limit mid-file
        code = cli.main(["slim", str(source), str(out)])
    assert code == 1
    expect("slim-save-fails", capsys.readouterr().err)
    assert listing(tmp_path) == ["pruned.keras", "slim.keras"]
    assert out.read_bytes() == b"previous slim model"
    assert cli.main(["slim", str(source), str(out)]) == 0  # with space, it works
    assert keras.models.load_model(out).count_params() == tfprune.slim(pruned).count_params()


def test_output_directory_unusable(cnn, tmp_path, expect):
    model_path = tmp_path / "model.keras"
    cnn.save(model_path)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(errors.ExportError) as info:
        tfprune.export_tflite(cnn, blocker / "m.tflite")
    expect("output-directory-unusable", info.value)
    assert listing(tmp_path) == ["file", "model.keras"]


def test_slim_output_not_keras(pruned, tmp_path, capsys, expect):
    source = tmp_path / "pruned.keras"
    pruned.save(source)
    assert cli.main(["slim", str(source), str(tmp_path / "slim.tflite")]) == 1
    expect("slim-output-not-keras", capsys.readouterr().err)
    assert listing(tmp_path) == ["pruned.keras"]
    assert cli.main(["slim", str(source), str(tmp_path / "slim.h5")]) == 0  # legacy format, still written
    capsys.readouterr()
    assert listing(tmp_path) == ["pruned.keras", "slim.h5"]
