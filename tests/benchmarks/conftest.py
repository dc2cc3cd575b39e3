"""Helpers shared by the benchmark tests: load a script of ``benchmarks/`` or run it.

``benchmarks/`` is not a package (its scripts import each other by path), so a
test either imports a script as a module or runs it as ``make bench`` does, in
a subprocess with the repository on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
from script_loader import load_script

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture(scope="session")
def load_benchmark():
    """``load_benchmark("report")``: ``benchmarks/report.py`` as a fresh module."""

    def load(name: str):
        return load_script(BENCHMARKS / f"{name}.py", f"tfprune_benchmarks_{name}")

    return load


@pytest.fixture(scope="session")
def run_benchmark():
    """``run_benchmark("budget", "--quick", ...)``: run the script from the repository root, check it exits 0."""

    def run(name: str, *argv: str, timeout: float = 1800) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
        command = [sys.executable, str(BENCHMARKS / f"{name}.py"), *map(str, argv)]
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False,
                                cwd=ROOT)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
        return result

    return run
