"""The end of ``tfprune prune``: slim, measure, export, and write the report.

:func:`finish` turns the trained pruned model into the files of the run, in a
staging directory that :mod:`tfprune.cli_prune` moves into ``--out`` once all
are complete:

- ``slim.keras``: the slim model (:func:`tfprune.slim`; loads without tfprune);
- ``slim.tflite`` (float32) and, with ``--quantize int8``,
  ``slim.int8.tflite`` calibrated on training samples; ``dense.tflite``, the
  reference the latency is timed against; each with its JSON sidecar;
- ``widths.png``: per-layer widths, dense vs slim (:func:`tfprune.plot_widths`);
- ``report.json`` and ``report.md``: parameters and FLOPs (MACs) of the dense
  and slim models, the requested target and the one reached, validation
  accuracy before and after (Keras, and LiteRT for the exported files),
  LiteRT latency of dense and slim timed side by side in alternating rounds
  (:func:`tfprune.compare_latency`), the training history, and the width of
  every layer before and after (:func:`tfprune.report.layer_widths`).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import keras

import tfprune
from tfprune import cli_prune
from tfprune._atomic import save_keras_atomic
from tfprune.selection import Target

#: Validation examples the LiteRT accuracy is measured on (at most).
TFLITE_EVAL_EXAMPLES = 2000


def finish(
    pruned: keras.Model,
    dense: keras.Model,
    source: Any,
    validation: Any,
    state: dict[str, Any],
    args: argparse.Namespace,
    staging: Path,
) -> dict[str, Any]:
    """Slim, evaluate, export and report into ``staging``; return the report."""
    small = tfprune.slim(pruned)
    save_keras_atomic(small, staging / "slim.keras")  # uncompiled: loads without optimizer warnings
    files: dict[str, str] = {"slim_keras": "slim.keras"}
    cli_prune.compile_model(small, args)
    slim_eval = cli_prune.evaluate_model(small, validation, args)

    units = dense.output_shape[-1]
    labels = source.class_names if source.class_names and len(source.class_names) == units else None
    exported = {
        "dense_tflite": tfprune.export_tflite(dense, staging / "dense.tflite", labels=labels),
        "tflite": tfprune.export_tflite(small, staging / "slim.tflite", labels=labels),
    }
    if args.quantize == "int8":
        calibration = source.train_in_order(args.seed).take(args.calibration_samples).batch(args.batch_size)
        exported["int8_tflite"] = tfprune.export_tflite(
            small, staging / "slim.int8.tflite", quantize="int8", representative_data=calibration,
            max_calibration_samples=args.calibration_samples, labels=labels,
        )
    for key, path in exported.items():
        files[key] = path.name
        sidecar = path.with_suffix(".json")
        if sidecar.is_file():
            files[key + "_sidecar"] = sidecar.name

    litert = {
        key: tfprune.evaluate_tflite(path, validation, max_examples=TFLITE_EVAL_EXAMPLES)["accuracy"]
        for key, path in exported.items() if key != "dense_tflite"
    }
    latency = None
    if args.latency_rounds:
        latency = tfprune.compare_latency(exported["dense_tflite"], exported["tflite"], rounds=args.latency_rounds,
                                          num_threads=args.threads)
    latency_check = _latency_check(pruned, small, args)

    files["widths_png"] = tfprune.plot_widths(small, staging / "widths.png", reference=dense).name
    report = _report(dense, small, source, state, args, slim_eval, litert, latency, exported, files, latency_check)
    files["report_json"], files["report_md"] = "report.json", "report.md"
    (staging / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (staging / "report.md").write_text(markdown(report), encoding="utf-8")
    return report


def _latency_check(pruned: keras.Model, small: keras.Model, args: argparse.Namespace) -> dict[str, Any] | None:
    """For a latency target: the table's prediction, and (with ``--latency-rounds``) the measured latency.

    The measurement is :func:`tfprune.latency.predicted_vs_measured`: dense
    and slim exported as the target is deployed (float32, or full integer
    with ``--quantize int8``) and timed A/B with the target's threads.
    """
    if not Target.parse(args.target).is_latency:
        return None
    from tfprune import latency

    pruner = tfprune.Pruner(pruned)
    if args.latency_rounds:
        measured = latency.predicted_vs_measured(pruner, small, rounds=args.latency_rounds)
        return {k: v for k, v in measured.items() if k != "compare"}
    model = pruner.cost_model.latency
    predicted = model.predict(pruner.keep)
    return {"predicted_ms": predicted, "table_dense_ms": model.dense_ms, "predicted_ratio": predicted / model.dense_ms}


def _report(dense, small, source, state, args, slim_eval, litert, latency, exported, files,
            latency_check=None) -> dict[str, Any]:
    """The content of report.json."""
    counts = {
        "dense": {"params": tfprune.count_params(dense), "flops": tfprune.count_flops(dense)},
        "slim": {"params": tfprune.count_params(small), "flops": tfprune.count_flops(small)},
    }
    target = Target.parse(args.target)
    if target.is_latency:  # milliseconds: the table's prediction is what the budget holds to
        dense_cost, slim_cost = latency_check["table_dense_ms"], latency_check["predicted_ms"]
    else:
        dense_cost, slim_cost = counts["dense"][target.metric], counts["slim"][target.metric]
    requested = target.absolute(dense_cost)
    dense_row = {**counts["dense"], "accuracy": state["dense"]["accuracy"], "loss": state["dense"]["loss"]}
    slim_row = {
        **counts["slim"], **slim_eval,
        "tflite_accuracy": litert.get("tflite"),
        "int8_tflite_accuracy": litert.get("int8_tflite"),
        "tflite_bytes": os.path.getsize(exported["tflite"]),
    }
    if "int8_tflite" in exported:
        slim_row["int8_tflite_bytes"] = os.path.getsize(exported["int8_tflite"])
    dense_row["tflite_bytes"] = os.path.getsize(exported["dense_tflite"])
    settings = {k: v for k, v in state["settings"].items() if k != "model_sha256"}
    return {
        "settings": {**settings, "finetune_epochs": args.finetune_epochs, "quantize": args.quantize},
        "data": {
            "description": source.description, "num_train": source.num_train,
            "num_validation": source.num_validation, "num_classes": source.num_classes,
            "class_names": source.class_names,
        },
        "dense": dense_row,
        "slim": slim_row,
        "ratios": {k: counts["slim"][k] / counts["dense"][k] for k in ("params", "flops")},
        "target": {
            "metric": target.metric, "requested": requested, "requested_fraction": requested / dense_cost,
            "achieved": slim_cost, "achieved_fraction": slim_cost / dense_cost,
            "met": slim_cost <= requested * (1 + 1e-9),
            # tfprune.prune's guarantee: at most the target and within 2% of the dense cost of it.
            "within_2_percent": requested - 0.02 * dense_cost <= slim_cost <= requested * (1 + 1e-9),
        },
        "latency": None if latency is None else {
            **latency, "a": "dense.tflite", "b": "slim.tflite", "load_average": list(os.getloadavg()),
        },
        "latency_target": latency_check,
        "history": [
            {**row, "phase": "prune" if row["epoch"] <= args.epochs else "finetune"} for row in state["history"]
        ],
        "layers": tfprune.report.layer_widths(small, reference=dense),
        "files": files,
    }


def summary_line(report: dict[str, Any]) -> str:
    """One line for the terminal."""
    d, s, t = report["dense"], report["slim"], report["target"]
    text = (
        f"tfprune prune: params {d['params']:,} -> {s['params']:,} ({report['ratios']['params']:.3f}x), "
        f"FLOPs {d['flops']:,} -> {s['flops']:,} ({report['ratios']['flops']:.3f}x; target "
        f"{t['metric']} <= {t['requested_fraction']:.3g}x {'met' if t['met'] else 'NOT met'}), "
        f"accuracy {d['accuracy']:.4f} -> {s['accuracy']:.4f}"
    )
    if report["latency"]:
        text += f", LiteRT latency {report['latency']['speedup']:.2f}x as fast"
    check = report.get("latency_target")
    if check and "measured_ms" in check:
        text += (f"; latency target: predicted {check['predicted_ms']:.3f} ms, measured {check['measured_ms']:.3f} ms "
                 f"({check['measured_ratio']:.3f}x dense)")
    return text


def _fmt(value: Any, spec: str = ",") -> str:
    return "n/a" if value is None else format(value, spec)


def markdown(report: dict[str, Any]) -> str:
    """``report.md``: the report's numbers as Markdown tables."""
    d, s, t, st = report["dense"], report["slim"], report["target"], report["settings"]
    lines = [
        "# tfprune prune report",
        "",
        f"Model `{st['model']}`, data: {report['data']['description']}; "
        f"method `{st['method']}`, target `{st['target']}`, {st['epochs']} pruning + "
        f"{st['finetune_epochs']} fine-tuning epoch(s), loss `{st['loss']}`, optimizer "
        f"`{st['optimizer']}` (learning rate {st['learning_rate']:g}), batch size {st['batch_size']}.",
        "",
        "| | dense | slim | slim / dense |",
        "| --- | ---: | ---: | ---: |",
        f"| parameters | {d['params']:,} | {s['params']:,} | {report['ratios']['params']:.3f} |",
        f"| FLOPs (MACs per example) | {d['flops']:,} | {s['flops']:,} | {report['ratios']['flops']:.3f} |",
        f"| validation accuracy (Keras) | {d['accuracy']:.4f} | {s['accuracy']:.4f} | "
        f"{s['accuracy'] - d['accuracy']:+.4f} |",
        f"| validation accuracy (LiteRT float32) | | {_fmt(s['tflite_accuracy'], '.4f')} | |",
    ]
    if s.get("int8_tflite_accuracy") is not None:
        lines.append(f"| validation accuracy (LiteRT int8) | | {s['int8_tflite_accuracy']:.4f} | |")
    lines.append(f"| .tflite size (bytes, float32) | {d['tflite_bytes']:,} | {s['tflite_bytes']:,} | "
                 f"{s['tflite_bytes'] / d['tflite_bytes']:.3f} |")
    latency = report["latency"]
    if latency:
        lines.append(
            f"| LiteRT latency, median ms ({latency['threads']} thread, batch {latency['batch_size']}) | "
            f"{latency['median_a_ms']:.3f} | {latency['median_b_ms']:.3f} | {latency['ratio']:.3f} |"
        )
    check = report.get("latency_target")
    if check:
        requested, achieved = f"{t['requested']:.3f} ms", f"{t['achieved']:.3f} ms predicted"
    else:
        requested, achieved = f"{t['requested']:,.0f}", f"{t['achieved']:,}"
    lines += [
        "",
        f"**Target:** {t['metric']} <= {requested} ({t['requested_fraction']:.3g} x dense); "
        f"reached {achieved} ({t['achieved_fraction']:.3g} x dense): "
        f"**{'met' if t['met'] else 'not met'}**"
        + ("." if t["within_2_percent"] or not t["met"] else
           " (more than 2% below it: the channel counts could not land closer; see the BudgetWarning).")
        ,
    ]
    if check and "measured_ms" in check:
        noisy = " (noisy: the rounds spread more than 10 %)" if check["noisy"] else ""
        lines += [
            "",
            f"**Latency target, predicted vs measured** (LiteRT, {check['threads']} thread(s), "
            f"{check['quantize'] or 'float32'}): the latency table predicted {check['predicted_ms']:.3f} ms "
            f"({check['predicted_ratio']:.3f} x dense), measured {check['measured_ms']:.3f} ms "
            f"({check['measured_ratio']:.3f} x the dense {check['dense_ms']:.3f} ms timed alongside){noisy}; "
            f"prediction error {check['relative_error']:.1%}.",
        ]
    elif check:
        lines += ["", f"**Latency target:** the latency table predicted {check['predicted_ms']:.3f} ms "
                  "(not measured: --latency-rounds 0)."]
    if latency:
        lines += [
            "",
            f"Latency: dense.tflite and slim.tflite timed side by side in {latency['rounds']} alternating "
            f"rounds of {latency['runs_per_round']} invokes (load average "
            f"{', '.join(f'{x:.2f}' for x in latency['load_average'])}); slim is "
            f"{latency['speedup']:.2f}x as fast.",
        ]
    if report["history"]:
        keys = [k for k in ("loss", "accuracy", "val_loss", "val_accuracy", "pruned_fraction")
                if k in report["history"][0]]
        lines += ["", "## Training", "", "| epoch | phase | " + " | ".join(keys) + " |",
                  "| ---: | --- |" + " ---: |" * len(keys)]
        for row in report["history"]:
            lines.append(f"| {row['epoch']} | {row['phase']} | " + " | ".join(f"{row[k]:.4f}" for k in keys) + " |")
    lines += ["", "## Layer widths", "", "Output channels before -> after; params and FLOPs of the slim model.",
              "", tfprune.report.to_markdown(report["layers"]).rstrip("\n"), "", "![layer widths](widths.png)"]
    lines += ["", "## Files", ""] + [f"- `{name}`" for name in sorted(set(report["files"].values()))]
    return "\n".join(lines) + "\n"
