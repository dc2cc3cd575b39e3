"""Generate ``docs/benchmarks.md`` and its Pareto plots from compare result JSONs.

``benchmarks/compare.py`` writes ``benchmarks/results/<name>.json`` files of
kind ``"tfprune-compare"``; this script turns every such file (other JSON
files are ignored) into one section of ``docs/benchmarks.md`` with

* how the numbers were produced (command, duration, date, machine, settings),
* the dense baseline,
* one table per target FLOPs ratio, one row per method (mean ± sample
  standard deviation of the test accuracy over seeds; failed runs listed
  under the table with their error and left out of every mean),
* two PNG plots, ``<images>/<name>_accuracy_vs_flops.png`` and
  ``<images>/<name>_accuracy_vs_latency.png``, embedded with paths relative
  to the Markdown file,

followed by a fixed "How to read this" section. The Markdown and the PNGs are
written atomically. Usage::

    python benchmarks/report.py [--results benchmarks/results]
        [--out docs/benchmarks.md] [--images docs/benchmarks]

or ``generate(results, out_md, images_dir)`` from Python (compare.py, tests).
Never edit ``docs/benchmarks.md`` by hand: re-run this script.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import math
import os
import statistics
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfprune._atomic import write_atomic  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KIND = "tfprune-compare"
METHOD_ORDER = ("l1", "l2", "fpgm", "taylor", "spp-filter", "spp-column", "admm-filter", "fuzzy", "lrf", "tfmot",
                "l1-global", "lrf-global")
DASH = "–"
NUMERIC_RUN_KEYS = (
    "target", "seed", "params", "flops", "flops_ratio", "flops_theoretical", "flops_ratio_theoretical",
    "accuracy", "accuracy_before_finetuning", "tflite_accuracy", "tflite_kb", "tflite_gzip_kb",
    "latency_ms", "dense_latency_ms", "latency_ratio", "prune_seconds", "step_time_ratio", "step_ms",
    "plain_step_ms", "max_abs_diff_slim_vs_masked",
)
STYLES = {  # method -> (colour, marker)
    "l1": ("tab:blue", "o"),
    "l2": ("tab:orange", "s"),
    "spp-filter": ("tab:green", "^"),
    "spp-column": ("tab:olive", "v"),
    "admm-filter": ("tab:red", "D"),
    "fuzzy": ("tab:purple", "P"),
    "lrf": ("tab:brown", "X"),
    "tfmot": ("tab:gray", "h"),
    "fpgm": ("tab:cyan", ">"),
    "taylor": ("tab:pink", "<"),
    "l1-global": ("navy", "*"),
    "lrf-global": ("saddlebrown", "p"),
}
EXTRA_STYLES = (("tab:pink", "<"), ("tab:cyan", ">"), ("black", "p"), ("tab:blue", "*"))


class ReportError(ValueError):
    """A result file cannot be read or does not follow the compare schema."""


class Point:
    """One (method, target) cell, aggregated over the seeds that succeeded.

    (Plain classes, not dataclasses: this file is also loaded with
    ``importlib`` from a path, where dataclasses need a registered module.)
    """

    def __init__(self, method: str, label: str, target: float) -> None:
        self.method, self.label, self.target = method, label, target
        self.runs: list[dict] = []  # successful runs
        self.failed: list[dict] = []  # runs with an error

    @property
    def physical(self) -> bool:
        """False when any run's model is not physically smaller (FLOPs theoretical)."""
        return all(run.get("physical", True) is not False for run in self.runs + self.failed)

    def values(self, key: str) -> list[float]:
        """The finite numeric values of ``key`` over the successful runs."""
        return [run[key] for run in self.runs if _is_number(run.get(key))]

    def mean(self, key: str) -> float | None:
        values = self.values(key)
        return statistics.fmean(values) if values else None

    def std(self, key: str) -> float:
        """Sample standard deviation (n - 1); 0.0 with fewer than two values."""
        values = self.values(key)
        return statistics.stdev(values) if len(values) > 1 else 0.0

    def plotted_flops_ratio(self) -> float | None:
        """Physical FLOPs ratio, or the theoretical one for non-physical methods."""
        if not self.physical:
            theoretical = self.mean("flops_ratio_theoretical")
            if theoretical is not None:
                return theoretical
        return self.mean("flops_ratio")


class CompareResult:
    """One validated compare JSON."""

    def __init__(self, path: Path, doc: dict) -> None:
        self.path, self.doc = path, doc

    @property
    def name(self) -> str:
        name = self.doc.get("name")
        return name if isinstance(name, str) and name else self.path.stem

    def section(self, key: str) -> dict:
        value = self.doc.get(key)
        return value if isinstance(value, dict) else {}

    @property
    def settings(self) -> dict:
        return self.section("settings")

    @property
    def dense(self) -> dict:
        return self.section("dense")

    @property
    def runs(self) -> list[dict]:
        return self.doc.get("runs") or []

    def targets(self) -> list[float]:
        """Targets of the settings and of the runs, mildest (largest) first."""
        found = {_target_key(t) for t in self.settings.get("targets") or [] if _is_number(t)}
        found |= {_target_key(run["target"]) for run in self.runs}
        return sorted(found, reverse=True)

    def points(self, target: float) -> list[Point]:
        """One Point per method that has a run at ``target``, in METHOD_ORDER."""
        points: dict[str, Point] = {}
        for run in self.runs:
            if _target_key(run["target"]) != target:
                continue
            method = run["method"]
            point = points.setdefault(method, Point(method, run.get("label") or method, target))
            (point.failed if run.get("error") else point.runs).append(run)
        return [points[m] for m in _method_order(points)]

    def all_points(self) -> list[Point]:
        return [point for target in self.targets() for point in self.points(target)]


# ---------------------------------------------------------------- loading


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _target_key(target: float) -> float:
    return round(float(target), 6)


def _method_order(methods: Iterable[str]) -> list[str]:
    """Known methods in METHOD_ORDER, unknown ones after them by name."""
    methods = set(methods)
    known = [m for m in METHOD_ORDER if m in methods]
    return known + sorted(methods - set(METHOD_ORDER))


def _schema_error(path: Path, what: str, got: Any) -> ReportError:
    return ReportError(
        f"{path}: {what}; got {got!r}. A {KIND!r} result needs a 'runs' list whose items are objects "
        f"with at least 'method' (one of {', '.join(METHOD_ORDER)}) and a numeric 'target'. "
        "Fix the file or re-run benchmarks/compare.py to rewrite it."
    )


def validate(doc: dict, path: Path) -> CompareResult:
    """Check the parts of a compare JSON the report relies on; raise ReportError naming ``path``."""
    for key in ("machine", "settings", "dense"):
        if key in doc and doc[key] is not None and not isinstance(doc[key], dict):
            raise _schema_error(path, f"'{key}' must be an object", type(doc[key]).__name__)
    runs = doc.get("runs")
    if not isinstance(runs, list):
        raise _schema_error(path, "'runs' must be a list", runs if runs is None else type(runs).__name__)
    for index, run in enumerate(runs):
        where = f"runs[{index}]"
        if not isinstance(run, dict):
            raise _schema_error(path, f"{where} must be an object", type(run).__name__)
        if not isinstance(run.get("method"), str) or not run["method"]:
            raise _schema_error(path, f"{where} has no 'method' string (keys: {sorted(run)})", run.get("method"))
        if not _is_number(run.get("target")):
            raise _schema_error(path, f"{where} ({run['method']}) has no numeric 'target'", run.get("target"))
        for key in NUMERIC_RUN_KEYS:
            value = run.get(key)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
                raise _schema_error(path, f"{where} ({run['method']}) '{key}' must be a number or null", value)
        if run.get("error") is not None and not isinstance(run["error"], str):
            raise _schema_error(path, f"{where} ({run['method']}) 'error' must be a string or null", run["error"])
    return CompareResult(path, doc)


def load_result(path: str | os.PathLike[str]) -> CompareResult | None:
    """Read one JSON file; None when it is not of kind ``tfprune-compare``."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path}: cannot read it as JSON ({exc}); expected a {KIND!r} result file.") from exc
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        return None
    return validate(doc, path)


def find_result_files(sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Path]:
    """JSON files of a directory (``*.json``), or the given file paths."""
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    files: list[Path] = []
    for source in sources:
        source = Path(source)
        if source.is_dir():
            files.extend(sorted(source.glob("*.json")))
        elif source.is_file():
            files.append(source)
        else:
            raise ReportError(f"{source}: no such file or directory; expected a results directory or JSON file.")
    return files


def load_results(sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[CompareResult]:
    """Every compare result among ``sources``, sorted by name."""
    results = [r for r in map(load_result, find_result_files(sources)) if r is not None]
    return sorted(results, key=lambda r: (r.name, str(r.path)))


# ---------------------------------------------------------------- formatting


def fmt_mean_std(values: Sequence[float], digits: int = 4) -> str:
    """``mean ± sample std (n=N)``; just the value for one run; a dash for none."""
    if not values:
        return DASH
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f} (n={len(values)})"


def _fmt(value: float | None, spec: str) -> str:
    return DASH if value is None else format(value, spec)


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def target_heading(target: float) -> str:
    """``2x FLOPs reduction (target 0.5)``."""
    factor = 1.0 / target if target > 0 else float("inf")
    factor_text = f"{factor:.0f}" if abs(factor - round(factor)) < 0.05 else f"{factor:.1f}"
    return f"{factor_text}x FLOPs reduction (target {target:g})"


def flops_cell(point: Point) -> str:
    """Physical FLOPs ratio, the theoretical one in parentheses when it differs."""
    physical = point.mean("flops_ratio")
    theoretical = point.mean("flops_ratio_theoretical")
    text = _fmt(physical, ".3f")
    differs = theoretical is not None and (physical is None or abs(theoretical - physical) > 0.0005)
    if differs or (not point.physical and theoretical is not None):
        text += f" ({theoretical:.3f} theoretical)"
    return text


def latency_cell(point: Point) -> str:
    ratio = point.mean("latency_ratio")
    if ratio is None:
        return DASH
    return f"{ratio:.2f} ({1 / ratio:.2f}x)" if ratio > 0 else f"{ratio:.2f}"


def params_cell(point: Point) -> str:
    params = point.mean("params")
    return DASH if params is None else f"{round(params):,}"


def _with_derived(result: CompareResult) -> CompareResult:
    """Fill ratios a run lacks but that follow from its other numbers."""
    dense_flops = result.dense.get("flops")
    for run in result.runs:
        if not _is_number(run.get("flops_ratio")) and _is_number(run.get("flops")) and _is_number(dense_flops):
            run["flops_ratio"] = run["flops"] / dense_flops if dense_flops else None
        if (
            not _is_number(run.get("latency_ratio"))
            and _is_number(run.get("latency_ms"))
            and _is_number(run.get("dense_latency_ms"))
            and run["dense_latency_ms"] > 0
        ):
            run["latency_ratio"] = run["latency_ms"] / run["dense_latency_ms"]
    return result


TABLE_HEADER = (
    "| method | test acc | acc before fine-tuning | FLOPs ratio | params | .tflite KB | gzip KB "
    "| LiteRT latency ratio (speed-up) | pruning s | fit step-time ratio |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def table_row(point: Point) -> str:
    if point.runs:
        accuracy = fmt_mean_std(point.values("accuracy"))
    else:
        accuracy = f"all {len(point.failed)} run(s) failed"
    cells = [
        point.label + ("" if point.physical else " ¹"),
        accuracy,
        fmt_mean_std(point.values("accuracy_before_finetuning")),
        flops_cell(point),
        params_cell(point),
        _fmt(point.mean("tflite_kb"), ".1f"),
        _fmt(point.mean("tflite_gzip_kb"), ".1f"),
        latency_cell(point),
        _fmt_seconds(point.mean("prune_seconds")),
        _fmt(point.mean("step_time_ratio"), ".2f"),
    ]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _error_text(error: str, limit: int = 400) -> str:
    text = " ".join(error.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def target_table(result: CompareResult, target: float) -> list[str]:
    lines = [f"### {target_heading(target)}", ""]
    points = result.points(target)
    if not points:
        return lines + ["No runs at this target.", ""]
    lines += [TABLE_HEADER, *map(table_row, points), ""]
    if any(not p.physical for p in points):
        lines += ["¹ not physically smaller: its FLOPs reduction is theoretical (kept fraction of the weights).", ""]
    failed = [(p, run) for p in points for run in p.failed]
    if failed:
        lines += ["Failed runs (not included in the means above):", ""]
        for point, run in failed:
            seed = run.get("seed", DASH)
            lines.append(f"- {point.label}, seed {seed}: error: `{_error_text(run['error']).replace('`', chr(39))}`")
        lines.append("")
    return lines


def _fmt_date(created: Any) -> str:
    if not isinstance(created, str):
        return DASH
    try:
        stamp = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return created
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def machine_line(machine: dict) -> str:
    parts = []
    if machine.get("cpu"):
        parts.append(str(machine["cpu"]))
    if _is_number(machine.get("cores")):
        parts.append(f"{machine['cores']:g} cores")
    if _is_number(machine.get("memory_gb")):
        parts.append(f"{machine['memory_gb']:g} GB RAM")
    for key, name in (("python", "Python"), ("tensorflow", "TensorFlow"), ("keras", "Keras"),
                      ("ai_edge_litert", "ai-edge-litert")):
        if machine.get(key):
            parts.append(f"{name} {machine[key]}")
    load = machine.get("load_average")
    if isinstance(load, list) and load and all(_is_number(v) for v in load):
        parts.append("load average " + " / ".join(f"{v:.2f}" for v in load))
    return ", ".join(parts) if parts else DASH


def settings_line(settings: dict) -> str:
    parts = []
    for key, name in (("dataset", "dataset"), ("architecture", "architecture")):
        if settings.get(key):
            parts.append(f"{name} {settings[key]}")
    for key, name in (("train_size", "training images"), ("test_size", "test images")):
        if _is_number(settings.get(key)):
            parts.append(f"{settings[key]:,} {name}")
    epochs = [f"{name} {settings[key]}" for key, name in
              (("dense_epochs", "dense"), ("prune_epochs", "pruning"), ("finetune_epochs", "fine-tuning"))
              if _is_number(settings.get(key))]
    if epochs:
        parts.append("epochs: " + " / ".join(epochs))
    for key, name in (("batch_size", "batch size"), ("round_to", "round_to"), ("latency_rounds", "latency rounds")):
        if settings.get(key) is not None:
            parts.append(f"{name} {settings[key]}")
    for key in ("targets", "seeds"):
        if isinstance(settings.get(key), list):
            parts.append(f"{key} " + ", ".join(f"{v:g}" if _is_number(v) else str(v) for v in settings[key]))
    if settings.get("quick"):
        parts.append("**quick run** (reduced settings: a smoke test, not a result)")
    return ", ".join(parts) if parts else DASH


def dense_line(dense: dict) -> str:
    if not dense:
        return DASH
    accuracy = _fmt(dense.get("accuracy") if _is_number(dense.get("accuracy")) else None, ".4f")
    tflite_acc = dense.get("tflite_accuracy")
    flops = dense.get("flops")
    params = dense.get("params")
    parts = [
        f"test acc {accuracy}" + (f" (LiteRT {tflite_acc:.4f})" if _is_number(tflite_acc) else ""),
        f"{params:,} params" if _is_number(params) else f"{DASH} params",
        f"{flops / 1e6:.2f} MFLOPs (MACs)" if _is_number(flops) else f"{DASH} MFLOPs",
        ".tflite " + _fmt(dense.get("tflite_kb") if _is_number(dense.get("tflite_kb")) else None, ".1f") + " KB"
        + (f" (gzip {dense['tflite_gzip_kb']:.1f} KB)" if _is_number(dense.get("tflite_gzip_kb")) else ""),
        "LiteRT " + _fmt(dense.get("latency_ms") if _is_number(dense.get("latency_ms")) else None, ".3f") + " ms",
    ]
    return ", ".join(parts)


def _duration(seconds: Any) -> str:
    if not _is_number(seconds):
        return DASH
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 10 else f"{minutes:.0f} min"


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def result_section(result: CompareResult, md_dir: Path, images: dict[str, Path]) -> list[str]:
    doc = result.doc
    command = doc.get("command")
    produced = f"Produced by `{command}`" if command else "Produced"
    if _is_number(doc.get("duration_seconds")):
        produced += f" in {_duration(doc['duration_seconds'])}"
    if doc.get("created"):
        produced += f" on {_fmt_date(doc['created'])}"
    lines = [
        f"## {result.name}",
        "",
        f"Source: [`{result.path.name}`]({_relative(result.path, md_dir)})."
        + (f" {produced}." if produced != "Produced" else ""),
        "",
        f"- Machine: {machine_line(result.section('machine'))}",
        f"- Settings: {settings_line(result.settings)}",
        f"- Dense baseline: {dense_line(result.dense)}",
    ]
    diffs = [run["max_abs_diff_slim_vs_masked"] for run in result.runs
             if not run.get("error") and _is_number(run.get("max_abs_diff_slim_vs_masked"))]
    if diffs:
        lines.append(f"- Largest `max |slim - masked|` over all successful runs: {max(diffs):.2g}")
    failed = sum(1 for run in result.runs if run.get("error"))
    lines.append(f"- Runs: {len(result.runs) - failed} succeeded, {failed} failed")
    lines.append("")
    for key, title in (("flops", "Test accuracy vs FLOPs ratio"), ("latency", "Test accuracy vs LiteRT latency ratio")):
        lines += [f"![{result.name}: {title}]({_relative(images[key], md_dir)})", ""]
    for target in result.targets():
        lines += target_table(result, target)
    return lines


HOW_TO_READ = """\
## How to read this

- **FLOPs** are counted multiply-accumulates (MACs) of the slim model, i.e. the
  model after the pruned channels are physically removed. The FLOPs ratio is
  slim / dense.
- **Theoretical** FLOPs: column SPP (`spp-column`) and TensorFlow Model
  Optimization's unstructured `prune_low_magnitude` (`tfmot`) do not make the
  model smaller; they zero weights. Their physical FLOPs ratio is (about) 1.0
  and the ratio in parentheses, marked "theoretical", is the kept fraction of
  the weights. Their LiteRT latency ratio shows what that theoretical
  reduction buys on a real runtime. In the plots they have hollow markers and
  are placed at their theoretical ratio; the FLOPs Pareto front is drawn over
  the physically smaller models only.
- **Test accuracy** is mean ± sample standard deviation (n - 1) over the
  seeds that succeeded (n given); a single value when n = 1. "Acc before
  fine-tuning" is the same for the model right after the pruning phase. Failed
  runs are listed under their table with the error and left out of every mean.
- **Latency** is LiteRT (TFLite) with 1 thread, the pruned and the dense model
  timed alternately in one process on a shared 2-core VM; the ratio is
  pruned / dense (medians), the speed-up its inverse. Read it as ±15 %.
- **Fit step-time ratio** is the median wall time of a training step of the
  pruning fit, callbacks included, divided by that of a plain `fit` of the
  dense model measured just before each run. The two are timed one after
  the other, not alternately, so load changes on the shared machine move it
  by ±20 % (a ratio below 1.0 is such noise): read it as a rough indication,
  and `benchmarks/fit_overhead.py` (alternating runs) for the overhead itself.
  **Pruning s** is the wall time of the whole pruning phase.
- **Data set**: a survey of PyPI found no wheel that ships a harder image data
  set (CIFAR-10, Fashion-MNIST, SVHN, ...), and the machine has no internet,
  so MNIST is made harder by a small training subset and 10x compression
  (target FLOPs ratio 0.1).
"""


def notes_section(results: Sequence[CompareResult]) -> list[str]:
    lines: list[str] = []
    for result in results:
        notes = result.doc.get("notes")
        if isinstance(notes, str):
            notes = [notes]
        notes = [str(n) for n in notes or [] if str(n).strip()]
        if notes:
            lines += [f"Notes recorded with `{result.name}`:", "", *(f"- {n}" for n in notes), ""]
    return lines


def render_markdown(results: Sequence[CompareResult], md_path: Path, images: dict[str, dict[str, Path]]) -> str:
    """The whole Markdown document."""
    lines = [
        "# Benchmarks: structured pruning methods compared",
        "",
        "<!-- Generated by benchmarks/report.py from benchmarks/results/*.json. Do not edit by hand. -->",
        "",
        "_This file is generated by `benchmarks/report.py` from `benchmarks/results/*.json` — do not edit "
        "it by hand; re-run `python benchmarks/report.py` instead._",
        "",
    ]
    for result in results:
        lines += result_section(result, md_path.parent, images[result.name])
    lines += HOW_TO_READ.splitlines() + [""]
    lines += notes_section(results)
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------- plots


def _style(method: str, index: int) -> tuple[str, str]:
    return STYLES.get(method) or EXTRA_STYLES[index % len(EXTRA_STYLES)]


def pareto_front(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten by one with lower-or-equal x and higher y, by increasing x."""
    front: list[tuple[float, float]] = []
    best = -math.inf
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y))
            best = y
    return front


def _series(result: CompareResult, x_of) -> dict[str, list[tuple[float, float, float, bool]]]:
    """method -> [(x, accuracy mean, accuracy std, physical)], mildest target first."""
    series: dict[str, list[tuple[float, float, float, bool]]] = {}
    for point in result.all_points():  # targets in decreasing order
        x, y = x_of(point), point.mean("accuracy")
        if x is None or y is None or x <= 0:
            continue
        series.setdefault(point.method, []).append((x, y, point.std("accuracy"), point.physical))
    return series


def _labels(result: CompareResult) -> dict[str, str]:
    return {run["method"]: run.get("label") or run["method"] for run in result.runs}


def _nice_ticks(low: float, high: float) -> list[float]:
    candidates = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0)
    ticks = [t for t in candidates if low * 0.9 <= t <= high * 1.1]
    return ticks or [low, high]


def _save_png_atomic(fig, path: Path) -> Path:
    """Render ``fig`` as PNG and write it to ``path`` atomically."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    return write_atomic(path, buffer.getvalue(), make_parents=True)


def plot_pareto(result: CompareResult, kind: str, path: Path) -> Path:
    """Accuracy vs FLOPs ratio (``kind="flops"``) or vs LiteRT latency ratio (``"latency"``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    if kind == "flops":
        x_of, xlabel = Point.plotted_flops_ratio, "FLOPs ratio, pruned / dense (log scale; hollow: theoretical)"
        front_physical_only, what = True, "FLOPs"
    elif kind == "latency":
        x_of, xlabel = (lambda p: p.mean("latency_ratio")), "measured LiteRT latency ratio, pruned / dense (log scale)"
        front_physical_only, what = False, "LiteRT latency"
    else:
        raise ValueError(f"plot kind must be 'flops' or 'latency', got {kind!r}")
    series, labels = _series(result, x_of), _labels(result)
    dense_acc = result.dense.get("accuracy")
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    try:
        xs: list[float] = [1.0]
        candidates: list[tuple[float, float]] = []
        for index, method in enumerate(_method_order(series)):
            colour, marker = _style(method, index)
            rows = series[method]
            physical = all(r[3] for r in rows)
            ax.errorbar(
                [r[0] for r in rows], [r[1] for r in rows], yerr=[r[2] for r in rows],
                color=colour, marker=marker, markersize=7, linewidth=1, alpha=0.9, capsize=3,
                markerfacecolor=colour if physical else "none", markeredgecolor=colour,
                linestyle="-" if physical else ":",
                label=labels.get(method, method) + ("" if physical else " [not physically smaller]"),
            )
            xs += [r[0] for r in rows]
            candidates += [(r[0], r[1]) for r in rows if r[3] or not front_physical_only]
        if _is_number(dense_acc):
            ax.plot([1.0], [dense_acc], marker="*", markersize=16, color="gold", markeredgecolor="black",
                    linestyle="none", label="dense", zorder=5)
            candidates.append((1.0, dense_acc))
        front = pareto_front(candidates)
        if len(front) > 1:
            fx, fy = zip(*front)
            ax.step(fx, fy, where="post", color="black", linewidth=1.2, alpha=0.6, linestyle="--",
                    label="Pareto front" + (" (physical)" if front_physical_only else ""), zorder=1)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(_nice_ticks(min(xs), max(xs))))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(min(xs) / 1.25, max(xs) * 1.25)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (mean ± std over seeds)")
        settings = result.settings
        title = ", ".join(str(settings[k]) for k in ("dataset", "architecture") if settings.get(k)) or result.name
        ax.set_title(f"{title}\naccuracy vs {what} ({result.name})", fontsize=11)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
        return _save_png_atomic(fig, path)
    finally:
        plt.close(fig)


def image_paths(result: CompareResult, images_dir: Path) -> dict[str, Path]:
    return {
        "flops": images_dir / f"{result.name}_accuracy_vs_flops.png",
        "latency": images_dir / f"{result.name}_accuracy_vs_latency.png",
    }


# ---------------------------------------------------------------- entry points


def generate(
    results: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out_md: str | os.PathLike[str],
    images_dir: str | os.PathLike[str],
) -> Path:
    """Write the Markdown report and two PNGs per compare result; return the Markdown path.

    Args:
        results: a results directory (every ``*.json`` in it is read), a JSON
            file, or a list of either. Files whose ``kind`` is not
            ``"tfprune-compare"`` are ignored.
        out_md: the Markdown file to write (e.g. ``docs/benchmarks.md``).
        images_dir: where the PNG plots go (e.g. ``docs/benchmarks``).

    Raises:
        ReportError: no compare result was found, or one does not follow the
            schema (the message names the file).
    """
    out_md, images_dir = Path(out_md), Path(images_dir)
    loaded = [_with_derived(r) for r in load_results(results)]
    if not loaded:
        raise ReportError(
            f"no {KIND!r} result JSON found in {results}; run benchmarks/compare.py first "
            "or pass the directory / files it wrote."
        )
    names = [r.name for r in loaded]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        paths = [str(r.path) for r in loaded if r.name in duplicates]
        raise ReportError(f"several result files share the name {duplicates}: {paths}; names must be unique.")
    images = {}
    for result in loaded:
        images[result.name] = image_paths(result, images_dir)
        for kind, path in images[result.name].items():
            plot_pareto(result, kind, path)
    text = render_markdown(loaded, out_md, images)
    return write_atomic(out_md, text.encode("utf-8"), make_parents=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results"),
                        help="directory of result JSONs (or one JSON file)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"), help="Markdown file to write")
    parser.add_argument("--images", default=str(ROOT / "docs" / "benchmarks"), help="directory of the PNG plots")
    args = parser.parse_args(argv)
    try:
        path = generate(args.results, args.out, args.images)
    except ReportError as exc:
        print(f"report.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
