"""tfprune.plot_widths: a PNG bar chart of per-layer widths."""

from __future__ import annotations

import os
import struct

import pytest
from testing_models import build_residual_cnn

import tfprune
from tfprune import errors
from tfprune.report import measure, render_widths

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEPT, ORIGINAL = (0x1F, 0x77, 0xB4), (0xC8, 0xC8, 0xC8)  # the bars' colours


def _pixels_of(path, colour) -> int:
    """Pixels of exactly ``colour`` (a bar has thousands; anti-aliased text a few)."""
    import matplotlib.image
    import numpy as np

    rgb = (matplotlib.image.imread(path)[..., :3] * 255).round().astype(int)
    return int(np.all(rgb == np.array(colour), axis=-1).sum())


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, after checking the PNG signature."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def pruned():
    model = tfprune.prune(build_residual_cnn(), "l1", target=0.5, round_to=None)
    tfprune.one_shot(model)
    return model


def test_plot_widths_writes_a_png_that_matplotlib_reads(tmp_path, pruned):
    import matplotlib.image

    path = tfprune.plot_widths(pruned, tmp_path / "widths.png")
    assert path == tmp_path / "widths.png"
    data = path.read_bytes()
    width, height = _png_size(data)
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (height, width) and width >= 600 and height >= 450
    # The chart has the kept (blue) and original (grey) bars.
    assert _pixels_of(path, KEPT) > 2000 and _pixels_of(path, ORIGINAL) > 2000
    assert sorted(os.listdir(tmp_path)) == ["widths.png"]  # no temporary file left


def test_the_chart_has_a_bar_per_conv_and_dense_layer(pruned):
    """More layers make a wider figure: one bar (0.3 inch) per Conv/Dense layer."""
    rows, totals = measure(pruned)
    computing = [r for r in rows if r["flops"] is not None]
    assert 0 < len(computing) < len(rows)  # BatchNorm rows are not plotted
    many = computing * 30
    narrow, _ = _png_size(render_widths(computing, totals))
    wide, _ = _png_size(render_widths(many, totals))
    assert wide == pytest.approx(100 * (0.3 * len(many) + 2.0), abs=2) and narrow == 600


def test_slim_model_without_reference_is_plotted_with_kept_widths_only(tmp_path, pruned):
    small = tfprune.slim(pruned)
    path = tfprune.plot_widths(small, str(tmp_path / "slim.png"))
    assert _pixels_of(path, KEPT) > 2000 and _pixels_of(path, ORIGINAL) < 200


def test_bad_paths_get_clear_errors_and_leave_nothing(tmp_path, pruned):
    with pytest.raises(errors.PruningArgumentError, match=r"must end with '\.png'.*widths\.jpg.*Use e\.g\. .*widths\.png"):
        tfprune.plot_widths(pruned, tmp_path / "widths.jpg")
    with pytest.raises(errors.PruningArgumentError, match="must be a str or os.PathLike"):
        tfprune.plot_widths(pruned, 3)
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(errors.PruningArgumentError, match="is a directory"):
        tfprune.plot_widths(pruned, tmp_path / "dir.png")
    with pytest.raises(errors.WriteError, match="Could not write the width chart .*missing.*Nothing was written"):
        tfprune.plot_widths(pruned, tmp_path / "missing" / "widths.png")
    assert sorted(os.listdir(tmp_path)) == ["dir.png"]


def test_an_existing_file_is_replaced_whole(tmp_path, pruned):
    path = tmp_path / "widths.png"
    path.write_bytes(b"old")
    tfprune.plot_widths(pruned, path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
