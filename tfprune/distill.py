"""``Distiller``: fit a student with a knowledge-distillation loss term.

The loss of LRF's fine-tuning (Joo et al., AAAI 2021; the authors'
``main_pruning.py``, docs/methods/lrf.md#distillation-loss) is

    L = CE(z, y) + KD(z, z_teacher),
    KD = sum_classes KL(softmax(z_teacher / T) || softmax(z / T)) / batch,

with ``T = 2``, equal weights and no ``T^2`` factor (as in the authors'
code), where ``z_teacher`` comes from a frozen copy of the unpruned model.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from tfprune import errors


def frozen_copy(model: keras.Model) -> keras.Model:
    """A non-trainable copy of ``model`` (same weights); ``model`` is untouched."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy.trainable = False
    return copy


def kd_loss(student_logits, teacher_logits, temperature: float = 2.0):
    """``mean_batch sum_classes KL(softmax(t/T) || softmax(s/T))`` (no ``T^2``)."""
    t = ops.stop_gradient(teacher_logits) / temperature
    s = student_logits / temperature
    p_t = ops.softmax(t, axis=-1)
    return ops.mean(ops.sum(p_t * (ops.log_softmax(t, axis=-1) - ops.log_softmax(s, axis=-1)), axis=-1))


class Distiller(keras.Model):
    """Train ``student`` on ``compiled loss + weight * KD(student, teacher)``.

    ``Distiller(student, teacher)`` calls the student; compile and fit it like
    any model (the compiled loss and metrics see the student's logits). The
    teacher is a frozen *copy*, so neither model passed in is frozen or
    changed except the student's weights by training. A student wrapped for
    pruning trains with :class:`tfprune.UpdatePruning` as usual (the callback
    reaches it through :attr:`tfprune_target`). Save ``distiller.student``.

    Args:
        student: the model being trained (logits out).
        teacher: the model whose logits are matched (logits out, same shape).
        temperature: ``T`` (2 in LRF).
        weight: weight of the KD term (1 in LRF: CE and KD weigh the same).
    """

    def __init__(self, student: keras.Model, teacher: keras.Model, temperature: float = 2.0,
                 weight: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        if not isinstance(student, keras.Model) or not isinstance(teacher, keras.Model):
            msg = (
                "Distiller needs two keras.Model objects (student, teacher). "
                f"Received: {type(student).__name__}, {type(teacher).__name__}."
            )
            raise errors.PruningArgumentError(msg)
        if not temperature > 0:
            msg = f"Argument `temperature` must be > 0. Received: temperature={temperature!r}."
            raise errors.PruningArgumentError(msg)
        self.student = student
        self.teacher = frozen_copy(teacher)
        self.temperature = float(temperature)
        self.weight = float(weight)

    @property
    def tfprune_target(self) -> keras.Model:
        """The model :class:`tfprune.UpdatePruning` prunes (the student)."""
        return self.student

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        teacher = self.teacher(x, training=False)
        return loss + self.weight * kd_loss(y_pred, teacher, self.temperature)
