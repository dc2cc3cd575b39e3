"""Helpers shared by the convert tests: prune -> masks -> strip/slim checks."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

import tfprune
from tfprune.graph import iter_layers

#: slim(m)(x) and strip_pruning(m)(x) agree to RTOL * max|out| (docs/design.md#masked-equals-slim).
RTOL = 1e-5


def randomize_normalization(model: keras.Model, seed: int = 0) -> keras.Model:
    """Non-trivial BatchNorm gamma/beta/mean/variance, so a missing mask shows."""
    rng = np.random.default_rng(seed)
    for layer in iter_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            for var, low, high in (
                (layer.gamma, 0.5, 1.5),
                (layer.beta, -1.0, 1.0),
                (layer.moving_mean, -0.5, 0.5),
                (layer.moving_variance, 0.5, 1.5),
            ):
                if var is not None:
                    var.assign(rng.uniform(low, high, var.shape).astype("float32"))
    return model


def sample_input(model: keras.Model, batch: int = 2, seed: int = 0):
    """A random batch for every model input (uniform in [0, 1))."""
    rng = np.random.default_rng(seed)
    xs = [
        rng.uniform(0.0, 1.0, (batch, *tensor.shape[1:])).astype("float32")
        for tensor in model.inputs
    ]
    return xs[0] if len(xs) == 1 else xs


def _flat(y) -> list[np.ndarray]:
    if isinstance(y, (list, tuple)):
        return [np.asarray(v) for v in y]
    if isinstance(y, dict):
        return [np.asarray(y[k]) for k in sorted(y)]
    return [np.asarray(y)]


def max_diff(a, b) -> float:
    return max(float(np.abs(u - v).max()) for u, v in zip(_flat(a), _flat(b), strict=True))


def max_abs(y) -> float:
    return max(float(np.abs(v).max()) for v in _flat(y))


@dataclasses.dataclass
class SlimResult:
    original: keras.Model
    pruned: keras.Model
    pruner: tfprune.Pruner
    stripped: keras.Model
    slimmed: keras.Model
    x: object
    y_masked: object
    y_strip: object
    y_slim: object


def prune_and_compare(
    model: keras.Model,
    *,
    sparsity: float = 0.5,
    x=None,
    exclude=(),
    expect_smaller: bool = True,
    check_plan: bool = True,
) -> SlimResult:
    """prune -> masks at step 0 -> strip and slim; assert they all agree.

    Checks (docs/design.md#masked-equals-slim): the masked model equals strip_pruning,
    slim equals strip_pruning within RTOL * max|out|, the slim model has
    fewer parameters (``expect_smaller``), and re-applying the plan to the
    original model gives the same slim model.
    """
    if x is None:
        x = sample_input(model)
    y_before = model(x, training=False)
    pruned = tfprune.prune(model, "l1", sparsity=sparsity, exclude=exclude, round_to=None)
    pruner = tfprune.Pruner(pruned)
    pruner.step(0)
    assert pruner.pruned_fraction() > 0, "no channel was masked"
    stripped = tfprune.strip_pruning(pruned)
    slimmed = tfprune.slim(pruned)
    y_masked = pruned(x, training=False)
    y_strip = stripped(x, training=False)
    y_slim = slimmed(x, training=False)
    scale = max_abs(y_strip)
    assert scale > 0, "degenerate test model: output is all zeros"
    tol = RTOL * scale
    assert max_diff(y_masked, y_strip) <= tol, (
        f"masked model != strip_pruning: {max_diff(y_masked, y_strip)} > {tol}"
    )
    assert max_diff(y_slim, y_strip) <= tol, (
        f"slim != strip_pruning: {max_diff(y_slim, y_strip)} > {tol}"
    )
    if expect_smaller:
        assert slimmed.count_params() < model.count_params()
    # The user's model is never modified in place (docs/design.md#errors).
    assert max_diff(model(x, training=False), y_before) == 0.0
    if check_plan:
        plan = tfprune.PrunePlan.from_json(tfprune.make_plan(pruned).to_json())
        again = tfprune.slim(model, plan)
        assert again.count_params() == slimmed.count_params()
        assert max_diff(again(x, training=False), y_slim) <= tol
    for layer in iter_layers(slimmed):
        assert not isinstance(layer, tfprune.PruningWrapper)
    return SlimResult(model, pruned, pruner, stripped, slimmed, x, y_masked, y_strip, y_slim)


@pytest.fixture
def check_slim():
    """``check_slim(model, **kwargs)``: see :func:`prune_and_compare`."""
    return prune_and_compare


@pytest.fixture
def randomized():
    """``randomized(model)``: random BatchNorm statistics (returns the model)."""
    return randomize_normalization
