"""Import a script that is not in a package (``examples/``, ``benchmarks/``) as a module."""

from __future__ import annotations

import importlib.util
import pathlib


def load_script(path: pathlib.Path, module_name: str):
    """``path`` executed as a fresh module named ``module_name`` (not added to ``sys.modules``)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
