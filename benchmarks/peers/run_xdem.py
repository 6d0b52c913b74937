"""Run xdem's DEM coregistration on one pair and print ONE JSON line.

Run it with the xdem venv's python (see xdem_env.sh), never with Coreg's python:

    PY=$(benchmarks/peers/xdem_env.sh | tail -n 1)
    $PY benchmarks/peers/run_xdem.py --ref REF --dem DEM \
        --method nuth_kaab|blockwise|vertical|dhminimize|pipeline:STEPS \
        [--mask-nodata-of FILE] [--exclude-gpkg FILE] [--block-size PX] [--out aligned.tif]

What it does, as a careful xdem user would (it follows xdem's own ``accuracy`` workflow):

* Loads both DEMs with ``xdem.DEM``. If the reference is in a geographic CRS it is first
  reprojected to ``ref.get_metric_crs()`` (local UTM): xdem's NuthKaab raises
  NotImplementedError on a non-projected CRS. The DEM is then reprojected onto the reference
  grid (``tba.reproject(ref)``, bilinear) whenever grid or CRS differ.
* Stable-terrain inlier mask on the reference grid: pixels where ``--mask-nodata-of FILE`` is
  valid (not nodata, finite), and outside the polygons of ``--exclude-gpkg`` (geoutils
  ``Vector.create_mask``). Nodata of either DEM is always left out by xdem itself.
* Fits ``NuthKaab()`` (xdem defaults: max_iterations 10, offset_threshold 0.001 px, 72 aspect
  bins, subsample 5e5 px), ``BlockwiseCoreg(NuthKaab(), block_size_fit=PX)`` or
  ``VerticalShift()``, ``DhMinimize()`` or a pipeline written with Coreg's step names
  (``pipeline:nuth_kaab+deramp1+directional:AZIMUTH``, see ``xdem_step``), with
  ``random_state=42``, then applies it. A pipeline's shift is its affine step's.

Sign convention (checked in xdem 0.2.3 source and by a synthetic test, see README_dem.md):
``coreg.meta["outputs"]["affine"]["shift_x/y/z"]`` (= ``to_translations()``, = the matrix's
last column) is the translation *applied to the to-be-aligned DEM*: ``apply`` moves its
geotransform by (+shift_x, +shift_y) map units (x east, y north) and adds shift_z. That is
Coreg's convention, so no sign change is made.

JSON keys: shift_x, shift_y, shift_z (metres, in the CRS of the fit, ``crs_fit``),
shift_x_dem_crs, shift_y_dem_crs (the same shift in the DEM file's own CRS units, e.g. degrees),
nmad_before, nmad_after, median_before, median_after, n_stable (dh = reference - DEM over the
stable pixels of the reference grid, valid in both), n_blocks (blockwise: the shifts are the
median over blocks), t_fit_s (fit only), t_total_s (load, reproject, mask, fit, apply, write),
t_import_s, versions, error. Timings use time.perf_counter and exclude imports.
The exit status is 0 even when xdem fails (then ``error`` says why).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import warnings

os.environ.setdefault("GDAL_PAM_ENABLED", "NO")

T_IMPORT = time.perf_counter()
import geoutils as gu  # noqa: E402
import numpy as np  # noqa: E402
import xdem  # noqa: E402
from pyproj import Transformer  # noqa: E402

T_IMPORT = time.perf_counter() - T_IMPORT
RANDOM_STATE = 42


def nmad(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def stats(ref: np.ndarray, dem: np.ndarray, stable: np.ndarray) -> tuple[float, float, int]:
    dh = (ref - dem)[stable]
    dh = dh[np.isfinite(dh)]
    return (float(np.median(dh)) if dh.size else float("nan")), nmad(dh), int(dh.size)


def filled(raster) -> np.ndarray:
    return np.asarray(raster.data.astype("float64").filled(np.nan))[..., :, :].squeeze()


def same_grid(a, b) -> bool:
    return a.crs == b.crs and a.shape == b.shape and a.transform.almost_equals(b.transform, 1e-9)


def xdem_step(name: str, subsample: float):
    """xdem's object for one of Coreg's pipeline step names (xdem defaults otherwise).
    Coreg's directional azimuth (clockwise from north) is xdem's angle + 90: xdem's
    along-track axis is (cos angle, -sin angle) in map x, y (geoutils get_xy_rotated)."""
    name, _, option = name.partition(":")
    c = xdem.coreg
    if name == "nuth_kaab":
        return c.NuthKaab(subsample=subsample)
    if name == "dhminimize":
        return c.DhMinimize()
    if name == "lzd":
        return c.LZD()
    if name == "icp":
        return c.ICP(method="point-to-plane")
    if name == "vertical":
        return c.VerticalShift()
    if name.startswith("deramp"):
        return c.Deramp(poly_order=int(name[-1]))
    if name == "directional":
        if not option:
            raise ValueError("xdem's DirectionalBias needs the angle: directional:AZIMUTH")
        return c.DirectionalBias(angle=float(option) - 90.0)
    if name.startswith("terrain_"):
        return c.TerrainBias(terrain_attribute=name.removeprefix("terrain_"))
    raise ValueError(f"no xdem step for {name!r}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ref", required=True)
    p.add_argument("--dem", required=True)
    p.add_argument("--method", default="nuth_kaab",
                   help="nuth_kaab, blockwise, vertical, dhminimize or pipeline:STEPS")
    p.add_argument("--mask-nodata-of", help="raster whose valid pixels are the stable terrain")
    p.add_argument(
        "--exclude-gpkg", help="vector file of unstable-terrain polygons (e.g. glaciers)"
    )
    p.add_argument("--block-size", type=int, default=500, help="BlockwiseCoreg block_size_fit (px)")
    p.add_argument(
        "--subsample", type=float, default=5e5, help="NuthKaab subsample (xdem default 5e5)"
    )
    p.add_argument("--workdir", default=None, help="folder for BlockwiseCoreg's temporary rasters")
    p.add_argument("--out", help="write the aligned DEM (reference grid) here")
    p.add_argument("--ref-points", help="CSV of x, y, z (the DEM's CRS): fit on these points "
                   "instead of the reference DEM (xdem's point-raster mode); --ref still gives "
                   "the grid and the statistics")
    a = p.parse_args(argv)

    result = {
        "tool": "xdem",
        "method": a.method,
        "shift_x": None,
        "shift_y": None,
        "shift_z": None,
        "shift_x_dem_crs": None,
        "shift_y_dem_crs": None,
        "nmad_before": None,
        "nmad_after": None,
        "median_before": None,
        "median_after": None,
        "n_stable": None,
        "n_blocks": None,
        "t_fit_s": None,
        "t_total_s": None,
        "t_import_s": round(T_IMPORT, 3),
        "crs_fit": None,
        "crs_dem": None,
        "error": None,
        "versions": {"xdem": xdem.__version__, "geoutils": gu.__version__, "numpy": np.__version__},
    }
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = xdem.DEM(a.ref)
            tba = xdem.DEM(a.dem)
            dem_crs = tba.crs
            result["crs_dem"] = dem_crs.to_string()
            if not ref.crs.is_projected:
                # xdem's accuracy workflow: work in the reference's local metric (UTM) CRS.
                ref = ref.reproject(crs=ref.get_metric_crs())
            result["crs_fit"] = ref.crs.to_string()
            if not same_grid(ref, tba):
                tba = tba.reproject(ref, silent=True)

            ref_arr = filled(ref)
            stable = np.isfinite(ref_arr)
            if a.mask_nodata_of:
                m = gu.Raster(a.mask_nodata_of)
                valid = gu.Raster.from_array(
                    (~np.ma.getmaskarray(m.data) & np.isfinite(filled(m)))
                    .astype("uint8")
                    .squeeze(),
                    m.transform,
                    m.crs,
                    nodata=255,
                )
                if not same_grid(ref, valid):
                    valid = valid.reproject(ref, resampling="nearest", silent=True)
                stable &= np.asarray(valid.data.filled(0)).squeeze() == 1
            if a.exclude_gpkg:
                outlines = gu.Vector(a.exclude_gpkg)
                stable &= ~np.asarray(
                    outlines.create_mask(ref).data.filled(False)
                ).squeeze().astype(bool)

            tba_arr = filled(tba)
            result["median_before"], result["nmad_before"], result["n_stable"] = stats(
                ref_arr, tba_arr, stable & np.isfinite(tba_arr)
            )

            t_fit = time.perf_counter()
            if a.method == "blockwise":
                workdir = a.workdir or os.path.join(
                    os.path.dirname(os.path.abspath(a.out or a.dem)), "xdem_blockwise"
                )
                coreg = xdem.coreg.BlockwiseCoreg(
                    xdem.coreg.NuthKaab(subsample=a.subsample),
                    block_size_fit=a.block_size,
                    parent_path=workdir,
                )
                mask_rst = gu.Raster.from_array(stable, ref.transform, ref.crs)
                coreg.fit(ref, tba, inlier_mask=mask_rst)
                result["t_fit_s"] = time.perf_counter() - t_fit
                aligned = coreg.apply()
                sx, sy, sz = (
                    float(np.nanmedian(v)) for v in (coreg.shifts_x, coreg.shifts_y, coreg.shifts_z)
                )
                result["n_blocks"] = int(np.isfinite(coreg.shifts_x).sum())
            else:
                steps = (a.method.removeprefix("pipeline:").split("+")
                         if a.method.startswith("pipeline:") else [a.method])
                parts = [xdem_step(s, a.subsample) for s in steps]
                coreg = parts[0] if len(parts) == 1 else xdem.coreg.CoregPipeline(parts)
                if a.ref_points:
                    import geopandas as gpd

                    x, y, z = np.loadtxt(a.ref_points, delimiter=",", skiprows=1).T
                    points = gpd.GeoDataFrame({"z": z}, geometry=gpd.points_from_xy(x, y),
                                              crs=tba.crs)
                    coreg.fit(points, tba, random_state=RANDOM_STATE, z_name="z")
                else:
                    coreg.fit(ref, tba, inlier_mask=stable, random_state=RANDOM_STATE)
                result["t_fit_s"] = time.perf_counter() - t_fit
                aligned = coreg.apply(tba)
                affine = parts[0] if len(parts) == 1 else coreg.pipeline[0]
                out = dict(affine.meta.get("outputs", {}).get("affine", {}))
                if "shift_x" not in out and hasattr(affine, "to_matrix"):
                    try:  # LZD: a full matrix, of which the translation is comparable
                        matrix = affine.to_matrix()
                        out.update(shift_x=matrix[0, 3], shift_y=matrix[1, 3],
                                   shift_z=matrix[2, 3])
                        result["matrix"] = np.asarray(matrix).tolist()
                    except (AttributeError, ValueError):
                        pass
                sx, sy, sz = (float(out.get(k, 0.0)) for k in ("shift_x", "shift_y", "shift_z"))
            if not same_grid(ref, aligned):
                aligned = aligned.reproject(ref, silent=True)
            result["median_after"], result["nmad_after"], _ = stats(
                ref_arr, filled(aligned), stable
            )
            if a.out:
                aligned.save(a.out)
            result["t_total_s"] = time.perf_counter() - t0
            result.update(shift_x=sx, shift_y=sy, shift_z=sz)

            # The same shift in the DEM file's own CRS (degrees for a geographic DEM), at centre.
            left, bottom, right, top = ref.bounds
            cx, cy = (left + right) / 2, (bottom + top) / 2
            to_dem = Transformer.from_crs(ref.crs, dem_crs, always_xy=True)
            (x0, x1), (y0, y1) = to_dem.transform([cx, cx + sx], [cy, cy + sy])
            result["shift_x_dem_crs"], result["shift_y_dem_crs"] = x1 - x0, y1 - y0
    except Exception as exc:  # report, don't crash: the harness reads the JSON line
        result["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc(file=sys.stderr)
        if result["t_total_s"] is None:
            result["t_total_s"] = time.perf_counter() - t0
    for k in ("t_fit_s", "t_total_s"):
        if result[k] is not None:
            result[k] = round(result[k], 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
