"""Fixtures shared by every test directory."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from testing_models import batch, residual_cnn  # noqa: E402,F401  (fixtures)
