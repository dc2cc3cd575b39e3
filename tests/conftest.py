"""Fixtures shared by every test directory."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from testing_models import batch, residual_cnn  # noqa: E402,F401  (fixtures)


import pytest  # noqa: E402


@pytest.fixture
def registry_snapshot():
    """Undo tfprune.register_rule calls made by a test."""
    from tfprune.graph import rules

    saved = dict(rules._REGISTRY)
    yield
    rules._REGISTRY.clear()
    rules._REGISTRY.update(saved)
