"""``MethodView``: what a pruning method sees of the pruning state.

A method's hooks (:meth:`~tfprune.methods.PruningMethod.init`,
:meth:`~tfprune.methods.PruningMethod.update`, ...) receive this view instead
of the :class:`tfprune.Pruner` (docs/design.md#method-contract). It reads the
state (graph, groups, schedules, weights, budget, cost model) and writes one
thing: the method's decision, as keep flags of a working copy. The driver
(:meth:`tfprune.Pruner.step`) commits that decision to the mask variables
after the hook returns; a method cannot write masks, re-read the model or
change another method's state. Its own per-layer variables
(:meth:`~tfprune.methods.PruningMethod.state_spec`) are its to update.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tfprune.pruner import Pruner

#: Pruner attributes a method may read.
READ = frozenset(
    {
        # structure
        "model", "graph", "entries", "kernel_entries", "active_groups", "method",
        "granularity", "round_to", "seed", "exclude",
        "owner", "layer", "wrapper", "group_slices", "local_units",
        # weights and schedules
        "weight_value", "weight_variable", "kernel_value",
        "schedule_of", "kernel_schedule", "final_sparsity",
        # the working keep flags
        "group_keep", "kernel_keep", "masks_for", "layer_masks",
        # budgets and costs
        "budget", "max_group_sparsity", "cost_model", "budget_progress", "budget_status",
        "budget_prune_count", "candidates", "allocate_budget",
        # per-run caches of the method
        "run_state",
    }
)
#: Pruner attributes that edit the working keep flags (the method's decision).
DECIDE = frozenset({"set_group_keep", "set_keep", "set_kernel_keep", "apply_budget"})


class MethodView:
    """Read-only access to a :class:`tfprune.Pruner`, plus the keep decision.

    Attributes listed in :data:`READ` and :data:`DECIDE` are the pruner's;
    anything else (``write_masks``, ``sync``, ``set_callback_active``, ...)
    raises ``AttributeError``.
    """

    __slots__ = ("_pruner",)

    def __init__(self, pruner: Pruner):
        object.__setattr__(self, "_pruner", pruner)

    def __getattr__(self, name: str) -> Any:
        if name in READ or name in DECIDE:
            return getattr(self._pruner, name)
        msg = (
            f"A pruning method's view has no `{name}`: methods read the state "
            "and decide keep flags (set_group_keep, set_keep, set_kernel_keep); "
            "the driver commits them to the masks (docs/design.md#method-contract)."
        )
        raise AttributeError(msg)

    def __setattr__(self, name: str, value: Any) -> None:
        msg = f"A pruning method's view is read-only (tried to set `{name}`)."
        raise AttributeError(msg)

    @property
    def keep(self) -> np.ndarray:
        """The working keep flags of every unit (read-only array)."""
        keep = self._pruner.keep.view()
        keep.flags.writeable = False
        return keep

    def effective_flops(self) -> int:
        """MACs of the model under the working keep flags (kernel masks included).

        ``count_flops(model, effective=True)`` after committing the working
        flags: the one counter every report uses, also for column/weight
        granularity, whose kernel masks the cost model does not cover.
        """
        from tfprune import metrics

        self._pruner.write_masks()
        return metrics.count_flops(self._pruner.model, effective=True)
