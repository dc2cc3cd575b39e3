"""Load a script of examples/ as a module, the way the example tests run them."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def load_example():
    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"tfprune_example_{name}", EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
