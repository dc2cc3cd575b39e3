"""``SensitivityResult``: the table measured by :func:`tfprune.sensitivity`.

Plain data (JSON round trip, Markdown table, PNG plot) plus the allocation
step that turns the curves into per-group widths for a budget
(:func:`tfprune.selection.sensitivity.allocate_from_sensitivity`).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tfprune import errors
from tfprune._atomic import write_atomic
from tfprune.selection.sensitivity import allocate_from_sensitivity

FORMAT = "tfprune.sensitivity"
VERSION = 1


@dataclasses.dataclass(frozen=True)
class GroupSensitivity:
    """One coupled channel group, pruned alone at every measured sparsity.

    Attributes:
        id: the group id (as in :class:`tfprune.graph.ChannelGraph`).
        producers: layers whose filters produce the group's channels (all
            pruned together, e.g. every conv feeding a residual ``Add``).
        channels: the group's width in the dense model.
        flops_share: share of the dense model's FLOPs (MACs) in layers that
            read or write the group's channels: what pruning this group can
            reduce. None if FLOPs could not be counted.
        kept: kept channels at each sparsity of :attr:`SensitivityResult.sparsities`.
        values: the metric at each sparsity.
    """

    id: str
    producers: tuple[str, ...]
    channels: int
    flops_share: float | None
    kept: tuple[int, ...]
    values: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class SensitivityResult:
    """Metric of the model with each channel group pruned alone.

    Attributes:
        metric: name of the metric (a compiled metric such as ``"accuracy"``,
            ``"loss"``, or the name of a ``metric`` callable).
        higher_is_better: direction of ``metric``.
        dense: the metric of the unpruned model.
        sparsities: requested fractions of each group's channels removed.
        groups: one :class:`GroupSensitivity` per measured group.
        method: the method whose scores chose the channels (e.g. ``"l1"``).
        round_to: ``round_to`` used to turn sparsities into kept counts.
    """

    metric: str
    higher_is_better: bool
    dense: float
    sparsities: tuple[float, ...]
    groups: tuple[GroupSensitivity, ...]
    method: str
    round_to: int | None = None

    # Views -------------------------------------------------------------------
    def curves(self) -> dict[str, list[tuple[float, float]]]:
        """``{group_id: [(sparsity, metric), ...]}`` from the dense point on.

        Sparsity here is the fraction actually removed, ``1 - kept/channels``
        (``round_to`` may move it off the requested value); repeated widths
        appear once. This is the input of :meth:`allocate`.
        """
        out = {}
        for g in self.groups:
            points = {0.0: self.dense}
            for kept, value in zip(g.kept, g.values):
                points.setdefault(1.0 - kept / g.channels, value)
            out[g.id] = sorted(points.items())
        return out

    def sizes(self) -> dict[str, int]:
        """``{group_id: channels}``."""
        return {g.id: g.channels for g in self.groups}

    def drop(self, value: float) -> float:
        """How much worse ``value`` is than the dense metric (positive = worse)."""
        return self.dense - value if self.higher_is_better else value - self.dense

    def rows(self) -> list[dict[str, Any]]:
        """The table as one dict per group (e.g. for ``pandas.DataFrame``)."""
        rows = []
        for g in self.groups:
            row = {
                "group": g.id,
                "producers": list(g.producers),
                "channels": g.channels,
                "flops_share": g.flops_share,
                "dense": self.dense,
            }
            for s, kept, value in zip(self.sparsities, g.kept, g.values):
                row[f"kept@{s:g}"] = kept
                row[f"{self.metric}@{s:g}"] = value
            rows.append(row)
        return rows

    def allocate(
        self,
        cost_fn: Callable[[dict[str, int]], float],
        budget: float,
        round_to: int | None = None,
        floor: int | Mapping[str, int] = 1,
        sizes: Mapping[str, int] | None = None,
    ) -> dict[str, int]:
        """Kept channels per group meeting ``cost_fn(kept) <= budget``.

        See :func:`tfprune.selection.sensitivity.allocate_from_sensitivity`
        (greedy on interpolated metric drop per unit of cost saved).
        ``sizes`` adds groups that were not measured (kept whole).
        """
        return allocate_from_sensitivity(
            self.curves(),
            {**(sizes or {}), **self.sizes()},
            cost_fn,
            budget,
            round_to,
            floor,
            higher_is_better=self.higher_is_better,
        )

    # Serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return {"format": FORMAT, "version": VERSION, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SensitivityResult:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            msg = (
                f"Not a tfprune sensitivity result: expected a JSON object with "
                f'"format": "{FORMAT}" (written by SensitivityResult.to_json).'
            )
            raise errors.PruningArgumentError(msg)
        if data.get("version") != VERSION:
            msg = f"Unsupported sensitivity result version {data.get('version')!r}; this tfprune reads version {VERSION}."
            raise errors.PruningArgumentError(msg)
        try:
            groups = tuple(
                GroupSensitivity(
                    id=str(g["id"]),
                    producers=tuple(g["producers"]),
                    channels=int(g["channels"]),
                    flops_share=None if g["flops_share"] is None else float(g["flops_share"]),
                    kept=tuple(int(k) for k in g["kept"]),
                    values=tuple(float(v) for v in g["values"]),
                )
                for g in data["groups"]
            )
            return cls(
                metric=str(data["metric"]),
                higher_is_better=bool(data["higher_is_better"]),
                dense=float(data["dense"]),
                sparsities=tuple(float(s) for s in data["sparsities"]),
                groups=groups,
                method=str(data["method"]),
                round_to=None if data["round_to"] is None else int(data["round_to"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            msg = f"Malformed sensitivity result ({type(err).__name__}: {err}); re-run tfprune.sensitivity."
            raise errors.PruningArgumentError(msg) from err

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Write the result as JSON, atomically; return the path."""
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        return write_atomic(path, text.encode("utf-8"))

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> SensitivityResult:
        """Read a result written by :meth:`to_json`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            msg = f"File {path} is not valid JSON ({err}); expected a file written by SensitivityResult.to_json."
            raise errors.PruningArgumentError(msg) from err
        return cls.from_dict(data)

    # Reports -----------------------------------------------------------------
    def to_markdown(self) -> str:
        """A Markdown table: one row per group, the metric (kept channels) per sparsity."""
        direction = "higher is better" if self.higher_is_better else "lower is better"
        lines = [
            f"Sensitivity of `{self.metric}` ({direction}); dense model: {self.dense:.4f}. "
            f"Each group pruned alone by `{self.method}` scores (round_to={self.round_to}); "
            "cells: metric (kept channels).",
            "",
            "| group | producers | channels | FLOPs share | "
            + " | ".join(f"sparsity {s:g}" for s in self.sparsities)
            + " |",
            "|---|---|---|---|" + "---|" * len(self.sparsities),
        ]
        for g in self.groups:
            share = "" if g.flops_share is None else f"{g.flops_share:.1%}"
            cells = " | ".join(f"{v:.4f} ({k})" for k, v in zip(g.kept, g.values))
            lines.append(f"| {g.id} | {', '.join(g.producers)} | {g.channels} | {share} | {cells} |")
        return "\n".join(lines) + "\n"

    def plot(self, path: str | os.PathLike[str], *, max_legend: int = 12) -> Path:
        """Write a PNG: the metric against sparsity, one curve per group.

        The legend names the ``max_legend`` groups with the largest drop at
        the highest sparsity (all groups are drawn). Needs matplotlib (in the
        ``test`` and ``bench`` extras); the file is written atomically.
        """
        try:
            from matplotlib.figure import Figure
        except ImportError as err:
            msg = "SensitivityResult.plot needs matplotlib: pip install 'matplotlib>=3.8' (or tfprune[bench])."
            raise ImportError(msg) from err
        curves = self.curves()
        worst = sorted(curves, key=lambda gid: -self.drop(curves[gid][-1][1]))
        labelled = set(worst[:max_legend])
        fig = Figure(figsize=(7, 4.5), dpi=100)
        ax = fig.subplots()
        for g in self.groups:
            xs, ys = zip(*curves[g.id])
            label = f"{g.id} ({g.channels} ch)" if g.id in labelled else None
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, label=label)
        ax.axhline(self.dense, color="black", linestyle="--", linewidth=0.8, label="dense")
        direction = "higher is better" if self.higher_is_better else "lower is better"
        ax.set_xlabel("fraction of the group's channels removed")
        ax.set_ylabel(f"{self.metric} ({direction})")
        ax.set_title(f"Sensitivity per channel group ({self.method})")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="x-small", ncol=2 if len(labelled) > 6 else 1)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return write_atomic(path, buffer.getvalue())
