"""Rules for more raw ``keras.ops`` calls found in model zoos.

keras-hub builds its backbones with raw ops on symbolic tensors as well as
layers; ResNetV2 (pre-activation) pads with ``keras.ops.pad`` before its
strided convs. Raw ops are matched by class name (their classes live in
private Keras modules), like the built-in ones in :mod:`tfprune.graph.rules`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tfprune.graph import rules

_CONSTANT_MODE = "constant"


class PadOpRule(rules.LayerRule):
    """``keras.ops.pad(x, pad_width, mode, constant_values)``.

    Padding the spatial axes keeps every channel where it is, so channels pass
    through. Zeros (and the ``reflect``/``symmetric`` modes, which copy values
    of the same channel) keep a pruned, all-zero channel all-zero; a non-zero
    constant would make it non-zero at the border, so its channels are kept.
    Padding the channel axis itself shifts channel positions: opaque.
    """

    def trace(self, ctx):
        rank = len(ctx.input_shapes[0])
        try:
            widths = np.broadcast_to(np.asarray(ctx.layer.pad_width), (rank, 2))
        except (AttributeError, TypeError, ValueError):
            return rules.PinRule().trace(ctx)
        if np.any(widths[-1] != 0):
            return rules.PinRule().trace(ctx)
        layout = ctx.input_layouts[0]
        mode = getattr(ctx.layer, "mode", _CONSTANT_MODE)
        if mode == _CONSTANT_MODE and _constant_values(ctx.site) not in (None, 0):
            ctx.pin(layout)
        return [layout]


def _constant_values(site) -> Any:
    """``constant_values`` as recorded in the call (kwarg or third argument)."""
    value = (site.kwargs or {}).get("constant_values")
    args = list(site.args or [])
    if value is None and len(args) > 2:
        value = args[2]
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return "non-scalar"  # a tensor or array: treat as non-zero


def _register() -> None:
    rules._OP_RULES.setdefault("Pad", PadOpRule())


_register()
