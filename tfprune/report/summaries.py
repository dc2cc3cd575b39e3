"""``PruningSummaries``: TensorBoard summaries of pruning (tfmot's callback name).

A ``keras.callbacks.TensorBoard`` (it writes the losses and metrics as usual)
that also writes, in ``<log_dir>/pruning``, with TensorBoard's own summary API
(``tf.summary``), at the optimizer step:

* ``width/<group id>`` and ``sparsity/<group id>``: kept channels and pruned
  fraction of every channel group the method prunes (group ids as in
  :class:`tfprune.PrunePlan`);
* ``model/flops``, ``model/params`` (those of ``tfprune.slim(model)`` now,
  from :class:`tfprune.metrics.cost.CostModel`), ``model/flops_ratio``,
  ``model/params_ratio`` (against the dense model) and
  ``model/pruned_fraction``;
* ``method/<name>``: the method's own scalars
  (:meth:`tfprune.methods.PruningMethod.epoch_logs`), at epoch ends;
* ``widths``: the per-layer width chart of :func:`tfprune.plot_widths`, as an
  image, at epoch ends.

TensorFlow is imported only when the callback writes (TensorFlow glue, like
the export); see docs/reports.md.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from tfprune import errors
from tfprune.layers import find_wrappers
from tfprune.pruner import Pruner
from tfprune.report import widths as widths_lib
from tfprune.report.plot import render_widths

#: Sub-directory of ``log_dir`` the pruning summaries go to.
SUBDIR = "pruning"


class PruningSummaries(keras.callbacks.TensorBoard):
    """Write pruning summaries for TensorBoard during ``fit``.

    Use it with :class:`tfprune.UpdatePruning`, in place of
    ``keras.callbacks.TensorBoard`` (it is one)::

        pruned.fit(ds, epochs=3, callbacks=[
            tfprune.UpdatePruning(),
            tfprune.PruningSummaries(log_dir="logs"),
        ])

    then ``tensorboard --logdir logs``. Besides Keras' ``train`` and
    ``validation`` runs it writes a ``pruning`` run with, per channel group,
    its kept width and sparsity (``width/<group>``, ``sparsity/<group>``),
    the FLOPs (MACs) and parameters the slim model would have now
    (``model/flops``, ``model/params`` and their ratios to the dense
    model), the method's own scalars (``method/<name>``) and the bar chart of
    per-layer widths (``widths``, as :func:`tfprune.plot_widths` draws it).
    Every value is written at the optimizer step (``model.optimizer.iterations``),
    so a resumed run continues the curves.

    Args:
        log_dir: directory of the TensorBoard logs.
        update_freq: ``"epoch"`` (default) writes at the end of every epoch;
            ``"batch"`` or an int ``N`` also writes the scalars every ``N``
            optimizer steps (the chart and the method's scalars stay per
            epoch). As in ``keras.callbacks.TensorBoard``, which also gets it.
        **kwargs: passed to ``keras.callbacks.TensorBoard``.

    Raises:
        PruningArgumentError: ``update_freq`` is not ``"epoch"``, ``"batch"``
            or a positive int; or, when training starts, the model has no
            pruning wrappers (it was not made by :func:`tfprune.prune`).
    """

    def __init__(self, log_dir="logs", update_freq="epoch", **kwargs):
        if not (
            update_freq in ("epoch", "batch")
            or (isinstance(update_freq, int) and not isinstance(update_freq, bool) and update_freq > 0)
        ):
            msg = (
                "Argument `update_freq` must be 'epoch', 'batch' or a positive "
                f"int (write every N steps). Received: update_freq={update_freq!r}."
            )
            raise errors.PruningArgumentError(msg)
        super().__init__(log_dir=log_dir, update_freq=update_freq, **kwargs)
        self._pruning_writer = None
        self._cost_model = None
        self._state = None
        self._scalars_step = None

    # -- state ----------------------------------------------------------------
    def _target(self) -> keras.Model:
        # A training wrapper (e.g. tfprune.Distiller) names the pruned model.
        return getattr(self.model, "tfprune_target", self.model)

    def _pruner(self):
        # The model's one pruning state (the one UpdatePruning drives): built
        # or re-read once per fit, then shared, so writing costs no re-read.
        if self._state is None:
            self._state = Pruner(self._target())
            self._cost_model = self._state.cost_model
        return self._state

    def _step(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def _writer(self):
        if self._pruning_writer is None:
            import tensorflow as tf

            self._pruning_writer = tf.summary.create_file_writer(os.path.join(self.log_dir, SUBDIR))
        return self._pruning_writer

    # -- writing --------------------------------------------------------------
    def _write(self, *, epoch_end: bool) -> None:
        import tensorflow as tf

        pruner = self._pruner()
        cost, keep = self._cost_model, pruner.keep
        step = self._step()
        scalars: dict[str, float] = {}
        if step != self._scalars_step:  # not yet written at this step (by a batch end)
            scalars.update(self._state_scalars(pruner, cost, keep))
            self._scalars_step = step
        image = None
        if epoch_end:
            for name, value in pruner.method.epoch_logs(pruner.view).items():
                scalars[f"method/{name}"] = float(value)
            state = (pruner.graph, keep.copy(), cost, True)
            rows, totals = widths_lib.measure_state(self._target(), state)
            image = tf.io.decode_png(render_widths(rows, totals), channels=4)[tf.newaxis]
        # Keras' TensorBoard may hold a record_if(step % update_freq == 0)
        # context on its own batch counter; these writes are decided here.
        with self._writer().as_default(), tf.summary.record_if(True):
            for name, value in scalars.items():
                tf.summary.scalar(name, float(value), step=step)
            if image is not None:
                tf.summary.image("widths", image, step=step)
        self._writer().flush()

    @staticmethod
    def _state_scalars(pruner, cost, keep) -> dict[str, float]:
        """Per-group widths and sparsities, the model's FLOPs and parameters."""
        scalars: dict[str, float] = {}
        for group in pruner.active_groups:
            kept = int(np.count_nonzero(pruner.group_keep(group)))
            scalars[f"width/{group.id}"] = kept
            scalars[f"sparsity/{group.id}"] = 1.0 - kept / group.num_channels
        flops, params = cost.flops(keep), cost.params(keep)
        scalars["model/flops"] = flops
        scalars["model/params"] = params
        scalars["model/flops_ratio"] = flops / cost.dense_flops if cost.dense_flops else 1.0
        scalars["model/params_ratio"] = params / cost.dense_params if cost.dense_params else 1.0
        scalars["model/pruned_fraction"] = pruner.pruned_fraction()
        return scalars

    # -- Keras hooks ------------------------------------------------------------
    def on_train_begin(self, logs=None):
        if not find_wrappers(self._target()):
            msg = (
                f"PruningSummaries needs a pruned model, but model `{self._target().name}` "
                "has no PruningWrapper layers. Train the model returned by "
                "`tfprune.prune(model, ...)` (with tfprune.UpdatePruning()), or use "
                "keras.callbacks.TensorBoard for a model that is not being pruned."
            )
            raise errors.PruningArgumentError(msg)
        self._scalars_step = None
        self._state = None
        super().on_train_begin(logs)

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if self.update_freq != "epoch" and self._step() % self.update_freq == 0:
            self._write(epoch_end=False)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self._write(epoch_end=True)

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self._pruning_writer is not None:
            self._pruning_writer.close()
            self._pruning_writer = None
