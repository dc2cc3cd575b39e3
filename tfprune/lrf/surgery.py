"""Insert the LRF 1x1 layers ``P``/``Q`` around KxK convs, and merge them back.

Joo et al., AAAI 2021 (docs/methods/lrf.md#structure, the authors'
``add_1x1_convs``):
every KxK conv ``W`` (K > 1) except the network's first (stem) conv becomes

    x -> P (1x1, C_in -> C_in, no bias, = I) -> W -> Q (1x1, C_out -> C_out, = I)

so the network function is unchanged.

Choice (documented): ``P`` and ``Q`` are ordinary ``keras.layers.Conv2D``
layers (``kernel_size=1``) inserted into a rebuilt flat Functional model, named
``{conv}_lrf_p`` and ``{conv}_lrf_q``, rather than one composite P-W-Q layer.
Every part of tfprune then sees them as what they are: the channel graph
groups ``P``'s filters with ``W``'s input rows and ``W``'s filters with
``Q``'s input rows (two groups private to the conv), ``slim`` shrinks them,
FLOPs count them, ``.keras`` files need no custom class, and TFLite export
uses builtin ``CONV_2D`` ops.

Choice (docs/methods/lrf.md#conv-bias): ``W``'s bias and activation are
moved to ``Q`` (``Q(Wx) + b`` equals ``Wx + b`` when ``Q = I``), so ``P`` and
``W`` have no bias and Weights Compensation never needs a bias correction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import keras
import numpy as np

from tfprune import errors
from tfprune.graph import trace_model
from tfprune.graph.rebuild import rebuild_flat
from tfprune.methods.lrf import P_SUFFIX, Q_SUFFIX, p_name, q_name


def _is_spatial_conv(layer) -> bool:
    """A plain (not depthwise/separable/transposed, groups=1) Conv2D with K > 1."""
    if type(layer) is not keras.layers.Conv2D:
        return False
    config = layer.get_config()
    return (
        config.get("groups", 1) == 1
        and config.get("data_format", "channels_last") == "channels_last"
        and max(config["kernel_size"]) > 1
    )


def candidate_convs(model: keras.Model) -> list[str]:
    """Names of the convs :func:`insert_pq` wraps by default, in model order.

    Every KxK Conv2D (K > 1, groups 1, channels-last, called once) except the
    first conv of the model (the stem, which LRF leaves alone) and convs whose
    ``P``/``Q`` already exist.
    """
    sites = trace_model(model).sites
    calls: dict[int, int] = {}
    for site in sites:
        calls[id(site.layer)] = calls.get(id(site.layer), 0) + 1
    names = {getattr(site.layer, "name", None) for site in sites}
    out: list[str] = []
    first_conv = True
    for site in sites:
        layer = site.layer
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        if first_conv:
            first_conv = False
            continue
        if (_is_spatial_conv(layer) and calls[id(layer)] == 1 and p_name(layer.name) not in names
                and layer.name not in out and not layer.name.endswith((P_SUFFIX, Q_SUFFIX))):
            out.append(layer.name)
    return out


def _check_convs(model: keras.Model, convs: Iterable[str] | None) -> list[str]:
    allowed = candidate_convs(model)
    if convs is None:
        return allowed
    if isinstance(convs, str):
        convs = [convs]
    convs = list(convs)
    bad = [c for c in convs if c not in allowed]
    if bad:
        msg = (
            f"Argument `convs` names layers that LRF cannot wrap: {bad}. Expected "
            "names of KxK Conv2D layers (K > 1, groups=1, channels_last, called "
            f"once, not the stem conv) of model `{model.name}`; it has {allowed}."
        )
        raise errors.PruningArgumentError(msg)
    return convs


def insert_pq(model: keras.Model, convs: Iterable[str] | None = None) -> keras.Model:
    """Return a copy of ``model`` with identity 1x1 convs around KxK convs.

    Args:
        model: a built Functional or Sequential model (not modified).
        convs: names of the convs to wrap; default :func:`candidate_convs`
            (every KxK conv but the stem, as in the paper's code).

    Returns:
        A new flat Functional model computing the same function, with
        ``{conv}_lrf_p`` before and ``{conv}_lrf_q`` after each wrapped conv
        (see the module docstring). Its ``convs`` are listed in
        ``tfprune.lrf.wrapped_convs(new_model)``.
    """
    if not isinstance(model, keras.Model):
        msg = f"Argument `model` must be a keras.Model. Received: {type(model).__name__}."
        raise errors.PruningArgumentError(msg)
    targets = set(_check_convs(model, convs))
    fills = []

    def replace(site, args, kwargs):
        layer = site.layer
        if not isinstance(layer, keras.layers.Layer) or layer.name not in targets:
            return None
        config = layer.get_config()
        c_in = int(layer.kernel.shape[-2])
        c_out = int(layer.kernel.shape[-1])
        w_config = {**config, "use_bias": False, "activation": "linear"}
        w = layer.__class__.from_config(w_config)
        p = keras.layers.Conv2D(c_in, 1, use_bias=False, name=p_name(layer.name), dtype=layer.dtype_policy)
        q = keras.layers.Conv2D(c_out, 1, use_bias=bool(config.get("use_bias")),
                                activation=config.get("activation"), name=q_name(layer.name),
                                dtype=layer.dtype_policy)
        y = q(w(p(args[0]), **kwargs))
        fills.append((layer, p, w, q))
        return y

    new_model = rebuild_flat(model, replace=replace)
    for old, p, w, q in fills:
        c_in, c_out = int(old.kernel.shape[-2]), int(old.kernel.shape[-1])
        p.set_weights([np.eye(c_in, dtype=np.float32)[None, None]])
        w.set_weights([np.array(old.kernel)])
        q_values = [np.eye(c_out, dtype=np.float32)[None, None]]
        if old.use_bias:
            q_values.append(np.array(old.bias))
        q.set_weights(q_values)
    return new_model


def wrapped_convs(model: keras.Model) -> list[str]:
    """Names of the convs of ``model`` that have LRF ``P`` and ``Q`` layers."""
    from tfprune.graph import iter_layers

    names = {getattr(layer, "name", "") for layer in iter_layers(model)}
    return [
        name[: -len(P_SUFFIX)] for name in sorted(names)
        if name.endswith(P_SUFFIX) and name[: -len(P_SUFFIX)] in names
        and q_name(name[: -len(P_SUFFIX)]) in names
    ]


def merge_pq(model: keras.Model, mode: str = "auto") -> keras.Model:
    """Fold ``P`` and/or ``Q`` back into their conv where that is exact.

    ``P`` (1x1, no bias) folds into the following conv exactly (zero padding
    commutes with it); ``Q`` (1x1, linear) folds into the preceding conv
    exactly, since ``W`` has no activation after :func:`insert_pq`. A merge
    undoes the width saving on that side (the merged conv reads ``P``'s input
    or writes ``Q``'s output width), so it only pays when the 1x1 costs more
    than the saving; ``Q`` cannot be folded across the BatchNorm/ReLU after it
    and ``P`` not across what feeds it (docs/methods/lrf.md#merging-p-and-q).

    Args:
        model: a plain model with LRF layers, usually ``tfprune.slim`` output.
        mode: ``"auto"`` merges each ``P``/``Q`` only where it lowers the
            FLOPs (MACs); ``"all"`` merges every one (the original
            architecture, with the pruned widths folded away).

    Returns:
        A new flat Functional model computing the same function.
    """
    if mode not in ("auto", "all"):
        msg = f"Argument `mode` must be 'auto' or 'all'. Received: mode={mode!r}."
        raise errors.PruningArgumentError(msg)
    convs = set(wrapped_convs(model))
    if not convs:
        msg = (
            f"Model `{model.name}` has no LRF P/Q layers to merge (layers named "
            f"`<conv>{P_SUFFIX}` and `<conv>{Q_SUFFIX}` around a conv)."
        )
        raise errors.PruningArgumentError(msg)
    trace = trace_model(model)
    layer_of = {site.layer.name: site for site in trace.sites if isinstance(site.layer, keras.layers.Layer)}
    readers: dict[Any, int] = {}
    for site in trace.sites:
        for tid in site.inputs:
            readers[tid] = readers.get(tid, 0) + 1
    decisions: dict[str, tuple[bool, bool]] = {}
    for conv in convs:
        p_site, w_site, q_site = layer_of[p_name(conv)], layer_of[conv], layer_of[q_name(conv)]
        chain = p_site.outputs == w_site.inputs and w_site.outputs == q_site.inputs
        if not chain or readers[p_site.outputs[0]] != 1 or readers[w_site.outputs[0]] != 1:
            continue  # not a private linear chain: nothing is merged
        if w_site.layer.get_config().get("activation") not in (None, "linear"):
            continue
        p, w, q = p_site.layer, w_site.layer, q_site.layer
        mid_shape = trace.shapes[w_site.inputs[0]]
        out_shape = trace.shapes[w_site.outputs[0]]
        a, b = int(p.kernel.shape[-2]), int(p.kernel.shape[-1])
        c, d = int(q.kernel.shape[-2]), int(q.kernel.shape[-1])
        kk = int(np.prod(w.kernel.shape[:-2]))
        hw_in, hw_out = int(np.prod(mid_shape[1:-1])), int(np.prod(out_shape[1:-1]))
        if mode == "all":
            decisions[conv] = (True, True)
            continue
        best = None
        for merge_p in (False, True):
            for merge_q in (False, True):
                cin, cout = (a if merge_p else b), (d if merge_q else c)
                flops = hw_out * kk * cin * cout
                flops += 0 if merge_p else hw_in * a * b
                flops += 0 if merge_q else hw_out * c * d
                if best is None or flops < best[0]:
                    best = (flops, merge_p, merge_q)
        decisions[conv] = best[1:]
    merged_p = {p_name(c) for c, (mp, _) in decisions.items() if mp}
    merged_q = {q_name(c) for c, (_, mq) in decisions.items() if mq}
    fills = []

    def replace(site, args, kwargs):
        layer = site.layer
        name = getattr(layer, "name", None)
        if name in merged_p or name in merged_q:
            return args[0]  # the merged conv computes it
        if name not in decisions or not any(decisions[name]):
            return None
        merge_p, merge_q = decisions[name]
        p, q = layer_of[p_name(name)].layer, layer_of[q_name(name)].layer
        config = dict(layer.get_config())
        kernel = np.array(layer.kernel)
        bias = np.array(layer.bias) if layer.use_bias else None
        if merge_p:
            kernel = np.einsum("ab,yxbc->yxac", np.array(p.kernel)[0, 0], kernel)
        if merge_q:
            qk = np.array(q.kernel)[0, 0]
            kernel = np.einsum("yxbc,cd->yxbd", kernel, qk)
            bias = None if bias is None else bias @ qk
            if q.use_bias:
                bias = np.array(q.bias) if bias is None else bias + np.array(q.bias)
            config.update(filters=int(qk.shape[1]), activation=q.get_config()["activation"])
        config["use_bias"] = bias is not None
        new = layer.__class__.from_config(config)
        fills.append((new, [kernel] + ([bias] if bias is not None else [])))
        return new(*args, **kwargs)

    new_model = rebuild_flat(model, replace=replace)
    for new, values in fills:
        new.set_weights([v.astype(np.float32) for v in values])
    return new_model
