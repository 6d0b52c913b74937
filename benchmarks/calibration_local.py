#!/usr/bin/env python3
"""Benchmark: accuracy and calibrated uncertainty of the local methods on the local corpus.

Run with ``scripts/headless.sh /usr/bin/python3 benchmarks/calibration_local.py`` (``make bench``).
The corpus is ``tests/local_corpus.py``: block averages of real bands with whole-pixel
offsets, smooth fields and rotations applied at the fine scale with Lanczos-3 (never the
cubic B-spline Coreg resamples with), noise, gamma and clouds; every pixel's true
displacement is known. Each case runs, in this process, on arrays on one grid:

* tie points (``estimate_tie_points``, window 64, spacing 32: four times the points of the
  default spacing 64, to have enough of them; the rest at defaults): the error of every kept
  point against the truth at its centre, and of the fitted field over every pixel;
* dense flow (``estimate_flow`` at its defaults): the error at every 4th pixel of every 4th
  row whose true source lies inside the secondary;
* mixed resolutions (``local_corpus.mixed_cases``): tie points through ``align_local`` on
  files (the secondary coarser, resampled onto the reference grid by Coreg), scored with
  the uncertainty its report gives (none of them fits the constants).

Calibration (core/local/uncertainty.py): each point / pixel's least-squares bound is turned
into the reported 1-sigma as sqrt((SCALE * bound)^2 + FLOOR^2). SCALE and FLOOR are fitted
on the even cases (``local_corpus.split``): the smallest median 95 % radius whose pooled
coverage is 95 %; the odd cases are held out, and the coverage of the 95 % radius and of the
1-sigma per axis (68.3 % expected) is reported on them, with the constants the code ships.

Writes ``benchmarks/results/local_corpus.json`` (per-case accuracy) and
``benchmarks/results/calibration_local.json`` (fit, held-out coverage, per case), each with
the run's meta (benchmarks/results.py). Options: ``--only TEXT`` (repeatable).
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from checkout import register_coreg  # noqa: E402
from results import run_meta, write_results  # noqa: E402

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "calibration_local"
register_coreg()
sys.path.insert(0, str(HERE.parent / "tests"))  # local_corpus.py

import local_corpus  # noqa: E402
import numpy as np  # noqa: E402
import rasterio  # noqa: E402

from coreg.core.local import field_uncertainty, uncertainty  # noqa: E402
from coreg.core.local.dense_flow import estimate_flow  # noqa: E402
from coreg.core.local.local import align_local  # noqa: E402
from coreg.core.local.tie_points import array_tiles, estimate_tie_points  # noqa: E402

#: Tie-point spacing of the calibration (the default window).
SPACING = 32
#: Dense-flow pixels scored: every STEP-th of every STEP-th row.
STEP = 4
#: The flow's finest window radius (estimate_flow's default radius).
FLOW_RADIUS = 8


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def tie_point_samples(pair) -> tuple[dict, dict, dict]:
    """Errors and bounds of the kept points; the case's accuracy figures; what the
    per-pixel radius needs (:func:`pixel_coverage`)."""
    start = time.perf_counter()
    points, field, passes = estimate_tie_points(
        array_tiles(pair.reference, pair.secondary), pair.reference.shape, grid_spacing=SPACING)
    seconds = time.perf_counter() - start
    kept = points.kept & np.isfinite(points.bound_dx) & np.isfinite(points.bound_dy)
    r, c = points.row[kept], points.col[kept]
    ex, ey = points.dx[kept] - pair.truth_dx[r, c], points.dy[kept] - pair.truth_dy[r, c]
    fx, fy = field.on_grid(0, 0, *pair.reference.shape)
    field_error = np.hypot(fx - pair.truth_dx, fy - pair.truth_dy)
    hull = field_error[points.row.min():points.row.max() + 1,
                       points.col.min():points.col.max() + 1]  # the points' span
    samples = {"ex": ex, "ey": ey, "bx": points.bound_dx[kept], "by": points.bound_dy[kept]}
    error = np.hypot(ex, ey)
    pixels = {"points": points, "step": field.step, "error": field_error,
              "shape": pair.reference.shape}
    return samples, pixels, {"points": int(len(points)), "kept": int(kept.sum()),
                             "passes": passes,
                     "seconds": seconds,
                     "point_rms_px": float(np.sqrt(np.mean(error ** 2))),
                     "point_p95_px": float(np.percentile(error, 95)),
                     "field_rms_px": float(np.sqrt(np.mean(field_error ** 2))),
                     "field_p95_px": float(np.percentile(field_error, 95)),
                     "field_rms_within_points_px": float(np.sqrt(np.mean(hull ** 2))),
                     "extrapolation": extrapolation(points, (fx, fy), pair)}


def extrapolation(points, field: tuple[np.ndarray, np.ndarray], pair) -> dict:
    """Whole-image RMS error of the field as shipped (the smoothing thin-plate spline,
    whose affine part continues it linearly beyond the outermost points) against two
    other ways beyond the points' convex hull: held constant (the nearest value inside),
    and the points' affine trend plus the spline's residual decaying as
    exp(-(d / 2 spacing)^2) with the distance d to the hull. Also the RMS beyond the hull."""
    from scipy import ndimage
    from scipy.spatial import Delaunay

    from coreg.core.local.field_fit import _thin_plate_spline

    kept = points.kept
    r, c = points.row[kept].astype(float), points.col[kept].astype(float)
    shape = pair.reference.shape
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    inside = (Delaunay(np.column_stack([r, c])).find_simplex(
        np.column_stack([rows.ravel(), cols.ravel()])) >= 0).reshape(shape)
    distance, (ir, ic) = ndimage.distance_transform_edt(~inside, return_indices=True)
    values = np.column_stack([points.dx[kept], points.dy[kept]])
    design = np.column_stack([np.ones_like(r), r, c])
    coef = np.linalg.lstsq(design, values, rcond=None)[0]
    residual = _thin_plate_spline(np.column_stack([r, c]) / SPACING, values - design @ coef)(
        np.arange(shape[0]) / SPACING, np.arange(shape[1]) / SPACING)
    weight = np.exp(-(distance / (2 * SPACING)) ** 2)
    trend = [coef[0, k] + rows * coef[1, k] + cols * coef[2, k] + weight * residual[..., k]
             for k in range(2)]
    ways = {"spline (shipped)": field, "constant beyond the hull": (field[0][ir, ic],
                                                                    field[1][ir, ic]),
            "affine trend + decaying residual": tuple(trend)}
    out = {"outside_hull_fraction": float((~inside).mean())}
    for name, (fx, fy) in ways.items():
        error = np.hypot(fx - pair.truth_dx, fy - pair.truth_dy)
        out[name] = {"rms_px": float(np.sqrt(np.mean(error ** 2))),
                     "rms_outside_hull_px": float(np.sqrt(np.mean(error[~inside] ** 2)))}
    return out


def pixel_coverage(cases: dict, gain: float) -> dict:
    """How often the field's true value lies inside the per-pixel 95 % radius of
    :func:`field_uncertainty.tie_point_radius` (with ``gain``), over every pixel of the
    ``cases``, and beyond the points' span."""
    errors, radii, outer = [], [], []
    for c in cases.values():
        p = c["points"]
        radius = field_uncertainty.tie_point_radius(p, c["shape"], c["step"], SPACING,
                                                    gain).on_grid(0, 0, *c["shape"])[0]
        span = np.zeros(c["shape"], bool)
        span[p.row[p.kept].min():p.row[p.kept].max() + 1,
             p.col[p.kept].min():p.col[p.kept].max() + 1] = True
        errors.append(c["error"].ravel())
        radii.append(radius.ravel())
        outer.append((~span).ravel())
    error, radius, outer = map(np.concatenate, (errors, radii, outer))
    p95 = np.percentile(error, 95)
    return {"n": int(len(error)), "coverage_95": float(np.mean(error <= radius)),
            "coverage_95_beyond_points": float(np.mean(error[outer] <= radius[outer])),
            "median_radius95_px": float(np.median(radius)), "p95_error_px": float(p95),
            "median_radius95_over_p95_error": float(np.median(radius) / p95)}


def fit_gain(cases: dict) -> float:
    """The least gain whose per-pixel radius holds 95 % of the pixels of ``cases``."""
    lo, hi = 0.0, 20.0
    for _ in range(25):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if pixel_coverage(cases, mid)["coverage_95"] < 0.95 else (lo, mid)
    return hi


def field_calibration(pixels: dict, fit_names: list[str], held_names: list[str]) -> dict:
    """MODEL_GAIN fitted on ``fit_names``; coverage with the shipped one, per half and case."""
    fit = {n: pixels[n] for n in fit_names}
    held = {n: pixels[n] for n in held_names}
    gain, shipped = fit_gain(fit), field_uncertainty.MODEL_GAIN
    return {"method": "tie_points per pixel (UNCERTAINTY raster)",
            "fitted": {"gain": gain}, "shipped": {"gain": shipped},
            "fit_cases": fit_names, "held_out_cases": held_names,
            "fit_with_shipped": pixel_coverage(fit, shipped),
            "held_out_with_shipped": pixel_coverage(held, shipped),
            "held_out_with_fitted": pixel_coverage(held, gain),
            "per_case_shipped": {n: pixel_coverage({n: c}, shipped)
                                 for n, c in pixels.items()}}


def flow_samples(pair) -> tuple[dict, dict]:
    """Errors and bounds of the flow at the scored pixels; the case's accuracy figures."""
    start = time.perf_counter()
    dx, dy = estimate_flow(pair.reference, pair.secondary)
    seconds = time.perf_counter() - start
    bx, by = uncertainty.flow_bounds(pair.reference, pair.secondary, dx, dy, FLOW_RADIUS)
    h, w = dx.shape
    rows, cols = np.mgrid[:h, :w]
    sx, sy = cols + pair.truth_dx, rows + pair.truth_dy
    scored = ((sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
              & (rows % STEP == 0) & (cols % STEP == 0))
    ex, ey = (dx - pair.truth_dx)[scored], (dy - pair.truth_dy)[scored]
    ok = np.isfinite(bx[scored]) & np.isfinite(by[scored])
    error = np.hypot(ex, ey)
    samples = {"ex": ex[ok], "ey": ey[ok], "bx": bx[scored][ok], "by": by[scored][ok]}
    return samples, {"pixels": int(scored.sum()), "without_bound": int((~ok).sum()),
                     "seconds": seconds, "rms_px": float(np.sqrt(np.mean(error ** 2))),
                     "p95_px": float(np.percentile(error, 95)),
                     "max_px": float(error.max())}


def mixed_row(case, folder: Path) -> tuple[dict, dict]:
    """A mixed-resolution case through align_local (files, tie points): the samples with
    the uncertainty the report gives, and the case's figures."""
    reference, secondary, pair = local_corpus.write_pair(case, folder)
    start = time.perf_counter()
    result = align_local(reference, secondary, displacement=folder / "field.tif",
                         grid_spacing=SPACING)
    seconds = time.perf_counter() - start
    points = result.points
    kept = points.kept
    sx, sy = points.sigmas()
    r, c = points.row[kept], points.col[kept]
    ex, ey = points.dx[kept] - pair.truth_dx[r, c], points.dy[kept] - pair.truth_dy[r, c]
    with rasterio.open(folder / "field.tif") as ds:
        field = ds.read().astype(np.float64)
    hull = (slice(r.min(), r.max() + 1), slice(c.min(), c.max() + 1))
    field_error = np.hypot(field[0] - pair.truth_dx, field[1] - pair.truth_dy)[hull]
    # Samples whose "bound" is the reported sigma itself: coverage(.., 1, 0) scores them.
    samples = {"ex": ex, "ey": ey, "bx": sx[kept], "by": sy[kept]}
    error = np.hypot(ex, ey)
    return samples, {"points": int(len(points)), "kept": int(kept.sum()), "seconds": seconds,
                     "pixel_ratio": points.pixel_ratio,
                     "point_p95_px": float(np.percentile(error, 95)),
                     "field_rms_within_points_px": float(np.sqrt(np.nanmean(field_error ** 2)))}


def coverage(samples: dict, scale: float, floor: float) -> dict:
    """How often the truth lies inside the 95 % radius and the 1-sigma per axis."""
    sx = uncertainty.calibrated(samples["bx"], scale, floor)
    sy = uncertainty.calibrated(samples["by"], scale, floor)
    r95 = uncertainty.radius95(sx, sy)
    error = np.hypot(samples["ex"], samples["ey"])
    inside_sigma = np.r_[np.abs(samples["ex"]) <= sx, np.abs(samples["ey"]) <= sy]
    return {"n": int(len(error)), "coverage_95": float(np.mean(error <= r95)),
            "coverage_1sigma": float(np.mean(inside_sigma)),
            "median_radius95_px": float(np.median(r95)),
            "p95_error_px": float(np.percentile(error, 95)),
            "median_radius95_over_p95_error": float(np.median(r95) / np.percentile(error, 95))}


def fit(samples: dict) -> dict:
    """(scale, floor) of the smallest median 95 % radius that covers 95 % of ``samples``."""
    best = None
    for floor in np.arange(0.0, 0.1001, 0.0025):
        if coverage(samples, 0.0, floor)["coverage_95"] >= 0.95:
            scale = 0.0
        else:
            lo, hi = 0.0, 200.0
            if coverage(samples, hi, floor)["coverage_95"] < 0.95:
                continue
            for _ in range(40):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if coverage(samples, mid, floor)["coverage_95"] < 0.95 \
                    else (lo, mid)
            scale = hi
        radius = coverage(samples, scale, floor)["median_radius95_px"]
        if best is None or radius < best["median_radius95_px"]:
            best = {"scale": float(scale), "floor_px": float(floor),
                    "median_radius95_px": radius}
    return best


def extrapolation_summary(rows: list[dict]) -> dict:
    """Per way of extrapolating: mean and worst whole-image RMS over the cases."""
    found = [r["tie_points"]["extrapolation"] for r in rows
             if "extrapolation" in r["tie_points"]]
    ways = [k for k in found[0] if k != "outside_hull_fraction"] if found else []
    return {w: {"mean_rms_px": float(np.mean([f[w]["rms_px"] for f in found])),
                "max_rms_px": float(np.max([f[w]["rms_px"] for f in found])),
                "mean_rms_outside_hull_px": float(np.mean([f[w]["rms_outside_hull_px"]
                                                           for f in found]))}
            for w in ways}


def pooled(groups: list[dict]) -> dict:
    return {k: np.concatenate([g[k] for g in groups]) for k in ("ex", "ey", "bx", "by")}


def calibration(method: str, samples: dict, fit_names: list[str], held_names: list[str],
                shipped: tuple[float, float]) -> dict:
    """The fit on ``fit_names``, and coverage on both halves with the fitted and the
    shipped constants, per case with the shipped ones."""
    train = pooled([samples[n] for n in fit_names])
    held = pooled([samples[n] for n in held_names])
    fitted = fit(train)
    scale, floor = shipped
    return {"method": method, "fitted": fitted,
            "shipped": {"scale": scale, "floor_px": floor},
            "fit_cases": fit_names, "held_out_cases": held_names,
            "fit_with_fitted": coverage(train, fitted["scale"], fitted["floor_px"]),
            "held_out_with_fitted": coverage(held, fitted["scale"], fitted["floor_px"]),
            "fit_with_shipped": coverage(train, scale, floor),
            "held_out_with_shipped": coverage(held, scale, floor),
            "per_case_shipped": {n: coverage(s, scale, floor) for n, s in samples.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--only", action="append", default=[])
    args = p.parse_args(argv)
    cases = [c for c in local_corpus.local_cases()
             if not args.only or any(o in c.name for o in args.only)]
    fit_cases, held_cases = local_corpus.split(cases)
    rows, tie, flow, pixels = [], {}, {}, {}
    start = time.perf_counter()
    for i, case in enumerate(cases, 1):
        pair = local_corpus.build(case)
        row = {"case": case.name, "source": case.source.name, "block": case.block,
               "offset": list(case.offset), "field": case.field, "amplitude": case.amplitude,
               "shape": list(pair.reference.shape),
               "truth_max_px": float(np.hypot(pair.truth_dx, pair.truth_dy).max()),
               "split": "fit" if case in fit_cases else "held_out"}
        try:
            tie[case.name], pixels[case.name], row["tie_points"] = tie_point_samples(pair)
        except Exception as e:  # a failed case is a row
            row["tie_points"] = {"error": f"{type(e).__name__}: {e}"}
        try:
            flow[case.name], row["dense_flow"] = flow_samples(pair)
        except Exception as e:
            row["dense_flow"] = {"error": f"{type(e).__name__}: {e}"}
        rows.append(row)
        t, f = row["tie_points"], row["dense_flow"]
        log(f"[{i}/{len(cases)}] {case.name}: tie points field RMS "
            f"{t.get('field_rms_px', float('nan')):.4f} px, dense flow RMS "
            f"{f.get('rms_px', float('nan')):.4f} px")
    mixed_rows, mixed = [], {}
    for i, case in enumerate(local_corpus.mixed_cases()):
        if args.only and not any(o in case.name for o in args.only):
            continue
        row = {"case": case.name, "source": case.source.name, "reference_block": case.block,
               "secondary_block": case.sec_block, "offset": list(case.offset),
               "field": case.field, "amplitude": case.amplitude,
               "chose_the_pixel_ratio_rule": i < local_corpus.MIXED_RULE_CASES}
        try:
            samples, row["tie_points"] = mixed_row(case, WORK / f"mixed{i:02d}")
            mixed[case.name] = samples
            row["tie_points"].update(coverage(samples, 1.0, 0.0))
        except Exception as e:  # a failed case is a row
            row["tie_points"] = {"error": f"{type(e).__name__}: {e}"}
        mixed_rows.append(row)
        log(f"mixed {case.name}: {row['tie_points'].get('coverage_95', float('nan')):.1%} "
            "inside the 95 % radius")
    meta = run_meta(tie_point_spacing=SPACING, flow_step=STEP, flow_radius=FLOW_RADIUS,
                    seconds=time.perf_counter() - start)
    written = write_results("local_corpus", {"meta": dict(meta), "rows": rows})
    log(f"results: {written}")
    names = [c.name for c in cases]
    result = {"meta": meta, "methods": [
        calibration("tie_points", tie, [c.name for c in fit_cases if c.name in tie],
                    [c.name for c in held_cases if c.name in tie],
                    (uncertainty.TIE_POINT_SCALE, uncertainty.TIE_POINT_FLOOR_PX)),
        calibration("dense_flow", flow, [c.name for c in fit_cases if c.name in flow],
                    [c.name for c in held_cases if c.name in flow],
                    (uncertainty.FLOW_SCALE, uncertainty.FLOW_FLOOR_PX))],
        "field_uncertainty": field_calibration(
            pixels, [c.name for c in fit_cases if c.name in pixels],
            [c.name for c in held_cases if c.name in pixels]),
        "extrapolation": extrapolation_summary(rows),
        "cases": names,
        "mixed_resolutions": {
            "rows": mixed_rows,
            "rule_cases": coverage(pooled([mixed[r["case"]] for r in mixed_rows
                                           if r["chose_the_pixel_ratio_rule"]
                                           and r["case"] in mixed]), 1.0, 0.0)
            if any(r["chose_the_pixel_ratio_rule"] for r in mixed_rows) else None,
            "check_cases": coverage(pooled([mixed[r["case"]] for r in mixed_rows
                                            if not r["chose_the_pixel_ratio_rule"]
                                            and r["case"] in mixed]), 1.0, 0.0)
            if any(not r["chose_the_pixel_ratio_rule"] for r in mixed_rows) else None}}
    for m in result["methods"]:
        f, h = m["fitted"], m["held_out_with_shipped"]
        print(f"{m['method']}: fitted scale {f['scale']:.3f}, floor {f['floor_px']:.4f} px; "
              f"held out with the shipped constants: 95 % radius holds "
              f"{h['coverage_95']:.1%} ({h['n']} samples), 1-sigma {h['coverage_1sigma']:.1%},"
              f" median radius {h['median_radius95_px']:.4f} px = "
              f"{h['median_radius95_over_p95_error']:.2f} x the 95th percentile error")
    f = result["field_uncertainty"]
    h = f["held_out_with_shipped"]
    print(f"tie points, per pixel (UNCERTAINTY): fitted gain {f['fitted']['gain']:.3f}, "
          f"shipped {f['shipped']['gain']}; held out, the 95 % radius holds "
          f"{h['coverage_95']:.1%} of {h['n']} pixels ({h['coverage_95_beyond_points']:.1%} "
          f"beyond the points), median radius {h['median_radius95_over_p95_error']:.2f} x "
          "the 95th percentile error")
    for way, e in result["extrapolation"].items():
        print(f"field, whole image, {way}: mean RMS {e['mean_rms_px']:.4f} px, worst "
              f"{e['max_rms_px']:.4f} px")
    for label, c in (("chose the rule", result["mixed_resolutions"]["rule_cases"]),
                     ("check it", result["mixed_resolutions"]["check_cases"])):
        if c:
            print(f"mixed resolutions, tie points through align_local, cases that {label}: "
                  f"95 % radius holds {c['coverage_95']:.1%} ({c['n']} points), median "
                  f"radius {c['median_radius95_over_p95_error']:.2f} x the 95th percentile "
                  "error")
    log(f"results: {write_results('calibration_local', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
