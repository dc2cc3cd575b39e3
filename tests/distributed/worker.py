"""Subprocess of the distributed and kill-resume tests (test_recovery.py).

    python worker.py run|resume OUT METHOD [METHOD ...]

With ``TF_CONFIG`` set, the process is one worker of a
``tf.distribute.MultiWorkerMirroredStrategy`` (its files get a ``-w<index>``
suffix); without it, it uses the default strategy.

* ``run``: an uninterrupted run of every method (masks of every step to
  ``<method>-full.npz``), with ``keras.callbacks.BackupAndRestore``; the
  backup of its first epoch is copied to ``backup-<method>``. For the *last*
  method a second run instead writes ``backup-<method>`` itself, and the
  process kills itself with SIGKILL before step ``INTERRUPT_STEP`` of it
  (mid-pruning, after creating ``killed``).
* ``resume``: a fresh process resumes every method from ``backup-<method>``
  (``<method>-resumed.npz``).
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def _save(records: dict, path: pathlib.Path, strategy) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, replicas=np.array(strategy.num_replicas_in_sync), **records)
    os.replace(tmp, path)


def _work_around_keras_multiworker_bugs(strategy) -> None:
    """Work around two Keras 3.15 bugs that stop ``fit`` under
    ``MultiWorkerMirroredStrategy`` for any model (keras-team/keras#20585;
    docs/distributed.md). Test-only: it patches private Keras code.

    1. ``fit`` builds the model from ``strategy.reduce("MEAN", (x, y))`` of
       the first distributed batch, and the strategy cannot reduce a nested
       value. :func:`_build` builds it on a plain batch instead.
    2. Every step reduces its scalar logs with ``strategy.reduce("MEAN",
       loss, axis=0)``, which fails for a scalar: reduce them across the
       workers with ``axis=None``.
    """
    import importlib

    trainer = importlib.import_module("keras.src.backend.tensorflow.trainer")
    original = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy_, reduction="auto"):
        if reduction != "auto" or strategy_ is not strategy:
            return original(values, strategy_, reduction)
        return tf.nest.map_structure(
            lambda v: strategy.reduce("MEAN", v, axis=None) if isinstance(v, tf.distribute.DistributedValues) else v,
            values,
        )

    trainer.reduce_per_replica = reduce_per_replica


def _build(model, dataset) -> None:
    """Keras' symbolic build on a plain batch (bug 1 above)."""
    model._symbolic_build(data_batch=next(iter(dataset)))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def main(phase: str, out: pathlib.Path, methods: list[str]) -> None:
    strategy, suffix = tf.distribute.get_strategy(), ""
    if "TF_CONFIG" in os.environ:
        # Created before any other TensorFlow op, as the strategy requires.
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        suffix = f"-w{json.loads(os.environ['TF_CONFIG'])['task']['index']}"
        _work_around_keras_multiworker_bugs(strategy)
    import pruning_runs as runs  # after the strategy: it imports keras and tfprune

    def build(method):
        with strategy.scope():
            model = runs.build(method)
            if suffix:
                _build(model, runs.dataset())
        return model

    def kill():
        (out / f"killed{suffix}").touch()
        os.kill(os.getpid(), signal.SIGKILL)

    def log(message):  # progress, for the test's failure report
        print(f"{time.perf_counter() - start:6.1f}s {message}", flush=True)

    start = time.perf_counter()
    for method in methods:
        backup = out / f"backup-{method}{suffix}"
        log(f"{phase} {method}")
        if phase == "resume":
            _save(runs.fit(build(method), {}, backup_dir=backup), out / f"{method}-resumed{suffix}.npz", strategy)
            continue
        last = method == methods[-1]
        records = runs.fit(build(method), {}, backup_dir=out / f"scratch-{method}{suffix}",
                           copy_backup_to=None if last else backup)
        _save(records, out / f"{method}-full{suffix}.npz", strategy)
        if last:
            log(f"run {method} again, to be killed")
            runs.fit(build(method), {}, backup_dir=backup, stop_at=runs.INTERRUPT_STEP, on_stop=kill)
            raise AssertionError(f"{method}: the process was not killed at step {runs.INTERRUPT_STEP}")
    log("done")


if __name__ == "__main__":
    main(sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3:])
