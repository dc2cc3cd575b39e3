"""Fuzzy membership functions and alpha-cuts (tfprune.criteria.fuzzy)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from tfprune import errors
from tfprune.criteria import fuzzy as fz

GRID = np.linspace(-0.5, 1.5, 401)


def test_ramp_values_at_and_between_breakpoints():
    mu_i = fz.Ramp(0.1, 0.5, increasing=True)
    mu_u = fz.Ramp(0.1, 0.5, increasing=False)
    s = np.array([-1.0, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.9, 2.0])
    np.testing.assert_allclose(mu_i(s), [0, 0, 0, 0.25, 0.5, 0.75, 1, 1, 1], atol=1e-12)
    np.testing.assert_allclose(mu_u(s), [1, 1, 1, 0.75, 0.5, 0.25, 0, 0, 0], atol=1e-12)


def test_trapezoid_values_and_shoulders():
    mu = fz.Trapezoid(0.0, 0.2, 0.6, 1.0)
    np.testing.assert_allclose(
        mu(np.array([-0.1, 0.0, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.1])),
        [0, 0, 0.5, 1, 1, 1, 0.5, 0, 0], atol=1e-12,
    )
    s = np.array([0.0, 0.3, 0.7])
    np.testing.assert_allclose(fz.Trapezoid(0.1, 0.5)(s), fz.Ramp(0.1, 0.5)(s))
    np.testing.assert_allclose(fz.Trapezoid(c=0.1, d=0.5)(s), fz.Ramp(0.1, 0.5, increasing=False)(s))


def test_gaussian_values_at_and_between_breakpoints():
    rising = fz.Gaussian(0.2, 0.8, width=3.0)
    sigma = 0.6 / 3
    s = np.array([0.2, 0.5, 0.8, 1.0])
    expected = [math.exp(-4.5), math.exp(-(0.3**2) / (2 * sigma**2)), 1.0, 1.0]
    np.testing.assert_allclose(rising(s), expected, rtol=1e-12)
    falling = fz.Gaussian(0.2, 0.8, increasing=False, width=3.0)
    np.testing.assert_allclose(falling(np.array([0.0, 0.2, 0.5, 0.8])), [1.0, 1.0, expected[1], math.exp(-4.5)], rtol=1e-12)


def test_sigmoid_values_at_and_between_breakpoints():
    rising = fz.Sigmoid(0.2, 0.6, edge=0.05)
    np.testing.assert_allclose(rising(np.array([0.2, 0.4, 0.6])), [0.05, 0.5, 0.95], rtol=1e-12)
    falling = fz.Sigmoid(0.2, 0.6, increasing=False, edge=0.05)
    np.testing.assert_allclose(falling(np.array([0.2, 0.4, 0.6])), [0.95, 0.5, 0.05], rtol=1e-12)


@pytest.mark.parametrize("shape", [fz.Ramp, fz.Gaussian, fz.Sigmoid])
def test_shoulders_are_monotone_and_in_unit_interval(shape):
    up = shape(0.1, 0.5, increasing=True)(GRID)
    down = shape(0.1, 0.5, increasing=False)(GRID)
    assert np.all(np.diff(up) >= 0) and np.all(np.diff(down) <= 0)
    assert up.min() >= 0 and up.max() > 0.999 and down.min() >= 0 and down.max() > 0.999  # sigmoid: < 1
    # Strictly moving between the breakpoints.
    inner = (GRID > 0.1) & (GRID < 0.5)
    assert np.all(np.diff(up[inner]) > 0) and np.all(np.diff(down[inner]) < 0)


def test_non_importance_is_independent_of_importance():
    s = np.linspace(0, 1, 51)
    mu_u = fz.Ramp(0.2, 0.4, increasing=False)
    before = mu_u(s)
    # Evaluating (or changing) an importance function does not touch mu_U ...
    for mu_i in (fz.Ramp(0.1, 0.5), fz.Sigmoid(0.3, 0.9), fz.Gaussian(0.0, 0.6)):
        mu_i(s)
        np.testing.assert_array_equal(mu_u(s), before)
        # ... and with other breakpoints or shapes mu_U is not 1 - mu_I.
        assert np.abs(mu_u(s) - (1 - mu_i(s))).max() > 0.1
    # With the same ramp breakpoints they are complements (the default).
    np.testing.assert_allclose(fz.Ramp(0.1, 0.5, increasing=False)(s), 1 - fz.Ramp(0.1, 0.5)(s), atol=1e-12)


def test_quantile_breakpoints_follow_the_scores():
    scores = np.array([0.0, 1.0, 2.0, 3.0, 4.0])  # Q0.25 = 1, Q0.75 = 3
    mu = fz.Ramp(0.25, 0.75, quantiles=True)
    assert mu.breakpoints(scores) == {"a": 1.0, "b": 3.0}
    np.testing.assert_allclose(mu(scores), [0, 0, 0.5, 1, 1])
    np.testing.assert_allclose(mu(scores * 10), mu(scores))  # scale-free
    np.testing.assert_allclose(fz.Ramp(0.25, 0.75, increasing=False, quantiles=True)(scores), [1, 1, 0.5, 0, 0])


def test_alpha_cut():
    mu = np.array([0.0, 0.09, 0.1, 0.5, 0.9, 1.0])
    np.testing.assert_array_equal(fz.alpha_cut(mu, 0.1), [False, False, True, True, True, True])
    np.testing.assert_array_equal(fz.alpha_cut(mu, 0.9), [False, False, False, False, True, True])
    np.testing.assert_array_equal(fz.alpha_cut(mu, 0.0), np.ones(6, bool))
    with pytest.raises(errors.PruningArgumentError, match="alpha"):
        fz.alpha_cut(mu, 1.5)


@pytest.mark.parametrize(
    "membership",
    [fz.Ramp(0.1, 0.5), fz.Trapezoid(0.1, 0.2, 0.6, 0.9), fz.Trapezoid(c=0.25, d=0.75, quantiles=True),
     fz.Gaussian(0.1, 0.5, increasing=False, width=2.0), fz.Sigmoid(0.2, 0.4, edge=0.1)],
)
def test_membership_config_round_trips(membership):
    config = keras.saving.serialize_keras_object(membership)
    restored = keras.saving.deserialize_keras_object(config)
    assert restored == membership and restored is not membership
    s = np.linspace(0, 1, 11)
    np.testing.assert_array_equal(restored(s), membership(s))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: fz.Ramp(0.5, 0.1), "a <= b"),
        (lambda: fz.Ramp(0.1, 1.5, quantiles=True), "in \\[0, 1\\]"),
        (lambda: fz.Trapezoid(0.1, None), "pairs"),
        (lambda: fz.Trapezoid(), "at least one edge"),
        (lambda: fz.Gaussian(0.1, 0.5, width=0), "width"),
        (lambda: fz.Sigmoid(0.1, 0.5, edge=0.7), "edge"),
        (lambda: fz.Ramp(0.1, float("nan")), "finite"),
    ],
)
def test_bad_breakpoints_are_clear_errors(make, match):
    with pytest.raises(errors.PruningArgumentError, match=match):
        make()
