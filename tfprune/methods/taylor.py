"""First-order Taylor pruning (Molchanov et al., CVPR 2019).

At each pruning step the loss gradient is computed on ``batches``
mini-batches of ``data`` (:mod:`tfprune._gradients`, inference mode), and a
unit of a coupled group scores ``mean_batches (sum_s g_s w_s)^2``
(:mod:`tfprune.criteria.taylor`), where ``s`` runs over every weight that
scales the unit's output: the kernel slice and bias of each producing layer
and the trainable gamma/beta of each normalisation (the paper's gates, its
Eq. (8) for BatchNorm). Summing them over the coupled layers is the
first-order change of the loss when the whole unit is zeroed. The lowest
scores are pruned. Choices: docs/methods/taylor.md.
"""

from __future__ import annotations

import uuid
import weakref
from typing import Any

import keras
import numpy as np

from tfprune import _gradients, _validation, criteria, errors
from tfprune.graph import rules as rules_lib
from tfprune.layers import find_wrappers
from tfprune.methods.base import PruningMethod

#: Weight roles whose slices scale a unit's output (the paper's gates); of the
#: per-channel ``AFFINE`` slices only trainable ones (gamma/beta, not
#: BatchNorm's moving statistics).
_GATE_ROLES = (rules_lib.FILTER, rules_lib.BIAS)


class _DataRef:
    """Holds the user's data; registered weakly under a key kept in the config."""

    __slots__ = ("__weakref__", "value")

    def __init__(self, value: Any):
        self.value = value


#: ``key -> _DataRef`` for the data given in this process. The method objects
#: deserialised from the same config (one per wrapper) find it here; the entry
#: disappears with the last method holding it.
_DATA: weakref.WeakValueDictionary[str, _DataRef] = weakref.WeakValueDictionary()


def _check_data(data: Any) -> Any:
    if isinstance(data, tuple) and data and all(isinstance(a, np.ndarray) for a in data):
        msg = (
            "Option `data` must yield mini-batches (x, y), not be one (x, y) pair of "
            "arrays. Pass e.g. tf.data.Dataset.from_tensor_slices((x, y)).batch(32), "
            "or [(x, y)] for a single batch."
        )
        raise errors.PruningArgumentError(msg)
    if not hasattr(data, "__iter__"):
        msg = (
            "Option `data` must be an iterable of (x, y) or (x, y, sample_weight) "
            f"mini-batches (e.g. a batched tf.data.Dataset). Received: {type(data).__name__}."
        )
        raise errors.PruningArgumentError(msg)
    return data


@keras.saving.register_keras_serializable(package="tfprune")
class TaylorPruning(PruningMethod):
    """Prune the units whose removal changes the loss least, to first order.

    ``tfprune.prune(model, "taylor", sparsity=0.5, data=train_ds, batches=8)``.

    The ``.keras`` file stores ``batches`` and ``loss``, not ``data``. In the
    process that called ``prune``, a reloaded model finds the data again; in
    a new process, give it back before ``fit`` or ``Pruner.step``::

        model = keras.models.load_model("pruned.keras")
        tfprune.methods.TaylorPruning.set_data(model, train_ds)

    Gradients run on the TensorFlow, JAX and PyTorch backends (a clear
    ``NotImplementedError`` on the others; docs/backends.md).

    Args:
        data: mini-batches ``(x, y)`` or ``(x, y, sample_weight)``: a
            batched ``tf.data.Dataset``, a list of tuples, a
            ``keras.utils.PyDataset``... Each pruning step reads the first
            ``batches`` of them (an iterator goes on where it stopped).
        batches: mini-batches averaged per pruning step.
        loss: the loss to differentiate (a name, a ``keras.losses.Loss`` or a
            function of ``(y_true, y_pred)``, Keras-serializable to be saved);
            None uses the loss the pruned model is compiled with (one-shot
            pruning of an uncompiled model needs it).
    """

    def __init__(self, data: Any = None, batches: int = 8, loss: Any = None):
        self.batches = _validation.check_positive_int("batches", batches)
        if isinstance(loss, dict) and "class_name" in loss:
            loss = keras.saving.deserialize_keras_object(loss)
        self.loss = loss
        self._ref: _DataRef | None = None
        self._key: str | None = None
        self._cache: tuple[tuple, dict[tuple[str, str, int], np.ndarray]] | None = None
        if data is not None:
            self._ref = _DataRef(_check_data(data))
            self._key = uuid.uuid4().hex
            _DATA[self._key] = self._ref

    @property
    def data(self) -> Any:
        """The mini-batches gradients are computed on (None if not given)."""
        return None if self._ref is None else self._ref.value

    @staticmethod
    def set_data(model: keras.Model, data: Any) -> None:
        """Give ``data`` to the Taylor method of a pruned (e.g. reloaded) model."""
        from tfprune.pruner import Pruner

        source = TaylorPruning(data=data)
        method = Pruner(model).method if find_wrappers(model) else None
        if isinstance(method, TaylorPruning):
            method._ref, method._key, method._cache = source._ref, source._key, None
            holder = next(w for w in find_wrappers(model) if w.holds_model_spec)
            holder.spec["method"] = keras.saving.serialize_keras_object(method)
        else:
            msg = (
                f"Model `{model.name}` is not being pruned with the Taylor method "
                "(no PruningWrapper with method 'taylor'), so it takes no data."
            )
            raise errors.PruningArgumentError(msg)

    def scores(self, pruner, group):
        gates = self._gates(pruner)
        contributions = [
            (gates[s], pruner.local_units(group, *s)) for s in self._gate_slices(pruner, group)
        ]
        per_batch = np.stack([
            criteria.group_scores([(g[b], units) for g, units in contributions], group.num_channels, ord=1)
            for b in range(contributions[0][0].shape[0])
        ])
        return criteria.taylor.importance(per_batch)

    # Gate gradients, computed once per pruning step for every active group --
    @staticmethod
    def _gate_slices(pruner, group) -> list[tuple[str, str, int]]:
        slices = [
            (m.layer, m.weight, m.axis) for m in group.members
            if m.role in _GATE_ROLES
            or (m.role == rules_lib.AFFINE and pruner.weight_variable(m.layer, m.weight).trainable)
        ]
        if not slices:
            msg = (
                f"Channel group `{group.id}` has no weight that scales its channels "
                "(no filter, bias or trainable gamma/beta), so the Taylor criterion "
                "cannot score it. Exclude its layers, or use another method."
            )
            raise errors.PruningArgumentError(msg)
        return slices

    def _gates(self, pruner) -> dict[tuple[str, str, int], np.ndarray]:
        """``(batches, n)`` gate gradients of every gate slice of the active groups."""
        if self._ref is None:
            msg = (
                "The Taylor method needs mini-batches to compute loss gradients, "
                "and none were given: pass them to prune (tfprune.prune(model, "
                "'taylor', ..., data=train_ds)), or, for a model loaded from a "
                ".keras file (which does not store data), call "
                "tfprune.methods.TaylorPruning.set_data(model, train_ds) first."
            )
            raise errors.PruningArgumentError(msg)
        key = self._state_key(pruner)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        slices = list(dict.fromkeys(s for g in pruner.active_groups for s in self._gate_slices(pruner, g)))
        weights = list(dict.fromkeys((path, weight) for path, weight, _ in slices))
        values = {w: pruner.weight_value(*w) for w in weights}
        gates: dict[tuple[str, str, int], list[np.ndarray]] = {s: [] for s in slices}
        batches = _gradients.batch_gradients(
            pruner.model, [pruner.weight_variable(*w) for w in weights], self.data, self.batches,
            _gradients.resolve_loss(pruner.model, self.loss),
        )
        for grads in batches:  # reduced at once: a model's gradients per batch can be large
            by_weight = dict(zip(weights, grads))
            for path, weight, axis in slices:
                gate = criteria.taylor.gate_gradients(values[(path, weight)], by_weight[(path, weight)][None], axis)
                gates[(path, weight, axis)].append(gate[0])
        self._cache = (key, {s: np.stack(g) for s, g in gates.items()})
        return self._cache[1]

    @staticmethod
    def _state_key(pruner) -> tuple:
        """Changes between two pruning steps, never within one.

        Scores of all groups at one step share one gradient computation (the
        selection writes the masks after scoring every group). Two steps that
        score something differ by the optimizer step, or, without an
        optimizer (one-shot pruning, a training wrapper such as
        tfprune.Distiller), by the masks the first of them wrote.
        """
        masks = [
            keras.ops.convert_to_numpy(m) for e in pruner.entries
            for m in (e.layer.input_mask, e.layer.output_mask) if m is not None
        ]
        optimizer = getattr(pruner.model, "optimizer", None)
        step = -1 if optimizer is None else int(keras.ops.convert_to_numpy(optimizer.iterations))
        return (id(pruner), step, np.concatenate(masks).tobytes() if masks else b"")

    def get_config(self):
        loss = self.loss
        if loss is not None and not isinstance(loss, str):
            loss = keras.saving.serialize_keras_object(loss)
        return {"batches": self.batches, "loss": loss, "data_key": self._key}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        key = config.pop("data_key", None)
        method = cls(**config)
        ref = _DATA.get(key) if key else None
        if ref is not None:
            method._ref, method._key = ref, key
        return method
