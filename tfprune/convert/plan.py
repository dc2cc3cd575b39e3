"""``PrunePlan``: which channels of every group are kept, as plain JSON data.

A plan refers to groups by id (the name of the group's first producing layer)
and to channels by their index inside the group, so it can be written to a
file and re-applied to the *unpruned* model with :func:`tfprune.slim`.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from tfprune import errors
from tfprune._atomic import write_atomic
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
                    f"model but {num_channels} in the plan: the plan was made for a "
                    "different architecture. Apply a plan only to the model it "
                    "was made from (tfprune.make_plan(pruned) of a pruned copy of "
                    "this model)."
                )
                raise errors.PruningArgumentError(msg)
            indices = np.asarray(indices, dtype=np.int64)
            bad = sorted({int(i) for i in indices if not 0 <= i < num_channels})
            if len(indices) == 0 or bad or len(np.unique(indices)) != len(indices):
                problem = (
                    "is empty" if len(indices) == 0
                    else f"has indices outside [0, {num_channels}): {bad[:10]}" if bad
                    else "has repeated indices"
                )
                msg = (
                    f"Group `{group_id}` of the plan {problem}. Its `kept` list must "
                    f"hold distinct channel indices in [0, {num_channels}), at least "
                    "one. The plan was edited by hand or is damaged: re-create it "
                    "with tfprune.make_plan(pruned).to_json(path)."
                )
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
        """A plan from :meth:`to_dict`'s form; checks every field."""
        example = (
            '{"format": "tfprune.PrunePlan/1", "exclude": [], "groups": '
            '{"conv1": {"num_channels": 16, "kept": [0, 3, 5]}}}'
        )
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            received = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            msg = (
                f"Not a tfprune plan: expected a JSON object with format {FORMAT!r}, "
                f"received {received!r}. Write plans with "
                "tfprune.make_plan(pruned).to_json(path)."
            )
            raise errors.PruningArgumentError(msg)
        groups = data.get("groups")
        exclude = data.get("exclude", [])
        if not isinstance(groups, Mapping) or not isinstance(exclude, list):
            msg = (
                "A tfprune plan needs `groups` (an object of group id -> "
                "{num_channels, kept}) and `exclude` (a list of layer names). "
                f"Received groups={_short(groups)}, exclude={_short(exclude)}. "
                f"Expected e.g. {example}."
            )
            raise errors.PruningArgumentError(msg)
        kept = {}
        for gid, entry in groups.items():
            num = entry.get("num_channels") if isinstance(entry, Mapping) else None
            indices = entry.get("kept") if isinstance(entry, Mapping) else None
            if not _is_int(num) or num < 1 or not isinstance(indices, list) or not all(map(_is_int, indices)):
                msg = (
                    f"Group `{gid}` of the plan must be {{\"num_channels\": <int >= 1>, "
                    f"\"kept\": [<int>, ...]}}. Received: {_short(entry)}. "
                    "The plan file was edited by hand or is damaged: re-create it "
                    "with tfprune.make_plan(pruned).to_json(path)."
                )
                raise errors.PruningArgumentError(msg)
            kept[str(gid)] = (int(num), tuple(int(i) for i in indices))
        return cls(kept=kept, exclude=tuple(str(e) for e in exclude))

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The plan as JSON; also written (atomically) to ``path`` if given.

        Raises:
            WriteError: ``path`` could not be written (nothing is left there,
                an existing file is unchanged).
        """
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            try:
                write_atomic(path, text.encode("utf-8"))
            except OSError as exc:
                raise errors.write_error(f"the plan {os.fspath(path)!r}", path, exc) from exc
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike[str]) -> PrunePlan:
        """Read a plan from a JSON string or a file path."""
        text = os.fspath(text_or_path)
        source = "the JSON text"
        if not text.lstrip().startswith(("{", "[")):
            source = repr(text)
            try:
                with open(text, encoding="utf-8") as f:
                    text = f.read()
            except (OSError, UnicodeDecodeError) as exc:
                msg = (
                    f"Cannot read the plan file {source}: {exc}. Pass the path of a "
                    "file written by tfprune.make_plan(pruned).to_json(path), or its "
                    "JSON text."
                )
                raise errors.PruningArgumentError(msg) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = (
                f"The plan in {source} is not valid JSON ({exc}); the file is "
                "truncated or damaged. Re-create it with "
                "tfprune.make_plan(pruned).to_json(path)."
            )
            raise errors.PruningArgumentError(msg) from exc
        return cls.from_dict(data)

    @property
    def num_pruned(self) -> int:
        """Number of channels the plan removes."""
        return sum(n - len(idx) for n, idx in self.kept.values())


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _short(value: object, limit: int = 80) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list, str, int, float, type(None))) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
