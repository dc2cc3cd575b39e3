"""`ADMMSchedule`: the phases of StructADMM pruning inside ``model.fit``.

StructADMM (Zhang et al., arXiv 1807.11091; docs/methods/admm.md#training-loop)
trains in
phases: an **ADMM phase** (the loss gets ``rho/2 ||W - Z + U||^2``; ``Z`` and
``U`` are updated every ``update_every`` steps), a **hard prune** (the masks
become the support of ``Proj_S(W)``) and **masked retraining** (no penalty,
fixed masks). With several targets the phases repeat (**progressive**
pruning: every stage starts from the previous stage's pruned model, whose
zeros stay frozen).

Timeline, with ``P = admm_steps + retrain_steps`` and stage ``s`` beginning
at ``b_s = begin_step + s * P``::

    [b_s, b_s + admm_steps)          ADMM phase of stage s (Z/U update at
                                     b_s + j*update_every, j >= 1)
    b_s + admm_steps                 hard prune of stage s (should_prune)
    [b_s + admm_steps, b_{s+1})      masked retraining (the last stage's
                                     retraining lasts until training ends)
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import keras

from tfprune import _validation, errors
from tfprune.schedules import base

#: Phase names returned by :meth:`ADMMSchedule.locate`.
BEFORE, ADMM, RETRAIN = "before", "admm", "retrain"


@keras.saving.register_keras_serializable(package="tfprune")
class ADMMSchedule(base.PruningSchedule):
    """Phase timing of StructADMM (ADMM, hard prune, masked retraining).

    Steps are optimizer steps (``model.optimizer.iterations``), so a model
    saved mid-training resumes in the right phase. To think in epochs, use
    :meth:`from_epochs`.

    Args:
        target_sparsity: fraction of groups to prune, in ``[0, 1)``; or an
            increasing list of fractions for progressive pruning (one stage
            per entry).
        admm_steps: length of the ADMM phase of each stage (``E * K_admm``
            epochs; docs/methods/admm.md#hyper-parameters).
        update_every: steps between two ``Z``/``U`` updates (``E``).
        retrain_steps: masked retraining of every stage but the last (the
            last one retrains until training ends). Required (> 0) with
            several stages.
        begin_step: first step of the first ADMM phase.

    Example:

    >>> s = ADMMSchedule(0.5, admm_steps=100, update_every=25)
    >>> s.locate(0), s.locate(99), s.locate(100)
    (('admm', 0), ('admm', 0), ('retrain', 0))
    >>> s(99), s(100), s(101)
    ((False, 0.5), (True, 0.5), (False, 0.5))
    >>> [t for t in range(200) if s.is_update_step(t)]
    [25, 50, 75]
    """

    def __init__(
        self,
        target_sparsity: float | Sequence[float],
        admm_steps: int,
        update_every: int,
        retrain_steps: int = 0,
        begin_step: int = 0,
    ) -> None:
        if isinstance(target_sparsity, numbers.Real) and not isinstance(target_sparsity, bool):
            targets = [_validation.check_fraction("target_sparsity", target_sparsity)]
        elif isinstance(target_sparsity, Sequence) and not isinstance(target_sparsity, str) and target_sparsity:
            targets = [
                _validation.check_fraction(f"target_sparsity[{i}]", t) for i, t in enumerate(target_sparsity)
            ]
        else:
            msg = (
                "Argument `target_sparsity` must be a fraction in [0, 1) or a non-empty "
                f"increasing list of fractions (progressive pruning). Received: {target_sparsity!r}."
            )
            raise errors.PruningArgumentError(msg)
        if any(b <= a for a, b in zip(targets, targets[1:])):
            msg = (
                "Progressive targets must increase strictly, since each stage keeps "
                f"the previous stage's zeros. Received: target_sparsity={targets}."
            )
            raise errors.PruningArgumentError(msg)
        self.targets = targets
        self.admm_steps = int(_validation.check_positive_int("admm_steps", admm_steps))
        self.update_every = int(_validation.check_positive_int("update_every", update_every))
        if self.update_every > self.admm_steps:
            msg = (
                "Argument `update_every` must be <= `admm_steps`, or Z and U are never "
                f"updated. Received: update_every={update_every}, admm_steps={admm_steps}."
            )
            raise errors.PruningArgumentError(msg)
        self.retrain_steps = base._check_step("retrain_steps", retrain_steps)
        if len(targets) > 1 and self.retrain_steps == 0:
            msg = (
                "Progressive pruning (several targets) needs `retrain_steps` > 0: the "
                "masked retraining between two stages. Received: retrain_steps=0."
            )
            raise errors.PruningArgumentError(msg)
        self.begin_step = base._check_step("begin_step", begin_step)

    @classmethod
    def from_epochs(
        cls,
        target_sparsity: float | Sequence[float],
        steps_per_epoch: int,
        admm_epochs: int,
        update_epochs: int = 1,
        retrain_epochs: int = 0,
        begin_epoch: int = 0,
    ) -> ADMMSchedule:
        """The same schedule with phase lengths in epochs of ``steps_per_epoch`` steps."""
        n = int(_validation.check_positive_int("steps_per_epoch", steps_per_epoch))
        return cls(
            target_sparsity, admm_steps=admm_epochs * n, update_every=update_epochs * n,
            retrain_steps=retrain_epochs * n, begin_step=begin_epoch * n,
        )

    @property
    def num_stages(self) -> int:
        return len(self.targets)

    @property
    def _period(self) -> int:
        return self.admm_steps + self.retrain_steps

    def locate(self, step: Any) -> tuple[str, int]:
        """``(phase, stage)`` at ``step``; phase is ``"before"``, ``"admm"`` or ``"retrain"``."""
        step = base._to_step(step)
        if step < self.begin_step:
            return BEFORE, 0
        offset = step - self.begin_step
        stage = min(offset // self._period, self.num_stages - 1)
        local = offset - stage * self._period
        return (ADMM if local < self.admm_steps else RETRAIN), stage

    def stage_begin(self, stage: int) -> int:
        """First step of the ADMM phase of ``stage``."""
        return self.begin_step + stage * self._period

    def is_update_step(self, step: Any) -> bool:
        """Whether ``Z``/``U`` are updated (before the training step ``step``)."""
        step = base._to_step(step)
        phase, stage = self.locate(step)
        local = step - self.stage_begin(stage)
        return phase == ADMM and local > 0 and local % self.update_every == 0

    def timing(self) -> dict[str, int]:
        """The phase timing without the targets (must agree across layers)."""
        config = self.get_config()
        del config["target_sparsity"]
        return config

    def __call__(self, step: Any) -> tuple[bool, float]:
        """``(True, target)`` at the hard prune of a stage, else ``(False, target)``.

        The sparsity is the current stage's target (the first target before
        ``begin_step``).
        """
        step = base._to_step(step)
        phase, stage = self.locate(step)
        hard_prune = phase == RETRAIN and step == self.stage_begin(stage) + self.admm_steps
        return hard_prune, self.targets[stage]

    def get_config(self) -> dict[str, Any]:
        return {
            "target_sparsity": self.targets[0] if len(self.targets) == 1 else list(self.targets),
            "admm_steps": self.admm_steps,
            "update_every": self.update_every,
            "retrain_steps": self.retrain_steps,
            "begin_step": self.begin_step,
        }
