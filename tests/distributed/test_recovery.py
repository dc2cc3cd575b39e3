"""Multi-worker training and crash recovery (issue 16, part 5).

Each test starts worker processes (``worker.py``): ``tf.distribute`` needs
its own interpreter, and SIGKILL ends one. Every method that prunes inside
``fit`` trains ``pruning_runs``' tiny CNN for 3 epochs of 4 steps; the masks
(and the method's state variables) every step trains with are recorded, and:

* under ``MultiWorkerMirroredStrategy`` (two workers on 127.0.0.1) both
  workers have identical masks at every step, uninterrupted and resumed;
* a run killed with SIGKILL mid-pruning, resumed in a fresh process with
  ``keras.callbacks.BackupAndRestore``, has the masks of an uninterrupted run
  at every step after the backup.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import pruning_runs as runs
import tfprune

WORKER = pathlib.Path(__file__).with_name("worker.py")
PYTHONPATH = os.pathsep.join([str(pathlib.Path(tfprune.__file__).parents[1]), str(WORKER.parents[1])])
#: Per launch; generous because the test machine is shared (a launch takes
#: 0.5-3 min there).
TIMEOUT = 900
#: How long a worker may outlive its peer.
GRACE = 120


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _launch(phase: str, out: pathlib.Path, methods: list[str], workers: int = 1) -> list[int]:
    """Run ``worker.py phase`` in ``workers`` processes; their exit codes.

    Every process still running when this returns or raises (timeout, a
    failing worker leaving its peer waiting) is killed.
    """
    cluster = [f"127.0.0.1:{port}" for port in _free_ports(workers)] if workers > 1 else None
    procs = []
    try:
        for index in range(workers):
            env = {**os.environ, "PYTHONPATH": PYTHONPATH, "TF_CPP_MIN_LOG_LEVEL": "2"}
            env.pop("TF_CONFIG", None)
            if cluster:
                env["TF_CONFIG"] = json.dumps({"cluster": {"worker": cluster},
                                               "task": {"type": "worker", "index": index}})
            with open(out / f"{phase}-{index}.log", "w") as log:
                procs.append(subprocess.Popen([sys.executable, str(WORKER), phase, str(out), *methods],
                                              env=env, stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + TIMEOUT
        while any(proc.poll() is None for proc in procs):
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker.py {phase} ran for more than {TIMEOUT} s:\n{_logs(out, phase)}")
            if any(proc.poll() is not None for proc in procs):
                # The workers move in lockstep (every step is an all-reduce),
                # so a worker that outlives its peer by GRACE is stuck.
                deadline = min(deadline, time.monotonic() + GRACE)
            time.sleep(0.2)
        return [proc.returncode for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _logs(out: pathlib.Path, phase: str) -> str:
    return "\n".join(f"--- {p.name}\n" + p.read_text()[-3000:] for p in sorted(out.glob(f"{phase}-*.log")))


def _load(path: pathlib.Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def _kill_then_resume(out: pathlib.Path, methods: list[str], workers: int) -> None:
    codes = _launch("run", out, methods, workers)
    assert codes == [-signal.SIGKILL] * workers, _logs(out, "run")
    suffixes = [f"-w{i}" for i in range(workers)] if workers > 1 else [""]
    assert all((out / f"killed{s}").exists() for s in suffixes)  # killed where intended
    codes = _launch("resume", out, methods, workers)
    assert codes == [0] * workers, _logs(out, "resume")


def _check_resumed(full: dict, resumed: dict, method: str) -> None:
    steps = sorted({int(k.split("|")[0]) for k in resumed if "|" in k and not k.startswith("final")})
    # Resumed from the backup of the first epoch, not from scratch.
    assert steps == list(range(runs.STEPS_PER_EPOCH, runs.EPOCHS * runs.STEPS_PER_EPOCH)), method
    masks = [k for k in resumed if k.endswith("_mask")]
    finals = [k for k in masks if k.startswith("final|")]
    assert any((full[k] < 0.5).any() for k in finals), f"{method}: nothing was pruned"
    backed_up = runs.STEPS_PER_EPOCH - 1
    assert any(not np.array_equal(full[f"{backed_up}|{k[6:]}"], full[k]) for k in finals), (
        f"{method}: no mask changed after the backup, the comparison would not see stale masks"
    )
    for key in masks:
        np.testing.assert_array_equal(resumed[key], full[key], err_msg=f"{method} {key}")
    for key in resumed:  # every method state variable (SPP samples, ADMM Z/U, fuzzy history...)
        np.testing.assert_allclose(resumed[key], full[key], atol=1e-6, err_msg=f"{method} {key}")


@pytest.mark.slow
def test_two_workers_agree_at_every_step_and_resume_after_sigkill(tmp_path):
    # ADMM is killed mid-ADMM phase (its hard prune comes after the resume);
    # the other methods resume from the first-epoch backup of their run.
    methods = [m for m in runs.METHODS if m != "admm"] + ["admm"]
    _kill_then_resume(tmp_path, methods, workers=2)
    for method in methods:
        for run in ("full", "resumed"):
            first, second = (_load(tmp_path / f"{method}-{run}-w{i}.npz") for i in range(2))
            assert int(first.pop("replicas")) == int(second.pop("replicas")) == 2
            assert first.keys() == second.keys()
            for key in first:
                np.testing.assert_array_equal(first[key], second[key], err_msg=f"{method} {run} {key}")
        _check_resumed(_load(tmp_path / f"{method}-full-w0.npz"),
                       _load(tmp_path / f"{method}-resumed-w0.npz"), method)


@pytest.mark.slow
def test_sigkill_mid_pruning_then_resume_gives_the_uninterrupted_masks(tmp_path):
    methods = ["lrf", "spp_filter"]  # SPP is killed; its masks are random draws keyed by step
    _kill_then_resume(tmp_path, methods, workers=1)
    for method in methods:
        _check_resumed(_load(tmp_path / f"{method}-full.npz"), _load(tmp_path / f"{method}-resumed.npz"), method)
