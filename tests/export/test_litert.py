"""LiteRT helpers: run_tflite batching, benchmark/compare output, op listing."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from keras import layers

from tfprune.errors import PruningArgumentError
from tfprune.export import (
    benchmark_tflite,
    compare_latency,
    export_tflite,
    run_tflite,
    tflite_ops,
)

pytestmark = pytest.mark.tflite


@pytest.fixture(scope="module")
def multi_io(tmp_path_factory):
    """Two named inputs, two outputs (LiteRT lists the outputs reordered)."""
    keras.utils.set_random_seed(7)
    image = keras.Input((4, 4), name="image")
    aux = keras.Input((3,), name="aux")
    first = layers.Dense(5, name="first")(layers.Flatten()(image))
    second = layers.Dense(2, name="second")(layers.Concatenate()([aux, first]))
    model = keras.Model([image, aux], [first, second], name="multi_io")
    path = export_tflite(model, tmp_path_factory.mktemp("mio") / "mio.tflite")
    return model, path


# --------------------------------------------------------------------------
# run_tflite


@pytest.mark.parametrize("batch", [1, 5])
def test_run_dynamic_batch(cnn, cnn_tflite, assert_close, rng, batch):
    x = rng.standard_normal((batch, 8, 8, 3)).astype("float32")
    out = run_tflite(cnn_tflite, x)
    assert out.shape == (batch, 5)
    assert out.dtype == np.float32
    assert_close(out, keras.ops.convert_to_numpy(cnn(x)))


@pytest.mark.parametrize("batch", [1, 5])
def test_run_fixed_batch_loops_per_example(
    cnn, fixed_batch_cnn_tflite, assert_close, rng, batch
):
    from ai_edge_litert.interpreter import Interpreter

    detail = Interpreter(
        model_path=str(fixed_batch_cnn_tflite)
    ).get_input_details()[0]
    assert list(detail["shape_signature"]) == [
        1,
        8,
        8,
        3,
    ]  # batch cannot be resized
    x = rng.standard_normal((batch, 8, 8, 3)).astype("float32")
    out = run_tflite(fixed_batch_cnn_tflite, x)
    assert out.shape == (batch, 5)
    assert_close(out, keras.ops.convert_to_numpy(cnn(x)))


def test_run_each_example_independent_of_batch(cnn_tflite, rng):
    x = rng.standard_normal((5, 8, 8, 3)).astype("float32")
    whole = run_tflite(cnn_tflite, x)
    one_by_one = np.concatenate(
        [run_tflite(cnn_tflite, x[i : i + 1]) for i in range(5)]
    )
    np.testing.assert_allclose(
        whole, one_by_one, rtol=0, atol=1e-5 * np.abs(whole).max()
    )


def test_run_casts_float64_input(cnn, cnn_tflite, assert_close, rng):
    x = rng.standard_normal((2, 8, 8, 3))  # float64
    assert_close(
        run_tflite(cnn_tflite, x),
        keras.ops.convert_to_numpy(cnn(x.astype("float32"))),
    )


def test_run_multi_input_multi_output(multi_io, assert_close, rng):
    model, path = multi_io
    image = rng.standard_normal((3, 4, 4)).astype("float32")
    aux = rng.standard_normal((3, 3)).astype("float32")
    expected = [keras.ops.convert_to_numpy(t) for t in model([image, aux])]
    by_list = run_tflite(path, [image, aux])
    by_dict = run_tflite(path, {"aux": aux, "image": image})
    for got in (by_list, by_dict):
        assert isinstance(got, list) and len(got) == 2
        assert got[0].shape == (3, 5) and got[1].shape == (3, 2)  # Keras order
        assert_close(got[0], expected[0])
        assert_close(got[1], expected[1])


def test_run_wrong_shape_raises(cnn_tflite):
    with pytest.raises(PruningArgumentError, match=r"\(None, 8, 8, 3\)"):
        run_tflite(cnn_tflite, np.zeros((2, 8, 8, 4), "float32"))


def test_run_wrong_inputs_raise(multi_io):
    _, path = multi_io
    with pytest.raises(PruningArgumentError, match="2 inputs"):
        run_tflite(path, np.zeros((1, 4, 4), "float32"))
    with pytest.raises(PruningArgumentError, match="keys"):
        run_tflite(path, {"image": np.zeros((1, 4, 4), "float32")})
    with pytest.raises(PruningArgumentError, match="same batch size"):
        run_tflite(
            path, [np.zeros((1, 4, 4), "float32"), np.zeros((2, 3), "float32")]
        )


def test_run_missing_file_raises(tmp_path):
    with pytest.raises(PruningArgumentError, match="No TFLite file"):
        run_tflite(tmp_path / "missing.tflite", np.zeros((1, 2), "float32"))


# --------------------------------------------------------------------------
# benchmark_tflite / compare_latency (no timing assertions)


def test_benchmark_returns_positive_finite_stats(cnn_tflite):
    result = benchmark_tflite(cnn_tflite, warmup=2, runs=7)
    assert {"median_ms", "p90_ms", "mean_ms", "runs", "threads"} <= set(result)
    for key in ("median_ms", "p90_ms", "mean_ms", "min_ms"):
        assert math.isfinite(result[key]) and result[key] > 0
    assert result["min_ms"] <= result["median_ms"] <= result["p90_ms"]
    assert result["runs"] == 7
    assert result["threads"] == 1
    assert result["batch_size"] == 1


def test_benchmark_batch_size_and_threads(cnn_tflite):
    result = benchmark_tflite(
        cnn_tflite, warmup=1, runs=3, batch_size=4, num_threads=2
    )
    assert result["batch_size"] == 4 and result["threads"] == 2
    assert result["median_ms"] > 0


def test_benchmark_fixed_batch_model_rejects_other_batch(
    fixed_batch_cnn_tflite,
):
    with pytest.raises(PruningArgumentError, match="fixed batch size of 1"):
        benchmark_tflite(fixed_batch_cnn_tflite, runs=1, batch_size=2)


@pytest.mark.parametrize(
    "kwargs",
    [{"runs": 0}, {"warmup": -1}, {"num_threads": 0}, {"batch_size": 1.5}],
)
def test_benchmark_bad_arguments(cnn_tflite, kwargs):
    with pytest.raises(PruningArgumentError):
        benchmark_tflite(cnn_tflite, **kwargs)


def test_compare_latency_reports_both_medians_and_ratio(cnn_tflite, seq_tflite):
    result = compare_latency(
        cnn_tflite, seq_tflite, rounds=3, runs_per_round=3, warmup=1
    )
    assert {"median_a_ms", "median_b_ms", "ratio"} <= set(result)
    assert result["median_a_ms"] > 0 and result["median_b_ms"] > 0
    assert result["ratio"] > 0 and math.isfinite(result["ratio"])
    assert result["ratio"] == pytest.approx(
        result["median_b_ms"] / result["median_a_ms"]
    )
    assert result["rounds"] == 3 and result["runs_per_round"] == 3


# --------------------------------------------------------------------------
# tflite_ops


def test_tflite_ops_counts(seq_tflite):
    found = tflite_ops(seq_tflite)
    assert found["CONV_2D"] == 1
    assert found["FULLY_CONNECTED"] == 2
    assert found["MAX_POOL_2D"] == 1
    assert all(isinstance(v, int) and v > 0 for v in found.values())
    assert list(found) == sorted(found)


def test_tflite_ops_rejects_non_tflite_file(tmp_path):
    path = tmp_path / "not_a_model.tflite"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(PruningArgumentError, match="not a TFLite flatbuffer"):
        tflite_ops(path)


def test_threads_alias_and_extra_statistics(cnn_tflite, seq_tflite):
    result = benchmark_tflite(cnn_tflite, threads=2, warmup=1, runs=5)
    assert result["threads"] == 2 and result["warmup"] == 1
    assert result["min_ms"] <= result["median_ms"] <= result["max_ms"]
    assert result["stdev_ms"] >= 0
    with pytest.raises(PruningArgumentError, match="alias"):
        benchmark_tflite(cnn_tflite, num_threads=2, threads=3, runs=1)
    cmp = compare_latency(
        cnn_tflite, seq_tflite, threads=2, rounds=4, runs_per_round=2, warmup=1
    )
    assert cmp["threads"] == 2
    assert cmp["speedup"] == pytest.approx(1 / cmp["ratio"])
    assert len(cmp["round_ratios"]) == 4 and all(r > 0 for r in cmp["round_ratios"])
    assert cmp["min_a_ms"] <= cmp["median_a_ms"] <= cmp["p90_a_ms"]
    assert cmp["min_b_ms"] <= cmp["median_b_ms"] <= cmp["p90_b_ms"]


def test_run_rejects_non_bool_dequantize(cnn_tflite):
    with pytest.raises(PruningArgumentError, match="dequantize"):
        run_tflite(cnn_tflite, np.zeros((1, 8, 8, 3), "float32"), dequantize=1)
