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
from tfprune.methods.base import PruningMethod, filter_scores


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
        def per_weight_norms(value, axis):
            return criteria.slice_norms(value, axis, ord=self.ord) / (value.size // value.shape[axis])

        return filter_scores(pruner, group, per_weight_norms, ord=self.ord)

    def kernel_scores(self, pruner, entry):
        kernel = pruner.kernel_value(entry)
        if entry.layer.kernel_granularity == "weight":
            return np.abs(kernel)
        if self.ord == 1:
            return np.abs(kernel).sum(axis=-1, keepdims=True)
        return np.sqrt(np.square(kernel).sum(axis=-1, keepdims=True))

    def get_config(self):
        return {"ord": self.ord}
