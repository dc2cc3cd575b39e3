"""Catalogue: bad inputs of the reports (summary, plot_widths, PruningSummaries)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from errors_catalogue import listing, tiny_cnn

import tfprune
from tfprune.errors import PruningArgumentError, WriteError


@pytest.fixture
def pruned():
    model = tfprune.prune(tiny_cnn(), "l1", target=0.5, round_to=None)
    tfprune.one_shot(model)
    return model


def test_plot_path_not_png(tmp_path, expect, pruned):
    with pytest.raises(PruningArgumentError) as info:
        tfprune.plot_widths(pruned, tmp_path / "widths.pdf")
    expect("plot-path-not-png", info.value)
    assert listing(tmp_path) == []


def test_plot_directory_missing(tmp_path, expect, pruned):
    with pytest.raises(WriteError) as info:
        tfprune.plot_widths(pruned, tmp_path / "reports" / "widths.png")
    expect("plot-directory-missing", info.value)
    assert listing(tmp_path) == []


def test_report_reference_unrelated(expect):
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")], name="other")
    with pytest.raises(PruningArgumentError) as info:
        tfprune.summary(tiny_cnn(), reference=other)
    expect("report-reference-unrelated", info.value)


def test_summaries_model_not_pruned(tmp_path, expect):
    model = tiny_cnn()
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((4, 6, 6, 2), "float32"), np.zeros((4, 3), "float32")
    with pytest.raises(PruningArgumentError) as info:
        model.fit(x, y, epochs=1, verbose=0, callbacks=[tfprune.PruningSummaries(tmp_path / "logs")])
    expect("summaries-model-not-pruned", info.value)
