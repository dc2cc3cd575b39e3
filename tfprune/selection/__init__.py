"""Channel selection shared by the pruning methods (NumPy only).

- :mod:`tfprune.selection.sensitivity`: per-group kept counts that meet a
  cost budget, read off measured sensitivity curves
  (:func:`allocate_from_sensitivity`).
"""

from __future__ import annotations

from tfprune.selection.sensitivity import allocate_from_sensitivity

__all__ = ["allocate_from_sensitivity"]
