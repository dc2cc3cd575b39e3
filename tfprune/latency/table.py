"""Latency lookup table: measured time of each layer configuration at a grid of widths.

NetAdapt (Yang et al., ECCV 2018, Section 3.3) and AMC (He et al., ECCV 2018)
predict a network's latency on a device from a table of per-layer latencies
measured on that device; this is that table for LiteRT (docs/budgets.md,
"Latency budgets").

A *layer configuration* (:class:`LayerSpec`) is a layer's class and config
(without its name, initialisers, regularisers and width) plus its input shape
without the channel axis. Identical configurations share their measurements
(ResNet50's blocks repeat a handful of them). Each is timed on a coarse grid
of widths: ``grid_points`` input widths x ``grid_points`` output widths
(multiples of ``round_to`` from the floor to the full width; one width on an
axis that cannot be pruned; one axis for depthwise convolutions, whose output
width follows the input). Other widths are read by bilinear interpolation.

The table is cached on disk, one JSON file per runtime version, thread count
and quantization, so a second build times nothing; it is written atomically
after every configuration, so an interrupted build keeps what it measured.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfprune import errors
from tfprune._atomic import write_atomic

#: Part of the cache file name: bumped when what is measured changes.
TABLE_VERSION = 2
#: Config entries that do not change a layer's latency.
_IGNORED = ("name", "trainable", "dtype")
_IGNORED_SUFFIXES = ("_initializer", "_regularizer", "_constraint")
#: Layers timed on a width grid, and the config entry holding their output width.
WIDTH_KEYS = {
    "Conv1D": "filters",
    "Conv2D": "filters",
    "Conv3D": "filters",
    "Conv2DTranspose": "filters",
    "Conv1DTranspose": "filters",
    "Dense": "units",
}
DEPTHWISE = ("DepthwiseConv1D", "DepthwiseConv2D")


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """One layer configuration to time.

    Attributes:
        layer_class: the Keras layer class.
        config: its config, with the output width at full size.
        input_shape: the traced input shape without batch (channels last).
        kind: ``"grid"`` (input x output widths), ``"depthwise"`` (input
            widths; the output follows) or ``"scaled"`` (timed at full width
            only, other widths scaled by their share of input x output
            channels).
        in_widths: input widths of the grid, ascending.
        out_widths: output widths of the grid (``kind="grid"`` only).
    """

    layer_class: type
    config: dict
    input_shape: tuple[int, ...]
    kind: str
    in_widths: tuple[int, ...]
    out_widths: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        """Stable id of the configuration (same for identical layers)."""
        config = {
            k: v for k, v in self.config.items()
            if k not in _IGNORED and not k.endswith(_IGNORED_SUFFIXES) and k != WIDTH_KEYS.get(self.layer_class.__name__)
        }
        text = json.dumps(
            [f"{self.layer_class.__module__}.{self.layer_class.__name__}", config, list(self.input_shape[:-1])],
            sort_keys=True, default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    @property
    def full(self) -> tuple[int, int]:
        return self.in_widths[-1], (self.out_widths[-1] if self.out_widths else self.in_widths[-1])

    def points(self) -> list[tuple[int, int]]:
        """The (input, output) widths to measure."""
        if self.kind == "grid":
            return [(i, o) for i in self.in_widths for o in self.out_widths]
        if self.kind == "depthwise":
            return [(i, i) for i in self.in_widths]
        return [self.full]

    def build_args(self, cin: int, cout: int) -> tuple[type, dict, tuple[int, ...]]:
        """``(class, config, input shape)`` of the layer at these widths."""
        config = {**self.config, "name": "timed"}
        if "use_bias" in config:
            config["use_bias"] = True  # a following BatchNormalization folds into the bias
        width_key = WIDTH_KEYS.get(self.layer_class.__name__)
        if self.kind == "grid" and width_key:
            config[width_key] = int(cout)
        return self.layer_class, config, (*self.input_shape[:-1], int(cin))


def grid_widths(full: int, round_to: int | None, floor: int, points: int) -> tuple[int, ...]:
    """``points`` widths from ``floor`` to ``full``, on multiples of ``round_to`` (or ``full``)."""
    from tfprune.selection import feasible_counts

    options = feasible_counts(full, full, round_to, floor)
    if len(options) <= points:
        return tuple(int(o) for o in options)
    picks = np.unique(np.round(np.linspace(0, len(options) - 1, points)).astype(int))
    return tuple(int(options[p]) for p in picks)


def default_cache_dir() -> Path:
    """``<tfprune cache>/latency`` (``$TFPRUNE_DATA_DIR``, else ``~/.cache/tfprune``)."""
    from tfprune.data._cache import default_data_dir

    return default_data_dir() / "latency"


class LatencyTable:
    """Measured latency of layer configurations, cached on disk.

    Args:
        threads: interpreter threads.
        quantize: ``None`` (float32) or ``"int8"``.
        timer: what measures; default :class:`tfprune.latency.LiteRTTimer`
            with these threads and quantization. Any object with
            ``runtime`` (a version string, part of the cache key),
            ``time_layer(layer_class, config, input_shape)``,
            ``time_model(model)`` and ``overhead()`` (milliseconds) works.
        cache_dir: where the table is stored (default
            :func:`default_cache_dir`); ``False`` keeps it in memory only.
        grid_points: widths per axis of each configuration's grid.
        verbose: show a progress bar while measuring.
    """

    def __init__(self, threads: int = 1, quantize: str | None = None, *, timer=None, cache_dir=None,
                 grid_points: int = 4, verbose: int = 1):
        if timer is None:
            from tfprune.latency.timer import LiteRTTimer

            timer = LiteRTTimer(threads, quantize)
        if isinstance(grid_points, bool) or not isinstance(grid_points, int) or grid_points < 2:
            msg = f"Argument `grid_points` must be an int >= 2. Received: grid_points={grid_points!r}."
            raise ValueError(msg)
        self.threads = int(threads)
        self.quantize = quantize
        self.timer = timer
        self.grid_points = grid_points
        self.verbose = verbose
        self._cache_dir = None if cache_dir is False else Path(cache_dir or default_cache_dir())
        self._data: dict[str, Any] | None = None
        self._grids: dict[tuple, np.ndarray] = {}

    # Storage --------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        """The JSON file of this runtime, thread count and quantization."""
        if self._cache_dir is None:
            return None
        runtime = re.sub(r"[^A-Za-z0-9.+-]", "_", str(self.timer.runtime))
        return self._cache_dir / f"{runtime}-t{self.threads}-{self.quantize or 'float32'}-v{TABLE_VERSION}.json"

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            data = None
            path = self.path
            if path is not None and path.exists():
                try:
                    data = json.loads(path.read_text())
                except (OSError, ValueError):
                    data = None  # a corrupt cache is rebuilt, never trusted
            if not data or data.get("runtime") != self.timer.runtime:
                data = {"runtime": self.timer.runtime, "threads": self.threads,
                        "quantize": self.quantize, "layers": {}, "models": {}}
            self._data = data
        return self._data

    def _save(self) -> None:
        if self.path is not None:
            write_atomic(self.path, json.dumps(self._load(), indent=1, sort_keys=True).encode(), make_parents=True)

    # Measuring ------------------------------------------------------------
    def measure(self, specs: Sequence[LayerSpec]) -> int:
        """Time every grid point of ``specs`` not in the table yet; returns how many were timed."""
        import keras

        layers = self._load()["layers"]
        todo: dict[str, tuple[LayerSpec, list]] = {}
        for spec in specs:
            have = layers.get(spec.key, {})
            known = todo.get(spec.key, (spec, []))[1]
            missing = [p for p in spec.points() if _point_key(*p) not in have and p not in known]
            if missing:
                todo[spec.key] = (spec, known + missing)
        total = sum(len(m) for _, m in todo.values())
        if not total:
            return 0
        if "overhead_ms" not in self._data:
            self._data["overhead_ms"] = float(self.timer.overhead())
        bar = keras.utils.Progbar(total, verbose=self.verbose, unit_name="timing") if self.verbose else None
        done = 0
        for key, (spec, missing) in todo.items():
            entry = layers.setdefault(key, {})
            for cin, cout in missing:
                entry[_point_key(cin, cout)] = float(self.timer.time_layer(*spec.build_args(cin, cout)))
                done += 1
                if bar is not None:
                    bar.update(done)
            self._save()
        self._grids.clear()
        ratio = 1.3
        slow = [point for point in self.slow_points(ratio) if point[0] in todo and point[1] in todo[point[0]][1]]
        if slow:
            self._warn_slow(slow, total, {key: spec for key, (spec, _) in todo.items()}, ratio)
        return total

    def slow_points(self, ratio: float = 1.3) -> list[tuple[str, tuple[int, int], tuple[int, int]]]:
        """Timings more than ``ratio`` x slower than a wider width of the same layer.

        Returns ``(layer configuration key, (cin, cout), (wider cin, wider cout))``
        for every grid point that took more than ``ratio`` times as long as
        the next wider output (or input) width of the same configuration,
        and longer by more than the per-invoke overhead (below it, layers
        of a few microseconds differ by timer noise). Fewer channels never
        cost more on an undisturbed run, so these are measurement faults:
        another process on the cores, or a slow path of the runtime at
        those widths.
        """
        out = []
        noise = self.overhead_ms()
        for key, entry in self._load()["layers"].items():
            points = {tuple(int(v) for v in name.split("x")): float(t) for name, t in entry.items()}
            for (cin, cout), t in points.items():
                for axis in (0, 1):
                    wider = [p for p in points if p[axis] > (cin, cout)[axis] and p[1 - axis] == (cin, cout)[1 - axis]]
                    if wider:
                        nearest = min(wider, key=lambda p: p[axis])
                        if t > ratio * points[nearest] and t - points[nearest] > noise:
                            out.append((key, (cin, cout), nearest))
                            break
        return out

    def _warn_slow(self, slow, total: int, specs: dict, ratio: float) -> None:
        key, point, wider = slow[0]
        entry = self._load()["layers"][key]
        spec = specs[key]
        where = f" ({self.path})" if self.path is not None else ""
        warnings.warn(
            f"{len(slow)} of the {total} layer timings just taken ran more than {ratio:g}x slower than a wider width of "
            f"the same layer, e.g. {spec.layer_class.__name__} on input {spec.input_shape}: "
            f"{point[0]}->{point[1]} channels {entry[_point_key(*point)]:.3f} ms, {wider[0]}->{wider[1]} channels "
            f"{entry[_point_key(*wider)]:.3f} ms. Fewer channels do not take longer on an undisturbed run: "
            "another process competed for the cores, or LiteRT took a slow path at those widths (seen on this "
            "project's machines at output widths that are not multiples of 16, in some processes only). Latency "
            f"budgets rank layers by these timings: delete the table{where} and build it again on an idle machine.",
            errors.LatencyTableWarning,
            stacklevel=3,
        )

    def overhead_ms(self) -> float:
        """Per-``invoke()`` cost included in every layer time (0 until something is measured)."""
        return float(self._load().get("overhead_ms", 0.0))

    def lookup(self, spec: LayerSpec, cin: int, cout: int) -> float:
        """Latency of ``spec`` at input width ``cin`` and output width ``cout`` (interpolated).

        The per-invoke overhead of the timing model is subtracted (at least 0).
        """
        values = self._grids.get((spec.key, spec.in_widths, spec.out_widths))
        if values is None:
            values = self._grids[(spec.key, spec.in_widths, spec.out_widths)] = self._grid(spec)
        if spec.kind == "scaled":
            full_in, full_out = spec.full
            return float(values[0, 0]) * (cin * cout) / (full_in * full_out)
        if spec.kind == "depthwise":
            return float(np.interp(cin, spec.in_widths, values[:, 0]))
        along_out = [np.interp(cout, spec.out_widths, row) for row in values]
        return float(np.interp(cin, spec.in_widths, along_out))

    def _grid(self, spec: LayerSpec) -> np.ndarray:
        """Measured values of ``spec`` (minus the overhead), rows by input width."""
        entry = self._load()["layers"].get(spec.key, {})
        missing = [p for p in spec.points() if _point_key(*p) not in entry]
        if missing:
            msg = (
                f"Layer configuration {spec.layer_class.__name__} on input {spec.input_shape} is not "
                f"measured at widths {missing[:4]}; call LatencyTable.measure([spec]) first."
            )
            raise KeyError(msg)
        base = self.overhead_ms()
        values = np.array([max(entry[_point_key(*p)] - base, 0.0) for p in spec.points()])
        rows = len(spec.in_widths) if spec.kind != "scaled" else 1
        return values.reshape(rows, -1)

    def model_latency(self, model, key: str | None = None) -> float:
        """Measured latency of a whole model (cached under ``key``, default: a hash of its config)."""
        if key is None:
            key = _model_key(model)
        models = self._load()["models"]
        if key not in models:
            models[key] = float(self.timer.time_model(model))
            self._save()
        return float(models[key])

    def model_ratio(self, reference, model) -> float:
        """Measured latency of ``model`` over that of ``reference`` (cached, keyed by both configs).

        Timed alternately when the timer can (``time_ratio``,
        :meth:`LiteRTTimer.time_ratio`), else from two :meth:`model_latency`.
        """
        ratios = self._load().setdefault("ratios", {})
        key = f"{_model_key(reference)}/{_model_key(model)}"
        if key not in ratios:
            if hasattr(self.timer, "time_ratio"):
                ratios[key] = float(self.timer.time_ratio(reference, model))
            else:
                ratios[key] = self.model_latency(model) / self.model_latency(reference)
            self._save()
        return float(ratios[key])


def _model_key(model) -> str:
    """A whole model's cache key: a hash of its architecture (its weights do not change its time)."""
    return hashlib.sha256(model.to_json().encode()).hexdigest()[:20]


def _point_key(cin: int, cout: int) -> str:
    return f"{int(cin)}x{int(cout)}"


_ACTIVE: list[LatencyTable] = []


@contextlib.contextmanager
def use_table(table: LatencyTable) -> Iterator[LatencyTable]:
    """Make ``prune(target={"latency": ...})`` read and fill ``table``.

    Inside the ``with`` block, a latency target whose threads and
    quantization match ``table`` uses it instead of the default on-disk
    table (e.g. a table timed on the deployment device, or in memory)::

        with tfprune.latency.use_table(tfprune.latency.LatencyTable(threads=2, cache_dir=False)):
            pruned = tfprune.prune(model, "l1", target={"latency": 0.5, "threads": 2})
    """
    _ACTIVE.append(table)
    try:
        yield table
    finally:
        _ACTIVE.remove(table)


def table_for(threads: int, quantize: str | None) -> LatencyTable:
    """The table a latency target uses: the innermost matching :func:`use_table`, else the default."""
    for table in reversed(_ACTIVE):
        if table.threads == threads and table.quantize == quantize:
            return table
    key = (threads, quantize, os.environ.get("TFPRUNE_DATA_DIR"))
    if key not in _DEFAULTS:
        _DEFAULTS[key] = LatencyTable(threads, quantize)
    return _DEFAULTS[key]


_DEFAULTS: dict[tuple, LatencyTable] = {}
