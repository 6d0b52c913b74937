"""The benchmark runs that write the results files the READMEs quote: one table.

    python3 benchmarks/runs.py [--stale] [--slow] [--only NAME] [--dry-run]

``make bench`` runs every row but the slow ones; ``make bench-stale`` only the rows whose
results file ``benchmarks/stale.py`` finds stale, slow ones included: after it the
READMEs' figures are those of the engine checked out. The READMEs' rendered tables are
then copied from the new files (``render_docs.py``); ``tests/test_docs_figures.py`` names
any other quoted figure a rerun changed. Each row is one results file and the
command that writes it; ``stale.py --commands`` prints these same commands.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: The interpreter the benchmarks run on (make: the venv on Debian's Python, for its PyPI packages).
PYTHON = os.environ.get("BENCH_PYTHON", sys.executable)


@dataclass(frozen=True)
class BenchRun:
    """One results file (``benchmarks/results/<name>.json``) and how it is written."""

    name: str
    script: str
    arguments: tuple[str, ...] = ()
    #: Roughly how long it takes on 2 idle cores, to plan a release rerun.
    minutes: float = 5.0
    #: Longer than ``make bench`` should take: only in ``--slow`` and ``--stale`` runs.
    slow: bool = False
    #: Other results files the same command writes.
    also_writes: tuple[str, ...] = field(default=())

    @property
    def results(self) -> str:
        return f"benchmarks/results/{self.name}.json"

    def command(self, python: str = PYTHON) -> list[str]:
        """The command, from the repository's root, headless."""
        runner = [] if self.script.endswith(".sh") else [python]
        return ["scripts/headless.sh", *runner, self.script, *self.arguments]


def _json(name: str) -> tuple[str, str]:
    return ("--json", f"benchmarks/results/{name}.json")


RUNS: tuple[BenchRun, ...] = (
    BenchRun("run", "benchmarks/run.py", _json("run"), 2),
    BenchRun("speed", "benchmarks/speed.py", _json("speed"), 6),
    BenchRun("corpus", "benchmarks/corpus.py", _json("corpus"), 2),
    BenchRun("large_shift", "benchmarks/large_shift.py", _json("large_shift"), 1),
    BenchRun("crossmodal", "benchmarks/crossmodal.py", _json("crossmodal"), 3),
    BenchRun("dem", "benchmarks/dem.py", _json("dem"), 5),
    BenchRun("dem_icp", "benchmarks/dem.py",
             ("--only", "sensor_shift pipeline:icp", "--only", "longyearbyen pipeline:icp",
              *_json("dem_icp")), 1),
    BenchRun("dem_variogram", "benchmarks/dem_variogram.py", _json("dem_variogram"), 3),
    BenchRun("dem_uncertainty", "benchmarks/dem_uncertainty.py", _json("dem_uncertainty"),
             30, slow=True),
    BenchRun("dem_uncertainty_validation", "benchmarks/dem_uncertainty.py",
             ("--seed", "2027", *_json("dem_uncertainty_validation")), 15, slow=True),
    BenchRun("dem_uncertainty_icp", "benchmarks/dem_uncertainty.py",
             ("--pipeline", "icp", *_json("dem_uncertainty_icp")), 60, slow=True),
    BenchRun("stack", "benchmarks/stack.py", _json("stack"), 3),
    BenchRun("band_math", "benchmarks/band_math.py", _json("band_math"), 2),
    BenchRun("swath", "benchmarks/swath.py", _json("swath"), 3),
    BenchRun("flow_smoothing", "benchmarks/flow.py", _json("flow_smoothing"), 7),
    BenchRun("scale", "benchmarks/scale.py", ("--size", "2048", *_json("scale")), 4),
    BenchRun("scale_4096", "benchmarks/scale.py", ("--size", "4096", *_json("scale_4096")),
             7, slow=True),
    BenchRun("scale_10980", "benchmarks/scale.py", ("--size", "10980", *_json("scale_10980")),
             12, slow=True),
    # the fastest of 3 runs per mode: one run of a job of a few seconds moved its speed-ups
    # by a tenth (docs/history.md)
    BenchRun("scale_dask", "benchmarks/scale_dask.py",
             ("--repeats", "3", *_json("scale_dask")), 7),
    BenchRun("local", "benchmarks/local.py", _json("local"), 7),
    BenchRun("local_large", "benchmarks/local.py",
             ("--large", "--no-arosics", "--no-dense", "--repeat", "1", *_json("local_large")),
             5, slow=True),
    BenchRun("calibration_local", "benchmarks/calibration_local.py", (), 1,
             also_writes=("local_corpus",)),
    BenchRun("stac", "benchmarks/stac.py", (), 3),
    BenchRun("stac_coarse", "benchmarks/stac_coarse.py", (), 2),
    BenchRun("fresh_root-bookworm", "scripts/fresh_root.sh", (), 12, slow=True),
)


def by_results() -> dict[str, BenchRun]:
    """Each results file (repository path) and the run that writes it."""
    table = {}
    for run in RUNS:
        for name in (run.name, *run.also_writes):
            table[f"benchmarks/results/{name}.json"] = run
    return table


def stale_runs() -> list[BenchRun]:
    """The runs of the quoted results files that are not current (``stale.py``)."""
    sys.path.insert(0, str(HERE))
    import stale

    writers = by_results()
    rows = [stale.status(name) for name in sorted(stale.quoted_results())]
    wanted = {writers[r["file"]] for r in rows
              if r["state"] not in ("current", "baseline") and r["file"] in writers}
    return [run for run in RUNS if run in wanted]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stale", action="store_true",
                        help="only the runs whose quoted results file is stale")
    parser.add_argument("--slow", action="store_true", help="the slow runs too")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="only this results file's run (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)
    runs = stale_runs() if args.stale else [r for r in RUNS if args.slow or not r.slow]
    if args.only:
        runs = [r for r in RUNS if r.name in args.only]
    print(f"{len(runs)} run(s), about {sum(r.minutes for r in runs):.0f} min on 2 idle cores",
          flush=True)
    failed = []
    for run in runs:
        command = run.command()
        print("$ " + " ".join(command), flush=True)
        if args.dry_run:
            continue
        start = time.monotonic()
        if subprocess.run(command, cwd=REPO).returncode != 0:
            failed.append(run.name)
        print(f"# {run.name}: {(time.monotonic() - start) / 60:.1f} min", flush=True)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    if runs and not args.dry_run:  # the READMEs' rendered tables from the new files
        sys.path.insert(0, str(HERE))
        import render_docs

        render_docs.main([])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
