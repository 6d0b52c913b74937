"""Make this checkout importable as the package ``coreg`` in a benchmark script and in
every process it starts, whatever the checkout folder is called (QGIS installs the
plugin under its folder name, so the tree has no installable package of its own)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE_DIR = REPO / "benchmarks" / "work" / "pkg"


def register_coreg(*extra: Path) -> None:
    """A folder holding the symlink ``coreg -> checkout`` (and ``extra`` folders) goes
    first on sys.path and on PYTHONPATH, which worker processes inherit."""
    PACKAGE_DIR.mkdir(parents=True, exist_ok=True)
    link = PACKAGE_DIR / "coreg"
    if link.is_symlink() and link.resolve() != REPO:
        link.unlink()
    if not link.is_symlink():
        link.symlink_to(REPO, target_is_directory=True)
    paths = [str(PACKAGE_DIR), *map(str, extra)]
    sys.path[:0] = [p for p in paths if p not in sys.path]
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + ([old] if old else []))


def load_module(name: str, path: Path):
    """The Python file ``path`` as the module ``name``, loaded once: registered in
    sys.modules before it runs (dataclasses look their module up there), and the same
    module for every later caller (tests/corpus.py's name is taken by benchmarks/corpus.py,
    so the benchmarks load it under another)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
