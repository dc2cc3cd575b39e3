"""Time Keras layers and models with the LiteRT interpreter (XNNPACK).

:class:`LiteRTTimer` converts a one-layer Keras model (or a whole model) to
TFLite in memory and times ``invoke()`` at batch 1 with the given number of
threads, in float32 or full-integer int8. It is the measuring half of the
latency lookup table (:mod:`tfprune.latency.table`); the table only needs
an object with the same three members (``runtime``, ``time_layer``,
``time_model``), so a timer for another device (e.g. one that runs the
files on a phone over ``adb``) can replace it.

A layer is timed as LiteRT runs it inside the model: a Conv/Dense with a bias
(a following BatchNormalization is folded into it by the converter) and its
own fused activation; its input has the layer's traced spatial shape at the
asked input width. ``invocations`` counts every timed or warm-up
``invoke()`` (the tests use it to check that a cached table times nothing).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

QUANTIZATIONS = (None, "int8")


def runtime_version() -> str:
    """``litert-<ai-edge-litert version>+tf-<TensorFlow version>``."""
    import importlib.metadata

    import tensorflow as tf

    try:
        litert = importlib.metadata.version("ai-edge-litert")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        litert = "unknown"
    return f"litert-{litert}+tf-{tf.__version__}"


def export_for_latency(model, path, quantize: str | None = None, *, representative_data: Any = None) -> Path:
    """Export ``model`` at batch 1 as the latency table times it: float32, or full integer.

    :func:`tfprune.export_tflite` with ``batch_size=1``; with
    ``quantize="int8"``, int8 weights and activations, float32 inputs and
    outputs. ``representative_data`` (int8 only) calibrates the
    quantization ranges; by default four random standard-normal inputs:
    the ranges change the values the model computes, not its ops or their
    cost, so random data is enough for timing (not for accuracy).

    Returns the path written.
    """
    from tfprune.export import export_tflite

    if quantize not in QUANTIZATIONS:
        msg = (
            f"Argument `quantize` must be one of {QUANTIZATIONS} (the quantizations a latency table is "
            f"measured for). Received: quantize={quantize!r}."
        )
        raise ValueError(msg)
    options: dict[str, Any] = {"batch_size": 1}
    if quantize == "int8":
        if representative_data is None:
            rng = np.random.default_rng(0)
            shapes = [tuple(int(d) for d in x.shape[1:]) for x in model.inputs]
            samples = [rng.standard_normal((4, *s), dtype=np.float32) for s in shapes]
            representative_data = samples[0] if len(samples) == 1 else tuple(samples)
        options.update(quantize="int8", representative_data=representative_data)
    elif representative_data is not None:
        msg = (
            "`representative_data` calibrates an int8 export; a float32 export has nothing to calibrate. "
            f"Received: quantize={quantize!r} with representative_data. Pass quantize='int8' or drop it."
        )
        raise ValueError(msg)
    return export_tflite(model, path, **options)


class LiteRTTimer:
    """Median ``invoke()`` time of small TFLite models, in milliseconds.

    Args:
        threads: interpreter threads (XNNPACK).
        quantize: ``None`` (float32) or ``"int8"`` (full integer: int8
            weights and activations, float32 model inputs/outputs;
            calibrated on random inputs, which is enough for timing).
        warmup: untimed invokes before timing.
        runs: timed invokes (the median is kept).
    """

    def __init__(self, threads: int = 1, quantize: str | None = None, *, warmup: int = 5, runs: int = 25):
        if quantize not in QUANTIZATIONS:
            msg = f"Argument `quantize` must be one of {QUANTIZATIONS}. Received: quantize={quantize!r}."
            raise ValueError(msg)
        self.threads = int(threads)
        self.quantize = quantize
        self.warmup = int(warmup)
        self.runs = int(runs)
        self.invocations = 0
        self._runtime = None

    @property
    def runtime(self) -> str:
        if self._runtime is None:
            self._runtime = runtime_version()
        return self._runtime

    # Building -----------------------------------------------------------
    def _convert(self, model) -> bytes:
        import tensorflow as tf

        specs = [tf.TensorSpec(tuple(int(d) for d in x.shape), tf.float32) for x in model.inputs]
        fn = tf.function(lambda *xs: model(list(xs) if len(xs) > 1 else xs[0]), input_signature=specs)
        # No trackable: the weights are frozen into constants. With the model
        # passed, they stay variables (READ_VARIABLE), which XNNPACK cannot
        # pre-pack: a 1x1 conv then runs ~10x slower than in the exported model.
        converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
        if self.quantize == "int8":
            rng = np.random.default_rng(0)

            def representative():
                for _ in range(4):
                    yield [rng.standard_normal(tuple(s.shape), dtype=np.float32) for s in specs]

            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return converter.convert()

    def _time_bytes(self, content: bytes) -> float:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_content=content, num_threads=self.threads)
        interpreter.allocate_tensors()
        rng = np.random.default_rng(0)
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], rng.standard_normal(detail["shape"]).astype(detail["dtype"]))
        invoke, clock = interpreter.invoke, time.perf_counter
        for _ in range(self.warmup):
            invoke()
        times = []
        for _ in range(self.runs):
            start = clock()
            invoke()
            times.append((clock() - start) * 1e3)
        self.invocations += self.warmup + self.runs
        return float(statistics.median(times))

    # Public -------------------------------------------------------------
    def layer_tflite(self, layer_class: type, config: dict[str, Any], input_shape: tuple[int, ...]) -> bytes:
        """The TFLite flatbuffer :meth:`time_layer` times."""
        import keras

        inputs = keras.Input(tuple(input_shape), batch_size=1)
        outputs = layer_class.from_config(dict(config))(inputs)
        return self._convert(keras.Model(inputs, outputs))

    def time_layer(self, layer_class: type, config: dict[str, Any], input_shape: tuple[int, ...]) -> float:
        """Latency of ``layer_class.from_config(config)`` on one input of ``input_shape`` (no batch)."""
        return self._time_bytes(self.layer_tflite(layer_class, config, input_shape))

    def time_model(self, model) -> float:
        """Latency of a whole Keras model at batch 1 (exported with :func:`tfprune.export_tflite`)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = export_for_latency(model, Path(tmp) / "model.tflite", self.quantize)
            return self._time_bytes(path.read_bytes())

    def time_ratio(self, model_a, model_b, *, rounds: int = 5, runs_per_round: int = 5) -> float:
        """Latency of ``model_b`` over that of ``model_a``, timed alternately in one process.

        :func:`tfprune.compare_latency` on the two exports: a slow spell of
        the machine slows both, so the ratio holds where two separate
        :meth:`time_model` calls would not (measured here at 2 threads: a
        dense MobileNetV2 timed alone read 22 % slower than alongside its
        slim model minutes later).
        """
        from tfprune.export import compare_latency

        with tempfile.TemporaryDirectory() as tmp:
            path_a = export_for_latency(model_a, Path(tmp) / "a.tflite", self.quantize)
            path_b = export_for_latency(model_b, Path(tmp) / "b.tflite", self.quantize)
            result = compare_latency(path_a, path_b, num_threads=self.threads, rounds=rounds,
                                     runs_per_round=runs_per_round, warmup=self.warmup)
        self.invocations += 2 * (self.warmup + rounds * runs_per_round)
        return float(result["ratio"])

    def overhead(self) -> float:
        """Latency of a near-empty model: the per-``invoke()`` cost every timed layer includes."""
        import keras

        inputs = keras.Input((8,), batch_size=1)
        return self._time_bytes(self._convert(keras.Model(inputs, keras.layers.ReLU()(inputs))))
