"""tfmot interop: same `(should_prune, sparsity)` as tfmot, no side effect.

Importing `tensorflow_model_optimization` sets ``TF_USE_LEGACY_KERAS=1`` for
the process, so everything touching tfmot runs in a subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import tfprune.schedules

_REPO_ROOT = pathlib.Path(tfprune.schedules.__file__).resolve().parents[2]


def _run(code: str) -> str:
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "TF_USE_LEGACY_KERAS"
    }
    env["PYTHONPATH"] = os.pathsep.join(
        [str(_REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


requires_tfmot = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow_model_optimization") is None,
    reason="tensorflow-model-optimization is not installed (test extra)",
)

_COMPARE = """
import json
import tensorflow_model_optimization as tfmot
import tfprune.schedules

sparsity = tfmot.sparsity.keras
cases = [
    sparsity.PolynomialDecay(0.1, 0.9, begin_step=10, end_step=510, power=3,
                             frequency=7),
    sparsity.PolynomialDecay(0.0, 0.5, begin_step=0, end_step=100, power=1,
                             frequency=1),
    sparsity.PolynomialDecay(0.2, 0.8, begin_step=0, end_step=1000),
    sparsity.PolynomialDecay(0.7, 0.3, begin_step=50, end_step=300, power=2.5,
                             frequency=25),
    sparsity.ConstantSparsity(0.6, begin_step=5, end_step=200, frequency=13),
    sparsity.ConstantSparsity(0.3, begin_step=0),
]
steps = list(range(0, 1200)) + [5000, 10**6]
out = []
for tfmot_schedule in cases:
    ours = tfprune.schedules.get(tfmot_schedule)
    rows = []
    for step in steps:
        should_prune, value = tfmot_schedule(step)
        rows.append([step, bool(should_prune.numpy()), float(value.numpy()),
                     *ours(step)])
    out.append({
        "tfmot_class": type(tfmot_schedule).__name__,
        "tfmot_config": tfmot_schedule.get_config(),
        "ours_class": type(ours).__name__,
        "ours_module": type(ours).__module__,
        "ours_config": ours.get_config(),
        "rows": rows,
    })
print(json.dumps(out))
"""


@requires_tfmot
def test_tfmot_schedules_convert_and_match():
    cases = json.loads(_run(_COMPARE))
    assert len(cases) == 6
    for case in cases:
        assert case["ours_class"] == case["tfmot_class"]
        assert case["ours_module"].startswith("tfprune.schedules")
        assert case["ours_config"] == pytest.approx(
            case["tfmot_config"]["config"]
        )
        for step, tfmot_prune, tfmot_sparsity, prune, value in case["rows"]:
            assert prune == tfmot_prune, (case["tfmot_class"], step)
            # tfmot computes in float32.
            assert value == pytest.approx(tfmot_sparsity, abs=1e-6), step
        assert any(row[1] for row in case["rows"])
        assert not all(row[1] for row in case["rows"])


def test_import_does_not_import_tfmot_nor_set_legacy_keras():
    output = _run(
        """
        import json, os, sys
        import tfprune.schedules
        import tfprune.schedules.base, tfprune.schedules.constant
        import tfprune.schedules.polynomial
        tfprune.schedules.get(0.5)
        print(json.dumps({
            "tfmot": any(name.startswith("tensorflow_model_optimization")
                         for name in sys.modules),
            "tf_keras": "tf_keras" in sys.modules,
            "legacy": os.environ.get("TF_USE_LEGACY_KERAS"),
        }))
        """
    )
    assert json.loads(output) == {
        "tfmot": False,
        "tf_keras": False,
        "legacy": None,
    }
