"""Assign many small variables in one call.

Methods that rewrite masks at every training step (SPP samples a Bernoulli
mask per step for every wrapper) would otherwise pay one eager ``assign``
dispatch per variable, which dominates a small model's step time. On the
TensorFlow backend a :class:`BatchAssigner` traces one ``tf.function`` per
fixed list of variables and assigns all of them in a single call (about 10x
less CPU than a loop of ``Variable.assign`` for 20 mask variables, 30x for
150; ``benchmarks/rebuild_init.py``, docs/design.md#import-rules). Under ``tf.distribute`` it is
called in cross-replica context, so mirrored variables get the same value on
every replica. On other backends it assigns the variables one by one with
``keras.Variable.assign``, which is cheap there (no graph dispatch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np


class BatchAssigner:
    """Assign a fixed list of float variables from NumPy arrays in one call.

    On TensorFlow the values are packed into one flat float32 tensor, so a
    call costs one dispatch and one host-to-device copy whatever the number
    of variables. ``fused=False`` (the default on other backends) assigns
    each variable with ``Variable.assign`` instead.
    """

    def __init__(self, variables: Sequence, fused: bool | None = None):
        self.variables = list(variables)
        backend = keras.backend.backend()
        if fused is None:
            fused = backend == "tensorflow"
        elif fused and backend != "tensorflow":
            msg = (
                "BatchAssigner(fused=True) traces a tf.function, which assigns TensorFlow "
                f"variables only; the Keras backend is {backend!r}. Pass fused=None or False "
                "(one Variable.assign per variable, the path of every other backend)."
            )
            raise ValueError(msg)
        self.fused = bool(fused) and bool(self.variables)
        self._assign_all = _tf_assign_all(self.variables) if self.fused else None

    def __call__(self, values: Sequence[np.ndarray]) -> None:
        values = list(values)
        if len(values) != len(self.variables):
            msg = f"Internal: {len(values)} values for {len(self.variables)} variables."
            raise ValueError(msg)
        if self._assign_all is not None:
            self._assign_all(np.concatenate([np.asarray(v, dtype=np.float32).reshape(-1) for v in values]))
            return
        for variable, value in zip(self.variables, values, strict=True):
            variable.assign(keras.ops.cast(np.asarray(value).reshape(variable.shape), variable.dtype))


def _tf_assign_all(variables: list) -> Callable[[np.ndarray], object]:
    """One ``tf.function`` assigning ``variables`` from one flat float32 vector."""
    import tensorflow as tf  # the TensorFlow backend only: imported when used

    shapes = [tuple(int(d) for d in v.shape) for v in variables]
    sizes = [int(np.prod(shape)) for shape in shapes]

    @tf.function(input_signature=[tf.TensorSpec((sum(sizes),), tf.float32)], autograph=False)
    def assign_all(flat):
        offset = 0
        for variable, shape, size in zip(variables, shapes, sizes):
            value = tf.reshape(flat[offset : offset + size], shape)
            variable.assign(tf.cast(value, variable.dtype))
            offset += size
        return tf.constant(0)

    return assign_all
