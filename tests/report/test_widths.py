"""tfprune.report: per-layer widths, params and FLOPs of pruned and slim models."""

from __future__ import annotations

import keras
import pytest
from keras import layers
from testing_models import build_residual_cnn

import tfprune
from tfprune import errors
from tfprune.report import layer_widths, measure, model_totals, to_markdown


def _pruned_and_slim(model):
    pruned = tfprune.prune(model, "l1", target=0.5, round_to=None)
    tfprune.one_shot(pruned)
    return pruned, tfprune.slim(pruned)


def _out_channels(layer):
    return int(layer.output.shape[-1])


def _check_rows_against_slim(rows, dense, small):
    """Every row equals the counters run on the slim and dense models."""
    slim_flops = tfprune.metrics.flops_by_layer(small)
    dense_flops = tfprune.metrics.flops_by_layer(dense)
    paths = [row["layer"] for row in rows]
    assert paths == [layer.name for layer in small.layers if layer.weights]
    for row in rows:
        new, old = small.get_layer(row["layer"]), dense.get_layer(row["layer"])
        assert row["channels"] == _out_channels(new)
        assert row["channels_before"] == _out_channels(old)
        assert row["params"] == new.count_params()
        assert row["params_before"] == old.count_params()
        assert row["flops"] == slim_flops.get(row["layer"])
        assert row["flops_before"] == dense_flops.get(row["layer"])
        if row["flops"] is not None:
            assert row["flops_share"] == pytest.approx(row["flops"] / tfprune.count_flops(small))


def test_rows_of_a_pruned_model_are_the_counts_of_its_slim_model():
    dense = build_residual_cnn()
    pruned, small = _pruned_and_slim(dense)
    rows, totals = measure(pruned)
    _check_rows_against_slim(rows, dense, small)
    assert any(row["channels"] < row["channels_before"] for row in rows)  # something was pruned
    assert totals["masked"] is True
    assert totals["flops"] == tfprune.count_flops(small)
    assert totals["params"] == tfprune.count_params(small)
    assert totals["flops_before"] == tfprune.count_flops(dense)
    assert totals["params_before"] == tfprune.count_params(dense)
    assert totals["flops_ratio"] == pytest.approx(tfprune.count_flops(small) / tfprune.count_flops(dense))
    # The kept width of each layer is its group's kept width under the masks.
    pruner = tfprune.Pruner(pruned)
    for row in rows:
        if row["group"] is not None and row["type"] == "Conv2D":
            group = pruner.graph.group(row["group"])
            assert row["channels"] == int(pruner.group_keep(group).sum())
    assert layer_widths(pruned) == rows
    assert model_totals(pruned) == totals


def test_slim_model_with_a_reference_gets_its_widths_before_pruning():
    dense = build_residual_cnn()
    pruned, small = _pruned_and_slim(dense)
    from_dense, totals = measure(small, reference=dense)
    _check_rows_against_slim(from_dense, dense, small)
    assert totals["masked"] is False and totals["reference"] == dense.name
    assert totals["params_ratio"] == pytest.approx(tfprune.count_params(small) / tfprune.count_params(dense))
    # The pruned model as reference gives the same "before" (its full width).
    from_pruned = layer_widths(small, reference=pruned)
    strip = ("group",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in from_pruned] == [
        {k: v for k, v in r.items() if k not in strip} for r in from_dense
    ]


def test_slim_model_without_reference_has_no_before():
    _, small = _pruned_and_slim(build_residual_cnn())
    rows, totals = measure(small)
    assert all(row[key] is None for row in rows for key in ("channels_before", "params_before", "flops_before"))
    assert totals["flops_before"] is None and totals["flops_ratio"] is None
    assert totals["flops"] == tfprune.count_flops(small)


def test_nested_model_rows_are_named_by_path_and_sum_to_the_totals():
    inner_in = keras.Input((6, 6, 4))
    h = layers.Conv2D(8, 3, padding="same", name="c1")(inner_in)
    h = layers.BatchNormalization(name="bn")(h)
    block = keras.Model(inner_in, layers.Conv2D(4, 1, name="c2")(h), name="block")
    x = keras.Input((6, 6, 3))
    y = block(layers.Conv2D(4, 1, name="stem")(x))
    model = keras.Model(x, layers.Dense(3, name="head")(layers.GlobalAveragePooling2D()(y)))
    pruned, small = _pruned_and_slim(model)
    rows, totals = measure(pruned)
    names = [row["layer"] for row in rows]
    assert names == ["stem", "block/c1", "block/bn", "block/c2", "head"]
    assert sum(row["params"] for row in rows) == totals["params"] == tfprune.count_params(small)
    assert sum(row["flops"] or 0 for row in rows) == totals["flops"] == tfprune.count_flops(small)
    # slim inlines the nested model (block/c1 -> c1); the reference matches it.
    slim_rows = layer_widths(small, reference=model)
    assert [row["layer"] for row in slim_rows] == ["stem", "c1", "bn", "c2", "head"]
    for row, slim_row in zip(rows, slim_rows):
        assert {k: v for k, v in row.items() if k != "layer"} == {k: v for k, v in slim_row.items() if k != "layer"}
    assert {r["layer"]: r["flops"] for r in slim_rows if r["flops"] is not None} == tfprune.metrics.flops_by_layer(small)


def test_summary_prints_a_line_per_layer_and_the_totals():
    dense = build_residual_cnn()
    pruned, small = _pruned_and_slim(dense)
    rows, totals = measure(pruned)
    lines = []
    assert tfprune.summary(pruned, print_fn=lines.append) is None
    text = "\n".join(lines)
    for row in rows:
        line = next(line for line in lines if f" {row['layer']} ({row['type']})" in line)
        assert f"{row['channels_before']} -> {row['channels']}" in line
        assert f"{row['params']:,}" in line
    assert f"Total FLOPs (MACs): {tfprune.count_flops(small):,} of {tfprune.count_flops(dense):,}" in text
    assert f"({totals['flops_ratio']:.3f} x before pruning)" in text
    lines.clear()
    tfprune.summary(small, print_fn=lines.append)
    assert f"Total params: {tfprune.count_params(small):,}" in lines and "->" not in "\n".join(lines)


def test_to_markdown_has_one_table_row_per_layer():
    pruned, _ = _pruned_and_slim(build_residual_cnn())
    rows, totals = measure(pruned)
    text = to_markdown(rows, totals)
    table = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(table) == len(rows)
    assert table[0].startswith(f"| `{rows[0]['layer']}` ({rows[0]['type']}) | {rows[0]['channels_before']} -> ")
    assert "Total params:" in text and "Total params:" not in to_markdown(rows)


def test_bad_arguments_get_clear_errors():
    model = build_residual_cnn()
    with pytest.raises(errors.PruningArgumentError, match="must be a Keras 3 `keras.Model`.*Received: model of type str"):
        layer_widths("model.keras")
    with pytest.raises(errors.PruningArgumentError, match="Received: reference of type int"):
        layer_widths(model, reference=3)
    other = keras.Sequential([keras.Input((4,)), layers.Dense(2, name="unrelated")])
    with pytest.raises(errors.PruningArgumentError, match="has none of the layers"):
        layer_widths(model, reference=other)
    with pytest.raises(errors.PruningArgumentError, match="print_fn` must be callable"):
        tfprune.summary(model, print_fn="stdout")
