#!/usr/bin/env python3
"""Calibration of the DEM pipeline's uncertainty (block bootstrap + terrain jackknife).

Run with ``/usr/bin/python3 benchmarks/dem_uncertainty.py [--cases N] [--replicates B]
[--pipeline nuth_kaab+deramp1|icp]``.
Over sensor-simulated pairs (tests/dem_sensor.py: block averages of the real Longyearbyen
DEM, whole-fine-pixel shifts, a tilt, Gaussian noise and, every other case, spatially
correlated noise), it fits ``nuth_kaab+deramp1`` (or ``icp``: the same cases without the
tilt, which a rigid rotation does not model, the truth of its rotations being zero) with
the bootstrap and counts how often the truth lies in each term's 95 % interval. A
calibrated interval covers it 90-98 % of the time. The coverage of the bootstrap's part
alone (+- 1.96 of its standard errors, the method before the terrain jackknife) and of
both parts in quadrature are counted on the same fits. Writes
benchmarks/results/dem_uncertainty.json (``dem_uncertainty_icp.json`` for icp; or --json)
with the run's meta (benchmarks/results.py) and prints a table.
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from checkout import register_coreg  # noqa: E402
from results import RESULTS, run_meta, write_results  # noqa: E402
from scipy import ndimage  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))
PIPELINES = ("nuth_kaab+deramp1", "icp")
#: The old interval: +- this many bootstrap standard errors (normal quantile).
Z95 = 1.959964


def case_list(n: int, seed: int = 2026, tilted: bool = True):
    from dem_sensor import SensorCase

    rng = np.random.default_rng(seed)
    for k in range(n):
        tilt = (float(rng.uniform(-3e-4, 3e-4)), float(rng.uniform(-3e-4, 3e-4)))
        yield k, SensorCase(offset=(int(rng.integers(0, 4)), int(rng.integers(0, 4))),
                            dz=float(rng.uniform(-5, 5)), noise=float(rng.uniform(0.5, 2.0)),
                            tilt=tilt if tilted else (0.0, 0.0),
                            seed=100 + k + 1000 * (seed - 2026))


def term_errors(pipeline: str, fit, pair: dict, case) -> dict[str, float]:
    """Each checked term's error against the simulation's truth."""
    errors = {"shift_x": fit.shift_x - pair["shift"][0],
              "shift_y": fit.shift_y - pair["shift"][1]}
    if pipeline == "icp":  # no tilt nor rotation simulated: their truth is zero
        tilt = fit.corrections[0]
        return {**errors, "shift_z": fit.shift_z - pair["dz"],
                "rotation_deg": fit.rotation_deg,
                "lzd_tilt.omega_rad": tilt["omega_rad"], "lzd_tilt.phi_rad": tilt["phi_rad"]}
    deramp = fit.corrections[0]
    return {**errors, "deramp1.tilt_x": -deramp["tilt_x"] - case.tilt[0],
            "deramp1.tilt_y": -deramp["tilt_y"] - case.tilt[1]}


def add_correlated_noise(path: Path, sigma: float, seed: int) -> None:
    """Gaussian-filtered noise (range about 3 pixels) on top: errors of real DEMs are
    correlated, which is what the tiles of the bootstrap are for."""
    with rasterio.open(path, "r+") as ds:
        z = ds.read(1)
        noise = ndimage.gaussian_filter(np.random.default_rng(seed).normal(0, 1, z.shape), 3.0)
        ds.write((z + sigma * noise / noise.std()).astype(z.dtype), 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=40)
    p.add_argument("--replicates", type=int, default=30)
    p.add_argument("--seed", type=int, default=2026,
                   help="Seed of the cases (another seed: fresh cases, for a validation).")
    p.add_argument("--first", type=int, default=0,
                   help="Skip the cases before this one (to run parts in parallel).")
    p.add_argument("--merge", nargs="+", metavar="JSON",
                   help="Summarise the rows of these parts' JSON files instead of running.")
    p.add_argument("--pipeline", choices=PIPELINES, default=PIPELINES[0])
    p.add_argument("--json", default=None, help="Results file (default: "
                   "benchmarks/results/dem_uncertainty.json, _icp for icp).")
    a = p.parse_args(argv)
    a.json = a.json or str(RESULTS / ("dem_uncertainty" + (
        "_icp" if a.pipeline == "icp" else "") + ".json"))
    if a.merge:
        parts = [json.loads(Path(f).read_text()) for f in a.merge]
        rows = sorted((r for part in parts for r in part["rows"]), key=lambda r: r["case"])
        if len({r["case"] for r in rows}) < len(rows):
            raise SystemExit("The parts share cases: merge parts of one run of cases only.")
        return summarise(rows, a, parts[0], [{"file": f, "cases": [r["case"] for r in part["rows"]],
                                              "meta": part.get("meta")}
                                             for f, part in zip(a.merge, parts)])
    register_coreg()
    from dem_sensor import make_pair

    from coreg.core.dem.pipeline import estimate_dem_pipeline

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, case in case_list(a.cases, a.seed, tilted=a.pipeline != "icp"):
            if k < a.first:
                continue
            folder = Path(tmp) / str(k)
            folder.mkdir()
            pair = make_pair(case, folder)
            if k % 2:
                add_correlated_noise(pair["dem"], case.noise, case.seed + 1000)
            t = time.perf_counter()
            fit = estimate_dem_pipeline(pair["ref"], pair["dem"], a.pipeline,
                                        bootstrap=a.replicates)
            parts = {key: fit.uncertainty[f"standard_error_{key}"]
                     for key in ("bootstrap", "terrain")}
            errors = term_errors(a.pipeline, fit, pair, case)
            row = {"case": k, "offset": case.offset, "noise": case.noise,
                   "correlated_noise": bool(k % 2), "seconds": time.perf_counter() - t,
                   "errors": errors, "t95": fit.uncertainty["t95"],
                   **{f"standard_errors_{key}": {n: part[n] for n in errors}
                      for key, part in parts.items()}}
            rows.append(row)
            print(f"case {k}: " + ", ".join(
                f"{n} {e:+.4g} (se {combined(row, n):.3g})" for n, e in errors.items()),
                file=sys.stderr)
            summarise(rows, a, None, quiet=True)  # a run stopped early keeps its cases
    return summarise(rows, a, None)


def terrain_part(row: dict, name: str) -> float:
    """The terrain jackknife's standard error; rows of the first run (commit 43021b8)
    stored only the bootstrap's and the two in quadrature, from which it follows."""
    if "standard_errors_terrain" in row:
        return row["standard_errors_terrain"][name]
    both, boot = row["standard_errors"][name], row["standard_errors_bootstrap"][name]
    return float(np.sqrt(max(both**2 - boot**2, 0.0)))


def combined(row: dict, name: str, rule: str = "larger") -> float:
    """A term's standard error by ``rule``: the larger of the two parts (Coreg's), both in
    quadrature, or the bootstrap's alone."""
    boot, terrain = row["standard_errors_bootstrap"][name], terrain_part(row, name)
    return {"larger": max(boot, terrain), "quadrature": float(np.hypot(boot, terrain)),
            "bootstrap": boot}[rule]


def width_ratio(rows: list[dict], name: str) -> float:
    """Median reported 95 % half-width over the 95th percentile of the observed |error|:
    the calibration standard's usefulness check (issue 18: at most 3, not just wide)."""
    half = [r["t95"] * combined(r, name) for r in rows]
    return float(np.median(half) / np.percentile([abs(r["errors"][name]) for r in rows], 95))


def summarise(rows: list[dict], a, merged_from: dict | None, parts: list | None = None,
              quiet: bool = False) -> int:
    """Coverage and z-scores over ``rows``, printed and written to ``a.json``."""
    names = list(rows[0]["errors"])

    def cover(rule: str, half=None) -> dict[str, float]:
        return {n: float(np.mean([abs(r["errors"][n]) <= (half or r["t95"]) * combined(r, n, rule)
                                  for r in rows])) for n in names}

    coverage, quadrature, before = cover("larger"), cover("quadrature"), cover("bootstrap", Z95)
    z_scores = {n: float(np.sqrt(np.mean([(r["errors"][n] / combined(r, n)) ** 2
                                          for r in rows]))) for n in names}
    lines = ["| term | coverage of the 95 % interval | RMS of error / standard error | "
             "both parts in quadrature | bootstrap alone, +-1.96 (before) |",
             "|---|---|---|---|---|"]
    lines += [f"| {n} | {100 * coverage[n]:.1f} % ({len(rows)} cases) | {z_scores[n]:.2f} | "
              f"{100 * quadrature[n]:.1f} % | {100 * before[n]:.1f} % |" for n in names]
    overall = float(np.mean([coverage[n] for n in names]))
    overall_quadrature = float(np.mean([quadrature[n] for n in names]))
    overall_before = float(np.mean([before[n] for n in names]))
    lines.append(f"| all terms | {100 * overall:.1f} % | | {100 * overall_quadrature:.1f} % | "
                 f"{100 * overall_before:.1f} % |")
    ratios = {n: width_ratio(rows, n) for n in names}
    lines.append("")
    lines.append("Median 95 % half-width / 95th percentile |error|: " + ", ".join(
        f"{n} {ratios[n]:.2f}" for n in names))
    text = "\n".join(lines)
    if not quiet:
        print(text)
    # Merged parts: their own run (commit, date, machine), not this summary's.
    meta = (run_meta() if merged_from is None else merged_from.get("meta") or {
        k: merged_from[k] for k in ("date", "machine", "coreg_commit", "versions")})
    info = {"meta": meta, "pipeline": merged_from.get("pipeline", PIPELINES[0])
            if merged_from else a.pipeline, "cases": len(rows),
            "replicates": merged_from["replicates"] if merged_from else a.replicates,
            "seed": merged_from["seed"] if merged_from else a.seed,
            "coverage": coverage, "coverage_all_terms": overall,
            "coverage_quadrature": quadrature, "coverage_quadrature_all_terms": overall_quadrature,
            "coverage_bootstrap_only": before, "coverage_bootstrap_only_all_terms": overall_before,
            "rms_z": z_scores, "radius95_over_p95_error": ratios, "table": text,
            **({"parts": parts} if parts else {}), "rows": rows}
    written = write_results("dem_uncertainty", info, a.json)
    if not quiet:
        print(f"results: {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
