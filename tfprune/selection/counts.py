"""How many channels a group keeps: ratios, ``round_to`` and floors."""

from __future__ import annotations

import math

import numpy as np


def kept_count(num_channels: int, sparsity: float, round_to: int | None) -> int:
    """Channels to keep out of ``num_channels`` at ``sparsity``.

    ``round(num_channels * (1 - sparsity))``, at least 1; with ``round_to`` the
    count is rounded to the nearest multiple of ``round_to`` (at least
    ``round_to``, at most ``num_channels``) so that widths stay fast on
    SIMD/XNNPACK kernels (``benchmarks/results/channel_widths.md``).
    """
    keep = max(1, int(round(num_channels * (1.0 - sparsity))))
    if round_to and round_to > 1:
        keep = max(round_to, int(round(keep / round_to)) * round_to)
    return min(keep, num_channels)


def default_floor(num_channels: int, round_to: int | None, max_sparsity: float | None = None) -> int:
    """The fewest channels a group may keep.

    ``round_to`` (or 1), never more than the group has; with ``max_sparsity``
    also at least ``ceil((1 - max_sparsity) * num_channels)``, rounded up to a
    multiple of ``round_to``: no group loses more than that fraction of its
    channels (Torch-Pruning's ``max_pruning_ratio``, docs/budgets.md).
    """
    floor = max(1, round_to or 1)
    if max_sparsity is not None:
        step = round_to if round_to and round_to > 1 else 1
        least = math.ceil((1.0 - max_sparsity) * num_channels - 1e-9)
        floor = max(floor, -(-least // step) * step)
    return min(num_channels, floor)


def feasible_counts(num_channels: int, kept_now: int, round_to: int | None, floor: int) -> np.ndarray:
    """Kept counts a group can move to, ascending.

    Multiples of ``round_to`` (every count without it) between ``floor`` and
    the currently kept count, plus the current count itself (pruning is
    monotone: a group never grows back).
    """
    step = round_to if round_to and round_to > 1 else 1
    low = max(1, min(floor, kept_now))
    values = set(range(-(-low // step) * step, kept_now + 1, step))
    values.add(kept_now)
    return np.array(sorted(v for v in values if v >= low), dtype=np.int64)


def unprunable_by_rounding(num_channels: int, sparsity: float, round_to: int | None) -> bool:
    """True when ``sparsity > 0`` is asked but ``round_to`` keeps every channel."""
    return sparsity > 0 and kept_count(num_channels, sparsity, round_to) >= num_channels
