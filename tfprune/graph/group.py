"""Plain-data descriptions of coupled channels (JSON-friendly, by layer name)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class WeightSlice:
    """Axis ``axis`` of weight ``weight`` of layer ``layer`` (a name path).

    ``role`` is ``"filter"`` (the slice produces the channel and is used to
    score it), ``"input"`` (a consumer reads the channel), ``"bias"`` or
    ``"affine"`` (per-channel parameters such as BatchNorm's gamma).
    """

    layer: str
    weight: str
    axis: int
    role: str


@dataclasses.dataclass(frozen=True)
class ChannelGroup:
    """Channels that share one pruning decision budget.

    Attributes:
        id: stable name, for display, logs and JSON keys: ``owner`` for a
            layer's first group, ``f"{owner}:{index}"`` for the next ones.
            Code that needs the parts reads ``owner`` and ``index`` (never
            parses ``id``).
        units: global unit indices of the group, in model order. Unit ``k`` of
            the group is ``units[k]``; a unit is the smallest set of slices that
            is removed together (one filter of every coupled layer).
        members: every weight slice that indexes some unit of the group.
        owner: path of the group's first producing layer (its schedule lives
            in that layer's :class:`~tfprune.layers.PruningWrapper`).
        index: the group's rank among the groups owned by ``owner`` (0 first).
    """

    id: str
    units: tuple[int, ...]
    members: tuple[WeightSlice, ...]
    owner: str | None = None
    index: int = 0

    def __post_init__(self):
        if self.owner is None:
            object.__setattr__(self, "owner", self.id)

    @classmethod
    def make_id(cls, owner: str, index: int) -> str:
        """The ``id`` of the ``index``-th group owned by layer ``owner``."""
        return owner if index == 0 else f"{owner}:{index}"

    @property
    def num_channels(self) -> int:
        """Number of units (prunable channels) in the group."""
        return len(self.units)

    @property
    def layers(self) -> tuple[str, ...]:
        """Paths of the layers touched by the group, in order, without repeats."""
        return tuple(dict.fromkeys(m.layer for m in self.members))
