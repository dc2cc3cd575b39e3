"""FLOPs (multiply-accumulates) and parameter counts, shared by every report.

`count_flops` counts MACs, the unit pruning papers call "FLOPs"; see
`tfprune.metrics.flops` for exactly which layers are counted and how.
"""

from __future__ import annotations

from tfprune.metrics.flops import count_flops, flops_by_layer
from tfprune.metrics.params import count_params

__all__ = ["count_flops", "count_params", "flops_by_layer"]
