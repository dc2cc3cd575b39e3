"""What a channel rule sees of one call site: :class:`RuleContext`.

A :class:`~tfprune.graph.rules.LayerRule` reads the call (layer, input
layouts and shapes) and writes to the channel graph under construction
(new channel items, couplings, pinned items, weight slices) only through
this object; :class:`~tfprune.graph.channel_graph.ChannelGraph` creates one
per call site.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import numpy as np

from tfprune import errors
from tfprune.graph.trace import CallSite

if TYPE_CHECKING:
    from tfprune.graph.channel_graph import _Builder


class RuleContext:
    """What a :class:`~tfprune.graph.rules.LayerRule` sees of one call site."""

    def __init__(self, builder: _Builder, site: CallSite, input_layouts):
        self._builder = builder
        self.site = site
        layer = site.layer
        while hasattr(layer, "tfprune_wrapped_layer"):
            layer = layer.tfprune_wrapped_layer
        self.layer = layer
        self.path = site.path
        self.input_layouts: list[np.ndarray] = input_layouts
        self.input_shapes = [builder.shapes.get(t) for t in site.inputs]
        self.num_outputs = len(site.outputs)

    def output_channels(self, index: int = 0) -> int:
        """Channel count of output ``index`` (from the traced shapes)."""
        shape = self._builder.shapes.get(self.site.outputs[index])
        if shape is None:
            shape = _compute_output_shape(self.layer, self.path, self.input_shapes, index)
        return int(shape[-1])

    def new_space(self, size: int, key: str = "out") -> np.ndarray:
        """Fresh channel items created by this layer (shared across its calls)."""
        return self._builder.layer_space(self.layer, key, int(size))

    def pinned_space(self, size: int) -> np.ndarray:
        """Fresh channel items that can never be pruned."""
        layout = self._builder.space(int(size))
        self.pin(layout)
        return layout

    def union(self, a: np.ndarray, b: np.ndarray) -> None:
        """Couple two layouts item by item (they must have equal length)."""
        if len(a) != len(b):
            msg = f"Internal: cannot couple layouts of {len(a)} and {len(b)} channels at `{self.path}`."
            raise errors.UnsupportedLayerError(msg)
        for x, y in zip(a.tolist(), b.tolist()):
            self._builder.uf.union(x, y)

    def pin(self, layout: np.ndarray) -> None:
        """Mark every item of ``layout`` as never prunable."""
        self._builder.pinned.extend(layout.tolist())

    def weight(self, name: str, axis: int, layout: np.ndarray, role: str, *, optional: bool = False) -> None:
        """Record that ``axis`` of weight ``name`` is indexed by ``layout``."""
        self._builder.record_slice(self, name, axis, layout, role, optional)


def _compute_output_shape(layer, path, input_shapes, index):
    """Shape of output ``index`` of ``layer``, for outputs the trace has no shape of.

    Asks ``compute_output_shape``, else lets Keras run ``call`` symbolically;
    a layer whose output shape Keras cannot infer is refused with a clear
    error (instead of Keras' own).
    """
    shapes = input_shapes[0] if len(input_shapes) == 1 else input_shapes
    try:
        try:
            structure = layer.compute_output_shape(shapes)
        except NotImplementedError:
            specs = layer.compute_output_spec(
                *[keras.KerasTensor(tuple(s)) for s in input_shapes]
            )
            structure = [tuple(t.shape) for t in keras.tree.flatten(specs)]
        return _flatten_shapes(structure)[index]
    except Exception as error:
        cls = type(layer).__name__
        msg = (
            f"Cannot infer the output shape of layer `{path}` ({cls}): {error}. "
            f"Implement `{cls}.compute_output_shape`, or exclude the layer: "
            f"`tfprune.prune(model, ..., exclude=[{layer.name!r}])`, or register "
            "a rule for it with `tfprune.graph.register_rule`."
        )
        raise errors.UnsupportedLayerError(msg) from error


def _flatten_shapes(structure) -> list[tuple]:
    """Shapes of a (possibly nested) ``compute_output_shape`` result, in order."""
    if isinstance(structure, dict):
        return [s for key in sorted(structure) for s in _flatten_shapes(structure[key])]
    if isinstance(structure, (tuple, list)) and all(d is None or isinstance(d, int) for d in structure):
        return [tuple(structure)]
    if isinstance(structure, (tuple, list)):
        return [s for item in structure for s in _flatten_shapes(item)]
    return [tuple(structure)]
