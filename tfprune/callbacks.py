"""``UpdatePruning``: the callback that runs pruning inside ``model.fit``."""

from __future__ import annotations

import keras

from tfprune import errors
from tfprune.pruner import Pruner


class UpdatePruning(keras.callbacks.Callback):
    """Advance pruning from ``model.optimizer.iterations`` before every step.

    Pass it to ``fit`` of a model returned by :func:`tfprune.prune`::

        pruned.fit(ds, epochs=3, callbacks=[tfprune.UpdatePruning()])

    The step is read from the optimizer, so resuming from a saved model (or a
    second ``fit`` call) continues the schedule where it stopped. Training a
    pruned model without this callback raises
    :class:`tfprune.errors.MissingCallbackError`.

    Args:
        verbose: 1 prints the pruned fraction (and the method's scalars,
            see :meth:`PruningMethod.logs`) at the end of every epoch. Both
            are always added to the epoch logs (``pruned_fraction``, ...), so
            ``keras.callbacks.TensorBoard``/``CSVLogger`` listed after this
            callback record them.
    """

    def __init__(self, verbose: int = 0):
        super().__init__()
        self.verbose = verbose
        self.pruner: Pruner | None = None

    def on_train_begin(self, logs=None):
        if getattr(self.model, "optimizer", None) is None:
            msg = "UpdatePruning needs a compiled model: call model.compile(...) before fit."
            raise errors.PruningArgumentError(msg)
        self.pruner = Pruner(self.model)
        self.pruner.set_callback_active(True)

    def on_train_batch_begin(self, batch, logs=None):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self.pruner.step(step)

    def on_epoch_end(self, epoch, logs=None):
        self.pruner.method.on_epoch_end(self.pruner, epoch)
        fraction = self.pruner.pruned_fraction()
        extra = self.pruner.method.logs(self.pruner)
        if logs is not None:
            logs["pruned_fraction"] = fraction
            logs.update(extra)
        if self.verbose:
            details = "".join(f", {k}={v:.4g}" for k, v in extra.items())
            print(f"tfprune: epoch {epoch + 1}: {fraction:.1%} of prunable channels masked{details}")

    def on_train_end(self, logs=None):
        if self.pruner is not None:
            self.pruner.set_callback_active(False)
        # The traced train function saw the callback as active; drop it so a
        # later fit without the callback retraces and raises a clear error.
        self.model.train_function = None
