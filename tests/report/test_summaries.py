"""tfprune.PruningSummaries: TensorBoard event files of a pruning run."""

from __future__ import annotations

import collections
import pathlib

import numpy as np
import pytest
from testing_models import build_residual_cnn, compile_for_test, dataset

import tfprune
from tfprune import errors


def _events(directory: pathlib.Path) -> dict[str, list[tuple[int, object]]]:
    """``{tag: [(step, value), ...]}`` of every event file in ``directory``.

    Scalars are floats; images are ``(width, height, png bytes)``.
    """
    import tensorflow as tf

    out = collections.defaultdict(list)
    files = sorted(directory.glob("events.out.tfevents.*"))
    assert files, f"no event file in {directory}"
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                kind = value.metadata.plugin_data.plugin_name
                array = tf.make_ndarray(value.tensor)
                if kind == "scalars":
                    out[value.tag].append((event.step, float(array)))
                elif kind == "images":
                    width, height, *pngs = array.tolist()
                    out[value.tag].append((event.step, (int(width), int(height), pngs[0])))
    return dict(out)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 2-epoch fit (4 steps each) that prunes to half the FLOPs by step 6."""
    log_dir = tmp_path_factory.mktemp("logs")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 4, size=32)
    schedule = tfprune.schedules.PolynomialDecay(0.0, 0.5, begin_step=0, end_step=6, frequency=2, power=1)
    pruned = compile_for_test(tfprune.prune(build_residual_cnn(), "l1", target=0.5, schedule=schedule, round_to=None))
    callbacks = [tfprune.UpdatePruning(), tfprune.PruningSummaries(log_dir, update_freq=2)]
    pruned.fit(dataset(x, y), epochs=2, verbose=0, callbacks=callbacks)
    return pruned, log_dir, _events(log_dir / "pruning")


def test_per_group_width_and_sparsity_follow_the_masks(run):
    pruned, _, events = run
    pruner = tfprune.Pruner(pruned)
    assert pruner.active_groups
    for group in pruner.active_groups:
        widths = events[f"width/{group.id}"]
        sparsity = events[f"sparsity/{group.id}"]
        # update_freq=2: steps 2, 4, 6, 8 (epoch ends 4 and 8 are not repeated).
        assert [step for step, _ in widths] == [2, 4, 6, 8]
        kept = int(pruner.group_keep(group).sum())
        assert widths[-1] == (8, kept) and kept < group.num_channels
        assert sparsity[-1][1] == pytest.approx(1 - kept / group.num_channels)
        values = [value for _, value in widths]
        assert values == sorted(values, reverse=True)  # the ramp only removes channels


def test_model_flops_and_params_are_those_of_the_slim_model(run):
    pruned, _, events = run
    small = tfprune.slim(pruned)
    dense = build_residual_cnn()
    assert events["model/flops"][-1] == (8, tfprune.count_flops(small))
    assert events["model/params"][-1] == (8, tfprune.count_params(small))
    assert events["model/flops_ratio"][-1][1] == pytest.approx(tfprune.count_flops(small) / tfprune.count_flops(dense))
    flops = [value for _, value in events["model/flops"]]
    assert flops[0] > flops[-1]  # steps 2 -> 8: the FLOPs go down as the budget ramps
    assert events["model/pruned_fraction"][-1][1] == pytest.approx(tfprune.Pruner(pruned).pruned_fraction())


def test_the_width_chart_is_written_as_an_image_every_epoch(run):
    import matplotlib.image

    pruned, tmp, events = run
    images = events["widths"]
    assert [step for step, _ in images] == [4, 8]
    width, height, png = images[-1][1]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    path = tmp / "from_events.png"
    path.write_bytes(png)
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[:2] == (height, width)
    # The same chart (pixel for pixel) as plot_widths draws for the model now.
    expected = tmp / "now.png"
    tfprune.plot_widths(pruned, expected)
    np.testing.assert_array_equal(pixels, matplotlib.image.imread(expected))


def test_keras_tensorboard_logs_are_written_too(run):
    _, log_dir, _ = run
    train = _events(log_dir / "train")
    assert [step for step, _ in train["epoch_loss"]] == [0, 1]


def test_a_model_that_is_not_pruned_is_refused(tmp_path, batch):
    model = compile_for_test(build_residual_cnn())
    with pytest.raises(errors.PruningArgumentError, match="needs a pruned model.*tfprune.prune"):
        model.fit(*batch, epochs=1, verbose=0, callbacks=[tfprune.PruningSummaries(tmp_path)])


@pytest.mark.parametrize("update_freq", [0, "step", True, 1.5])
def test_bad_update_freq(update_freq, tmp_path):
    with pytest.raises(errors.PruningArgumentError, match="update_freq` must be 'epoch', 'batch' or a positive int"):
        tfprune.PruningSummaries(tmp_path, update_freq=update_freq)


@pytest.mark.filterwarnings("ignore::tfprune.errors.BudgetWarning")  # one epoch: SPP is still pruning
def test_the_method_scalars_are_written_at_epoch_ends(tmp_path, batch):
    pruned = compile_for_test(tfprune.prune(build_residual_cnn(), "spp", target=0.5, round_to=None))
    summaries = tfprune.PruningSummaries(tmp_path)
    pruned.fit(*batch, batch_size=8, epochs=1, verbose=0, callbacks=[tfprune.UpdatePruning(), summaries])
    events = _events(tmp_path / "pruning")
    method = tfprune.Pruner(pruned).method
    expected = method.epoch_logs(tfprune.Pruner(pruned).view)
    assert expected  # SPP reports its progress
    for name, value in expected.items():
        assert events[f"method/{name}"] == [(4, pytest.approx(value))]
    assert [step for step, _ in events["model/flops"]] == [4]  # update_freq="epoch"
