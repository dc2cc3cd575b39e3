"""The filter-norm baseline: L1 (Li et al. 2017) and L2 magnitude pruning.

At every schedule step, the lowest-norm units of each coupled group are
masked. A unit's score adds up the norms of all its *filter* slices (the
kernels that produce the channel, e.g. every conv feeding a residual ``Add``).
Each slice's norm is divided by its number of weights (mean ``|w|`` for L1,
root-mean-square for L2), so filters of layers with different kernel sizes or
fan-in compete fairly inside one group (e.g. the branches of a Concatenate).
Within one layer this ranks filters exactly like Li et al.'s
``s_j = sum |F_j|`` (Section 3.1 of https://arxiv.org/abs/1608.08710), since
every filter of a layer has the same number of weights.
"""

from __future__ import annotations

import keras
import numpy as np

from tfprune import criteria
from tfprune.graph import rules as rules_lib
from tfprune.methods.base import PruningMethod


@keras.saving.register_keras_serializable(package="tfprune")
class MagnitudePruning(PruningMethod):
    """Prune the filters with the smallest L1 or L2 norm.

    With ``granularity="column"`` or ``"weight"`` the same rule ranks the
    im2col columns (or single weights) of each Conv/Dense kernel by their
    L1 / L2 norm, per layer.

    Args:
        ord: 1 for the L1 norm (Li et al. 2017), 2 for the L2 norm.
    """

    granularities = ("filter", "column", "weight")

    def __init__(self, ord: int = 1):
        if ord not in (1, 2):
            msg = f"Argument `ord` must be 1 (L1) or 2 (L2). Received: ord={ord!r}."
            raise ValueError(msg)
        self.ord = ord

    def scores(self, pruner, group):
        contributions = []
        for layer_path, weight, axis in pruner.group_slices(group, rules_lib.FILTER):
            value = pruner.weight_value(layer_path, weight)
            values = criteria.slice_norms(value, axis, ord=self.ord)
            values = values / (value.size // value.shape[axis])  # per-weight mean
            contributions.append((values, pruner.local_units(group, layer_path, weight, axis)))
        return criteria.group_scores(contributions, group.num_channels, ord=self.ord)

    def kernel_scores(self, pruner, entry):
        kernel = pruner.kernel_value(entry)
        if entry.layer.kernel_granularity == "weight":
            return np.abs(kernel)
        if self.ord == 1:
            return np.abs(kernel).sum(axis=-1, keepdims=True)
        return np.sqrt(np.square(kernel).sum(axis=-1, keepdims=True))

    def get_config(self):
        return {"ord": self.ord}
