"""Results files of the benchmarks: what a run measured, and which run it was.

Every figure the READMEs quote comes from a file written here, in ``benchmarks/results/``
(committed), holding the run's ``meta``: date, machine, CPUs, Python and library
versions, the commit of Coreg and whether the engine had uncommitted changes
(``tests/test_docs_figures.py`` checks that every quoted figure is in one).

The commit is the one checked out when the run began (:func:`start_run`, called when this
module is imported, i.e. when a benchmark starts): a benchmark runs for minutes while the
branch may move under it, and the code that ran is the code that was there at the start.
If the checkout changed meanwhile, ``coreg_commit_at_end`` says to what.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
#: What the uncommitted-changes check looks at: the engine and what drives it.
ENGINE_PATHS = ("core", "algorithms", "cli.py", "tests/corpus.py", "tests/local_corpus.py",
                "tests/linear_corpus.py", "tests/kernels.py")
#: Where checkout.register_coreg links the checkout as the package ``coreg``.
LINKED_CHECKOUT = "benchmarks/work/pkg/coreg/"
#: Engine paths a run uses out of process, when it times ``qgis_process``, the CLI or
#: Coreg in child processes (:func:`runs_processes`): its imports do not show them.
PROCESS_PATHS = ("__init__.py", "algorithms", "provider", "cli.py", "core")

_START: dict = {}
_PROCESSES: list[bool] = []


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    except OSError:
        return None
    return proc.stdout if proc.returncode == 0 else None


def checkout_state() -> dict:
    """The commit checked out now and the engine files that differ from it."""
    commit, status = _git("rev-parse", "--short", "HEAD"), _git(
        "status", "--porcelain", "--", *ENGINE_PATHS)
    state = {}
    if commit is not None:
        state["coreg_commit"] = commit.strip()
    if status is not None:
        state["coreg_uncommitted"] = status.splitlines()
    return state


def start_run() -> dict:
    """Record when the run began and the checkout it began on (once per process)."""
    if not _START:
        _START.update(date=datetime.datetime.now().isoformat(timespec="seconds"),
                      **checkout_state())
    return dict(_START)


def run_meta(**extra) -> dict:
    """The run: when (start and end), where, with what (``extra``: peers' versions and
    options); the commit is the one the run started on."""
    import numpy as np
    import rasterio
    import scipy

    start = start_run()
    info = {"date": start["date"],
            "finished": datetime.datetime.now().isoformat(timespec="seconds"),
            "host": platform.node(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "versions": {"python": sys.version.split()[0], "numpy": np.__version__,
                         "scipy": scipy.__version__, "rasterio": rasterio.__version__,
                         "gdal": rasterio.__gdal_version__}}
    info.update({k: v for k, v in start.items() if k != "date"})
    end = checkout_state().get("coreg_commit")
    if end and end != start.get("coreg_commit"):
        info["coreg_commit_at_end"] = end
    info.update(script=script_path(), interpreter=sys.executable, arguments=sys.argv[1:],
                engine_files=engine_files())
    return {**info, **extra}


def script_path() -> str | None:
    """The benchmark that is running, as a repository path."""
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    try:
        return Path(main).resolve().relative_to(REPO).as_posix() if main else None
    except ValueError:
        return None


def runs_processes() -> None:
    """Say that this run times Coreg as whole processes (``qgis_process``, the CLI) or
    runs it in child processes."""
    _PROCESSES.append(True)


def engine_files() -> list[str]:
    """The repository's modules this run imported, and what its Coreg processes ran
    (:func:`runs_processes`): a rerun is due when one changes (``benchmarks/stale.py``)."""
    used = set(PROCESS_PATHS if _PROCESSES else ())
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path:
            continue
        try:
            relative = Path(path).resolve().relative_to(REPO).as_posix()
        except ValueError:
            continue
        # The checkout as imported through benchmarks/work/pkg/coreg (checkout.py's link),
        # which a script may have removed by now: the engine's own file all the same.
        relative = relative.removeprefix(LINKED_CHECKOUT)
        if not relative.startswith(("benchmarks/", ".")):  # not the benchmarks, not a venv
            used.add(relative)
    return sorted(used)


def write_results(name: str, payload: dict, path: str | os.PathLike | None = None) -> Path:
    """Write ``payload`` (rows, summary) with the run's ``meta`` as
    ``benchmarks/results/<name>.json`` (or ``path``); returns the file."""
    target = Path(path) if path else RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": payload.pop("meta", None) or run_meta(), **payload}
    target.write_text(json.dumps(document, indent=1, default=_jsonable) + "\n",
                      encoding="utf-8")
    return target


def _jsonable(value):
    """numpy scalars as numbers, paths and anything else as text."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


start_run()
