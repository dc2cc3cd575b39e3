"""Step-time overhead of StructADMM's penalty against plain ``fit``.

The same small ResNet (``tfprune.zoo.small_resnet``) is trained on real MNIST
three ways, one epoch at a time, alternating A B C A B C ... in one process so
that the shared CPU's load affects all alike:

* ``plain``: the Keras model, ordinary ``fit``;
* ``wrapped``: ``prune(model, "l1", ...)`` whose schedule never fires (the
  cost of the PruningWrapper and the callback alone);
* ``admm``: ``prune(model, "admm", ...)`` in its ADMM phase: the loss has
  ``rho/2 ||W - Z + U||^2`` for every pruned layer, and Z/U are updated once
  per epoch (``update_every`` = one epoch, as in the paper's ``E``), so the
  NumPy projection cost is included.

Each epoch is timed from the end of its second batch to the end of its last
batch (every ``fit`` call retraces its train function: the pruning callback
resets it), the first round is dropped, and the medians of the per-step
times of the other rounds are compared. Results go to
``benchmarks/results/admm_overhead.{json,md}``.

Usage::

    python benchmarks/admm_overhead.py                 # 6000 images, 6 rounds
    python benchmarks/admm_overhead.py --train-size 2000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tfprune  # noqa: E402
from tfprune import data, zoo  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _compile(model: keras.Model) -> keras.Model:
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


class _StepTimer(keras.callbacks.Callback):
    """Wall time from the end of batch 1 to the end of the epoch's last batch.

    Excludes the (re)tracing of the train function in the first batches of
    every ``fit`` call; includes every later ``on_train_batch_begin`` (the
    Z/U update), since this callback is listed first.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.count = None, 0

    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            self.start = time.perf_counter()
        elif batch > 1:
            self.count += 1
            self.end = time.perf_counter()

    def per_step(self) -> float:
        return (self.end - self.start) / self.count


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds (after one warm-up round)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)

    (x, y), _ = data.load_mnist()
    x, y = x[: args.train_size], y[: args.train_size]
    ds = data.make_dataset(x, y, args.batch_size, shuffle=False)
    steps = int(np.ceil(len(x) / args.batch_size))
    keras.utils.set_random_seed(0)
    dense = zoo.small_resnet()
    never = tfprune.schedules.ConstantSparsity(0.5, begin_step=10**9, frequency=1)
    # Z/U updates at the middle of every epoch (inside the timed window).
    admm_schedule = tfprune.schedules.ADMMSchedule(
        0.5, admm_steps=10**9, update_every=steps, begin_step=steps // 2)
    models = {
        "plain": (_compile(keras.models.clone_model(dense)), []),
        "wrapped": (_compile(tfprune.prune(dense, "l1", schedule=never, round_to=1)), [tfprune.UpdatePruning()]),
        "admm": (_compile(tfprune.prune(dense, "admm", schedule=admm_schedule, rho=1e-3, round_to=1)),
                 [tfprune.UpdatePruning()]),
    }
    per_step: dict[str, list[float]] = {name: [] for name in models}
    for round_index in range(args.rounds + 1):
        for name, (model, callbacks) in models.items():
            timer = _StepTimer()
            model.fit(ds, epochs=1, verbose=0, callbacks=[timer, *callbacks])
            if round_index:
                per_step[name].append(timer.per_step())
        print(f"round {round_index}: " + ", ".join(
            f"{n} {per_step[n][-1] * 1e3:.2f} ms/step" for n in models if round_index))
    medians = {name: statistics.median(v) for name, v in per_step.items()}
    result = {
        "benchmark": "admm_overhead",
        "args": vars(args),
        "steps_per_epoch": steps,
        "platform": {"python": sys.version.split()[0], "keras": keras.__version__,
                     "backend": keras.backend.backend(), "machine": platform.machine(),
                     "cpus": os.cpu_count(), "load_average_1_5_15": list(os.getloadavg())},
        "ms_per_step": {k: [round(s * 1e3, 4) for s in v] for k, v in per_step.items()},
        "median_ms_per_step": {k: v * 1e3 for k, v in medians.items()},
        "ratio_admm_vs_plain": medians["admm"] / medians["plain"],
        "ratio_wrapped_vs_plain": medians["wrapped"] / medians["plain"],
        "ratio_admm_vs_wrapped": medians["admm"] / medians["wrapped"],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md = "\n".join([
        "# StructADMM step-time overhead (small ResNet, MNIST)",
        "",
        f"{args.train_size} images, batch {args.batch_size}, {steps} steps per epoch; {args.rounds} timed "
        "rounds of one epoch per variant, alternating (first round dropped); each epoch timed from the "
        "end of batch 1 to its end (excludes tracing). The ADMM epoch includes one Z/U update "
        "(projection in NumPy).",
        "",
        "| variant | median ms/step | ratio vs plain |",
        "|---|---|---|",
        *[f"| {k} | {medians[k] * 1e3:.2f} | {medians[k] / medians['plain']:.3f} |" for k in models],
        "",
        f"ADMM penalty alone (admm / wrapped): {result['ratio_admm_vs_wrapped']:.3f}x. "
        f"Load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.",
        "",
    ])
    for name, text in (("admm_overhead.json", json.dumps(result, indent=2)), ("admm_overhead.md", md)):
        tmp = out / (name + ".partial")
        tmp.write_text(text)
        os.replace(tmp, out / name)
    print(md)
    return result


if __name__ == "__main__":
    main()
