"""FPGM: prune the filters nearest the geometric median of their layer.

He et al., CVPR 2019 (https://arxiv.org/abs/1811.00250), Eq. (6): a filter's
score is its summed distance to the other filters of its layer
(:func:`tfprune.criteria.fpgm.distance_sums`); the lowest are pruned. A
coupled group with several filter slices (the convs feeding a residual
``Add``, the branches of a ``Concatenate``) adds up one score per slice, each
divided by its mean over the layer's filters, so every layer weighs the same
whatever its weight scale, kernel size or width. Choices: docs/methods/fpgm.md.
"""

from __future__ import annotations

import keras

from tfprune import criteria
from tfprune.methods.base import PruningMethod, filter_scores


@keras.saving.register_keras_serializable(package="tfprune")
class GeometricMedianPruning(PruningMethod):
    """Prune the most replaceable filters (FPGM, He et al. 2019).

    Args:
        ord: 2 for Euclidean distances between filters (the paper), 1 for L1.
    """

    def __init__(self, ord: int = 2):
        if ord not in (1, 2):
            msg = f"Argument `ord` must be 1 (L1 distance) or 2 (Euclidean). Received: ord={ord!r}."
            raise ValueError(msg)
        self.ord = ord

    def scores(self, pruner, group):
        def mean_normalised_distances(value, axis):
            values = criteria.fpgm.distance_sums(value, axis, ord=self.ord)
            mean = values.mean()
            return values / mean if mean > 0 else values  # identical filters: all 0

        return filter_scores(pruner, group, mean_normalised_distances, ord=1)

    def get_config(self):
        return {"ord": self.ord}
