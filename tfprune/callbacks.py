"""``UpdatePruning``: the callback that runs pruning inside ``model.fit``."""

from __future__ import annotations

import keras

from tfprune import _validation, errors
from tfprune.pruner import Pruner


class UpdatePruning(keras.callbacks.Callback):
    """Advance pruning from ``model.optimizer.iterations`` before every step.

    Pass it to ``fit`` of a model returned by :func:`tfprune.prune`::

        pruned.fit(ds, epochs=3, callbacks=[tfprune.UpdatePruning()])

    The model passed to ``fit`` may also be a training wrapper whose
    ``tfprune_target`` attribute is the pruned model (:class:`tfprune.Distiller`).

    The step is read from the optimizer, so resuming from a saved model (or a
    second ``fit`` call) continues the schedule where it stopped. With
    ``keras.callbacks.BackupAndRestore`` (in any order in ``callbacks``) a
    killed run resumes from the last backup with the masks and the method's
    state of that backup (docs/distributed.md). Training a
    pruned model without this callback raises
    :class:`tfprune.errors.MissingCallbackError`.

    At the end of every epoch the pruned fraction is added to the epoch logs
    as ``pruned_fraction``, with the method's own scalars
    (:meth:`~tfprune.methods.PruningMethod.epoch_logs`, e.g. the fuzzy
    method's per-group set sizes); ``keras.callbacks.TensorBoard`` placed
    after this callback writes them.

    Args:
        verbose: 1 prints these values at the end of every epoch.
    """

    def __init__(self, verbose: int = 0):
        super().__init__()
        self.verbose = verbose
        self.pruner: Pruner | None = None

    def on_train_begin(self, logs=None):
        if getattr(self.model, "optimizer", None) is None:
            msg = "UpdatePruning needs a compiled model: call model.compile(...) before fit."
            raise errors.PruningArgumentError(msg)
        _validation.check_no_tf_distribution(action="train a pruned model")
        # The pruner reads the masks and the method's state from the model, so
        # it is built at the first batch: by then every callback's
        # on_train_begin has run, including keras.callbacks.BackupAndRestore,
        # which restores them (whatever the order of the callbacks).
        self.pruner = None

    def _ensure_pruner(self) -> Pruner:
        if self.pruner is None:
            # A training wrapper (e.g. tfprune.Distiller) names the pruned model.
            self.pruner = Pruner(getattr(self.model, "tfprune_target", self.model))
            self.pruner.set_callback_active(True)
        return self.pruner

    def on_train_batch_begin(self, batch, logs=None):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self._ensure_pruner().step(step)

    def on_epoch_end(self, epoch, logs=None):
        extra = self._ensure_pruner().end_epoch(epoch)
        fraction = self.pruner.pruned_fraction()
        if logs is not None:
            logs["pruned_fraction"] = fraction
            logs.update(extra)
        if self.verbose:
            print(f"tfprune: epoch {epoch + 1}: {fraction:.1%} of prunable channels masked")
            for name, value in extra.items():
                print(f"tfprune:   {name} = {value:g}")

    def on_train_end(self, logs=None):
        if self.pruner is not None:
            self.pruner.set_callback_active(False)
            step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            self.pruner.warn_if_budget_unmet(step)
        # The traced train function saw the callback as active; drop it so a
        # later fit without the callback retraces and raises a clear error.
        self.model.train_function = None
