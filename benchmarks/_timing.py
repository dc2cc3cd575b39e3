"""Step timing shared by the benchmarks (``fit_overhead.py``, ``compare.py``)."""

from __future__ import annotations

import statistics
import time

import keras


class StepTimer(keras.callbacks.Callback):
    """Wall time of every training batch, callbacks included.

    A step is timed from the end of the previous batch (or, for the first
    batch of a ``fit`` call, from its ``on_train_batch_begin``) to the end of
    the batch, so the work of callbacks placed *after* this timer in the list
    (e.g. :class:`tfprune.UpdatePruning`) is inside the step. Put it first.
    Time between ``fit`` calls is never counted. ``times`` accumulates over
    every ``fit`` the timer is passed to.
    """

    def __init__(self):
        super().__init__()
        self.times: list[float] = []
        self.first_steps: list[int] = []
        self._start: float | None = None

    def on_train_begin(self, logs=None):
        self._start = None
        self.first_steps.append(len(self.times))

    def on_train_batch_begin(self, batch, logs=None):
        if self._start is None:
            self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self.times.append(now - self._start)
        self._start = now

    def median(self) -> float | None:
        """Median step time in seconds, without each ``fit``'s first (tracing) step.

        If every ``fit`` ran a single step, the median of all steps; ``None``
        if nothing was timed.
        """
        first = set(self.first_steps)
        steady = [t for i, t in enumerate(self.times) if i not in first] or self.times
        return statistics.median(steady) if steady else None
