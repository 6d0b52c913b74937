#!/usr/bin/env python3
"""CPU time of ``align_dem`` on the rows where xdem was faster, this checkout against another.

    /usr/bin/python3 benchmarks/profile_dem.py --base /tmp/coreg_base [--repeats 5] [--json PATH]

``--base`` is an unpacked tree of an older commit (``git archive COMMIT | tar -x -C DIR``).
For each case, both checkouts run alternately in fresh processes: ``align_dem`` once warm
(as ``dem.py`` times it, after an estimate in the same process), then ``--repeats`` times,
measuring the process's CPU time (``time.process_time``: the machine is shared, and CPU time
is what other jobs disturb least) and the wall time. The cases are ``dem.py``'s:
Longyearbyen ``vertical`` and ``nuth_kaab+deramp1``, the synthetic ASTER ``nuth_kaab`` with
its RGI exclusion polygons read by ``vector_mask`` (counted, as in ``dem.py``). Each run's
shift and NMAD are kept, to show the results did not change. Writes
``benchmarks/results/profile_dem.json`` (or ``--json``) and prints a table.
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = (HERE.parent / ".." / "shared" / "data" / "dem").resolve()
LYB = DATA / "longyearbyen"
CASES = ("longyearbyen vertical", "longyearbyen pipeline:nuth_kaab+deramp1",
         "aster_synthetic nuth_kaab")


def case_inputs(case: str) -> dict:
    name, method = case.split()
    if name == "longyearbyen":
        spec = {"ref": LYB / "aligned_elev.tif", "dem": LYB / "DEM_1995.tif", "gpkg": None}
    else:
        sys.path.insert(0, str(HERE))
        from dem import WORK, make_aster_synthetic

        dem, _ = make_aster_synthetic(WORK)
        aster = DATA / "exploradores_aster"
        spec = {"ref": aster / "AST_L1A_00303182012144228_Z.tif", "dem": dem,
                "gpkg": aster / "17_rgi60_glacier_outlines.gpkg"}
    options = ({"pipeline": method.removeprefix("pipeline:")} if method.startswith("pipeline:")
               else {"method": method})
    return {**{k: str(v) if v else None for k, v in spec.items()}, "options": options}


def worker(checkout: str, spec: dict, repeats: int) -> dict:
    """In a fresh process: import Coreg from ``checkout``, run align_dem warm, then time it."""
    with tempfile.TemporaryDirectory(prefix="coreg_pkg_") as folder:
        return timed_runs(Path(folder), checkout, spec, repeats)


def timed_runs(package: Path, checkout: str, spec: dict, repeats: int) -> dict:
    (package / "coreg").symlink_to(Path(checkout).resolve(), target_is_directory=True)
    sys.path.insert(0, str(package))
    from coreg.core.dem.dem import align_dem, estimate_dem_alignment
    from coreg.core.dem.pipeline import estimate_dem_pipeline
    from coreg.core.io.vector_masks import vector_mask

    options, out = spec["options"], str(package / "aligned.tif")

    def job(estimate_only: bool = False):
        exclude = (vector_mask(spec["gpkg"]),) if spec["gpkg"] else ()
        if estimate_only:
            fit = estimate_dem_pipeline if "pipeline" in options else estimate_dem_alignment
            return fit(spec["ref"], spec["dem"], exclude=exclude, **options)
        return align_dem(spec["ref"], spec["dem"], out, exclude=exclude, **options)

    job(estimate_only=True)  # as dem.py: the estimate first, then the timed align_dem
    job()
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        result = job()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return {"cpu_s": cpu, "wall_s": wall, "shift": [result.shift_x, result.shift_y,
                                                    result.shift_z],
            "nmad_after": result.nmad_after}


def run_worker(checkout: Path, spec: dict, repeats: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--worker", str(checkout),
                           json.dumps({**spec, "repeats": repeats})],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def table(rows: list[dict]) -> str:
    lines = ["| case | CPU s, base (min / median) | CPU s, this (min / median) | CPU this / base "
             "| wall s, base / this (min) | same shift and NMAD |", "|---|---|---|---|---|---|"]
    for r in rows:
        b, h = r["base"], r["this"]
        same = (max(abs(x - y) for x, y in zip(b["shift"], h["shift"])) <= 1e-6
                and abs(b["nmad_after"] - h["nmad_after"]) <= 1e-6)
        lines.append(
            f"| {r['case']} | {min(b['cpu_s']):.3f} / {statistics.median(b['cpu_s']):.3f} "
            f"| {min(h['cpu_s']):.3f} / {statistics.median(h['cpu_s']):.3f} "
            f"| {min(h['cpu_s']) / min(b['cpu_s']):.2f} "
            f"| {min(b['wall_s']):.3f} / {min(h['wall_s']):.3f} | {'yes' if same else 'NO'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", help="unpacked tree of the commit to compare with")
    p.add_argument("--base-commit", default=None, help="its commit, for the results file")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", default=None)
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        spec = json.loads(a.worker[1])
        print(json.dumps(worker(a.worker[0], spec, spec.pop("repeats"))))
        return 0
    from checkout import register_coreg
    from results import run_meta, write_results

    register_coreg()
    import coreg.core.dem.pipeline  # noqa: F401  (the engine files this run measures)

    rows = []
    for case in CASES:
        spec = case_inputs(case)
        row = {"case": case, "spec": spec}
        for label, checkout in (("base", Path(a.base)), ("this", HERE.parent)):
            row[label] = run_worker(checkout, spec, a.repeats)
            print(f"{case} {label}: {row[label]}", file=sys.stderr)
        row["cpu_this_over_base"] = min(row["this"]["cpu_s"]) / min(row["base"]["cpu_s"])
        rows.append(row)
    text = table(rows)
    print(text)
    written = write_results("profile_dem", {"meta": run_meta(base_commit=a.base_commit,
                                                              repeats=a.repeats),
                                            "table": text, "rows": rows}, a.json)
    print(f"results: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
