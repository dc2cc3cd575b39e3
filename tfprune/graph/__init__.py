"""Channel dependency graph: trace a model and find coupled channels."""

from __future__ import annotations

from tfprune.graph.channel_graph import ChannelGraph, LayerChannels
from tfprune.graph.context import RuleContext
from tfprune.graph.group import ChannelGroup, WeightSlice
from tfprune.graph.rules import (
    ChannelwiseRule,
    LayerRule,
    PassThroughRule,
    PinRule,
    find_rule,
    register_rule,
)
from tfprune.graph.trace import iter_layers, trace_model

# Registers rules for more raw keras.ops (keras.ops.pad).
from tfprune.graph import op_rules  # noqa: E402,F401  isort: skip

__all__ = [
    "ChannelGraph",
    "ChannelGroup",
    "ChannelwiseRule",
    "LayerChannels",
    "LayerRule",
    "PassThroughRule",
    "PinRule",
    "RuleContext",
    "WeightSlice",
    "find_rule",
    "iter_layers",
    "register_rule",
    "trace_model",
]
