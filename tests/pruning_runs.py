"""Deterministic pruning runs for the distributed and crash-recovery tests.

Imported by ``tests/distributed/worker.py`` (a subprocess: ``tf.distribute`` and SIGKILL need
their own interpreter) and by the in-process tests. Every method that prunes
inside ``fit`` trains the small residual CNN of ``testing_models`` for
``EPOCHS`` epochs of ``STEPS_PER_EPOCH`` steps; :class:`MaskRecorder` records
the masks each step trains with.
"""

from __future__ import annotations

import shutil

import keras
import numpy as np
import tensorflow as tf

import tfprune
from tfprune.data import make_dataset
from testing_models import build_residual_cnn
from tfprune import schedules

EPOCHS = 3
STEPS_PER_EPOCH = 4
BATCH = 8
#: Interrupted runs stop before this optimizer step (epoch 2, third batch):
#: the last backup (end of epoch 1) is then mid-pruning for every method.
INTERRUPT_STEP = 6


def _ramp():
    return schedules.PolynomialDecay(0.0, 0.5, begin_step=0, end_step=8, frequency=2)


def _lrf(model):
    model_pq = tfprune.lrf.insert_pq(model)
    return tfprune.prune(model_pq, "lrf", convs=tfprune.lrf.wrapped_convs(model_pq),
                         schedule={"inner": _ramp(), "outer": _ramp()}, round_to=None)


#: Every method that runs inside ``fit``, as ``model -> pruned model``.
METHODS = {
    "l1": lambda m: tfprune.prune(m, "l1", schedule=_ramp(), round_to=None),
    "l2": lambda m: tfprune.prune(m, "l2", schedule=_ramp(), round_to=None),
    "spp_filter": lambda m: tfprune.prune(m, "spp", sparsity=0.5, A=0.3, seed=3, round_to=None),
    "spp_column": lambda m: tfprune.prune(m, "spp", sparsity=0.5, A=0.3, seed=3, granularity="column",
                                          round_to=None),
    "fuzzy": lambda m: tfprune.prune(m, "fuzzy", schedule=schedules.IntervalSchedule(0, 10, 3, 0.9),
                                     breakpoints="quantile", round_to=None),
    "admm": lambda m: tfprune.prune(m, "admm", schedule=schedules.ADMMSchedule(0.5, admm_steps=7, update_every=2),
                                    rho=0.2, rho_factor=1.3, rho_max=2.0, round_to=None),
    "lrf": _lrf,
    "fpgm": lambda m: tfprune.prune(m, "fpgm", schedule=_ramp(), round_to=None),
    # Every worker passes the same (unsharded) data, so their gradients agree.
    "taylor": lambda m: tfprune.prune(m, "taylor", schedule=_ramp(), data=dataset(), batches=2, round_to=None),
}


def dataset() -> tf.data.Dataset:
    """``EPOCHS * STEPS_PER_EPOCH`` batches per run, same order every epoch, autotune off."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(STEPS_PER_EPOCH * BATCH, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 4, size=STEPS_PER_EPOCH * BATCH)
    return make_dataset(x, y, batch_size=BATCH)


def build(method: str) -> keras.Model:
    """The compiled pruned model of ``method`` (call inside a strategy scope)."""
    pruned = METHODS[method](build_residual_cnn(seed=0))
    pruned.compile(optimizer=keras.optimizers.SGD(0.05),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return pruned


def _numpy(variable) -> np.ndarray:
    return np.array(keras.ops.convert_to_numpy(variable))


def masks(model: keras.Model) -> dict[str, np.ndarray]:
    """Every mask (and every method state variable) of ``model``'s wrappers."""
    out = {}
    for wrapper in tfprune.layers.find_wrappers(model):
        for kind in ("input_mask", "output_mask", "kernel_mask"):
            variable = getattr(wrapper, kind)
            if variable is not None:
                out[f"{wrapper.name}/{kind}"] = _numpy(variable)
        for name, variable in wrapper.state.items():
            out[f"{wrapper.name}/{name}"] = _numpy(variable)
    return out


class MaskRecorder(keras.callbacks.Callback):
    """Record :func:`masks` before every step; place it after ``UpdatePruning``.

    ``records`` maps ``"<step>|<wrapper>/<variable>"`` to arrays (``step`` is
    ``optimizer.iterations``, i.e. what the step's forward pass uses) and
    ``"final|..."`` to the masks at the end of training.
    """

    def __init__(self, records: dict[str, np.ndarray], stop_at: int | None = None, on_stop=None):
        super().__init__()
        self.records = records
        self.stop_at = stop_at
        self.on_stop = on_stop

    def on_train_batch_begin(self, batch, logs=None):
        step = int(_numpy(self.model.optimizer.iterations))
        if step == self.stop_at:
            self.on_stop()
        for key, value in masks(self.model).items():
            self.records[f"{step}|{key}"] = value

    def on_train_end(self, logs=None):
        for key, value in masks(self.model).items():
            self.records[f"final|{key}"] = value


class CopyBackup(keras.callbacks.Callback):
    """Copy the ``BackupAndRestore`` directory at the end of the first epoch.

    Place it after ``BackupAndRestore``. The copy is what a run killed in the
    second epoch leaves on disk, so an uninterrupted run gives both the
    reference masks and a backup to resume from.
    """

    def __init__(self, source, target):
        super().__init__()
        self.source, self.target = source, target

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            shutil.copytree(self.source, self.target)


class Interrupted(RuntimeError):
    """Raised by :func:`interrupt` to stop ``fit`` at a known step."""


def interrupt():
    raise Interrupted(f"interrupted before step {INTERRUPT_STEP}")


def fit(model, records, backup_dir=None, stop_at=None, on_stop=interrupt, copy_backup_to=None):
    """Train ``model`` with ``UpdatePruning`` (first: the order that used to
    lose restored masks), ``BackupAndRestore`` (if ``backup_dir``), a
    :class:`CopyBackup` (if ``copy_backup_to``) and a :class:`MaskRecorder`;
    returns the recorder's ``records``."""
    callbacks = [tfprune.UpdatePruning()]
    if backup_dir is not None:
        callbacks.append(keras.callbacks.BackupAndRestore(str(backup_dir)))
    if copy_backup_to is not None:
        callbacks.append(CopyBackup(backup_dir, copy_backup_to))
    callbacks.append(MaskRecorder(records, stop_at, on_stop))
    model.fit(dataset(), epochs=EPOCHS, verbose=0, callbacks=callbacks)
    return records
