"""The benchmarks' own tools (``benchmarks/<name>.py``), loaded by path for the tests that
check them: benchmarks/ is not a package."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def benchmark_module(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a module (a fresh one each call)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
