"""``BackupAndRestore`` resumes pruning exactly, whatever the callback order.

In-process: ``fit`` stops with an exception before step ``INTERRUPT_STEP``
(mid-epoch 2; the backup is from the end of epoch 1), a fresh pruned model
resumes from the backup, and its masks at every later step equal those of an
uninterrupted run. ``test_recovery.py`` does the same across processes, with
SIGKILL and under ``MultiWorkerMirroredStrategy``.
"""

from __future__ import annotations

import numpy as np
import pytest

import pruning_runs as runs


def _resume(method, tmp_path):
    reference = runs.fit(runs.build(method), {})
    with pytest.raises(runs.Interrupted):
        runs.fit(runs.build(method), {}, backup_dir=tmp_path, stop_at=runs.INTERRUPT_STEP)
    return reference, runs.fit(runs.build(method), {}, backup_dir=tmp_path)


# Fuzzy and LRF lost the restored masks when UpdatePruning came before
# BackupAndRestore in `callbacks` (the pruner read the masks before the restore).
@pytest.mark.slow
@pytest.mark.parametrize("method", ["fuzzy", "lrf"])
def test_resumed_run_has_the_masks_of_an_uninterrupted_one(method, tmp_path):
    reference, resumed = _resume(method, tmp_path)
    steps = sorted({int(k.split("|")[0]) for k in resumed if not k.startswith("final")})
    # Resumed from the backup at the end of epoch 1, not from scratch.
    assert steps == list(range(runs.STEPS_PER_EPOCH, runs.EPOCHS * runs.STEPS_PER_EPOCH))
    masks = [k for k in resumed if "mask" in k]
    assert any((reference[k] < 0.5).any() for k in masks if k.startswith("final"))
    # More channels were pruned after the restored backup (whose masks are
    # those of the last step of epoch 1), so stale masks would show.
    backed_up = runs.STEPS_PER_EPOCH - 1
    assert any(not np.array_equal(reference[f"{backed_up}|{k.split('|')[1]}"], reference[k])
               for k in masks if k.startswith("final"))
    for key in masks:
        np.testing.assert_array_equal(resumed[key], reference[key], err_msg=key)
    for key in resumed:  # method state (fuzzy history, ...) too
        np.testing.assert_allclose(resumed[key], reference[key], atol=1e-6, err_msg=key)
