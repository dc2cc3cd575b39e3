"""SPP under tf.distribute: every replica trains with the same sampled mask."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

# Logical devices must be configured before TensorFlow starts, so the run
# happens in a fresh interpreter.
SCRIPT = textwrap.dedent(
    """
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    import tfprune
    from testing_models import build_residual_cnn, compile_for_test, dataset

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    report = {"replicas": strategy.num_replicas_in_sync, "steps": [], "mirrored": True}

    class Check(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            # Runs after UpdatePruning drew this step's masks: read them in
            # replica context, i.e. what each replica's forward pass uses.
            step = {}
            for w in tfprune.layers.find_wrappers(self.model):
                for key, var in w.state.items():
                    if not key.startswith("spp_sample"):
                        continue
                    report["mirrored"] &= len(getattr(var.value, "values", ())) == 2
                    per_replica = strategy.experimental_local_results(
                        strategy.run(lambda v=var: tf.identity(v))
                    )
                    values = [np.asarray(t).tolist() for t in per_replica]
                    step[f"{w.name}.{key}"] = values
            report["steps"].append(step)

    with strategy.scope():
        model = build_residual_cnn()
        pruned = compile_for_test(tfprune.prune(model, "spp", sparsity=0.5, A=0.3, seed=0, round_to=None))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 4, size=32)
    pruned.fit(dataset(x, y, batch_size=8), epochs=1, verbose=0,
               callbacks=[tfprune.UpdatePruning(), Check()])
    print("REPORT" + json.dumps(report))
    """
)


@pytest.mark.slow
def test_every_replica_uses_the_same_sampled_mask(tmp_path):
    import pathlib

    tests_dir = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "PYTHONPATH": str(tests_dir)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("REPORT"))
    report = json.loads(line[len("REPORT"):])
    assert report["replicas"] == 2
    assert report["mirrored"]  # the masks are MirroredVariables
    assert len(report["steps"]) == 4
    dropped_somewhere = False
    for step in report["steps"]:
        assert step
        for name, (first, second) in step.items():
            assert first == second, name
            flat = __import__("numpy").asarray(first)
            dropped_somewhere |= bool((flat == 0).any() and (flat == 1).any())
    assert dropped_somewhere  # the comparison is not between all-ones masks
