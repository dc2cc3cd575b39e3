"""``PrunePlan``: which channels of every group are kept, as plain JSON data.

A plan refers to groups by id (the name of the group's first producing layer)
and to channels by their index inside the group, so it can be written to a
file and re-applied to the *unpruned* model with :func:`tfprune.slim`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from tfprune import errors
from tfprune.graph import ChannelGraph

FORMAT = "tfprune.PrunePlan/1"


@dataclasses.dataclass(frozen=True)
class PrunePlan:
    """Kept channel indices per group.

    Attributes:
        kept: ``{group_id: (num_channels, kept local indices)}``.
        exclude: layer names excluded when the plan was made (re-used when the
            plan is applied, so the groups are traced the same way).
    """

    kept: Mapping[str, tuple[int, tuple[int, ...]]]
    exclude: tuple[str, ...] = ()

    @classmethod
    def from_keep(cls, graph: ChannelGraph, keep: np.ndarray, exclude=()) -> PrunePlan:
        """Plan of the groups of ``graph`` under the global keep flags."""
        kept = {}
        for group in graph.groups:
            flags = keep[np.array(group.units, dtype=np.int64)]
            if not flags.all():
                kept[group.id] = (group.num_channels, tuple(int(i) for i in np.flatnonzero(flags)))
        return cls(kept=kept, exclude=tuple(exclude))

    def keep_array(self, graph: ChannelGraph) -> np.ndarray:
        """Global keep flags for ``graph``; checks the plan fits the model."""
        keep = np.ones(graph.num_units, dtype=bool)
        ids = {g.id: g for g in graph.groups}
        for group_id, (num_channels, indices) in self.kept.items():
            group = ids.get(group_id)
            if group is None:
                msg = (
                    f"The plan prunes group `{group_id}`, but the model has no "
                    f"prunable group with that id (it has {sorted(ids)[:20]}). "
                    "Apply a plan only to the model it was made from (or an "
                    "identical architecture)."
                )
                raise errors.PruningArgumentError(msg)
            if group.num_channels != num_channels:
                msg = (
                    f"Group `{group_id}` has {group.num_channels} channels in this "
                    f"model but {num_channels} in the plan: different architecture."
                )
                raise errors.PruningArgumentError(msg)
            indices = np.asarray(indices, dtype=np.int64)
            if len(indices) == 0 or indices.min() < 0 or indices.max() >= num_channels:
                msg = f"Group `{group_id}`: kept indices must be a non-empty subset of [0, {num_channels})."
                raise errors.PruningArgumentError(msg)
            flags = np.zeros(num_channels, dtype=bool)
            flags[indices] = True
            keep[np.array(group.units, dtype=np.int64)] = flags
        return keep

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "exclude": list(self.exclude),
            "groups": {
                gid: {"num_channels": n, "kept": list(idx)} for gid, (n, idx) in self.kept.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrunePlan:
        if data.get("format") != FORMAT:
            msg = f"Not a tfprune plan: expected format {FORMAT!r}, received {data.get('format')!r}."
            raise errors.PruningArgumentError(msg)
        kept = {
            gid: (int(entry["num_channels"]), tuple(int(i) for i in entry["kept"]))
            for gid, entry in data["groups"].items()
        }
        return cls(kept=kept, exclude=tuple(data.get("exclude", ())))

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The plan as JSON; also written (atomically) to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike[str]) -> PrunePlan:
        """Read a plan from a JSON string or a file path."""
        text = os.fspath(text_or_path)
        if not text.lstrip().startswith("{"):
            with open(text, encoding="utf-8") as f:
                text = f.read()
        return cls.from_dict(json.loads(text))

    @property
    def num_pruned(self) -> int:
        """Number of channels the plan removes."""
        return sum(n - len(idx) for n, idx in self.kept.values())
