"""LRF: remove linearly replaceable channels one at a time, with compensation.

Joo, Yi, Baek, Kim, "Linearly Replaceable Filters for Deep Network Channel
Pruning", AAAI 2021; the authors' ``main_pruning.py`` (docs/methods/lrf.md).
It acts on a model prepared by :func:`tfprune.lrf.insert_pq`,
where every wrapped KxK conv ``W`` sits in the linear chain

    x -> P (1x1, no bias) -> W (KxK, no bias) -> Q (1x1) -> BN -> ReLU ...

so ``W``'s output channels form a channel group shared only with ``Q``'s
input rows, and ``W``'s input channels a group shared only with ``P``'s
filters. For a group the method:

* **filters of W** (group produced by ``W``): regresses each kept filter
  ``w_i`` on the other kept filters (least squares, no intercept), scores
  ``s_i = ||eps_i|| ||Q[:, i]||`` (``Q[:, i]`` = ``Q_kernel[0, 0, i, :]``),
  removes ``i* = argmin s`` and compensates ``Q[:, j] += lambda_j Q[:, i*]``;
* **input channels of W** (group produced by ``P``): regresses each kept
  input slice ``v_c = W[:, :, c, :]`` on the others, scores
  ``s_c = ||eps_c|| ||P[c, :]||`` (``P_kernel[0, 0, :, c]``), removes
  ``c* = argmin s`` and compensates ``P[j, :] += lambda_j P[c*, :]``.

Every removal is one step: the scores are recomputed after each one, from
an inverse Gram matrix kept up to date by a rank-one downdate
(:class:`tfprune.criteria.linear_replaceability.LeaveOneOut`,
docs/methods/lrf.md#incremental).
Removed channels are *masked* (the wrappers' masks); :func:`tfprune.slim`
deletes them. The regression only sees kept channels (kept input channels of
``W`` for filters, kept filters for input slices).

The per-layer count follows the authors' code: ``n = min(C - 1, round(p C))``
channels are removed from a group of ``C`` (with ``round_to``, the kept count
``C - n`` is then rounded to a multiple of it).

Inside ``fit`` (``tfprune.prune(model_pq, "lrf", convs=[...], schedule=...)``)
the removals a schedule asks for at a step are done one at a time with
compensation; :func:`tfprune.lrf.run` drives the paper's layer-by-layer
procedure instead.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from tfprune import errors
from tfprune.criteria import linear_replaceability as lr
from tfprune.graph import rules as rules_lib
from tfprune.methods.base import PruningMethod

P_SUFFIX = "_lrf_p"
Q_SUFFIX = "_lrf_q"


def p_name(conv: str) -> str:
    """Name of the 1x1 layer ``P`` inserted before conv ``conv``."""
    return conv + P_SUFFIX


def q_name(conv: str) -> str:
    """Name of the 1x1 layer ``Q`` inserted after conv ``conv``."""
    return conv + Q_SUFFIX


def lrf_count(num_channels: int, ratio: float, round_to: int | None = None) -> int:
    """Channels LRF removes from ``num_channels`` at ``ratio``.

    ``min(C - 1, round(p C))`` as in the authors' code; with ``round_to`` the
    kept count is rounded to the nearest multiple (at least ``round_to``,
    at most ``C``).
    """
    remove = min(num_channels - 1, int(round(ratio * num_channels)))
    keep = num_channels - remove
    if round_to and round_to > 1:
        keep = min(num_channels, max(round_to, int(round(keep / round_to)) * round_to))
    return num_channels - keep


def _variable(layer, name: str):
    inner = getattr(layer, "tfprune_wrapped_layer", layer)
    for variable in inner.weights:
        if variable.name == name:
            return variable
    return None


def _numpy(variable) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(variable))


def _keep_bytes(pruner) -> bytes:
    """The keep flags of every active group, as one key."""
    return b"".join(pruner.group_keep(g).tobytes() for g in pruner.active_groups)


def _positions(local: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Position of each of ``units`` in a slice whose local unit indices are ``local``."""
    if units.size == 0:
        return np.zeros(0, dtype=np.int64)
    where = np.full(max(int(local.max()), int(units.max())) + 1, -1, dtype=np.int64)
    valid = np.flatnonzero(local >= 0)
    where[local[valid][::-1]] = valid[::-1]  # the first position of each unit
    return where[units]


def _mask(view, path: str, which: str, size: int) -> np.ndarray:
    """The working input or output mask of layer ``path`` (ones if it has none)."""
    mask_in, mask_out = view.layer_masks(path)
    mask = mask_in if which == "input_mask" else mask_out
    return np.ones(size) if mask is None else mask


@keras.saving.register_keras_serializable(package="tfprune")
class LinearReplaceable(PruningMethod):
    """Linearly replaceable filters with Weights Compensation (LRF).

    Args:
        convs: names of the KxK convs that :func:`tfprune.lrf.insert_pq`
            wrapped with ``P``/``Q`` (``{conv}_lrf_p`` and ``{conv}_lrf_q``).
            Only their two internal channel groups can be pruned.
    """

    # Selection needs training (or its own procedure): one_shot refuses it.
    supports_one_shot = False

    def __init__(self, convs: list[str] | tuple[str, ...] = ()):
        self.convs = [str(c) for c in convs]

    # Group -> (mode, conv) ---------------------------------------------------
    def _layout(self, pruner, group) -> dict[str, Any]:
        del pruner
        info = self._match(group)
        if info is not None:
            return info
        msg = (
            f"LRF can only prune the channels between a conv and its inserted "
            f"1x1 layers P/Q (convs {self.convs}), but group `{group.id}` touches "
            f"{list(group.layers)}. Prepare the model with tfprune.lrf.insert_pq "
            "and prune only the groups of the wrapped convs and their P layers."
        )
        raise errors.PruningArgumentError(msg)

    def _match(self, group) -> dict[str, Any] | None:
        """``{"mode", "conv", "other"}`` if ``group`` sits between a conv and its P/Q."""
        producers = [m.layer for m in group.members if m.role == rules_lib.FILTER]
        consumers = [m.layer for m in group.members if m.role == rules_lib.INPUT]
        if len(producers) != 1 or len(consumers) != 1:
            return None
        names = {path.split("/")[-1]: path for path in producers + consumers}
        producer, consumer = producers[0].split("/")[-1], consumers[0].split("/")[-1]
        for conv in self.convs:
            if (producer, consumer) == (conv, q_name(conv)):
                return {"mode": "filters", "conv": names[conv], "other": names[q_name(conv)]}
            if (producer, consumer) == (p_name(conv), conv):
                return {"mode": "inputs", "conv": names[conv], "other": names[p_name(conv)]}
        return None

    def accepts_group(self, group) -> bool:
        """Only the groups between a conv of ``convs`` and its P/Q can be pruned."""
        return self._match(group) is not None

    def _problem(self, pruner, group):
        """Regression rows, compensated kernel and bookkeeping for ``group``."""
        info = self._layout(pruner, group)
        conv = pruner.layer(info["conv"])
        other = pruner.layer(info["other"])
        w = _numpy(_variable(conv, "kernel"))
        k = _numpy(_variable(other, "kernel"))
        if info["mode"] == "filters":
            w_axis, k_axis = -1, -2  # as the conv rule records them
            kept_in = _mask(pruner, info["conv"], "input_mask", w.shape[2]) > 0.5
            rows = np.moveaxis(w[:, :, kept_in, :], 3, 0)
            out_mask = _mask(pruner, info["other"], "output_mask", k.shape[3])

            def norms_of(kernel, pos):  # ||Q[:, i]|| over Q's kept outputs
                return np.linalg.norm(kernel[0, 0][pos, :] * out_mask, axis=1)
        else:
            w_axis, k_axis = -2, -1
            kept_out = _mask(pruner, info["conv"], "output_mask", w.shape[3]) > 0.5
            rows = np.moveaxis(w[:, :, :, kept_out], 2, 0)
            in_mask = _mask(pruner, info["other"], "input_mask", k.shape[2])

            def norms_of(kernel, pos):  # ||P[c, :]|| over P's kept inputs
                return np.linalg.norm(kernel[0, 0][:, pos].T * in_mask, axis=1)
        w_local = pruner.local_units(group, info["conv"], "kernel", w_axis)
        k_local = pruner.local_units(group, info["other"], "kernel", k_axis)
        keep = pruner.group_keep(group)
        units = np.flatnonzero(keep)
        w_pos, k_pos = _positions(w_local, units), _positions(k_local, units)
        filters = rows[w_pos].reshape(len(units), -1)
        return {
            **info, "units": units, "filters": filters, "norms": norms_of(k, k_pos), "norms_of": norms_of,
            "k_pos": k_pos, "k_axis": k_axis, "other_layer": other, "kernel": k,
        }

    # PruningMethod API -------------------------------------------------------
    def scores(self, pruner, group):
        """LRF scores ``||eps|| * ||next weights||`` of the kept units (others: inf)."""
        problem = self._problem(pruner, group)
        scores = np.full(group.num_channels, np.inf)
        if len(problem["units"]) >= 2:
            _, residuals = lr.leave_one_out(problem["filters"])
            scores[problem["units"]] = lr.replaceability_scores(residuals, problem["norms"])
        return scores

    def num_to_prune(self, pruner, group, sparsity):
        if pruner.budget is not None:
            return pruner.budget_prune_count(self, group, sparsity)
        return lrf_count(group.num_channels, sparsity, pruner.round_to)

    def remove_one(self, pruner, group) -> dict[str, Any]:
        """One LRF step on ``group``: score, remove the argmin, compensate (see :meth:`remove`)."""
        return self.remove(pruner, group, 1)[0]

    def remove(self, pruner, group, count: int) -> list[dict[str, Any]]:
        """Remove ``count`` channels of ``group`` one at a time, each with compensation.

        Every removal rescores the kept channels ((L2)/(L3) of
        docs/methods/lrf.md), removes the argmin and compensates ``Q`` (or
        ``P``) by (L4)/(L5); the regressions are kept up to date by a rank-one
        downdate of the inverse Gram matrix
        (:class:`tfprune.criteria.linear_replaceability.LeaveOneOut`,
        docs/methods/lrf.md#incremental), so one removal costs ``O(C^2)``
        plus the compensation. The compensated kernel is written once, and
        the keep flags are decided through the view (the driver commits the
        masks). Returns one ``{"unit", "score", "residual"}`` per removal
        (local unit index of the removed channel), in order.
        """
        if count <= 0:
            return []
        problem = self._problem(pruner, group)
        units = problem["units"]
        if len(units) - count < 1:
            msg = (
                f"Group `{group.id}` has {len(units)} kept channel(s); LRF keeps at least one, "
                f"so it cannot remove {count}."
            )
            raise errors.PruningArgumentError(msg)
        regressions = lr.LeaveOneOut(problem["filters"])
        kernel, k_pos, k_axis = problem["kernel"].copy(), problem["k_pos"], problem["k_axis"]
        norms = problem["norms"]
        keep = pruner.group_keep(group)
        records = []
        for _ in range(count):
            rows = regressions.rows
            scores = lr.replaceability_scores(regressions.residual_norms(), norms)
            best = int(np.argmin(scores))
            coefficients, residual = regressions.regress(best)
            others = np.delete(np.arange(len(rows)), best)
            lr.compensate_in_place(kernel, k_axis, int(k_pos[rows[best]]), coefficients[others], k_pos[rows[others]])
            keep[units[rows[best]]] = False
            records.append({"unit": int(units[rows[best]]), "score": float(scores[best]), "residual": residual})
            regressions.remove(best)
            norms = problem["norms_of"](kernel, k_pos[regressions.rows])
        _variable(problem["other_layer"], "kernel").assign(kernel)
        pruner.set_group_keep(group, keep)
        return records

    def update(self, pruner, step):
        """Remove what the schedules ask for, one channel at a time.

        The counts of every group due at ``step`` are decided first (one
        budget allocation per step), then each group's channels are removed.
        With a budget, a step at the progress already reached, with no
        channel removed since, is skipped: the cost depends on the keep flags
        only, so the budget is still met (and the allocation, which rescores
        every group, is not worth recomputing).
        """
        fired = []
        for group in pruner.active_groups:
            should_prune, sparsity = pruner.schedule_of(group)(step)
            if should_prune:
                fired.append((group, float(sparsity)))
        if not fired:
            return
        done = pruner.run_state(self, dict)
        key = (tuple((group.id, sparsity) for group, sparsity in fired), _keep_bytes(pruner))
        if pruner.budget is not None and done.get("budget_met") == key:
            return
        due = [(group, self.num_to_prune(pruner, group, sparsity)) for group, sparsity in fired]
        for group, target in due:
            self.remove(pruner, group, target - int((~pruner.group_keep(group)).sum()))
        done["budget_met"] = (key[0], _keep_bytes(pruner))

    def get_config(self):
        return {"convs": list(self.convs)}
