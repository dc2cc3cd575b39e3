"""tfprune on the JAX and PyTorch Keras backends (docs/backends.md).

The Keras backend is fixed when Keras is imported, so each check runs in a
subprocess with ``KERAS_BACKEND`` set, from this (TensorFlow) process:

* the method contract (tests/methods/test_contract.py) and the Taylor
  gradient reference run by pytest under each backend;
* prune -> fit -> save -> load -> resume -> slim -> plan with TensorFlow made
  unimportable (``worker.py pipeline``); the slim model is then exported to
  TFLite *here*, in a TensorFlow process, and LiteRT's output must equal the
  other backend's Keras output;
* ``import tfprune`` does not load TensorFlow, and a ``tf.distribute``
  strategy is refused with a clear error (``worker.py strategy``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORKER = pathlib.Path(__file__).with_name("worker.py")
TIMEOUT = 900

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="drives the other backends from a TensorFlow process (exports there)",
)


def _backend(name: str):
    package = {"jax": "jax", "torch": "torch"}[name]
    marks = pytest.mark.skipif(importlib.util.find_spec(package) is None,
                               reason=f"{package} is not installed (pip install -e .[test])")
    return pytest.param(name, marks=marks, id=name)


BACKENDS = [_backend("jax"), _backend("torch")]


def _run(backend: str, *args: str, cwd: pathlib.Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("PYTEST_XDIST_WORKER", None)
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=TIMEOUT, check=False)
    assert result.returncode == 0, f"{backend}: {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_method_contract_under_backend(backend):
    """Every registered method passes the contract on this backend (and Taylor's gradients are right)."""
    result = _run(backend, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-q",
                  "tests/methods/test_contract.py",
                  "tests/methods/test_taylor.py::test_scores_match_a_numpy_reference_on_a_linear_model")
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "skipped" not in summary, summary


@pytest.mark.slow
@pytest.mark.tflite
@pytest.mark.parametrize("backend", BACKENDS)
def test_pruned_without_tensorflow_then_exported_by_tensorflow(backend, tmp_path):
    _run(backend, str(WORKER), "pipeline", str(tmp_path))
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["backend"] == backend
    assert result["tensorflow_loaded"] is False
    assert result["masks_resumed_equal"] is True
    assert 0.48 <= result["flops_ratio"] <= 0.52
    assert result["slim_vs_masked"] < 1e-5
    assert result["plan_groups"] == 2

    from tfprune.export import export_tflite, run_tflite

    io = np.load(tmp_path / "io.npz")
    small = keras.models.load_model(tmp_path / "slim.keras")  # this process: TensorFlow
    path = export_tflite(small, tmp_path / "slim.tflite")
    y_litert = run_tflite(path, io["x"])
    np.testing.assert_allclose(y_litert, io["y"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(small(io["x"])), io["y"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_import_leaves_tensorflow_out_and_tf_distribute_is_refused(backend):
    """And on torch, export_tflite refuses with the two-process route (docs/backends.md)."""
    out = json.loads(_run(backend, str(WORKER), "strategy").stdout.strip().splitlines()[-1])
    assert out["backend"] == backend
    assert out["loaded_by_import"] is False
    assert out["error"] is not None
    for part in ("OneDeviceStrategy", repr(backend), "KERAS_BACKEND=tensorflow"):
        assert part in out["error"]
    if backend == "torch":
        assert "the Keras backend is 'torch'" in out["export_error"]
        assert "tfprune export slim.keras slim.tflite" in out["export_error"]
