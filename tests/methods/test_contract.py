"""The contract every registered pruning method passes.

prune(target=...) -> fit a few steps -> save ``.keras`` mid-pruning -> load ->
resume (masks identical to an uninterrupted run) -> target met -> ``slim``
equals the masked model. A method registered without an entry in ``RUNS``
fails here: say how to run it quickly.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
from keras import layers
from testing_models import compile_for_test, dataset

import tfprune
from tfprune import methods as methods_lib
from tfprune.layers import find_wrappers
from tfprune.schedules import ADMMSchedule, ConstantSparsity, IntervalSchedule


def _model() -> keras.Model:
    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 3))
    a = layers.Conv2D(16, 3, padding="same", name="stem")(x)
    a = layers.BatchNormalization(name="stem_bn")(a)
    a = layers.ReLU()(a)
    b = layers.Conv2D(24, 3, padding="same", name="inner")(a)
    b = layers.BatchNormalization(name="inner_bn")(b)
    b = layers.ReLU()(b)
    b = layers.Conv2D(16, 3, padding="same", name="outer")(b)
    c = layers.Add()([a, b])
    c = layers.Conv2D(32, 3, strides=2, padding="same", name="wide")(c)
    c = layers.ReLU()(c)
    c = layers.GlobalAveragePooling2D()(c)
    model = keras.Model(x, layers.Dense(4, name="head")(c))
    # Keras initialisers draw from each backend's own generator; weights from
    # NumPy make the run the same one on TensorFlow, JAX and PyTorch
    # (tests/backends/ runs this file under each).
    rng = np.random.default_rng(0)
    for weight in model.weights:
        shape = tuple(weight.shape)
        if "moving_variance" in weight.path or "gamma" in weight.path:
            weight.assign(rng.uniform(0.5, 1.5, size=shape).astype("float32"))
        elif len(shape) > 1:
            weight.assign(rng.normal(0.0, (2.0 / np.prod(shape[:-1])) ** 0.5, size=shape).astype("float32"))
    return model


def _lrf_model():
    return tfprune.lrf.insert_pq(_model())


#: name -> (model builder, prune() options besides the target, target FLOPs fraction of the
#: model it prunes). Small and fast: a few steps each.
RUNS = {
    "l1": (_model, {"schedule": IntervalSchedule(0, 9, 3, 0.9)}, 0.5),
    "l2": (_model, {"schedule": IntervalSchedule(0, 9, 3, 0.9), "allocation": "global"}, 0.5),
    "spp": (_model, {"schedule": ConstantSparsity(0.5, 0, -1, 1), "A": 0.5, "u": 0.25, "seed": 3}, 0.6),
    "admm": (_model, {"schedule": ADMMSchedule(0.5, admm_steps=6, update_every=2, retrain_steps=2)}, 0.5),
    "fuzzy": (_model, {"schedule": IntervalSchedule(0, -1, 2, 0.9), "normalization": "minmax"}, 0.6),
    "fpgm": (_model, {"schedule": IntervalSchedule(0, 9, 3, 0.9), "allocation": "global"}, 0.5),
    "taylor": (_model, {"schedule": IntervalSchedule(0, 9, 3, 0.9), "data": "calibration", "batches": 2,
                        "loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}, 0.5),
    "lrf": (_lrf_model, {"convs": ["inner", "outer", "wide"], "schedule": IntervalSchedule(0, 9, 3, 0.9)}, 0.6),
}
STEPS_BEFORE_SAVE, STEPS_AFTER = 4, 12


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 4, size=16)
    return dataset(x, y, batch_size=4), x  # 4 steps per epoch


def _masks(model):
    out = {}
    for wrapper in find_wrappers(model):
        for name in ("input_mask", "output_mask", "kernel_mask"):
            variable = getattr(wrapper, name)
            if variable is not None:
                out[f"{wrapper.name}/{name}"] = np.asarray(variable.numpy())
    return out


def test_runs_on_the_keras_backend_asked_for():
    """tests/backends/ runs this file with KERAS_BACKEND=jax and =torch."""
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", keras.backend.backend())


def test_every_registered_method_has_a_run():
    missing = sorted(set(methods_lib._FACTORIES) - set(RUNS))
    assert not missing, f"add a contract run for {missing} to RUNS"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS))
def test_method_contract(name, tmp_path):
    build, options, target = RUNS[name]
    data, x = _data()
    callbacks = [tfprune.UpdatePruning()]

    if options.get("data") == "calibration":  # Taylor: gradients on batches of the training data
        options = {**options, "data": data}

    def fresh():
        return compile_for_test(tfprune.prune(build(), name, target=target, round_to=None, **options))

    # Uninterrupted run.
    reference = fresh()
    reference.fit(data, epochs=(STEPS_BEFORE_SAVE + STEPS_AFTER) // 4, verbose=0, callbacks=callbacks)

    # Interrupted run: save mid-pruning, load, resume.
    first = fresh()
    first.fit(data, epochs=STEPS_BEFORE_SAVE // 4, verbose=0, callbacks=callbacks)
    path = tmp_path / f"{name}.keras"
    first.save(path)
    resumed = keras.models.load_model(path)
    resumed.fit(data, epochs=STEPS_AFTER // 4, verbose=0, callbacks=callbacks)

    expected, got = _masks(reference), _masks(resumed)
    assert expected.keys() == got.keys()
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)

    dense = tfprune.count_flops(build())
    small = tfprune.slim(resumed)
    achieved = tfprune.count_flops(small) / dense
    assert target - 0.02 <= achieved <= target + 0.02, f"{name}: {achieved:.3f} FLOPs ratio for target {target}"
    np.testing.assert_allclose(*(keras.ops.convert_to_numpy(m(x)) for m in (small, resumed)), rtol=1e-5, atol=1e-5)
