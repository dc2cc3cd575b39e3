"""Import hygiene and the public surface of `import tfprune`."""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

import tfprune

PACKAGE = pathlib.Path(tfprune.__file__).parent


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return result.stdout.strip().splitlines()[-1]


def test_import_does_not_load_tfmot_legacy_keras_or_demo_helpers():
    out = _run(
        "import os, sys, json; import tfprune; "
        "demo = sorted(m for m in sys.modules if m.startswith(('tfprune.data', 'tfprune.zoo'))); "
        "import tfprune.data, tfprune.zoo, tfprune.export, tfprune.metrics; "
        "print(json.dumps(['tensorflow_model_optimization' in sys.modules, "
        "'tf_keras' in sys.modules, os.environ.get('TF_USE_LEGACY_KERAS'), demo, "
        "callable(tfprune.zoo.small_resnet), callable(tfprune.data.load_mnist)]))"
    )
    assert json.loads(out) == [False, False, None, [], True, True]


#: Packages and modules of the core: keras.ops and NumPy only (docs/design.md#import-rules).
CORE = ("graph", "layers", "methods", "criteria", "schedules", "selection", "metrics", "convert",
        "pruner.py", "pruning.py", "callbacks.py", "_assign.py", "_gradients.py")


def test_core_never_imports_tensorflow_at_module_level():
    """TensorFlow is imported only inside the functions of the backend glue."""
    offenders = []
    for entry in CORE:
        root = PACKAGE / entry
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            tree = ast.parse(path.read_text())
            in_functions = {
                id(inner)
                for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                for inner in ast.walk(node)
            }
            for node in ast.walk(tree):
                if id(node) in in_functions:
                    continue
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                else:
                    continue
                offenders += [f"{path.relative_to(PACKAGE)}: {n}" for n in names
                              if n == "tensorflow" or n.startswith("tensorflow.")]
    assert offenders == []


def test_no_private_or_legacy_keras_imports_in_the_package():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith(("keras.src", "tf_keras", "tensorflow_model_optimization")):
                    offenders.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert offenders == []


def test_tfmot_schedule_drives_tfprune_prune():
    """A tfmot PolynomialDecay object is accepted by prune (in a subprocess:
    importing tfmot switches the process to Keras 2)."""
    code = """
import json
import tensorflow_model_optimization as tfmot
import numpy as np, keras, tfprune
sched = tfmot.sparsity.keras.PolynomialDecay(0.0, 0.5, begin_step=0, end_step=10, frequency=5)
x = keras.Input((4, 4, 2))
y = keras.layers.Dense(2, name="head")(keras.layers.Flatten()(keras.layers.Conv2D(8, 3, name="conv")(x)))
pruned = tfprune.prune(keras.Model(x, y), "l1", schedule=sched, round_to=None)
pruner = tfprune.Pruner(pruned)
kept = []
for step in range(12):
    pruner.step(step)
    kept.append(int(pruned.get_layer("conv").output_mask.numpy().sum()))
print(json.dumps(kept))
"""
    kept = json.loads(_run(code))
    # tfmot semantics: updates at steps 0, 5, 10 only; 50 % of 8 at the end.
    assert kept[0] == 8 and kept[-1] == 4
    assert kept[5] == kept[9] and kept[4] == kept[0]


def test_public_names():
    expected = {
        "ChannelGraph", "PrunePlan", "Pruner", "PruningWrapper", "UpdatePruning",
        "export_tflite", "make_plan", "prune", "register_rule", "slim", "strip_pruning",
        "count_flops", "count_params", "sensitivity", "SensitivityResult",
        "register_method", "one_shot", "Target",
    }
    assert expected <= set(tfprune.__all__)
    for name in tfprune.__all__:
        assert hasattr(tfprune, name), name
