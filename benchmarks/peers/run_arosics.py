#!/usr/bin/env python3
"""Run AROSICS global co-registration (arosics.COREG) once and print one JSON line.

Run it with the venv made by ``benchmarks/peers/arosics_env.sh``::

    PY=$(benchmarks/peers/arosics_env.sh | tail -n 1)
    $PY benchmarks/peers/run_arosics.py --ref REF.tif --tgt TGT.tif --ref-band 4 --tgt-band 4 \\
        --max-shift 10 --ws 256 --nodata 0 [--out aligned.tif]

stdout carries exactly one JSON object (anything AROSICS, GDAL or numpy print goes to stderr)::

    {"x_shift_px", "y_shift_px", "x_shift_map", "y_shift_map", "reliability", "success",
     "t_estimate_s", "t_total_s", "error", ...extra diagnostic keys}

Conventions (AROSICS's own): ``x_shift_px``/``y_shift_px`` are the correction AROSICS applies to the
*target*, in target pixels, x to the right and y down; ``x_shift_map``/``y_shift_map`` are the same
correction in the target CRS's map units (the change of the target's upper-left corner; y_shift_map
has the opposite sign to y_shift_px for a north-up image).  ``reliability`` is AROSICS's
``shift_reliability`` in percent (0-100).

Timings (``time.perf_counter``): ``t_estimate_s`` spans ``COREG(...)`` construction (footprint and
overlap computation, window choice) plus ``calculate_spatial_shifts()``; ``t_total_s`` adds
``correct_shifts()`` including writing ``--out``.  Python/arosics import time is reported separately
as ``t_import_s`` and is in neither.

The exit status is 0 whenever the JSON line was printed, also when AROSICS failed (then
``success`` is false and ``error`` says why); 2 for bad arguments.

With ``--grid-res N`` it runs the local method, ``COREG_LOCAL`` (a tie point every N target
pixels, ``--ws`` windows, AROSICS's default outlier filtering) instead, and prints
``{"n_points", "n_valid", "t_estimate_s", "cpu_estimate_s", "points": [[x_im, y_im,
x_shift_px, y_shift_px, outlier], ...], "success", "error"}``; ``t_estimate_s`` (wall) and
``cpu_estimate_s`` (this process's CPU) span the construction and
``calculate_spatial_shifts()`` (matching and filtering every point). Invalid points
(AROSICS marks them -9999) are left out of ``points``.
"""

import argparse
import contextlib
import json
import math
import os
import sys
import time
import traceback

# Debian's pyproj, imported from a venv, looks for proj.db under sys.prefix (the venv) and then
# next to a `proj` executable on PATH.  arosics_env.sh installs proj-bin for that;
# this is a fallback.
if not (os.environ.get("PROJ_DATA") or os.environ.get("PROJ_LIB")) and os.path.isfile(
    "/usr/share/proj/proj.db"
):
    os.environ["PROJ_DATA"] = "/usr/share/proj"

# Ignore (and never write) GDAL .aux.xml side-car files.  A side-car with statistics for only some
# bands (QGIS and `gdalinfo -stats` write such files) makes geoarray 0.17.2 fail with "The length of
# the given lists must be equal to the number of bands"; and AROSICS should not drop files next to
# shared inputs.  Set before osgeo is imported; re-set with gdal.SetConfigOption in run() because
# geoarray deletes this environment variable after writing an output.
os.environ["GDAL_PAM_ENABLED"] = "NO"


def _num(v):
    """numpy scalar / float -> JSON-safe float (None for None/NaN/inf)."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _nodata(text):
    f = float(text)
    return int(f) if f.is_integer() else f


@contextlib.contextmanager
def _stdout_to_stderr():
    """Send fd 1 (Python and C level, e.g. GDAL) to stderr; yield a file for the real stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    real = os.fdopen(os.dup(saved), "w")
    try:
        yield real
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ref", required=True, help="reference raster")
    p.add_argument("--tgt", required=True, help="target raster (the one to be shifted)")
    p.add_argument("--ref-band", type=int, default=1, help="1-based band of REF used for matching")
    p.add_argument("--tgt-band", type=int, default=1, help="1-based band of TGT used for matching")
    p.add_argument(
        "--max-shift",
        type=int,
        default=5,
        help="largest accepted shift in reference pixels (AROSICS default 5); "
        "set it above the largest shift expected in the test case",
    )
    p.add_argument(
        "--ws", type=int, default=256, help="square matching window size in pixels (default 256)"
    )
    p.add_argument(
        "--nodata",
        type=_nodata,
        default=None,
        help="no-data value used for both images (default: AROSICS/geoarray's own guess); "
        "pass it explicitly",
    )
    p.add_argument("--nodata-ref", type=_nodata, default=None, help="override --nodata for REF")
    p.add_argument("--nodata-tgt", type=_nodata, default=None, help="override --nodata for TGT")
    p.add_argument(
        "--wp",
        type=float,
        nargs=2,
        metavar=("X", "Y"),
        default=None,
        help="matching window centre in REF map coordinates (default: centre of the overlap)",
    )
    p.add_argument("--max-iter", type=int, default=5, help="AROSICS max_iter (default 5)")
    p.add_argument("--out", default=None, help="write the corrected target here (GeoTIFF)")
    p.add_argument(
        "--co",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="GDAL GeoTIFF creation option for --out (repeatable; default: GDAL's defaults)",
    )
    p.add_argument(
        "--align-grids",
        action="store_true",
        help="snap the output to the reference grid (resampling with --resamp) "
        "where the pixel sizes "
        "allow it; AROSICS default off: the output keeps the target's pixel values on the "
        "target grid with a corrected origin (out_resampled may still be true: see README)",
    )
    p.add_argument(
        "--match-gsd",
        action="store_true",
        help="also resample to the reference pixel size on output",
    )
    p.add_argument(
        "--resamp",
        default="cubic",
        help="resampling for shift estimation and for output when resampling happens "
        "(default cubic)",
    )
    p.add_argument("--warmup", action="store_true",
                   help="local method: run the job once untimed first (t_first_s is that run)")
    p.add_argument("--cpus", type=int, default=None, help="CPUs for AROSICS's warps (default: all)")
    p.add_argument("--repeat", type=int, default=1,
                   help="global method: run the whole job N times in this process and report "
                   "the best t_estimate_s and t_total_s (warm in-process; t_first_s: the first "
                   "run's)")
    p.add_argument("--grid-res", type=float, default=None,
                   help="run COREG_LOCAL with a tie point every GRID_RES target pixels")
    return p.parse_args(argv)


def run(args):
    res = {
        "x_shift_px": None,
        "y_shift_px": None,
        "x_shift_map": None,
        "y_shift_map": None,
        "reliability": None,
        "success": False,
        "t_estimate_s": None,
        "t_total_s": None,
        "error": None,
        "ssim_before": None,
        "ssim_after": None,
        "ssim_improved": None,
        "window_pos_map": None,
        "window_size_px": None,
        "out": None,
        "out_resampled": None,
        "t_import_s": None,
        "arosics_version": None,
    }
    nd_ref = args.nodata_ref if args.nodata_ref is not None else args.nodata
    nd_tgt = args.nodata_tgt if args.nodata_tgt is not None else args.nodata

    t = time.perf_counter()
    try:
        from osgeo import gdal

        gdal.SetConfigOption("GDAL_PAM_ENABLED", "NO")
        import arosics
        from arosics import COREG
    except Exception as e:  # broken environment: still answer in JSON
        res["error"] = f"import arosics failed: {type(e).__name__}: {e}"
        return res
    res["t_import_s"] = round(time.perf_counter() - t, 4)
    res["arosics_version"] = getattr(arosics, "__version__", None)

    out = (
        os.path.abspath(args.out) if args.out else None
    )  # geoarray's save() needs a directory part
    if out:
        os.makedirs(os.path.dirname(out), exist_ok=True)
        for f in (out, out + ".aux.xml"):
            if os.path.exists(f):
                os.remove(f)

    cr = None
    t0 = time.perf_counter()
    try:
        cr = COREG(
            args.ref,
            args.tgt,
            path_out=out,
            fmt_out="GTiff",
            out_crea_options=args.co or None,
            r_b4match=args.ref_band,
            s_b4match=args.tgt_band,
            wp=tuple(args.wp) if args.wp else (None, None),
            ws=(args.ws, args.ws),
            max_iter=args.max_iter,
            max_shift=args.max_shift,
            align_grids=args.align_grids,
            match_gsd=args.match_gsd,
            resamp_alg_deshift=args.resamp,
            resamp_alg_calc=args.resamp,
            nodata=(nd_ref, nd_tgt),
            CPUs=args.cpus,
            progress=False,
            q=True,
            # failures -> success=False + tracked_errors instead of an exception
            ignore_errors=True,
        )
        cr.calculate_spatial_shifts()
        res["t_estimate_s"] = round(time.perf_counter() - t0, 4)

        res["success"] = bool(cr.success)
        res["x_shift_px"] = _num(cr.x_shift_px)
        res["y_shift_px"] = _num(cr.y_shift_px)
        res["x_shift_map"] = _num(cr.x_shift_map)
        res["y_shift_map"] = _num(cr.y_shift_map)
        res["reliability"] = _num(cr.shift_reliability)
        res["ssim_before"] = _num(cr.ssim_orig)
        res["ssim_after"] = _num(cr.ssim_deshifted)
        if cr.ssim_orig is not None and cr.ssim_deshifted is not None:
            res["ssim_improved"] = bool(cr.ssim_deshifted >= cr.ssim_orig)
        if cr.win_pos_XY and None not in cr.win_pos_XY:
            res["window_pos_map"] = [_num(v) for v in cr.win_pos_XY]
        if cr.win_size_XY and None not in cr.win_size_XY:
            res["window_size_px"] = [int(v) for v in cr.win_size_XY]

        if not cr.success:
            errs = [f"{type(e).__name__}: {e}" for e in (cr.tracked_errors or [])]
            res["error"] = "; ".join(errs) or "AROSICS reported success=False (no match found)"
        elif out:
            ds = cr.correct_shifts()
            res["out"] = out
            res["out_resampled"] = bool(ds.get("is resampled")) if ds else None
        res["t_total_s"] = round(time.perf_counter() - t0, 4)
    except Exception as e:
        now = round(time.perf_counter() - t0, 4)
        if res["t_estimate_s"] is None:
            res["t_estimate_s"] = now
        res["t_total_s"] = now
        res["success"] = False
        res["error"] = f"{type(e).__name__}: {e}"
        if cr is not None and cr.tracked_errors:
            res["error"] += " | tracked: " + "; ".join(
                f"{type(x).__name__}: {x}" for x in cr.tracked_errors
            )
        traceback.print_exc(file=sys.stderr)
    return res


def _ransac_rng_shim():
    """arosics 1.12.1 calls skimage's ransac(rng=...), scikit-image >= 0.21; Debian 12 has
    0.19, whose argument is random_state (same meaning)."""
    import inspect

    import skimage.measure

    original = skimage.measure.ransac
    if "rng" in inspect.signature(original).parameters:
        return

    def ransac(*args, rng=None, **kwargs):
        return original(*args, random_state=rng, **kwargs)

    skimage.measure.ransac = ransac


def run_local(args):
    """COREG_LOCAL on the pair: its tie-point table, timed."""
    res = {"n_points": None, "n_valid": None, "t_estimate_s": None, "points": [],
           "success": False, "error": None}
    try:
        from osgeo import gdal

        gdal.SetConfigOption("GDAL_PAM_ENABLED", "NO")
        import arosics
        from arosics import COREG_LOCAL
        _ransac_rng_shim()
        res["arosics_version"] = getattr(arosics, "__version__", None)
    except Exception as e:
        res["error"] = f"import arosics failed: {type(e).__name__}: {e}"
        return res
    nd_ref = args.nodata_ref if args.nodata_ref is not None else args.nodata
    nd_tgt = args.nodata_tgt if args.nodata_tgt is not None else args.nodata

    def estimate():
        crl = COREG_LOCAL(args.ref, args.tgt, grid_res=args.grid_res,
                          window_size=(args.ws, args.ws), max_shift=args.max_shift,
                          max_iter=args.max_iter,
                          r_b4match=args.ref_band, s_b4match=args.tgt_band,
                          nodata=(nd_ref, nd_tgt), resamp_alg_calc=args.resamp,
                          CPUs=args.cpus, progress=False, q=True)
        crl.calculate_spatial_shifts()
        return crl

    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        if args.warmup:  # the same job once, untimed: a process that has run it before
            crl = estimate()
            res["t_first_s"] = round(time.perf_counter() - t0, 4)
            t0, cpu0 = time.perf_counter(), time.process_time()
        crl = estimate()
        res["t_estimate_s"] = round(time.perf_counter() - t0, 4)
        res["cpu_estimate_s"] = round(time.process_time() - cpu0, 4)
        table = crl.CoRegPoints_table
        res["n_points"] = int(len(table))
        ok = (table["X_SHIFT_PX"] != -9999) & (table["ABS_SHIFT"] != -9999)
        valid = ok & ~table["OUTLIER"].astype(bool)
        res["n_valid"] = int(valid.sum())
        res["points"] = [[float(r.X_IM), float(r.Y_IM), float(r.X_SHIFT_PX), float(r.Y_SHIFT_PX),
                          bool(r.OUTLIER)] for r in table[ok].itertuples()]
        res["success"] = True
    except Exception as e:
        res["t_estimate_s"] = round(time.perf_counter() - t0, 4)
        res["error"] = f"{type(e).__name__}: {e}"
        traceback.print_exc(file=sys.stderr)
    return res


def _best_of(args, first):
    """``first`` with the best times of it and ``args.repeat - 1`` more runs (warm)."""
    runs = [first] + [run(args) for _ in range(args.repeat - 1)]
    best = dict(runs[-1])
    for key in ("t_estimate_s", "t_total_s"):
        times = [r[key] for r in runs if r.get(key) is not None]
        best[key] = min(times) if times else None
    best["t_first_s"], best["repeats"] = first.get("t_total_s"), len(runs)
    best["success"] = all(r.get("success") for r in runs)
    return best


def main(argv=None):
    args = parse_args(argv)
    with _stdout_to_stderr() as real_stdout:
        res = run(args) if args.grid_res is None else run_local(args)
        if args.grid_res is None and args.repeat > 1:
            res = _best_of(args, res)
    real_stdout.write(json.dumps(res) + "\n")
    real_stdout.flush()
    real_stdout.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
