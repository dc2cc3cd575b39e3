"""Latency lookup table, latency model and latency targets (docs/budgets.md).

Everything but the last test uses a deterministic fake timer: timing is never
asserted, only what is measured, cached and predicted from the measurements.
"""

from __future__ import annotations

import json
import warnings

import keras
import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.latency import LatencyModel, LatencyTable, LayerSpec, LiteRTTimer, prediction_error, use_table


class FakeTimer:
    """Milliseconds from a formula; counts every measurement.

    A layer costs 0.05 ms (the invoke overhead) + 1e-5 ms per MAC, times
    ``slow`` for 5x5 kernels; a whole model 0.2 ms + the same per layer.
    """

    runtime = "fake-1"

    def __init__(self, slow: float = 1.0):
        self.calls = 0
        self.slow = slow

    def time_layer(self, layer_class, config, input_shape):
        self.calls += 1
        layer = layer_class.from_config(config)
        x = keras.Input(tuple(input_shape), batch_size=1)
        macs = tfprune.count_flops(keras.Model(x, layer(x)))
        return 0.05 + self._factor(layer) * macs * 1e-5

    def _factor(self, layer):
        return self.slow if tuple(getattr(layer, "kernel_size", (1,))) == (5, 5) else 1.0

    def time_model(self, model):
        self.calls += 1
        per_layer = tfprune.metrics.flops_by_layer(model)
        return 0.2 + sum(self._factor(model.get_layer(name)) * macs * 1e-5 for name, macs in per_layer.items())

    def overhead(self):
        self.calls += 1
        return 0.05


def _cnn(size=12, seed=0):
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    x = keras.Input((size, size, 3))
    y = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    y = layers.Conv2D(32, 5, padding="same", activation="relu")(y)  # the "slow" kind
    y = layers.Conv2D(32, 3, padding="same", activation="relu")(y)
    z = layers.Conv2D(32, 3, padding="same", activation="relu")(y)  # same configuration as the one above
    y = layers.Add()([y, z])
    y = layers.DepthwiseConv2D(3, padding="same")(y)
    y = layers.Conv2D(24, 1, activation="relu")(y)
    y = layers.GlobalAveragePooling2D()(y)
    return keras.Model(x, layers.Dense(5)(y))


def _latency_model(model, table, round_to=8):
    graph = tfprune.ChannelGraph.build(model)
    return LatencyModel.build(model, graph, table, round_to=round_to), graph


def test_table_is_cached_on_disk_and_keyed(tmp_path):
    model = _cnn()
    timer = FakeTimer()
    lat, _ = _latency_model(model, LatencyTable(timer=timer, cache_dir=tmp_path, verbose=0))
    points = {(t.spec.key, p) for t in lat.terms for p in t.spec.points()}
    all_points = [(t.spec.key, p) for t in lat.terms for p in t.spec.points()]
    assert len(points) < len(all_points)  # the two identical 3x3 convs share their points
    # Each distinct (configuration, widths) point once; + overhead + dense and half-width models.
    assert timer.calls == len(points) + 3
    files = list(tmp_path.glob("*.json"))
    assert [f.name for f in files] == ["fake-1-t1-float32-v2.json"]
    stored = json.loads(files[0].read_text())["layers"]
    assert sum(len(v) for v in stored.values()) == len(points)

    again = FakeTimer()
    lat2, _ = _latency_model(model, LatencyTable(timer=again, cache_dir=tmp_path, verbose=0))
    assert again.calls == 0  # everything came from the file
    assert lat2.dense_ms == lat.dense_ms

    other = FakeTimer()
    _latency_model(model, LatencyTable(threads=2, timer=other, cache_dir=tmp_path, verbose=0))
    assert other.calls == timer.calls  # another thread count is another table
    assert len(list(tmp_path.glob("*.json"))) == 2

    # A different spatial size is a different configuration.
    bigger = FakeTimer()
    _latency_model(_cnn(16), LatencyTable(timer=bigger, cache_dir=tmp_path, verbose=0))
    assert bigger.calls > 0


def test_grid_uses_multiples_of_round_to_and_fixed_axes():
    lat, _ = _latency_model(_cnn(), LatencyTable(timer=FakeTimer(), cache_dir=False, verbose=0, grid_points=3))
    first = lat.terms[0].spec  # image input: 3 channels, never pruned
    assert first.in_widths == (3,)
    assert first.out_widths == (8, 16)
    conv5 = lat.terms[1].spec
    assert conv5.in_widths == (8, 16) and conv5.out_widths == (8, 24, 32)
    assert lat.terms[-1].spec.out_widths == (5,)  # the model's output is never pruned


def test_prediction_adds_up():
    table = LatencyTable(timer=FakeTimer(), cache_dir=False, verbose=0)
    model = _cnn()
    lat, graph = _latency_model(model, table)
    full = np.ones(graph.num_units, dtype=bool)
    assert lat.predict(full) == pytest.approx(lat.dense_ms)
    # Calibrated on the dense and the half-width model: the fake's whole model is
    # its parts + 0.2 ms, so the fit finds scale 1 and constant 0.2.
    half, measured = lat.reference
    assert lat.predict(half) == pytest.approx(measured)
    assert 0 < half.sum() < len(half)
    assert lat.scale == pytest.approx(1.0)
    assert lat.constant_ms == pytest.approx(0.2)
    rng = np.random.default_rng(0)
    keep = full.copy()
    for group in graph.groups:
        units = np.array(group.units)
        keep[units[rng.permutation(len(units))[: len(units) // 2]]] = False
    parts = lat.by_layer(keep)
    assert lat.predict(keep) == pytest.approx(lat.constant_ms + lat.scale * sum(parts.values()))
    assert lat.predict(keep) < lat.dense_ms
    # On the grid the table returns what was measured (minus the invoke overhead):
    # the fake's layer time is linear in each width, so bilinear interpolation is exact.
    timer = FakeTimer()
    for term in lat.terms:
        spec = term.spec
        cin = lat._kept(keep, term.input_layout, spec.input_shape[-1])
        cout = cin if spec.kind == "depthwise" else lat._kept(keep, term.output_layout, spec.full[1])
        expected = timer.time_layer(*spec.build_args(cin, cout)) - 0.05
        assert parts[term.name] == pytest.approx(expected, rel=1e-6), term.name


def test_prediction_error():
    assert prediction_error([1.1, 0.9, 2.0], [1.0, 1.0, 2.0]) == pytest.approx({"median": 0.1, "worst": 0.1, "n": 3})
    with pytest.raises(ValueError, match="at least one"):
        prediction_error([], [])


@pytest.mark.parametrize("allocation", ["uniform", "global"])
@pytest.mark.parametrize("seed", [0, 1])
def test_latency_target_is_met_through_the_allocation(allocation, seed):
    model = _cnn(seed=seed)
    timer = FakeTimer(slow=0.1)  # the 5x5 conv has most MACs but is fast
    with use_table(LatencyTable(timer=timer, cache_dir=False, verbose=0)):
        pruned = tfprune.prune(model, "l1", target={"latency": 0.5}, allocation=allocation, round_to=2)
        tfprune.one_shot(pruned)
        flops_pruned = tfprune.one_shot(tfprune.prune(model, "l1", target=0.5, allocation=allocation, round_to=2))
    pruner = tfprune.Pruner(pruned)
    cost, goal, dense = pruner.budget_status()
    assert goal == pytest.approx(0.5 * dense)
    assert goal - 0.02 * dense <= cost <= goal + 0.02 * dense
    latency = pruner.cost_model.latency
    assert cost == pytest.approx(latency.predict(pruner.keep))
    flops = pruner.cost_model
    kept_flops = flops.flops(pruner.keep) / flops.dense_flops
    assert tfprune.count_flops(tfprune.slim(pruned)) == flops.flops(pruner.keep)
    flops_keep = tfprune.Pruner(flops_pruned).keep
    if allocation == "global":
        # Cost-aware ranking keeps the 5x5 conv's channels (many MACs, little time):
        # far more FLOPs kept, for a latency the FLOPs budget also spends.
        assert kept_flops > flops.flops(flops_keep) / flops.dense_flops + 0.1
    else:
        assert abs(kept_flops - 0.5) > 0.02  # the budget is latency, not FLOPs


def test_latency_ms_target_and_serialisation(tmp_path):
    model = _cnn()
    table = LatencyTable(threads=2, timer=FakeTimer(), cache_dir=False, verbose=0)
    with use_table(table):
        dense = LatencyModel.build(model, tfprune.ChannelGraph.build(model), table).dense_ms
        pruned = tfprune.prune(model, "l2", target={"latency_ms": 0.6 * dense, "threads": 2})
        tfprune.one_shot(pruned)
        cost, goal, _ = tfprune.Pruner(pruned).budget_status()
        assert goal == pytest.approx(0.6 * dense)
        assert cost <= goal + 0.02 * dense
        path = tmp_path / "m.keras"
        pruned.save(path)
        loaded = keras.models.load_model(path)
        target = tfprune.Pruner(loaded).budget["target"]
    assert (target.metric, target.threads, target.quantize) == ("latency_ms", 2, None)


def test_latency_target_errors():
    model = _cnn()
    with use_table(LatencyTable(timer=FakeTimer(), cache_dir=False, verbose=0)):
        with pytest.raises(errors.BudgetError, match=r"latency <= 0.01 x dense.*smallest model reachable"):
            tfprune.prune(model, "l1", target={"latency": 0.01})
    with pytest.raises(errors.PruningArgumentError, match="fraction of the dense model's measured latency"):
        tfprune.prune(model, "l1", target={"latency": 3.0})
    with pytest.raises(errors.PruningArgumentError, match="only apply to latency targets"):
        tfprune.prune(model, "l1", target={"flops": 0.5, "threads": 2})
    with pytest.raises(errors.PruningArgumentError, match="quantize"):
        tfprune.prune(model, "l1", target={"latency": 0.5, "quantize": "int4"})
    unmeasured = LayerSpec(keras.layers.Conv2D, {"filters": 4, "kernel_size": (7, 7)}, (9, 9, 3), "grid", (3,), (4,))
    with pytest.raises(KeyError, match="not measured at widths"):
        LatencyTable(timer=FakeTimer(), cache_dir=False, verbose=0).lookup(unmeasured, 3, 4)


def test_litert_timer_measures_with_the_interpreter(tmp_path):
    x = keras.Input((6, 6, 8))
    model = keras.Model(x, keras.layers.Conv2D(8, 3, padding="same")(x))
    timer = LiteRTTimer(threads=1, warmup=1, runs=2)
    table = LatencyTable(timer=timer, cache_dir=tmp_path, verbose=0, grid_points=2)
    lat, _ = _latency_model(model, table)
    # overhead, one layer point (8x8), whole model; nothing is prunable, so no half-width model
    assert timer.invocations == 3 * (1 + 1 + 1)
    assert lat.dense_ms > 0
    assert timer.runtime.startswith("litert-")
    # The layer is one fused op with constant weights (variables would be READ_VARIABLE
    # ops that XNNPACK cannot pre-pack, and time ~10x slower than in the real model).
    path = tmp_path / "layer.tflite"
    path.write_bytes(timer.layer_tflite(*lat.terms[0].spec.build_args(8, 8)))
    assert tfprune.inspect_tflite(path)["ops"] == {"CONV_2D": 1}
    again = LiteRTTimer(threads=1, warmup=1, runs=2)
    _latency_model(model, LatencyTable(timer=again, cache_dir=tmp_path, verbose=0, grid_points=2))
    assert again.invocations == 0


def test_calibration_scales_the_parts_to_the_whole_model():
    """Layers timed alone run faster than in the model: the fit finds the scale."""

    class WarmCacheTimer(FakeTimer):
        def time_model(self, model):
            self.calls += 1
            per_layer = tfprune.metrics.flops_by_layer(model)
            return 1.0 + 3.0 * sum(macs * 1e-5 for macs in per_layer.values())

    table = LatencyTable(timer=WarmCacheTimer(), cache_dir=False, verbose=0)
    model = _cnn()
    lat, graph = _latency_model(model, table)
    assert lat.scale == pytest.approx(3.0)
    assert lat.constant_ms == pytest.approx(1.0)
    keep = np.ones(graph.num_units, dtype=bool)
    for group in graph.groups:
        keep[np.array(group.units)[::3]] = False
    small = tfprune.slim(model, tfprune.convert.PrunePlan.from_keep(graph, keep))
    assert lat.predict(keep) == pytest.approx(WarmCacheTimer().time_model(small), rel=1e-6)


def test_int8_timer_times_a_full_integer_layer(tmp_path):
    timer = LiteRTTimer(threads=1, quantize="int8", warmup=1, runs=2)
    args = (keras.layers.Conv2D, {"filters": 8, "kernel_size": 3, "padding": "same"}, (6, 6, 8))
    path = tmp_path / "layer.tflite"
    path.write_bytes(timer.layer_tflite(*args))
    ops = tfprune.inspect_tflite(path)["ops"]
    assert ops["CONV_2D"] == 1 and ops.get("QUANTIZE", 0) >= 1  # an int8 conv, float32 at the edges
    assert timer.time_layer(*args) > 0
    assert timer.invocations == 3
    table = LatencyTable(threads=1, quantize="int8", timer=timer, cache_dir=tmp_path)
    assert table.path.name.endswith("-t1-int8-v2.json")  # its own table
    with pytest.raises(ValueError, match="quantize"):
        LiteRTTimer(quantize="float16")


def test_int8_latency_target_reads_the_int8_table():
    """``target={"latency": 0.5, "quantize": "int8"}`` is met on the int8 table, not the float32 one."""
    model = _cnn()
    float_timer, int8_timer = FakeTimer(), FakeTimer(slow=0.1)
    float_table = LatencyTable(timer=float_timer, cache_dir=False, verbose=0)
    int8_table = LatencyTable(quantize="int8", timer=int8_timer, cache_dir=False, verbose=0)
    with use_table(float_table), use_table(int8_table):
        pruned = tfprune.one_shot(
            tfprune.prune(model, "l1", target={"latency": 0.5, "quantize": "int8"}, allocation="global", round_to=2))
    assert float_timer.calls == 0 and int8_timer.calls > 0
    pruner = tfprune.Pruner(pruned)
    assert (pruner.budget["target"].metric, pruner.budget["target"].quantize) == ("latency", "int8")
    latency = pruner.cost_model.latency
    assert latency.table is int8_table
    cost, goal, dense = pruner.budget_status()
    assert dense == pytest.approx(int8_timer.time_model(model))  # the int8 timer measured the dense model
    assert goal == pytest.approx(0.5 * dense)
    assert goal - 0.02 * dense <= cost <= goal + 0.02 * dense
    assert cost == pytest.approx(latency.predict(pruner.keep))
    assert tfprune.count_flops(tfprune.slim(pruned)) < tfprune.count_flops(model)


def _record_compare(monkeypatch):
    """Run the real ``compare_latency`` and record the ops of the two files it times."""
    import tfprune.export

    real, seen = tfprune.export.compare_latency, []

    def recording(path_a, path_b, **kwargs):
        seen.append({"ops": [tfprune.inspect_tflite(p)["ops"] for p in (path_a, path_b)], **kwargs})
        return real(path_a, path_b, **kwargs)

    monkeypatch.setattr(tfprune.export, "compare_latency", recording)
    return seen


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_predicted_vs_measured_after_slim(monkeypatch, quantize):
    """The table's prediction next to an A/B timing of the exported dense and slim models (tiny timing)."""
    model = _cnn()
    with use_table(LatencyTable(threads=2, quantize=quantize, timer=FakeTimer(), cache_dir=False, verbose=0)):
        pruned = tfprune.one_shot(
            tfprune.prune(model, "l1", target={"latency": 0.6, "threads": 2, "quantize": quantize}, round_to=2))
    small = tfprune.slim(pruned)
    seen = _record_compare(monkeypatch)
    check = tfprune.latency.predicted_vs_measured(pruned, small, rounds=2, runs_per_round=1, warmup=0)

    latency = tfprune.Pruner(pruned).cost_model.latency
    assert check["predicted_ms"] == pytest.approx(latency.predict(tfprune.Pruner(pruned).keep))
    assert check["table_dense_ms"] == latency.dense_ms
    assert check["predicted_ratio"] == pytest.approx(check["predicted_ms"] / latency.dense_ms)
    cmp = check["compare"]
    assert (check["measured_ms"], check["dense_ms"]) == (cmp["median_b_ms"], cmp["median_a_ms"])
    assert check["measured_ratio"] == pytest.approx(check["measured_ms"] / check["dense_ms"])
    assert check["relative_error"] == pytest.approx(abs(check["predicted_ms"] / check["measured_ms"] - 1))
    assert check["ratio_error"] == pytest.approx(abs(check["predicted_ratio"] / check["measured_ratio"] - 1))
    assert (check["threads"], check["quantize"]) == (2, quantize)
    assert check["target"] == {"metric": "latency", "value": 0.6, "threads": 2, "quantize": quantize}
    assert check["tries"] == len(seen) and check["noisy"] == (check["spread"] > 0.1)
    assert len(check["load_average_before"]) == 3
    # Both files timed with the table's threads, in the table's quantization; slim has fewer channels.
    assert seen[0]["num_threads"] == 2 and seen[0]["rounds"] == 2
    for ops in seen[0]["ops"]:
        assert ("QUANTIZE" in ops) == (quantize == "int8"), ops
        assert ops["CONV_2D"] == 5 and ops["DEPTHWISE_CONV_2D"] == 1
    assert tfprune.count_flops(small) < tfprune.count_flops(model)

    # It takes the pruning state too; without slim_model it slims; another model's slim form is refused.
    again = tfprune.latency.predicted_vs_measured(tfprune.Pruner(pruned), rounds=1, runs_per_round=1, warmup=0)
    assert again["predicted_ms"] == check["predicted_ms"] and len(seen) == check["tries"] + again["tries"]
    with pytest.raises(errors.PruningArgumentError, match="is not tfprune.slim"):
        tfprune.latency.predicted_vs_measured(pruned, model)


def test_predicted_vs_measured_of_a_flops_pruned_model(monkeypatch):
    model = _cnn()
    with use_table(LatencyTable(timer=FakeTimer(), cache_dir=False, verbose=0)):
        latency = tfprune.Pruner(tfprune.prune(model, "l1", target={"latency": 0.5}, round_to=2)).cost_model.latency
    flops_pruned = tfprune.one_shot(tfprune.prune(model, "l1", target=0.5))
    with pytest.raises(errors.PruningArgumentError, match=r"flops <= 0.5 x dense, not a latency target.*latency_mod"):
        tfprune.latency.predicted_vs_measured(flops_pruned)
    with pytest.raises(errors.PruningArgumentError, match="no PruningWrapper"):
        tfprune.latency.predicted_vs_measured(model)
    _record_compare(monkeypatch)
    check = tfprune.latency.predicted_vs_measured(flops_pruned, latency_model=latency, rounds=1, runs_per_round=1,
                                                  warmup=0)
    assert check["predicted_ms"] == pytest.approx(latency.predict(tfprune.Pruner(flops_pruned).keep))
    assert check["predicted_ms"] < latency.dense_ms
    assert check["target"] == {"metric": "flops", "value": 0.5}
    with use_table(LatencyTable(timer=FakeTimer(), cache_dir=False, verbose=0)):
        other = tfprune.prune(_deeper_cnn(), "l1", target={"latency": 0.5}, round_to=2)
        wrong = tfprune.Pruner(other).cost_model.latency
    with pytest.raises(errors.PruningArgumentError, match="channel units"):
        tfprune.latency.predicted_vs_measured(flops_pruned, latency_model=wrong)


def _deeper_cnn():
    x = keras.Input((12, 12, 3))
    y = keras.layers.Conv2D(16, 3, activation="relu")(x)
    y = keras.layers.Conv2D(16, 3, activation="relu")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    return keras.Model(x, keras.layers.Dense(5)(y))


def test_noisy_timing_is_rerun_then_flagged(monkeypatch, tmp_path):
    import tfprune.export

    spreads = iter([[1.0, 1.5], [1.0, 1.05], [1.0, 2.0], [1.0, 1.8]])
    calls = []

    def fake_compare(path_a, path_b, **kwargs):
        calls.append(kwargs)
        ratios = next(spreads)
        return {"median_a_ms": 2.0, "median_b_ms": 1.0, "ratio": 0.5, "round_ratios": ratios}

    monkeypatch.setattr(tfprune.export, "compare_latency", fake_compare)
    settled = tfprune.latency.compare_timed("a.tflite", "b.tflite", threads=2, rounds=2)
    assert settled["tries"] == 2 and not settled["noisy"] and settled["spread"] == pytest.approx(0.05 / 1.025)
    noisy = tfprune.latency.compare_timed("a.tflite", "b.tflite", retries=1)
    assert noisy["tries"] == 2 and noisy["noisy"] and noisy["spread"] == pytest.approx(0.8 / 1.4)  # the less noisy
    assert len(calls) == 4 and calls[0]["num_threads"] == 2
    with pytest.raises(errors.PruningArgumentError, match="retries"):
        tfprune.latency.compare_timed("a.tflite", "b.tflite", retries=-1)


class _ConcaveTimer(FakeTimer):
    """A whole model's time grows less than linearly with its MACs (wider layers use the SIMD lanes
    better), which the layer table does not see: the half-width fit mispredicts far from half width."""

    def time_model(self, model):
        self.calls += 1
        macs = sum(tfprune.metrics.flops_by_layer(model).values())
        return 0.2 + 2.0 * (macs * 1e-5) ** 0.6


def test_prune_times_the_allocation_and_refits_through_it(tmp_path):
    model = _cnn(size=16)
    timer = _ConcaveTimer()
    with use_table(LatencyTable(timer=timer, cache_dir=tmp_path, verbose=0)):
        pruned = tfprune.one_shot(tfprune.prune(model, "l1", target={"latency": 0.3}, round_to=2))
        pruner = tfprune.Pruner(pruned)
        latency = pruner.cost_model.latency
        measured = timer.time_model(tfprune.slim(pruned))
        # The measured latency, not only the prediction, meets the target: the final
        # model is read between measured models next to it.
        assert measured / latency.dense_ms == pytest.approx(0.3, abs=0.006)
        assert latency.predict(pruner.keep) == pytest.approx(measured, rel=0.01)
        # The half-width fit alone would have been far off for this model.
        half_width, graph = _latency_model(model, LatencyTable(timer=_ConcaveTimer(), cache_dir=tmp_path, verbose=0), 2)
        assert abs(half_width.predict(pruner.keep) / measured - 1) > 0.05
        references = pruner.budget["latency_references"]  # kept channels per group of each model timed
        sizes = {g.id: g.num_channels for g in graph.groups}
        assert references and all(0 < n < sizes[key] for counts in references for key, n in counts.items())
        assert len(latency.points) == 2 + len(references)  # dense, half width, the models timed
        # Saved with the model: a reloaded model rebuilds the same fit from the table's cache.
        path = tmp_path / "pruned.keras"
        pruned.save(path)
        calls = timer.calls
        loaded = keras.models.load_model(path)
        again = tfprune.Pruner(loaded)
        assert again.budget["latency_references"] == references
        np.testing.assert_array_equal(again.keep, pruner.keep)
        np.testing.assert_allclose(again.cost_model.latency.points, latency.points, rtol=1e-9)
    assert timer.calls == calls  # nothing timed again


def test_latency_target_with_sensitivity_allocation_spares_the_sensitive_group(tmp_path):
    from tfprune.analysis.result import GroupSensitivity, SensitivityResult

    model = _cnn(size=16)
    timer = FakeTimer(slow=3.0)
    with use_table(LatencyTable(timer=timer, cache_dir=tmp_path, verbose=0)):
        active = tfprune.Pruner(tfprune.prune(model, "l1", sparsity=0.0)).active_groups
        fragile, groups = active[0], []
        for group in active:
            values = (0.3, 0.1, 0.05) if group.id == fragile.id else (0.899, 0.898, 0.897)
            kept = tuple(max(1, round(group.num_channels * (1 - s))) for s in (0.25, 0.5, 0.75))
            groups.append(GroupSensitivity(group.id, (group.id,), group.num_channels, None, kept, values))
        result = SensitivityResult("accuracy", True, 0.9, (0.25, 0.5, 0.75), tuple(groups), "l1", None)
        pruned = tfprune.one_shot(
            tfprune.prune(model, "l1", target={"latency": 0.5}, allocation=result, round_to=2))
        pruner = tfprune.Pruner(pruned)
        assert pruner.budget["allocation"] == "sensitivity"
        assert pruner.group_keep(fragile).all()  # the group whose accuracy collapses keeps every channel
        assert not pruner.keep.all()
        measured = timer.time_model(tfprune.slim(pruned)) / pruner.cost_model.latency.dense_ms
        assert measured == pytest.approx(0.5, abs=0.03)


class _ErraticTimer(FakeTimer):
    """Whole slim models run alternately 15 % slower and faster than the formula (the dense model
    at its formula): no fit through the timings predicts the next one."""

    def time_model(self, model):
        measured = super().time_model(model)
        if measured >= self.dense_ms:
            return measured
        self.slim_timings += 1
        return measured * (1.15 if self.slim_timings % 2 else 0.87)


def test_prune_warns_when_its_timings_keep_missing_the_prediction(tmp_path):
    model = _cnn(size=16)
    timer = _ErraticTimer()
    timer.dense_ms, timer.slim_timings = FakeTimer().time_model(model), 0
    with use_table(LatencyTable(timer=timer, cache_dir=tmp_path, verbose=0)):
        with pytest.warns(errors.BudgetWarning, match=r"allocated 3 times .* may miss the target"):
            pruned = tfprune.prune(model, "l1", target={"latency": 0.4}, round_to=2, tolerance=0.05)
    assert len(tfprune.Pruner(pruned).budget["latency_references"]) == 3
    # A timer that agrees with the table after one refit warns about nothing.
    with use_table(LatencyTable(timer=_ConcaveTimer(), cache_dir=tmp_path / "concave", verbose=0)):
        with warnings.catch_warnings():
            warnings.simplefilter("error", errors.BudgetWarning)
            tfprune.prune(model, "l1", target={"latency": 0.4}, round_to=2)


def test_measured_points_stay_monotone_and_a_retiming_replaces_its_model():
    lat, graph = _latency_model(_cnn(), LatencyTable(timer=FakeTimer(), cache_dir=False, verbose=0))
    (half_parts, half_ms), (dense_parts, dense_ms) = lat.points
    keep = np.ones(graph.num_units, dtype=bool)
    for group in graph.groups:
        keep[np.array(group.units)[: len(group.units) // 4]] = False  # three quarters kept
    parts = lat.parts(keep)
    assert half_parts < parts < dense_parts
    assert not lat.calibrate(keep, dense_ms + 1.0)  # slower than the dense model: noise, not added
    assert len(lat.points) == 2
    assert lat.calibrate(keep, 0.5 * (half_ms + dense_ms))
    assert lat.predict(keep) == pytest.approx(0.5 * (half_ms + dense_ms))
    assert lat.calibrate(keep, 0.4 * half_ms + 0.6 * dense_ms)  # the same model timed again replaces the first
    assert [p for p, _ in lat.points] == pytest.approx([half_parts, parts, dense_parts])
    assert lat.predict(keep) == pytest.approx(0.4 * half_ms + 0.6 * dense_ms)
    # Between and below the measured models the prediction is linear in the parts.
    assert lat.predict(np.ones(graph.num_units, dtype=bool)) == pytest.approx(dense_ms)
    slope = (lat.points[1][1] - half_ms) / (parts - half_parts)
    assert lat.scale == pytest.approx(slope)
    assert lat.constant_ms == pytest.approx(half_ms - slope * half_parts)
    # The newest timing wins: measured faster than the half-width model although the table sums
    # more parts for it, it replaces that model (the prediction near it is what a budget needs).
    assert lat.calibrate(keep, 0.9 * half_ms)
    assert lat.points == [(pytest.approx(parts), pytest.approx(0.9 * half_ms)), (dense_parts, dense_ms)]
    assert lat.predict(keep) == pytest.approx(0.9 * half_ms)


def test_model_ratio_is_timed_alternately_and_cached(tmp_path):
    def conv(filters):
        x = keras.Input((16, 16, 8))
        return keras.Model(x, keras.layers.Conv2D(filters, 3, padding="same")(x))

    wide, narrow = conv(32), conv(8)
    timer = LiteRTTimer(threads=1, warmup=1, runs=2)
    ratio = LatencyTable(timer=timer, cache_dir=tmp_path, verbose=0).model_ratio(wide, narrow)
    assert ratio > 0 and timer.invocations == 2 * (1 + 5 * 5)  # both models, 5 alternating rounds of 5
    again = LiteRTTimer(threads=1, warmup=1, runs=2)
    assert LatencyTable(timer=again, cache_dir=tmp_path, verbose=0).model_ratio(wide, narrow) == ratio
    assert again.invocations == 0
    # A timer that cannot alternate: the ratio of two whole-model timings.
    fake = LatencyTable(timer=FakeTimer(), cache_dir=False, verbose=0)
    assert fake.model_ratio(wide, narrow) == pytest.approx(FakeTimer().time_model(narrow) / FakeTimer().time_model(wide))


def test_a_narrow_width_timed_slower_than_a_wider_one_is_reported():
    class OddWidthsSlow(FakeTimer):  # a runtime slow path at 24 output channels, as seen on LiteRT in some processes
        def time_layer(self, layer_class, config, input_shape):
            seconds = super().time_layer(layer_class, config, input_shape)
            return 5 * seconds if config.get("filters") == 24 else seconds

    table = LatencyTable(timer=OddWidthsSlow(), cache_dir=False, verbose=0)
    with pytest.warns(errors.LatencyTableWarning, match=r"slower than a wider width.*24 channels.*32 channels"):
        _latency_model(_cnn(), table)
    slow = table.slow_points()
    assert slow and all(point[1] == 24 and wider[1] == 32 for _, point, wider in slow)
    with warnings.catch_warnings():
        warnings.simplefilter("error", errors.LatencyTableWarning)
        clean = LatencyTable(timer=FakeTimer(), cache_dir=False, verbose=0)
        _latency_model(_cnn(), clean)
    assert clean.slow_points() == []
