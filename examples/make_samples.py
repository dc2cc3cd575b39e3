"""Regenerate ``saved_models/``: the demo's slimmed MNIST ResNet, three ways.

Runs the ``make demo`` pipeline (``examples/demo.py``: small ResNet trained on
20k real MNIST images, L1-pruned to 50 % of the filters with ``round_to=8``
inside ``fit``, slimmed, fine-tuned), then writes

* ``saved_models/mnist_slim.keras``: the slim plain Keras model (loads
  without tfprune);
* ``saved_models/mnist_slim_float32.tflite`` (+ ``.json`` sidecar);
* ``saved_models/mnist_slim_int8.tflite`` (+ ``.json``): full-integer with
  int8 input/output, calibrated on 500 training images;

and ``saved_models/samples.json`` with their accuracies on the 10k MNIST test
images (Keras and LiteRT) and sizes. The sidecars carry the labels ``"0"`` to
``"9"`` and the input normalization ``(pixel - 0) / 255``.

Exact command (about 5 minutes on 2 CPU cores)::

    make samples        # = .venv/bin/python examples/make_samples.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import tfprune  # noqa: E402
from tfprune import data  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
LABELS = [str(d) for d in range(10)]
NORMALIZATION = {"mean": 0.0, "std": 255.0}


def _demo():
    spec = importlib.util.spec_from_file_location("tfprune_demo", ROOT / "examples" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    return demo


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "saved_models"))
    parser.add_argument("--demo-args", nargs=argparse.REMAINDER, default=[],
                        help="extra arguments for examples/demo.py (e.g. --train-size 2000)")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        _demo().main(["--out", tmp, "--verbose", "0", *args.demo_args])
        # Loaded uncompiled and saved again: the file keeps the weights but
        # not the fine-tuning optimizer's state (4x smaller).
        slim = keras.models.load_model(pathlib.Path(tmp) / "slim.keras", compile=False)
        slim.save(out / "mnist_slim.keras")
    (x_train, _), (x_test, y_test) = data.load_mnist()
    files = {
        "float32": tfprune.export_tflite(
            slim, out / "mnist_slim_float32.tflite", labels=LABELS, normalization=NORMALIZATION
        ),
        "int8": tfprune.export_tflite(
            slim,
            out / "mnist_slim_int8.tflite",
            quantize="int8",
            int8_io=True,
            representative_data=x_train[:500],
            labels=LABELS,
            normalization=NORMALIZATION,
        ),
    }
    keras_accuracy = float((slim.predict(x_test, verbose=0).argmax(-1) == y_test).mean())
    summary = {
        "command": "make samples",
        "keras": {"file": "mnist_slim.keras", "kb": (out / "mnist_slim.keras").stat().st_size / 1024,
                  "test_accuracy": keras_accuracy, "params": tfprune.count_params(slim),
                  "flops": tfprune.count_flops(slim)},
    }
    for name, path in files.items():
        result = tfprune.evaluate_tflite(path, (x_test, y_test), reference=slim)
        summary[name] = {"file": path.name, "kb": path.stat().st_size / 1024,
                         "test_accuracy": result["accuracy"], "agreement_with_keras": result["agreement"]}
    (out / "samples.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
