"""Results files of the benchmarks: what a run measured, and which run it was.

Every figure the READMEs quote comes from a file written here, in ``benchmarks/results/``
(committed), holding the run's ``meta``: date, machine, CPUs, Python and library
versions, the commit of Coreg and whether the engine had uncommitted changes
(``tests/test_docs_figures.py`` checks that every quoted figure is in one).
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


def run_meta(**extra) -> dict:
    """The run: when, where, with what (``extra``: peers' versions and options)."""
    import numpy as np
    import rasterio

    info = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "host": platform.node(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "versions": {"python": sys.version.split()[0], "numpy": np.__version__,
                         "rasterio": rasterio.__version__, "gdal": rasterio.__gdal_version__}}
    git = ["git", "-C", str(REPO)]
    try:
        info["coreg_commit"] = subprocess.run(git + ["rev-parse", "--short", "HEAD"],
                                              capture_output=True, text=True).stdout.strip()
        info["coreg_uncommitted"] = subprocess.run(
            git + ["status", "--porcelain", "--", "core", "algorithms", "cli.py"],
            capture_output=True, text=True).stdout.splitlines()
    except OSError:
        pass
    return {**info, **extra}


def write_results(name: str, payload: dict, path: str | os.PathLike | None = None) -> Path:
    """Write ``payload`` (rows, summary) with the run's ``meta`` as
    ``benchmarks/results/<name>.json`` (or ``path``); returns the file."""
    target = Path(path) if path else RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": payload.pop("meta", None) or run_meta(), **payload}
    target.write_text(json.dumps(document, indent=1, default=float) + "\n", encoding="utf-8")
    return target
