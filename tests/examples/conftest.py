"""Load a script of examples/ as a module, the way the example tests run them."""

from __future__ import annotations

import pathlib

import pytest
from script_loader import load_script

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def load_example():
    def load(name: str):
        return load_script(EXAMPLES / f"{name}.py", f"tfprune_example_{name}")

    return load
