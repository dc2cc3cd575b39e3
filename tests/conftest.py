"""Fixtures shared by every test directory."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from testing_models import batch, residual_cnn  # noqa: E402,F401  (fixtures)


import pytest  # noqa: E402


def _restored(mapping):
    """Yield once, then put ``mapping`` back as it was."""
    saved = dict(mapping)
    yield
    mapping.clear()
    mapping.update(saved)


@pytest.fixture
def registry_snapshot():
    """Undo tfprune.register_rule calls made by a test."""
    from tfprune.graph import rules

    yield from _restored(rules._REGISTRY)


@pytest.fixture
def method_registry():
    """Undo tfprune.register_method calls made by a test."""
    from tfprune import methods

    yield from _restored(methods._FACTORIES)
