#!/usr/bin/env python3
"""Benchmark: Coreg's DEM coregistration against xdem, side by side.

Run with ``/usr/bin/python3 benchmarks/dem.py`` (from anywhere). It prints a table and writes
every row with the run's meta to ``benchmarks/results/dem.json`` (benchmarks/results.py: the
commit the run started on, date, machine, versions); all temporary rasters go to
``benchmarks/work/dem/`` (git-ignored). See benchmarks/README_dem.md.

Each tool runs in its own fresh process per case and method: Coreg through this file's
``--coreg-worker`` mode (Debian python), xdem through ``peers/run_xdem.py`` in the venv made by
``peers/xdem_env.sh``. Timings are ``time.perf_counter`` inside the worker, imports excluded:
``t_fit`` is the estimation (Coreg ``estimate_dem_alignment``, xdem ``fit``), ``t_total`` is
the whole job up to a written aligned DEM (Coreg ``estimate_dem_alignment`` + ``align_dem``
when ``align_dem`` exists; xdem load, reproject, mask, fit, apply, save).

Besides each tool's own before/after statistics, a *common evaluator* (this file,
``evaluate_shift``) scores the translation of either tool the same way: on the reference's
own grid and stable pixels, dh = reference - (DEM bilinearly sampled at x - shift_x,
y - shift_y, plus shift_z), NMAD = 1.4826 median|dh - median(dh)| (when both DEMs are
integer rasters, of dh plus a fixed one-metre dither, the same for both tools: see
``Evaluator``). The table's "NMAD after"
columns use it for the translation methods (nuth_kaab, vertical); blockwise rows (marked *)
apply it to the aligned raster each tool wrote instead (no single translation to score), which
also counts each tool's resampling loss.

Options: ``--only TEXT`` (repeatable) keeps the case/method rows whose "case method" name
contains TEXT; ``--no-xdem``; ``--no-coreg``; ``--json PATH``; ``--large-size N`` (default 6000).
"""

from __future__ import annotations

import os

# Before anything imports GDAL: never write .aux.xml side-cars (next to shared data).
os.environ["GDAL_PAM_ENABLED"] = "NO"
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

from checkout import register_coreg  # noqa: E402
from results import run_meta, runs_processes, write_results  # noqa: E402

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work" / "dem"
PEERS = HERE / "peers"
DATA = (REPO / ".." / "shared" / "data" / "dem").resolve()
PY_SYSTEM = "/usr/bin/python3"
TIMEOUT_S = 1800
SEED = 20260722
#: Most reference pixels the common evaluator scores (a fixed random subset beyond).
EVAL_MAX_PIXELS = 4_000_000

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from affine import Affine  # noqa: E402
from pyproj import Geod, Transformer  # noqa: E402
from rasterio.features import rasterize  # noqa: E402
from rasterio.warp import transform_geom  # noqa: E402
from scipy import ndimage  # noqa: E402

# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


@dataclass
class DemCase:
    name: str
    ref: Path
    dem: Path
    methods: tuple[str, ...]
    #: Known translation to apply to the DEM (DEM CRS units, x east, y north; z metres).
    truth: tuple[float, float, float] | None = None
    truth_note: str = ""
    #: Stable terrain = valid pixels of this raster (else: all valid pixels of the reference).
    mask_nodata_of: Path | None = None
    #: Unstable-terrain polygons (vector file).
    exclude_gpkg: Path | None = None
    block_size: int = 256
    #: Reference points (CSV x, y, z) both tools fit on instead of ``ref``, which then
    #: serves the common evaluator only.
    points: Path | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)


def _write(path: Path, array: np.ndarray, transform: Affine, crs, nodata, *, compress=True) -> None:
    profile = dict(
        driver="GTiff",
        width=array.shape[1],
        height=array.shape[0],
        count=1,
        dtype="float32",
        transform=transform,
        crs=crs,
        nodata=nodata,
        tiled=True,
        blockxsize=256,
        blockysize=256,
    )
    if compress:
        profile.update(compress="deflate", predictor=3, zlevel=1)
    if array.size > 2**31 // 4:
        profile["BIGTIFF"] = "YES"
    tmp = path.with_suffix(".part.tif")
    with rasterio.open(tmp, "w", **profile) as ds:
        ds.write(array.astype("float32"), 1)
    os.replace(tmp, path)


def _glacier_mask(gpkg: Path, shape, transform, crs) -> np.ndarray:
    import fiona

    with fiona.open(gpkg) as src:
        src_crs = src.crs_wkt
        geoms = [transform_geom(src_crs, crs, _geojson(f["geometry"])) for f in src]
    return rasterize(
        ((g, 1) for g in geoms),
        out_shape=shape,
        transform=transform,
        all_touched=False,
        dtype="uint8",
    ).astype(bool)


def _geojson(geometry) -> dict:
    """A plain GeoJSON dict from a fiona geometry (fiona 1.8 dict or 1.9 Geometry object)."""
    if isinstance(geometry, dict):
        return geometry
    from shapely.geometry import mapping, shape

    return dict(mapping(shape(geometry)))


def make_aster_synthetic(out_dir: Path) -> tuple[Path, tuple[float, float, float]]:
    """The Exploradores ASTER DEM moved by (+12.5 m E, -7.5 m N) in its geotransform, raised by
    3.2 m, with its glaciers lowered by 15 m (so the exclusion mask matters) and N(0, 0.5 m)
    noise. The correction to apply to it is therefore (-12.5, +7.5, -3.2)."""
    src = DATA / "exploradores_aster" / "AST_L1A_00303182012144228_Z.tif"
    gpkg = DATA / "exploradores_aster" / "17_rgi60_glacier_outlines.gpkg"
    move, dz, thinning = (12.5, -7.5), 3.2, 15.0
    path = out_dir / "aster_shifted_dx+12.5_dy-7.5_dz+3.2_glaciers-15.tif"
    if not path.exists():
        with rasterio.open(src) as ds:
            z = ds.read(1).astype("float64")
            valid = ds.read_masks(1) > 0
            t, crs, nodata = ds.transform, ds.crs, ds.nodata
        glacier = _glacier_mask(gpkg, z.shape, t, crs)
        rng = np.random.default_rng(SEED)
        z = z + dz - thinning * glacier + rng.normal(0.0, 0.5, z.shape)
        z[~valid] = nodata
        _write(path, z, Affine.translation(*move) * t, crs, nodata)
    return path, (-move[0], -move[1], -dz)


def make_large(out_dir: Path, size: int) -> tuple[Path, Path, tuple[float, float, float]]:
    """Longyearbyen DEM_1995 mirror-tiled to size x size (float32, 20 m, EPSG:25833) as the
    reference; the DEM is the same array + 1.5 m + N(0, 0.5 m) noise with its geotransform moved
    by (+7.4 m E, -12.2 m N), i.e. (+0.37, +0.61) px. Correction: (-7.4, +12.2, -1.5)."""
    move, dz = (7.4, -12.2), 1.5
    ref_path = out_dir / f"large_{size}_ref.tif"
    dem_path = out_dir / f"large_{size}_dem_dx+7.4_dy-12.2_dz+1.5.tif"
    if not (ref_path.exists() and dem_path.exists()):
        with rasterio.open(DATA / "longyearbyen" / "DEM_1995.tif") as ds:
            a = ds.read(1).astype("float32")
            t, crs = ds.transform, ds.crs
        unit = np.block([[a, a[:, ::-1]], [a[::-1, :], a[::-1, ::-1]]])
        reps = (math.ceil(size / unit.shape[0]), math.ceil(size / unit.shape[1]))
        big = np.tile(unit, reps)[:size, :size]
        del unit
        _write(ref_path, big, t, crs, -9999.0, compress=False)
        rng = np.random.default_rng(SEED + 1)
        big = big + np.float32(dz) + rng.normal(0.0, 0.5, big.shape).astype("float32")
        _write(dem_path, big, Affine.translation(*move) * t, crs, -9999.0, compress=False)
        del big
    return ref_path, dem_path, (-move[0], -move[1], -dz)


def srtm_truth() -> tuple[float, float, float]:
    """demcompare's published answer for srtm_blurred_and_shifted.tif (ref = srtm_ref.tif):
    nuth_offset dx = 3 px, dy = 5 px, and the coregistered secondary's upper-left corner
    (ulx 40.0025, uly 39.99583) shows the direction: the secondary must move +3 px east and
    5 px south (rows down). In degrees: (+3 * res, -5 * res); z: not published (bias -0.018 m
    after coregistration is not the shift itself)."""
    with rasterio.open(DATA / "demcompare_srtm" / "srtm_blurred_and_shifted.tif") as ds:
        rx, ry = ds.transform.a, -ds.transform.e
    return (3 * rx, -5 * ry, float("nan"))


#: The sensor-simulated biases (tests/dem_sensor.py): tilt per map unit (x, y) and the
#: along-track undulation (amplitude m, wavelength m, track azimuth deg).
SENSOR_TILT, SENSOR_UNDULATION = (2e-4, -1e-4), (1.5, 4000.0, 20.0)


def make_sensor(out_dir: Path, name: str, **biases) -> DemCase:
    """A pair simulated like two sensors (block averages 4x4 of the real Longyearbyen DEM,
    the DEM's blocks (1, 3) fine pixels further, noise 0.3 m; see tests/dem_sensor.py)."""
    sys.path.insert(0, str(REPO / "tests"))
    from dem_sensor import SensorCase, make_pair

    folder = out_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    pair = make_pair(SensorCase(**biases), folder)
    return DemCase(name, pair["ref"], pair["dem"], (), truth=(*pair["shift"], pair["dz"]),
                   truth_note="exact (sensor-simulated)",
                   extra={"res": pair["res"], **biases})


def all_cases(large_size: int) -> list[DemCase]:
    d = DATA
    aster_dem, aster_truth = make_aster_synthetic(WORK)
    large_ref, large_dem, large_truth = make_large(WORK, large_size)
    sensor_shift = make_sensor(WORK, "sensor_shift")
    sensor_shift.methods = ("nuth_kaab", "dhminimize", "pipeline:icp")
    sensor_shift.note = "block-averaged Longyearbyen 80 m, shift (0.25, 0.75) px, dz 2 m"
    biases = make_sensor(WORK, "sensor_biases", tilt=SENSOR_TILT, undulation=SENSOR_UNDULATION)
    azimuth = SENSOR_UNDULATION[2]
    biases.methods = (f"pipeline:nuth_kaab+deramp1+directional:{azimuth:g}",
                      "pipeline:nuth_kaab+deramp1+directional")
    biases.note = "as sensor_shift, plus a tilt and a 1.5 m along-track sine (azimuth 20 deg)"
    points = make_sensor(WORK, "sensor_points")
    from dem_sensor import SensorCase, make_points

    points.points, _ = make_points(SensorCase(), WORK / "sensor_points")
    points.methods = ("nuth_kaab",)
    points.note = ("sensor_shift's DEM fitted on altimeter-like points of the fine DEM "
                   "(33 tracks, 0.3 m noise, 1 % blunders); scored on sensor_shift's reference")
    return [
        DemCase(
            "longyearbyen",
            d / "longyearbyen/aligned_elev.tif",
            d / "longyearbyen/DEM_1995.tif",
            ("nuth_kaab", "vertical", "blockwise", "dhminimize", "pipeline:nuth_kaab+deramp1",
             "pipeline:lzd", "pipeline:icp"),
            truth=None,
            truth_note="~(+10.3, +1.9, -1.9) LZD",
            mask_nodata_of=d / "longyearbyen/aligned_elev.tif",
            note="real: DEM_1995 onto xdem's LZD-aligned copy; glaciers = reference nodata",
        ),
        DemCase(
            "srtm_demcompare",
            d / "demcompare_srtm/srtm_ref.tif",
            d / "demcompare_srtm/srtm_blurred_and_shifted.tif",
            ("nuth_kaab",),
            truth=srtm_truth(),
            truth_note="demcompare: +3 px E, 5 px S",
            note="CNES synthetic: blurred + shifted SRTM, EPSG:4326",
        ),
        DemCase(
            "grenoble_copernicus",
            d / "grenoble_copernicus/Copernicus_DSM_10_N45_00_E005_00_DEM.tif",
            d / "grenoble_copernicus/Copernicus_blurred_and_shifted.tif",
            ("nuth_kaab",),
            note="CNES synthetic: blurred, shifted, resampled (0.002 deg -> 0.003 deg); no truth",
        ),
        DemCase(
            "aster_synthetic",
            d / "exploradores_aster/AST_L1A_00303182012144228_Z.tif",
            aster_dem,
            ("nuth_kaab", "blockwise"),
            truth=aster_truth,
            truth_note="exact (synthetic)",
            exclude_gpkg=d / "exploradores_aster/17_rgi60_glacier_outlines.gpkg",
            note="ASTER moved (+12.5, -7.5, +3.2), glaciers -15 m, noise 0.5 m; "
            "RGI outlines excluded",
        ),
        DemCase(
            f"large_{large_size}",
            large_ref,
            large_dem,
            ("nuth_kaab",),
            truth=large_truth,
            truth_note="exact (synthetic)",
            note=f"DEM_1995 mirror-tiled {large_size}x{large_size} float32, "
            "moved (+7.4, -12.2, +1.5)",
        ),
        sensor_shift,
        biases,
        points,
    ]


#: Methods that are one translation (scored by the evaluator on the shift itself).
TRANSLATIONS = ("nuth_kaab", "vertical", "dhminimize")


# --------------------------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------------------------


def coreg_worker(spec: dict) -> dict:
    """Run Coreg on one case (in a fresh process); return its JSON record."""
    t_import = time.perf_counter()
    register_coreg()
    import coreg.core.dem.dem as cdem

    t_import = time.perf_counter() - t_import
    out = {
        "tool": "coreg",
        "method": spec["method"],
        "error": None,
        "t_import_s": round(t_import, 3),
    }
    try:
        t0 = time.perf_counter()
        exclude = []
        if spec.get("exclude_gpkg"):
            from coreg.core.io.vector_masks import vector_mask

            exclude.append(vector_mask(spec["exclude_gpkg"]))  # as the CLI reads it
        for path in spec.get("exclude_rasters", ()):
            exclude.append(path)
        method = spec["method"]
        options = dict(exclude=tuple(exclude), block_size=spec["block_size"])
        if method.startswith("pipeline:") or method in ("dhminimize", "lzd"):
            options["pipeline"] = method.removeprefix("pipeline:")
        else:
            options["method"] = method
        t_mask = time.perf_counter() - t0  # reading the exclusion polygons (if any)
        t1 = time.perf_counter()
        if spec["ref"].endswith(".csv"):  # reference points
            from coreg.core.dem.points import estimate_dem_to_points

            a = estimate_dem_to_points(spec["ref"], spec["dem"],
                                       pipeline=options.get("pipeline") or method, **{
                                           k: v for k, v in options.items()
                                           if k not in ("pipeline", "method")})
        elif "pipeline" in options:
            from coreg.core.dem.pipeline import estimate_dem_pipeline

            a = estimate_dem_pipeline(spec["ref"], spec["dem"], **options)
        else:
            a = cdem.estimate_dem_alignment(spec["ref"], spec["dem"], **options)
        t_fit = time.perf_counter() - t1
        t_total = t_mask + t_fit
        wrote = False
        if hasattr(cdem, "align_dem") and spec.get("out"):
            # The whole job: align_dem estimates again and writes the aligned DEM.
            t1 = time.perf_counter()
            a = cdem.align_dem(spec["ref"], spec["dem"], spec["out"], **options)
            t_total = t_mask + (time.perf_counter() - t1)
            wrote = True
            if spec.get("out_bilinear"):  # untimed: the same kernel as xdem's apply
                cdem.align_dem(spec["ref"], spec["dem"], spec["out_bilinear"],
                               resampling="bilinear", **options)
        rep = a.report()
        blocks = rep.pop("blocks", [])
        out.update(rep)
        out.update(
            n_blocks=len(blocks) or None,
            n_stable=a.n_stable_pixels,
            shift_x_dem_crs=a.shift_x,
            shift_y_dem_crs=a.shift_y,
            t_fit_s=round(t_fit, 3),
            t_total_s=round(t_total, 3),
            wrote_output=wrote,
        )
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc(file=sys.stderr)
    return out


def run_subprocess(cmd: list[str], log: Path) -> dict:
    env = dict(os.environ, GDAL_PAM_ENABLED="NO")
    with open(log, "w") as err:
        try:
            proc = subprocess.run(
                cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env, timeout=TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timeout after {TIMEOUT_S} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"error": f"no JSON output (exit {proc.returncode}); see {log}"}
    return json.loads(lines[-1])


def xdem_python() -> str | None:
    proc = subprocess.run(
        [str(PEERS / "xdem_env.sh")],
        capture_output=True,
        text=True,
        env=dict(os.environ, GDAL_PAM_ENABLED="NO"),
    )
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return None
    return proc.stdout.strip().splitlines()[-1]


# --------------------------------------------------------------------------------------------
# Common evaluator and units
# --------------------------------------------------------------------------------------------


def metres_per_unit(path: Path) -> tuple[float, float]:
    """Ground metres per CRS unit in x and y at the raster's centre (1, 1 for metric CRSs)."""
    with rasterio.open(path) as ds:
        crs, b = ds.crs, ds.bounds
    if not crs.is_geographic:
        return (1.0, 1.0)
    lon, lat = (b.left + b.right) / 2, (b.bottom + b.top) / 2
    geod, step = Geod(ellps="WGS84"), 1e-3
    return (
        geod.inv(lon, lat, lon + step, lat)[2] / step,
        geod.inv(lon, lat, lon, lat + step)[2] / step,
    )


def _read_float(path: Path) -> tuple[np.ndarray, rasterio.Affine, object]:
    with rasterio.open(path) as ds:
        z = ds.read(1, masked=True).astype("float64").filled(np.nan)
        return z, ds.transform, ds.crs


def stable_mask(case: DemCase, ref: np.ndarray, t: Affine, crs) -> np.ndarray:
    stable = np.isfinite(ref)
    if case.mask_nodata_of is not None:
        m, mt, mcrs = _read_float(case.mask_nodata_of)
        if m.shape != ref.shape or not mt.almost_equals(t):
            raise ValueError("mask raster must be on the reference grid")
        stable &= np.isfinite(m)
    if case.exclude_gpkg is not None:
        stable &= ~_glacier_mask(case.exclude_gpkg, ref.shape, t, crs)
    return stable


def elevation_quantum(case: DemCase) -> float:
    """The step of dh's values when both inputs store whole metres (integer rasters), else 0."""
    def integer(path: Path) -> bool:
        with rasterio.open(path) as ds:
            return np.issubdtype(np.dtype(ds.dtypes[0]), np.integer) and ds.scales[0] == 1
    return 1.0 if integer(case.ref) and integer(case.dem) else 0.0


class Evaluator:
    """dh = reference - shifted DEM on the reference's stable pixels (bilinear sampling).

    When both inputs are integer rasters (SRTM), dh at a whole-pixel shift takes whole-metre
    values only, and the median of |dh - median| jumps by whole metres (NMAD by 1.48 m) on
    ties, while a shift a hair off the grid interpolates and breaks the ties. The NMAD is
    then taken over dh plus a fixed dither, uniform over one metre, the same draw for every
    reference pixel whichever tool or raster is scored (the median of grouped data);
    ``nmad_plain`` keeps the NMAD without it."""

    def __init__(self, case: DemCase, dem: Path | None = None) -> None:
        ref, t, crs = _read_float(case.ref)
        stable = stable_mask(case, ref, t, crs)
        rows, cols = np.nonzero(stable)
        if rows.size > EVAL_MAX_PIXELS:
            keep = np.random.default_rng(SEED).choice(rows.size, EVAL_MAX_PIXELS, replace=False)
            rows, cols = rows[keep], cols[keep]
        self.quantum = elevation_quantum(case)
        self.dither = self.quantum * np.random.default_rng(SEED + 7).uniform(-0.5, 0.5,
                                                                             rows.size)
        self.ref_values = ref[rows, cols]
        del ref
        x, y = t * (cols + 0.5, rows + 0.5)
        self.dem, self.dem_t, dem_crs = _read_float(dem or case.dem)
        if dem_crs != crs:
            x, y = Transformer.from_crs(crs, dem_crs, always_xy=True).transform(x, y)
        self.x, self.y = np.asarray(x), np.asarray(y)
        self.n = rows.size

    def dh(self, shift_x: float, shift_y: float, shift_z: float, order: int = 1) -> np.ndarray:
        inv = ~self.dem_t
        c, r = inv * (self.x - shift_x, self.y - shift_y)
        c, r = np.asarray(c) - 0.5, np.asarray(r) - 0.5
        if order == 1:
            z = ndimage.map_coordinates(self.dem, [r, c], order=1, mode="constant", cval=np.nan)
        else:  # a cubic spline needs its neighbours: NaN gaps filled, then masked again
            valid = np.isfinite(self.dem)
            filled = np.where(valid, self.dem, np.nanmedian(self.dem))
            z = ndimage.map_coordinates(filled, [r, c], order=order, mode="nearest")
            support = ndimage.map_coordinates(valid.astype(float), [r, c], order=1,
                                              mode="constant")
            z[support < 0.999] = np.nan
        return self.ref_values - (z + shift_z)

    def stats(self, shift_x, shift_y, shift_z, order: int = 1) -> dict:
        dh = self.dh(shift_x, shift_y, shift_z, order)
        valid = np.isfinite(dh)
        dh = dh[valid]
        med = float(np.median(dh))
        out = {"nmad": _nmad(dh, med), "median": med, "n": int(dh.size)}
        if self.quantum:
            out |= {"nmad": _nmad(dh + self.dither[valid]), "nmad_plain": out["nmad"],
                    "quantum": self.quantum}
        return out


def _nmad(values: np.ndarray, median: float | None = None) -> float:
    med = float(np.median(values)) if median is None else median
    return float(1.4826 * np.median(np.abs(values - med)))


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def _f(v, fmt="{:+.2f}") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return fmt.format(v)


def run(args) -> list[dict]:
    WORK.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    cases = all_cases(args.large_size)
    print(f"[dem] inputs ready in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    xpy = None if args.no_xdem else xdem_python()
    if not args.no_xdem and xpy is None:
        print("[dem] xdem venv could not be built; xdem columns stay empty", file=sys.stderr)
    rows = []
    for case in cases:
        todo = [
            m
            for m in case.methods
            if not args.only or any(s in f"{case.name} {m}" for s in args.only)
        ]
        if not todo:
            continue
        cdir = WORK / case.name
        cdir.mkdir(exist_ok=True)
        mpu = metres_per_unit(case.dem)
        evaluator = None
        for method in todo:
            print(f"[dem] {case.name} {method}", file=sys.stderr)
            row = {
                "case": case.name,
                "method": method,
                "note": case.note,
                "truth_note": case.truth_note,
                "metres_per_unit": mpu,
            }
            if case.truth is not None:
                row["truth_m"] = [case.truth[0] * mpu[0], case.truth[1] * mpu[1], case.truth[2]]
            tag = method.replace(":", "_").replace("+", "_")
            for name in ("coreg", "xdem", "coreg_bilinear"):
                (cdir / f"{name}_{tag}.tif").unlink(missing_ok=True)
            if not args.no_coreg:
                spec = {
                    "ref": str(case.points or case.ref),
                    "dem": str(case.dem),
                    "method": method,
                    "block_size": case.block_size,
                    "out": str(cdir / f"coreg_{tag}.tif"),
                    "out_bilinear": str(cdir / f"coreg_bilinear_{tag}.tif"),
                    "exclude_gpkg": str(case.exclude_gpkg) if case.exclude_gpkg else None,
                }
                # Longyearbyen: the stable mask is the reference's valid pixels, which Coreg
                # never treats as stable anyway (reference nodata), so no extra mask is passed.
                row["coreg"] = run_subprocess(
                    [PY_SYSTEM, str(Path(__file__).resolve()), "--coreg-worker", json.dumps(spec)],
                    cdir / f"coreg_{tag}.stderr.log",
                )
            if xpy:
                cmd = [
                    xpy,
                    str(PEERS / "run_xdem.py"),
                    "--ref",
                    str(case.ref),
                    "--dem",
                    str(case.dem),
                    "--method",
                    method,
                    "--block-size",
                    str(case.block_size),
                    "--workdir",
                    str(cdir / "xdem_blockwise"),
                    "--out",
                    str(cdir / f"xdem_{tag}.tif"),
                ]
                if case.mask_nodata_of:
                    cmd += ["--mask-nodata-of", str(case.mask_nodata_of)]
                if case.exclude_gpkg:
                    cmd += ["--exclude-gpkg", str(case.exclude_gpkg)]
                if case.points:
                    cmd += ["--ref-points", str(case.points)]
                row["xdem"] = run_subprocess(cmd, cdir / f"xdem_{tag}.stderr.log")
            # Shifts in ground metres (same conversion for both tools), errors, common NMAD.
            for tool in ("coreg", "xdem"):
                r = row.get(tool)
                if not r or r.get("error") or r.get("shift_x_dem_crs") is None:
                    continue
                r["shift_m"] = [
                    r["shift_x_dem_crs"] * mpu[0],
                    r["shift_y_dem_crs"] * mpu[1],
                    r["shift_z"],
                ]
                if "truth_m" in row:
                    tr = row["truth_m"]
                    r["error_xy_m"] = math.hypot(r["shift_m"][0] - tr[0], r["shift_m"][1] - tr[1])
                    r["error_z_m"] = abs(r["shift_m"][2] - tr[2]) if math.isfinite(tr[2]) else None
                if method in TRANSLATIONS:
                    if evaluator is None:
                        evaluator = Evaluator(case)
                    r["eval"] = evaluator.stats(
                        r["shift_x_dem_crs"], r["shift_y_dem_crs"], r["shift_z"]
                    )
                    # The same shift scored with a cubic spline: the bilinear score favours
                    # references that were themselves bilinear-resampled (README_dem.md).
                    r["eval_cubic"] = evaluator.stats(
                        r["shift_x_dem_crs"], r["shift_y_dem_crs"], r["shift_z"], order=3
                    )
            # Sanity check of each tool's written output (catches a wrong sign in "apply"):
            # the same evaluator on the aligned raster with no shift. It includes the tool's
            # resampling loss (and for xdem its reprojection onto the reference grid first).
            for tool, key, name in (("coreg", "output_eval", "coreg"),
                                    ("xdem", "output_eval", "xdem"),
                                    ("coreg", "output_eval_bilinear", "coreg_bilinear")):
                r = row.get(tool)
                out_path = cdir / f"{name}_{tag}.tif"
                if r and not r.get("error") and out_path.exists():
                    try:
                        r[key] = Evaluator(case, dem=out_path).stats(0.0, 0.0, 0.0)
                    except Exception as exc:  # noqa: BLE001
                        r[key] = {"error": f"{type(exc).__name__}: {exc}"}
            if row.get("coreg", {}).get("corrections") is not None:
                row["coreg"]["term_errors"] = term_errors(case, row["coreg"])
            if evaluator is None:
                evaluator = Evaluator(case)
            row["eval_before"] = evaluator.stats(0.0, 0.0, 0.0)
            if method in TRANSLATIONS:
                if "truth_m" in row and math.isfinite(case.truth[2]):
                    row["eval_truth"] = evaluator.stats(*case.truth)
            c, x = row.get("coreg", {}), row.get("xdem", {})
            if c.get("shift_m") and x.get("shift_m"):
                row["diff_xy_m"] = math.hypot(
                    c["shift_m"][0] - x["shift_m"][0], c["shift_m"][1] - x["shift_m"][1]
                )
                row["diff_z_m"] = abs(c["shift_m"][2] - x["shift_m"][2])
            rows.append(row)
            print(f"[dem]   coreg: {json.dumps(row.get('coreg'))}", file=sys.stderr)
            print(f"[dem]   xdem : {json.dumps(row.get('xdem'))}", file=sys.stderr)
    return rows


def term_errors(case: DemCase, record: dict) -> dict:
    """Coreg's fitted bias terms against the sensor simulation's (relative errors; the
    corrections undo what was added, hence the sign), and the shift error in pixels."""
    out = {}
    res = case.extra.get("res")
    if res and case.truth and record.get("shift_x") is not None:
        out["shift_error_px"] = max(abs(record["shift_x"] - case.truth[0]),
                                    abs(record["shift_y"] - case.truth[1])) / res
    tilt, undulation = case.extra.get("tilt"), case.extra.get("undulation")
    for terms in record.get("corrections") or []:
        if terms["step"].startswith("deramp") and tilt:
            out["tilt_x_rel_error"] = abs(-terms["tilt_x"] / tilt[0] - 1)
            out["tilt_y_rel_error"] = abs(-terms["tilt_y"] / tilt[1] - 1)
        if terms["step"] == "directional" and undulation and terms.get("sines"):
            sine = max(terms["sines"], key=lambda s: s["amplitude"])
            out["amplitude_rel_error"] = abs(sine["amplitude"] / undulation[0] - 1)
            out["wavelength_rel_error"] = abs(sine["wavelength"] / undulation[1] - 1)
            out["azimuth_error_deg"] = abs(terms["angle_deg"] - undulation[2])
    return out


def table(rows: list[dict]) -> str:
    head = (
        "| case | method | truth x/y/z (m) | Coreg x/y/z (m) | xdem x/y/z (m) | Δxy / Δz (m) "
        "| err vs truth Coreg / xdem (m) | NMAD before "
        "| NMAD after, bilinear Coreg / xdem | NMAD after, cubic Coreg / xdem "
        "| time Coreg (s) | time xdem (s) | ratio xdem/Coreg |"
    )
    lines = [head, "|" + "|".join(["---"] * (head.count("|") - 1)) + "|"]
    wins = {"bilinear": [0, 0], "cubic": [0, 0]}
    ratios = []

    def xyz(v):
        return "/".join(_f(a, "{:+.2f}") for a in v) if v else "—"

    for r in rows:
        c, x = r.get("coreg", {}), r.get("xdem", {})
        truth = xyz(r.get("truth_m")) if r.get("truth_m") else r.get("truth_note", "")
        if r.get("truth_m") and r.get("truth_note"):
            truth += f" ({r['truth_note']})"
        blockwise = r["method"] not in TRANSLATIONS
        before_s = _f(r.get("eval_before", {}).get("nmad"), "{:.3f}")
        def score(d, key):
            return (d.get(key) or {}).get("nmad")

        if blockwise:  # no single translation: score the aligned rasters the tools wrote
            # (xdem's apply resamples bilinearly; Coreg wrote both kernels)
            kernels = {"bilinear": (score(c, "output_eval_bilinear"), score(x, "output_eval")),
                       "cubic": (score(c, "output_eval"), None)}
            suffix = "*"
        else:
            kernels = {"bilinear": (score(c, "eval"), score(x, "eval")),
                       "cubic": (score(c, "eval_cubic"), score(x, "eval_cubic"))}
            suffix = ""
        for kernel, (na_c, na_x) in kernels.items():
            if na_c is not None and na_x is not None:
                wins[kernel][1] += 1
                wins[kernel][0] += na_c <= na_x + 1e-9
        cells = " | ".join(f"{_f(a, '{:.3f}')} / {_f(b, '{:.3f}')}{suffix}"
                           for a, b in kernels.values())
        err = "—"
        if "error_xy_m" in c or "error_xy_m" in x:
            err = f"{_f(c.get('error_xy_m'), '{:.2f}')} / {_f(x.get('error_xy_m'), '{:.2f}')}"
        diff = "—"
        if r.get("diff_xy_m") is not None:
            diff = f"{r['diff_xy_m']:.2f} / {r['diff_z_m']:.2f}"
        tc, tx = c.get("t_total_s"), x.get("t_total_s")
        ratio = "—"
        if tc and tx and not c.get("error") and not x.get("error"):
            ratios.append((r["method"], tx / tc))
            ratio = f"{tx / tc:.2f}"
        cs = xyz(c.get("shift_m")) if not c.get("error") else f"ERROR {c['error'][:60]}"
        xs = xyz(x.get("shift_m")) if not x.get("error") else f"ERROR {x['error'][:60]}"
        lines.append(
            f"| {r['case']} | {r['method']} | {truth} | {cs} | {xs} | {diff} | {err} | {before_s} "
            f"| {cells} | {_f(tc, '{:.2f}')} | {_f(tx, '{:.2f}')} | {ratio} |"
        )
    # Second table: each tool's own statistics (its own grid and stable pixels) and the
    # common evaluator on the aligned raster each tool wrote.
    lines2 = [
        "| case | method | own NMAD before→after Coreg | own NMAD before→after xdem "
        "| n stable Coreg / xdem | written output NMAD Coreg cubic / Coreg bilinear / xdem "
        "| shift scored with a cubic spline Coreg / xdem | t_fit Coreg / xdem (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c, x = r.get("coreg", {}), r.get("xdem", {})

        def own(d):
            if d.get("error") or d.get("nmad_before") is None:
                return "—"
            return f"{d['nmad_before']:.3f}→{d['nmad_after']:.3f}"

        def outn(d, key="output_eval"):
            return _f((d.get(key) or {}).get("nmad"), "{:.3f}")

        lines2.append(
            f"| {r['case']} | {r['method']} | {own(c)} | {own(x)} "
            f"| {c.get('n_stable', '—')} / {x.get('n_stable', '—')} "
            f"| {outn(c)} / {outn(c, 'output_eval_bilinear')} / {outn(x)} "
            f"| {outn(c, 'eval_cubic')} / {outn(x, 'eval_cubic')} "
            f"| {_f(c.get('t_fit_s'), '{:.2f}')} / {_f(x.get('t_fit_s'), '{:.2f}')} |"
        )
    lines += ["", "Own statistics, written outputs and fit-only times:", ""] + lines2
    terms = [(r, r["coreg"]["term_errors"]) for r in rows if r.get("coreg", {}).get("term_errors")]
    if terms:
        lines += ["", "Coreg's fitted terms against the sensor simulation (relative errors):", "",
                  "| case | method | shift error (px) | tilt x / y | amplitude | wavelength "
                  "| azimuth error (deg) |", "|---|---|---|---|---|---|---|"]
        for r, e in terms:
            pct = {k: _f(100 * v, "{:.2f} %") for k, v in e.items()}
            lines.append(
                f"| {r['case']} | {r['method']} | {_f(e.get('shift_error_px'), '{:.4f}')} "
                f"| {pct.get('tilt_x_rel_error', '—')} / {pct.get('tilt_y_rel_error', '—')} "
                f"| {pct.get('amplitude_rel_error', '—')} "
                f"| {pct.get('wavelength_rel_error', '—')} "
                f"| {_f(e.get('azimuth_error_deg'), '{:.2f}')} |")
    summary = "NMAD after Coreg <= xdem's: " + ", ".join(
        f"{k} kernel {w}/{n} rows" for k, (w, n) in wins.items())
    for label, keep in (
        ("translation methods", lambda m: m in TRANSLATIONS),
        ("blockwise", lambda m: m == "blockwise"),
        ("pipelines", lambda m: m.startswith("pipeline:")),
    ):
        vals = [v for m, v in ratios if keep(m)]
        if vals:
            geo = math.exp(sum(math.log(v) for v in vals) / len(vals))
            summary += (
                f"; time xdem/Coreg, {label}: geometric mean {geo:.2f}x "
                f"(min {min(vals):.2f}, max {max(vals):.2f}, {len(vals)} rows)"
            )
    return "\n".join(lines) + "\n\n" + summary


def coreg_versions() -> dict:
    """Versions of the packages Coreg ran with (Debian's python, the workers' own)."""
    code = ("import json, numpy, scipy, rasterio, pyproj; print(json.dumps({'numpy': "
            "numpy.__version__, 'scipy': scipy.__version__, 'rasterio': rasterio.__version__, "
            "'gdal': rasterio.__gdal_version__, 'pyproj': pyproj.__version__}))")
    try:
        return json.loads(subprocess.run([PY_SYSTEM, "-c", code], capture_output=True,
                                         text=True, check=True).stdout)
    except (OSError, subprocess.CalledProcessError, json.JSONDecodeError):
        return {}


def engine_hashes() -> dict:
    """Hashes of the DEM engine's modules: which version ran, even if uncommitted."""
    import hashlib

    return {f"core_dem_{path.stem}_py_sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            for path in sorted((REPO / "core" / "dem").glob("*.py"))}


def main(argv=None) -> int:
    runs_processes()  # Coreg runs in child processes: their engine files are not imported here
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", action="append", default=[])
    p.add_argument("--no-xdem", action="store_true")
    p.add_argument("--no-coreg", action="store_true")
    p.add_argument("--large-size", type=int, default=6000)
    p.add_argument("--json", default=None,
                   help="results file (default benchmarks/results/dem.json)")
    p.add_argument("--coreg-worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.coreg_worker:
        print(json.dumps(coreg_worker(json.loads(args.coreg_worker))))
        return 0
    rows = run(args)
    text = table(rows)
    print(text)
    # The workers' own package versions (Debian's python) next to this process's.
    info = run_meta(worker_versions=coreg_versions(), **engine_hashes())
    written = write_results("dem", {"meta": info, "table": text, "rows": rows}, args.json)
    print(f"[dem] wrote {written}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
