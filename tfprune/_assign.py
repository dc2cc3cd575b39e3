"""Assign many small variables in one TensorFlow call.

Methods that rewrite masks at every training step (SPP samples a Bernoulli
mask per step for every wrapper) would otherwise pay one eager ``assign``
dispatch per variable, which dominates a small model's step time. A
:class:`BatchAssigner` traces one ``tf.function`` per fixed list of variables
and assigns all of them in a single call. Under ``tf.distribute`` it is
called in cross-replica context, so mirrored variables get the same value on
every replica.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf


class BatchAssigner:
    """Assign a fixed list of float variables from NumPy arrays in one call.

    The values are packed into one flat float32 tensor, so a call costs one
    dispatch and one host-to-device copy whatever the number of variables.
    """

    def __init__(self, variables: Sequence):
        self.variables = list(variables)
        self._shapes = [tuple(int(d) for d in v.shape) for v in self.variables]
        self._sizes = [int(np.prod(shape)) for shape in self._shapes]
        total = sum(self._sizes)

        @tf.function(input_signature=[tf.TensorSpec((total,), tf.float32)], autograph=False)
        def assign_all(flat):
            offset = 0
            for variable, shape, size in zip(self.variables, self._shapes, self._sizes):
                value = tf.reshape(flat[offset : offset + size], shape)
                variable.assign(tf.cast(value, variable.dtype))
                offset += size
            return tf.constant(0)

        self._assign_all = assign_all if self.variables else None

    def __call__(self, values: Sequence[np.ndarray]) -> None:
        if self._assign_all is None:
            return
        flat = np.concatenate([np.asarray(v, dtype=np.float32).reshape(-1) for v in values])
        self._assign_all(flat)
