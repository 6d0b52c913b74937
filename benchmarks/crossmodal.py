#!/usr/bin/env python3
"""Benchmark: across sensors and modalities, the automatic choices (Coreg alone).

Run with ``scripts/headless.sh /usr/bin/python3 benchmarks/crossmodal.py`` (``make bench``).

Rows (truths in tests/corpus.py, none made with Coreg's cubic B-spline):
* ``tie_points``: ``align_local`` tie points on GeFolki's protocol (``flow_warped_pair``: the
  secondary warped by the smooth flow truth, bilinear), Sentinel-2 onto Sentinel-1 and
  Sentinel-1 onto itself, MODALITY and METHOD auto, and MODALITY same (intensities) on the
  cross-modal pair. Field EPE = mean distance to minus the truth over [30:-30, 30:-30], as
  benchmarks/flow.py scores the dense flow; kept = share of the points kept.
* ``sensors``: ``align_image`` (defaults) on ``sensor_cases`` (a 10 m Sentinel-2 red band
  against a Landsat-like 30 m near-infrared band of another date), differential truth;
  error in reference (10 m) and Landsat (30 m) pixels; AROSICS's ``COREG`` beside it as
  benchmarks/corpus.py runs it.
* ``auto_rigid``: ``align_local`` METHOD auto on Landsat-like copies of Sentinel-2 bands
  offset by whole 10 m pixels: the choice and the field's RMS distance to the offset.
* ``stack``: ``coregistered_stack`` MODALITY sar-optical, Sentinel-1 on Sentinel-2 as
  delivered and with its georeference moved by (6, -4) px: the difference of the two
  shifts against the move.

AROSICS's ``COREG_LOCAL`` (the venv of ``peers/arosics_env.sh``, built if needed; ``--no-arosics``
skips it) runs on the Sentinel-2 onto Sentinel-1 tie-point case with the same grid and windows;
for it and for Coreg, ``kept_point_epe_px`` is the mean distance of the kept (AROSICS: valid)
points to minus the truth at their centres.

Prints the rows and writes ``benchmarks/results/crossmodal.json`` (``--json PATH`` elsewhere).
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

from checkout import register_coreg  # noqa: E402

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work" / "crossmodal"
register_coreg()
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
import run as bench_run  # noqa: E402
from results import run_meta, write_results  # noqa: E402

from coreg.core.errors import CoregistrationError, CoregResourceError  # noqa: E402
from coreg.core.local.local import align_local  # noqa: E402
from coreg.core.stack.coregistered_stack import coregistered_stack  # noqa: E402

MARGIN = 30


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


corpus = _load("coreg_corpus", REPO / "tests" / "corpus.py")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _field(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def tie_point_rows() -> list[dict]:
    rows = []
    for name, secondary, options in (
            ("S2 onto S1, auto", "S2_patch11.tif", dict(window_size=96, grid_spacing=48)),
            ("S2 onto S1, auto, 64 px windows every 32 px", "S2_patch11.tif",
             dict(window_size=64, grid_spacing=32)),
            ("S2 onto S1, MODALITY same", "S2_patch11.tif",
             dict(window_size=96, grid_spacing=48, modality="same")),
            ("S1 onto S1, auto", "S1_patch11.tif", dict(grid_spacing=48))):
        folder = WORK / name.replace(" ", "_").replace(",", "")
        reference, moving, truth = corpus.flow_warped_pair(secondary, folder)
        start = time.perf_counter()
        row = {"group": "tie_points", "case": name, **options}
        try:
            result = align_local(reference, moving, None, folder / "field.tif",
                                 method="auto", **options)
        except CoregistrationError as exc:
            rows.append({**row, "error": str(exc), "seconds": time.perf_counter() - start})
            continue
        report = result.report()
        points, kept = result.points, result.points.kept
        field = _field(folder / "field.tif")
        inner = (slice(MARGIN, -MARGIN),) * 2
        row.update(
            seconds=time.perf_counter() - start,
            field_epe_px=float(np.mean(np.hypot(field[0] + truth[0],
                                                field[1] + truth[1])[inner])),
            zero_epe_px=float(np.mean(np.hypot(truth[0], truth[1])[inner])),
            kept_share=report["n_kept"] / report["n_points"], n_points=report["n_points"],
            kept_point_epe_px=point_epe(points.col[kept], points.row[kept], points.dx[kept],
                                        points.dy[kept], truth),
            features=report["features"], method_choice=report["method_choice"])
        rows.append(row)
    return rows


def point_epe(cols, rows, dx, dy, truth: np.ndarray) -> float:
    """Mean distance (pixels) of points' displacements (GeFolki convention) to minus the
    truth at their centres."""
    rows, cols = np.asarray(rows, int), np.asarray(cols, int)
    return float(np.mean(np.hypot(np.asarray(dx) + truth[0][rows, cols],
                                  np.asarray(dy) + truth[1][rows, cols])))


def arosics_rows(python: str | None) -> list[dict]:
    """AROSICS COREG_LOCAL on the Sentinel-2 onto Sentinel-1 flow pair, with the grid and
    windows of Coreg's first tie-point row (its correction is minus the GeFolki field)."""
    if not python:
        return []
    folder = WORK / "arosics"
    reference, moving, truth = corpus.flow_warped_pair("S2_patch11.tif", folder)
    cmd = [python, str(HERE / "peers" / "run_arosics.py"), "--ref", str(reference), "--tgt",
           str(moving), "--grid-res", "48", "--ws", "96", "--max-shift", "10"]
    with open(folder / "arosics.log", "w") as err:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, timeout=3600)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    row = {"group": "tie_points", "case": "S2 onto S1, AROSICS COREG_LOCAL, 96 px windows "
           "every 48 px", "tool": "AROSICS", "version": out.get("arosics_version"),
           "error": out["error"], "seconds": out["t_estimate_s"]}
    if not out["success"]:
        return [row]
    valid = [p for p in out["points"] if not p[4]]
    cols, rows, xs, ys = (np.array([p[k] for p in valid]) for k in range(4))
    return [row | {"n_points": out["n_points"], "n_valid": out["n_valid"],
                   "kept_share": out["n_valid"] / out["n_points"],
                   "kept_point_epe_px": point_epe(cols, rows, -xs, -ys, truth)
                   if len(valid) else None}]


def sensor_rows(aro_py: str | None) -> list[dict]:
    """Coreg, and AROSICS's global ``COREG`` as benchmarks/corpus.py runs it (differential
    truth for both, each against itself)."""
    rows = []
    bench_corpus = _load("coreg_bench_corpus", HERE / "corpus.py") if aro_py else None
    for k, case in enumerate(corpus.sensor_cases()):
        folder = WORK / f"sensors_{k}"
        row = (bench_corpus.run_case(case, folder, aro_py) if bench_corpus
               else corpus.run_case(case, folder))
        aro = row.get("arosics_err_px")
        rows.append({"group": "sensors", **row,
                     "err_landsat_px": row["err_px"] / case.sec_block,
                     "arosics_err_landsat_px": None if aro is None else aro / case.sec_block})
    return rows


def auto_rigid_rows() -> list[dict]:
    rows = []
    for k, (source, offset) in enumerate(((corpus.BEIRUT, (4, -5)),
                                          (corpus.CUPERTINO, (-7, 2)))):
        case = corpus.CorpusCase(f"{source.name} 10/30", "auto", source, 1, 3, offset,
                                 seed=301 + k)
        folder = WORK / f"auto_rigid_{k}"
        pair = corpus.build(case, folder)
        start = time.perf_counter()
        result = align_local(pair.reference, pair.secondary, None, folder / "field.tif",
                             method="auto")
        field = _field(folder / "field.tif")
        valid = np.isfinite(field[0])
        error = np.hypot(field[0][valid] + offset[0], field[1][valid] + offset[1])
        rows.append({"group": "auto_rigid", "case": case.name, "offset": list(offset),
                     "seconds": time.perf_counter() - start,
                     "field_rms_err_px": float(np.sqrt(np.mean(error**2))),
                     "field_max_err_px": float(error.max()),
                     "method_choice": result.report()["method_choice"]})
    return rows


def stack_rows() -> list[dict]:
    folder = WORK / "stack"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    sar = corpus.SAR_OPTICAL
    moved = folder / "s1_moved.tif"
    with rasterio.open(sar / "S1_patch11.tif") as src:
        profile = dict(src.profile, count=1, driver="GTiff")
        profile["transform"] = src.transform * rasterio.Affine.translation(6, -4)
        with rasterio.open(moved, "w", **profile) as dst:
            dst.write(src.read(1), 1)
    start = time.perf_counter()
    row = {"group": "stack", "case": "S1 on S2, MODALITY sar-optical, georeference moved "
           "(6, -4) px"}
    try:
        result = coregistered_stack([sar / "S2_patch11.tif", sar / "S1_patch11.tif", moved],
                                    "1.1,2.1,3.1", "1.1", folder / "out",
                                    modality="sar-optical")
    except CoregResourceError as exc:  # no pystac in this Python
        return [{**row, "skipped": str(exc)}]
    first, second = result.shifts[2], result.shifts[3]
    return [{**row, "seconds": time.perf_counter() - start,
             "as_delivered": first, "moved": second,
             "differential_err_px": float(np.hypot(second["x_px"] - first["x_px"] + 6,
                                                   second["y_px"] - first["y_px"] - 4))}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="Write the results there instead.")
    parser.add_argument("--no-arosics", action="store_true", help="Coreg's rows only.")
    args = parser.parse_args()
    aro_py, aro_err = ((None, "skipped (--no-arosics)") if args.no_arosics
                       else bench_run.arosics_python())
    if aro_err:
        log(f"AROSICS unavailable: {aro_err}")
    WORK.mkdir(parents=True, exist_ok=True)
    rows = []
    for part in (tie_point_rows, partial(arosics_rows, aro_py), partial(sensor_rows, aro_py),
                 auto_rigid_rows, stack_rows):
        log(f"{getattr(part, '__name__', getattr(part, 'func', part).__name__)} ...")
        new = part()
        rows += new
        for row in new:
            log(json.dumps({k: v for k, v in row.items()
                            if not isinstance(v, (dict, list))}, default=float))
    path = write_results("crossmodal", {"meta": run_meta(), "rows": rows}, args.json)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
