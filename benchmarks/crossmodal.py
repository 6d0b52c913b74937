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
skips it) runs on every tie-point case METHOD auto sent local, with the same grid and windows;
for it and for Coreg, ``kept_point_epe_px`` is the mean distance of the kept (AROSICS: valid)
points to minus the truth at their centres.

* ``align_stack``: ``align_stack`` (anchor chosen automatically, translation) on five
  block-averaged copies of one Sentinel-2 band offset by whole 10 m pixels (one 30 %
  cloudy), and AROSICS's ``COREG`` per scene against the anchor Coreg chose.
* ``models``: ``align_image`` TRANSFORM rigid / scale / affine on Lanczos-warped,
  block-averaged pairs (tests/linear_corpus.py: a 0.5 % scale error, a shear, a
  translation), AROSICS ``COREG`` beside them.
* ``uavsar``: tie points of the UAVSAR L-band tile onto its optical tile with the defaults
  (automatic windows) and with the former default 64 px windows every 64 px, share of
  points kept and a differential error (their flow truth is not staged), AROSICS
  COREG_LOCAL's valid share beside it.

The groups from ``auto_rigid`` on live in ``benchmarks/crossmodal_groups.py``. Prints the rows
and writes ``benchmarks/results/crossmodal.json`` (``--json PATH`` elsewhere).
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

from checkout import load_module, register_coreg  # noqa: E402

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
register_coreg()
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import run as bench_run  # noqa: E402
from crossmodal_groups import (  # noqa: E402
    WORK,
    align_stack_rows,
    auto_rigid_rows,
    corpus,
    field_bands,
    model_rows,
    stack_rows,
    uavsar_rows,
)
from results import run_meta, write_results  # noqa: E402

from coreg.core.errors import CoregistrationError  # noqa: E402
from coreg.core.local.local import align_local  # noqa: E402

MARGIN = 30


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
        row = {"group": "tie_points", "case": name, "secondary": secondary, **options}
        try:
            result = align_local(reference, moving, None, folder / "field.tif",
                                 method="auto", **options)
        except CoregistrationError as exc:
            rows.append({**row, "error": str(exc), "seconds": time.perf_counter() - start})
            continue
        report = result.report()
        points, kept = result.points, result.points.kept
        field = field_bands(folder / "field.tif")
        inner = (slice(MARGIN, -MARGIN),) * 2
        row.update(
            seconds=time.perf_counter() - start,
            field_epe_px=float(np.mean(np.hypot(field[0] + truth[0],
                                                field[1] + truth[1])[inner])),
            zero_epe_px=float(np.mean(np.hypot(truth[0], truth[1])[inner])),
            kept_share=report["n_kept"] / report["n_points"], n_points=report["n_points"],
            kept_point_epe_px=point_epe(points.col[kept], points.row[kept], points.dx[kept],
                                        points.dy[kept], truth),
            features=report["features"], method_choice=report["method_choice"],
            window_choice=report["window_choice"])
        rows.append(row)
    return rows


def point_epe(cols, rows, dx, dy, truth: np.ndarray) -> float:
    """Mean distance (pixels) of points' displacements (GeFolki convention) to minus the
    truth at their centres."""
    rows, cols = np.asarray(rows, int), np.asarray(cols, int)
    return float(np.mean(np.hypot(np.asarray(dx) + truth[0][rows, cols],
                                  np.asarray(dy) + truth[1][rows, cols])))


def arosics_rows(python: str | None, coreg_rows: list[dict]) -> list[dict]:
    """AROSICS COREG_LOCAL on every flow pair METHOD auto sent local, with the grid and
    windows of Coreg's row (its correction is minus the GeFolki field)."""
    if not python:
        return []
    rows = []
    for k, coreg_row in enumerate(r for r in coreg_rows if r.get("group") == "tie_points"
                                  and (r.get("method_choice") or {}).get("chosen") == "local"):
        spacing = coreg_row["grid_spacing"]
        window = coreg_row["window_choice"]["window_size"]
        folder = WORK / f"arosics_{k}"
        reference, moving, truth = corpus.flow_warped_pair(coreg_row["secondary"], folder)
        cmd = [python, str(HERE / "peers" / "run_arosics.py"), "--ref", str(reference),
               "--tgt", str(moving), "--grid-res", str(spacing), "--ws", str(window),
               "--max-shift", "10"]
        with open(folder / "arosics.log", "w") as err:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                  timeout=3600)
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        row = {"group": "tie_points", "case": f"{coreg_row['case'].split(',')[0]}, AROSICS "
               f"COREG_LOCAL, {window} px windows every {spacing} px", "tool": "AROSICS",
               "beside": coreg_row["case"], "version": out.get("arosics_version"),
               "error": out["error"], "seconds": out["t_estimate_s"]}
        if not out["success"]:
            rows.append(row)
            continue
        valid = [p for p in out["points"] if not p[4]]
        cols, rws, xs, ys = (np.array([p[i] for p in valid]) for i in range(4))
        rows.append(row | {"n_points": out["n_points"], "n_valid": out["n_valid"],
                           "kept_share": out["n_valid"] / out["n_points"],
                           "kept_point_epe_px": point_epe(cols, rws, -xs, -ys, truth)
                           if len(valid) else None})
    return rows


def sensor_rows(aro_py: str | None) -> list[dict]:
    """Coreg, and AROSICS's global ``COREG`` as benchmarks/corpus.py runs it (differential
    truth for both, each against itself)."""
    rows = []
    bench_corpus = load_module("coreg_bench_corpus", HERE / "corpus.py") if aro_py else None
    for k, case in enumerate(corpus.sensor_cases()):
        folder = WORK / f"sensors_{k}"
        row = (bench_corpus.run_case(case, folder, aro_py) if bench_corpus
               else corpus.run_case(case, folder))
        aro = row.get("arosics_err_px")
        rows.append({"group": "sensors", **row,
                     "err_landsat_px": row["err_px"] / case.sec_block,
                     "arosics_err_landsat_px": None if aro is None else aro / case.sec_block})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="Write the results there instead.")
    parser.add_argument("--no-arosics", action="store_true", help="Coreg's rows only.")
    parser.add_argument("--only", help="Comma-separated parts to run (e.g. uavsar_rows); "
                        "a trial, not a results file to quote.")
    args = parser.parse_args()
    aro_py, aro_err = ((None, "skipped (--no-arosics)") if args.no_arosics
                       else bench_run.arosics_python())
    if aro_err:
        log(f"AROSICS unavailable: {aro_err}")
    WORK.mkdir(parents=True, exist_ok=True)
    rows = []
    for part in (tie_point_rows, partial(arosics_rows, aro_py, rows),
                 partial(sensor_rows, aro_py), auto_rigid_rows, stack_rows,
                 partial(align_stack_rows, aro_py), partial(model_rows, aro_py),
                 partial(uavsar_rows, aro_py)):
        name = getattr(part, "func", part).__name__
        if args.only and name not in args.only.split(","):
            continue
        log(f"{name} ...")
        new = part()
        rows += new
        for row in new:
            log(json.dumps({k: v for k, v in row.items()
                            if not isinstance(v, (dict, list))}, default=float))
    path = write_results("crossmodal", {"meta": run_meta(), "rows": rows}, args.json)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
