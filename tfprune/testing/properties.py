"""The property every model must satisfy under prune -> masks -> slim.

For a :class:`~tfprune.testing.random_models.RandomCase`,
:func:`check_case` runs ``tfprune.prune`` with the case's config, applies the
masks (``Pruner(pruned).step(0)`` or a few eager ``fit`` steps with
``UpdatePruning``), slims the model and checks:

* ``slim(pruned)(x)`` equals the masked model ``pruned(x, training=False)``
  within ``RTOL`` relative (per output, relative to ``max |masked|``);
* every trainable weight slice of a pruned channel (filters, input rows,
  biases, gamma/beta) and every masked kernel weight gets exactly zero loss
  gradient in the masked model (TensorFlow, JAX, PyTorch), wherever the wrappers
  apply their masks (docs/design.md#mask-placement);
* the input model is untouched: same weights, config and outputs;
* the parameter count drops when a channel was masked (and is unchanged
  when the method chose to mask none, e.g. ``round_to`` above a group's
  width or a fuzzy cut that kept everything);

or else tfprune refuses the model with a :class:`tfprune.errors.TfpruneError`
whose message names the offending layer (or the model) in backticks, and the
model is still untouched. Any other exception, or a violated check, is a
failure: :class:`PropertyViolation` for the checks, the original exception
otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import keras
import numpy as np

import tfprune
from tfprune import errors
from tfprune.graph import iter_layers, trace_model

#: max |slim - masked| <= RTOL * max |masked|, output by output.
RTOL = 1e-5

OK, UNCHANGED, REFUSED = "ok", "unchanged", "refused"


class PropertyViolation(AssertionError):
    """A random case broke the slim == masked / untouched / smaller property."""


@dataclasses.dataclass
class Outcome:
    """Result of one case.

    Attributes:
        status: ``"ok"`` (channels removed), ``"unchanged"`` (the method
            masked nothing, slim kept every parameter) or ``"refused"`` (a
            clear tfprune error).
        message: the error of a refusal (``"ClassName: message"``).
        params: parameters of the input and the slim model.
        max_rel_diff: largest ``max|slim - masked| / max|masked|`` over outputs.
    """

    status: str
    message: str = ""
    params: tuple[int, int] | None = None
    max_rel_diff: float | None = None


def _outputs(y) -> list[np.ndarray]:
    if isinstance(y, dict):
        return [np.asarray(y[k]) for k in sorted(y)]
    if isinstance(y, (list, tuple)):
        return [np.asarray(v) for v in y]
    return [np.asarray(y)]


def _config_text(model: keras.Model) -> str:
    try:
        config = model.get_config()
    except Exception as exc:  # a subclass without get_config
        config = f"<get_config raised {type(exc).__name__}>"
    return json.dumps(config, sort_keys=True, default=repr)


@dataclasses.dataclass
class _Snapshot:
    weights: list[np.ndarray]
    config: str
    outputs: list[np.ndarray]
    params: int


def _snapshot(model: keras.Model, x) -> _Snapshot:
    return _Snapshot(
        weights=[np.array(w) for w in model.get_weights()],
        config=_config_text(model),
        outputs=_outputs(model(x, training=False)),
        params=model.count_params(),
    )


def _check_untouched(model: keras.Model, before: _Snapshot, x) -> None:
    after = _snapshot(model, x)
    if len(after.weights) != len(before.weights) or any(
        a.shape != b.shape or not np.array_equal(a, b) for a, b in zip(after.weights, before.weights)
    ):
        raise PropertyViolation(f"the input model `{model.name}` had its weights changed")
    if after.config != before.config:
        raise PropertyViolation(f"the input model `{model.name}` had its config changed")
    if any(not np.array_equal(a, b, equal_nan=True) for a, b in zip(after.outputs, before.outputs)):
        raise PropertyViolation(f"the input model `{model.name}` gives different outputs")


def _names(model: keras.Model) -> set[str]:
    names = {model.name} | {layer.name for layer in iter_layers(model)}
    try:
        names |= {site.layer.name for site in trace_model(model).sites}
    except errors.TfpruneError:
        pass
    return names


def _check_names_a_layer(exc: errors.TfpruneError, model: keras.Model) -> None:
    quoted = re.findall(r"`([^`]+)`", str(exc))
    names = _names(model)
    if not any(q.split("/")[-1] in names for q in quoted):
        raise PropertyViolation(
            f"tfprune refused the model with {type(exc).__name__} but its message names no "
            f"layer of the model in backticks: {exc}"
        )


def apply_masks(pruned: keras.Model, case) -> None:
    """Step 0 of the method, or ``case.config.fit_steps`` eager fit steps."""
    steps = case.config.fit_steps
    if not steps:
        tfprune.Pruner(pruned).step(0)
        return
    xs = case.inputs
    batch = len(xs[0] if isinstance(xs, list) else xs)
    rng = np.random.default_rng(case.config.seed)
    # Random targets in the structure of the outputs (a tensor, list or dict).
    ys = keras.tree.map_structure(
        lambda y: rng.normal(size=y.shape).astype("float32"), pruned(xs, training=False)
    )
    losses = keras.tree.map_structure(lambda _: "mse", ys)
    pruned.compile(optimizer=keras.optimizers.SGD(0.01), loss=losses, run_eagerly=True)
    keras.utils.set_random_seed(case.config.seed)
    pruned.fit(
        xs, ys, batch_size=batch // steps, epochs=1, shuffle=False, verbose=0,
        callbacks=[tfprune.UpdatePruning()],
    )


def check_case(case) -> Outcome:
    """Prune, mask and slim ``case``; return its outcome or raise on a failure.

    Raises:
        PropertyViolation: slim != masked, the input model changed, the
            parameters did not drop, or a refusal that names no layer.
        Exception: anything tfprune raised that is not a TfpruneError.
    """
    model, x = case.model, case.inputs
    before = _snapshot(model, x)
    try:
        pruned = tfprune.prune(model, **case.config.prune_kwargs())
        apply_masks(pruned, case)
        slim = tfprune.slim(pruned)
    except errors.TfpruneError as exc:
        _check_untouched(model, before, x)
        _check_names_a_layer(exc, model)
        return Outcome(REFUSED, f"{type(exc).__name__}: {exc}")
    _check_untouched(model, before, x)

    masked = _outputs(pruned(x, training=False))
    slimmed = _outputs(slim(x, training=False))
    worst = 0.0
    for k, (m, s) in enumerate(zip(masked, slimmed, strict=True)):
        if m.shape != s.shape:
            raise PropertyViolation(f"output {k}: slim shape {s.shape} != masked shape {m.shape}")
        if not np.isfinite(m).all():
            raise PropertyViolation(f"output {k} of the masked model is not finite")
        scale = max(float(np.abs(m).max()), 1e-6)
        rel = float(np.abs(s - m).max()) / scale
        worst = max(worst, rel)
        if not rel <= RTOL:
            raise PropertyViolation(
                f"output {k}: max|slim - masked| / max|masked| = {rel:.3g} > {RTOL} "
                f"(max|masked| = {scale:.3g})"
            )
    for layer in iter_layers(slim):
        if isinstance(layer, tfprune.PruningWrapper):
            raise PropertyViolation(f"slim left a PruningWrapper: `{layer.name}`")
    check_pruned_get_no_gradient(pruned, x)

    pruned_any = tfprune.Pruner(pruned).pruned_fraction() > 0
    params = (before.params, slim.count_params())
    if pruned_any and params[1] >= params[0]:
        raise PropertyViolation(f"channels were masked but the parameters did not drop: {params}")
    if not pruned_any and params[1] != params[0]:
        raise PropertyViolation(f"nothing was masked but slim changed the parameter count: {params}")
    return Outcome(OK if pruned_any else UNCHANGED, params=params, max_rel_diff=worst)


def _sum_of_squares(y_true, y_pred, sample_weight=None):
    return sum(keras.ops.mean(keras.ops.square(o)) for o in keras.tree.flatten(y_pred))


def check_pruned_get_no_gradient(pruned: keras.Model, x) -> None:
    """Raise :class:`PropertyViolation` unless pruned weights get exactly zero gradient.

    The loss is the mean square of every output, in inference mode
    (:func:`tfprune._gradients.batch_gradients`); not checked on a backend
    without gradient glue (NumPy, OpenVINO).
    """
    if keras.backend.backend() not in ("tensorflow", "jax", "torch"):
        return
    from tfprune import _gradients

    pruner = tfprune.Pruner(pruned)
    checks = []  # (description, variable, mask of positions that must get no gradient)
    for entry in pruner.graph.layers.values():
        for name, axis, layout, role in entry.slices:
            pruned_positions = ~pruner.keep[pruner.graph.units(layout)]
            if not pruned_positions.any():
                continue
            try:
                variable = pruner.weight_variable(entry.path, name)
            except KeyError:
                continue
            if not variable.trainable:
                continue
            shape = [1] * len(variable.shape)
            shape[axis] = -1
            mask = np.broadcast_to(pruned_positions.reshape(shape), tuple(variable.shape))
            checks.append((f"`{entry.path}` {name}[axis {axis}] ({role})", variable, mask))
    for entry in pruner.kernel_entries:
        variable = entry.layer.layer.kernel
        dropped = np.broadcast_to(~pruner.kernel_keep(entry), tuple(variable.shape))
        if variable.trainable and dropped.any():
            checks.append((f"`{entry.path}` kernel (masked weights)", variable, dropped))
    if not checks:
        return
    batch = [(x, np.zeros((1,), "float32"))]
    grads = next(_gradients.batch_gradients(pruned, [v for _, v, _ in checks], batch, 1, _sum_of_squares))
    for (what, _, mask), grad in zip(checks, grads, strict=True):
        leaked = np.abs(np.asarray(grad)[mask])
        if leaked.size and leaked.max() != 0:
            raise PropertyViolation(
                f"{what}: a pruned weight got a nonzero gradient (max |grad| = {leaked.max():.3g})"
            )


def run(case) -> dict[str, Any]:
    """:func:`check_case` as a record: ``{"status": "failed", ...}`` on a failure."""
    try:
        outcome = check_case(case)
    except Exception as exc:  # noqa: BLE001  (every failure is recorded)
        return {"status": "failed", "error": type(exc).__name__, "message": str(exc)[:2000]}
    return dataclasses.asdict(outcome)
