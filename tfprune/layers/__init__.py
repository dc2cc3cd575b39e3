"""Keras layers of tfprune."""

from __future__ import annotations

from tfprune.layers.wrapper import PruningWrapper, find_wrappers

__all__ = ["PruningWrapper", "find_wrappers"]
