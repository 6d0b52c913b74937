"""Every results file the READMEs quote is rewritten by a rerun for a release.

``make bench-stale`` reruns the rows of ``benchmarks/runs.py`` whose results file is
stale. A file the READMEs quote with no row there (a one-off run, a copy kept by commit)
would stay as it is through a release and state what an older engine measured; its place
is ``docs/history.md``, unless it is a deliberate baseline (``speed.py --checkout``).
"""

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # (a dataclass looks its module up there)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stale():
    return load("stale")


def test_every_quoted_results_file_has_a_run_or_is_a_baseline(stale):
    rows = load("runs").by_results()
    orphans = {name: where for name, where in stale.quoted_results().items()
               if name not in rows and stale.status(name)["state"] != "baseline"}
    assert not orphans, ("quoted, but no row of benchmarks/runs.py writes them (move the "
                         f"text to docs/history.md, or add a row): {orphans}")

