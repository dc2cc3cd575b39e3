"""BatchAssigner: the fused TensorFlow call and the per-variable path agree."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfprune._assign import BatchAssigner


def _variables():
    return [keras.Variable(np.ones(shape, "float32"), trainable=False) for shape in ((3,), (2, 4), (5,))]


@pytest.mark.parametrize("fused", [True, False])
def test_assigns_every_variable_its_value(fused):
    rng = np.random.default_rng(0)
    variables = _variables()
    assigner = BatchAssigner(variables, fused=fused)
    assert assigner.fused is fused
    for _ in range(2):  # the fused function is traced once and reused
        values = [rng.random(tuple(v.shape)).astype("float64") for v in variables]
        assigner(values)
        for variable, value in zip(variables, values, strict=True):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), value, rtol=1e-6)
            assert variable.dtype == "float32"


def test_fused_is_the_default_on_tensorflow_only():
    assert BatchAssigner(_variables()).fused is (keras.backend.backend() == "tensorflow")
    assert BatchAssigner([]).fused is False
    BatchAssigner([])([])  # nothing to assign: no error


def test_wrong_number_of_values_is_refused():
    with pytest.raises(ValueError, match="2 values for 3 variables"):
        BatchAssigner(_variables(), fused=False)([np.zeros(3), np.zeros((2, 4))])


def test_fused_on_another_backend_is_refused(monkeypatch):
    variables = _variables()
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(ValueError, match="backend is 'jax'"):
        BatchAssigner(variables, fused=True)
    assigner = BatchAssigner(variables)  # the default there: one Variable.assign each
    assert assigner.fused is False
    assigner([np.full(tuple(v.shape), 2.0) for v in variables])
    assert all((keras.ops.convert_to_numpy(v) == 2.0).all() for v in variables)
