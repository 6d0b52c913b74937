#!/usr/bin/env python3
"""Benchmark: Coreg's swath rectification against xcube-resampling and ``gdalwarp -geoloc``.

Run with ``/usr/bin/python3 benchmarks/swath.py`` (from anywhere). It prints a table and writes
the rows, with the run's meta, to ``benchmarks/results/swath.json`` (``--json PATH`` elsewhere);
temporary files go to ``benchmarks/work/swath/`` (git-ignored).

Cases, each on one target grid shared by all tools:

* ``olci``: the Sentinel-3 OLCI subset (100 x 100, ``rtoa_8``) onto the grid of xcube's old
  published tests (EPSG:4326, 834 x 535 px of 0.0005832°);
* ``ssmis``: the full SSMIS orbit (3336 x 90, reaches 89.2° N, crosses the antimeridian) onto
  the NSIDC polar stereographic 25 km grid (EPSG:3413, 304 x 448 px);
* ``ssmisN``: the 818 scans of that orbit wholly north of 40° N (over the pole, across the
  antimeridian), the part xcube-resampling can grid;
* ``large``: a synthetic 5000 x 5000 lon/lat swath (rotated, curved, bumpy; float64 coordinates
  like OLCI's) onto UTM at its median pixel spacing (about 6300 x 6000 px).

Tools: Coreg ``rectify_swath`` in this process (file in, GeoTIFF out; imports excluded);
xcube-resampling ``rectify_dataset`` in its own venv (``peers/xcube_env.sh``, in-memory arrays,
numba compiled by an untimed warm-up, no file I/O timed); ``gdalwarp -geoloc`` (wall time of
the command, file in, GeoTIFF out). All bilinear. The *floor* is reading the measurement and
coordinate rasters and writing an output of the target size with Coreg's output profile.
Differences are |tool - Coreg| over the pixels valid in both.

Options: ``--only NAME`` (repeatable), ``--no-xcube``, ``--no-gdal``, ``--large-size N``.
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"  # never write .aux.xml side-cars next to shared data
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

from checkout import register_coreg  # noqa: E402
from results import run_meta, write_results  # noqa: E402

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work" / "swath"
PEERS = HERE / "peers"
DATA = (REPO / ".." / "shared" / "data" / "swath").resolve()
PY_SYSTEM = "/usr/bin/python3"

import warnings  # noqa: E402

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from pyproj import Transformer  # noqa: E402
from rasterio.errors import NotGeoreferencedWarning  # noqa: E402

warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)  # swaths never have one

register_coreg()
from coreg.core.grid import Grid  # noqa: E402
from coreg.core.io.raster_io import output_profile  # noqa: E402
from coreg.core.swath.geometry import swath_grid, to_target_coordinates  # noqa: E402
from coreg.core.swath.inputs import read_band_array  # noqa: E402
from coreg.core.swath.sampling import rectify_arrays  # noqa: E402
from coreg.core.swath.swath import rectify_swath  # noqa: E402


@dataclass
class SwathCase:
    """One swath and its target grid: ``source`` (GDAL name, geolocation attached),
    coordinates (x raster, band, y raster, band), target CRS, pixel size, extent."""

    name: str
    source: str
    coords: tuple[str, int, str, int]
    band: int
    crs: str
    res: float
    extent: tuple[float, float, float, float]  # xmin, xmax, ymin, ymax
    gdal_cwd: Path | None = None

    @property
    def shape(self) -> tuple[int, int]:
        xmin, xmax, ymin, ymax = self.extent
        return round((ymax - ymin) / self.res), round((xmax - xmin) / self.res)


def olci_case() -> SwathCase:
    nc = DATA / "O_L2_0001_SNS_2017104102450_v1.0.nc"
    res, x0, y0 = 0.0005832, 1.152138, 52.32967
    return SwathCase("olci", f'NETCDF:"{nc}":rtoa_8',
                     (f'NETCDF:"{nc}":lon', 1, f'NETCDF:"{nc}":lat', 1), 1, "EPSG:4326", res,
                     (x0, x0 + 834 * res, y0, y0 + 535 * res))


def ssmis_case() -> SwathCase:
    tif = str(DATA / "ssmis_tb37v_swath.tif")
    return SwathCase("ssmis", str(DATA / "ssmis_tb37v_swath.vrt"), (tif, 3, tif, 2), 1,
                     "EPSG:3413", 25000.0, (-3850000, 3750000, -5350000, 5850000), DATA)


def ssmis_north_case() -> SwathCase:
    """The scans of the SSMIS orbit lying wholly north of 40° N (818 x 90): over the pole and
    across the antimeridian, the part xcube-resampling can take (see peers/README.md)."""
    folder = WORK / "ssmis_north"
    tif, vrt = folder / "ssmis_north.tif", folder / "ssmis_north.vrt"
    if not vrt.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with rasterio.open(DATA / "ssmis_tb37v_swath.tif") as ds:
            tb, lat, lon = ds.read()
        rows = np.flatnonzero((lat > 40).all(axis=1))
        rows = slice(rows.min(), rows.max() + 1)
        height, width = tb[rows].shape
        with rasterio.open(tif, "w", driver="GTiff", width=width, height=height, count=3,
                           dtype="float32", nodata=-1e10) as dst:
            dst.write(np.stack([tb[rows], lon[rows], lat[rows]]))
        vrt.write_text(_geolocation_vrt(tif.name, tif.name, width, height, 2, 3))
    return SwathCase("ssmisN", str(vrt), (str(tif), 2, str(tif), 3), 1, "EPSG:3413", 25000.0,
                     (-3850000, 3750000, -5350000, 5850000), folder)


def large_case(size: int) -> SwathCase:
    """A synthetic lon/lat swath of ``size`` x ``size`` pixels of about 30 m (written once)."""
    folder = WORK / f"large{size}"
    values_tif, coords_tif, vrt = folder / "values.tif", folder / "coords.tif", folder / "swath.vrt"
    utm = "EPSG:32632"
    if not vrt.exists():
        folder.mkdir(parents=True, exist_ok=True)
        j, i = np.mgrid[0:size, 0:size].astype(np.float64)
        angle = np.radians(13.0)
        along, across = j * 30.0, i * 28.0 * (1 + 2e-5 * i)
        x = 420_000 + across * np.cos(angle) - along * np.sin(angle) + 2e-6 * along ** 2
        y = 5_600_000 - across * np.sin(angle) - along * np.cos(angle) + 1e-6 * across ** 2
        x += 8 * np.sin(i / 40) * np.cos(j / 30)
        values = (np.sin(x / 900) + np.cos(y / 700) + 0.3 * np.sin(x / 97) * np.cos(y / 83))
        lon, lat = Transformer.from_crs(utm, "EPSG:4326", always_xy=True).transform(x, y)
        del x, y
        plain = dict(driver="GTiff", width=size, height=size, tiled=True, blockxsize=512,
                     blockysize=512)
        with rasterio.open(values_tif, "w", count=1, dtype="float32", **plain) as dst:
            dst.write(values.astype(np.float32), 1)
        with rasterio.open(coords_tif, "w", count=2, dtype="float64", **plain) as dst:
            dst.write(lon, 1)
            dst.write(lat, 2)
        vrt.write_text(_geolocation_vrt(values_tif.name, coords_tif.name, size, size, 1, 2))
    with rasterio.open(coords_tif) as ds:
        lon, lat = ds.read(1), ds.read(2)
    x, y = Transformer.from_crs("EPSG:4326", utm, always_xy=True).transform(lon, lat)
    res = float(np.median(np.hypot(np.diff(x[::50], axis=1), np.diff(y[::50], axis=1))))
    grid = swath_grid(x, y, rasterio.crs.CRS.from_user_input(utm), pixel_size=res, extent=None)
    left, bottom, right, top = grid.bounds
    return SwathCase("large", str(vrt), (str(coords_tif), 1, str(coords_tif), 2), 1, utm,
                     res, (left, right, bottom, top), folder)


def _geolocation_vrt(values: str, coords: str, width: int, height: int, x_band: int,
                     y_band: int) -> str:
    return f"""<VRTDataset rasterXSize="{width}" rasterYSize="{height}">
  <Metadata domain="GEOLOCATION">
    <MDI key="GEOREFERENCING_CONVENTION">PIXEL_CENTER</MDI>
    <MDI key="LINE_OFFSET">0</MDI><MDI key="LINE_STEP">1</MDI>
    <MDI key="PIXEL_OFFSET">0</MDI><MDI key="PIXEL_STEP">1</MDI>
    <MDI key="SRS">EPSG:4326</MDI>
    <MDI key="X_DATASET">{coords}</MDI><MDI key="X_BAND">{x_band}</MDI>
    <MDI key="Y_DATASET">{coords}</MDI><MDI key="Y_BAND">{y_band}</MDI>
  </Metadata>
  <VRTRasterBand dataType="Float32" band="1">
    <SimpleSource>
      <SourceFilename relativeToVRT="1">{values}</SourceFilename><SourceBand>1</SourceBand>
    </SimpleSource>
  </VRTRasterBand>
</VRTDataset>
"""


# ------------------------------------------------------------------------------ tools


def run_coreg(case: SwathCase, out: Path) -> tuple[float, float, np.ndarray]:
    """(wall s, CPU s of all threads, result) of Coreg's file-to-file rectification."""
    xs, xb, ys, yb = case.coords
    start, cpu = time.perf_counter(), time.process_time()
    rectify_swath(case.source, str(out), x_coords=xs, x_band=xb, y_coords=ys, y_band=yb,
                  bands=[case.band], target_crs=case.crs, pixel_size=case.res,
                  extent=case.extent, interpolation="bilinear")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    with rasterio.open(out) as ds:
        return elapsed, cpu, ds.read(1)


def run_coreg_in_memory(case: SwathCase) -> tuple[float, float]:
    """Coreg's rectification on arrays already in memory (coordinate transformation, lookup
    painting, bilinear sampling): the like-for-like counterpart of xcube's timing."""
    xs, xb, ys, yb = case.coords
    with rasterio.Env(GDAL_NETCDF_BOTTOMUP="NO"):
        arrays = [read_band_array(path, band, "") for path, band in
                  ((case.source, case.band), (xs, xb), (ys, yb))]
    values, lon, lat = arrays
    crs = rasterio.crs.CRS.from_user_input(case.crs)
    xmin, _, _, ymax = case.extent
    height, width = case.shape
    grid = Grid(crs, rasterio.Affine(case.res, 0, xmin, 0, -case.res, ymax), width, height)
    start, cpu = time.perf_counter(), time.process_time()
    x, y = to_target_coordinates(lon, lat, rasterio.crs.CRS.from_epsg(4326), crs, [])
    rectify_arrays(values[None].astype(np.float32), x, y, grid, interpolation="bilinear")
    return time.perf_counter() - start, time.process_time() - cpu


def read_write_floor(case: SwathCase, written: np.ndarray, out: Path) -> float:
    """Reading the band and both coordinate images and writing ``written`` (Coreg's result,
    so that compression sees the same data) with Coreg's output profile."""
    xs, xb, ys, yb = case.coords
    height, width = case.shape
    start = time.perf_counter()
    with rasterio.Env(GDAL_NETCDF_BOTTOMUP="NO"):
        for path, band in ((case.source, case.band), (xs, xb), (ys, yb)):
            with rasterio.open(path) as ds:
                ds.read(band)
    xmin, _, _, ymax = case.extent
    grid = Grid(rasterio.crs.CRS.from_user_input(case.crs),
                rasterio.Affine(case.res, 0, xmin, 0, -case.res, ymax), width, height)
    with rasterio.open(out, "w", **output_profile(grid, count=1, dtype="float32",
                                                  nodata=float("nan"))) as dst:
        dst.write(written, 1)
    return time.perf_counter() - start


def run_gdalwarp(case: SwathCase, out: Path) -> tuple[float, float, np.ndarray]:
    xmin, xmax, ymin, ymax = case.extent
    height, width = case.shape
    cmd = ["gdalwarp", "-q", "-overwrite", "-geoloc", "-r", "bilinear", "-t_srs", case.crs,
           "-te", *map(repr, (xmin, ymin, xmax, ymax)), "-ts", str(width), str(height),
           "-dstnodata", "nan", "-ot", "Float32", "-co", "TILED=YES", "-co", "COMPRESS=DEFLATE",
           "-co", "ZLEVEL=1", case.source, str(out)]
    start, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(cmd, check=True, cwd=case.gdal_cwd, capture_output=True,
                   env={**os.environ, "GDAL_NETCDF_BOTTOMUP": "NO"})
    elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu
    with rasterio.open(out) as ds:
        values = ds.read(1)
    values[values < -1e9] = np.nan  # the swath's own fill value, if warped through
    return elapsed, cpu, values


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_xcube(case: SwathCase, python: str) -> tuple[dict | None, np.ndarray | None, str]:
    """xcube on lon/lat coordinates; if it fails, again on coordinates projected beforehand
    into the target CRS (as an xcube user would do), saying so."""
    report, result, error = _run_xcube(case, python, preproject=False)
    if result is None:
        report, result, error2 = _run_xcube(case, python, preproject=True)
        error = (f"on lon/lat: {error}; " + (f"then failed too: {error2}" if result is None
                 else "ran on coordinates pre-projected to the target CRS (untimed)"))
    return report, result, error


def _run_xcube(case: SwathCase, python: str, *, preproject: bool):
    npz, out = WORK / f"{case.name}_xcube_in.npz", WORK / f"{case.name}_xcube_out.npy"
    xs, xb, ys, yb = case.coords
    with rasterio.Env(GDAL_NETCDF_BOTTOMUP="NO"):
        arrays = {}
        for key, path, band in (("values", case.source, case.band), ("x", xs, xb), ("y", ys, yb)):
            with rasterio.open(path) as ds:
                arrays[key] = ds.read(band)
    nodata = arrays["values"] < -1e9  # SSMIS fill: NaN for everyone
    for key in arrays:
        arrays[key] = np.where(nodata, np.nan, arrays[key])
    src_crs = "EPSG:4326"
    if preproject:
        transformer = Transformer.from_crs(src_crs, case.crs, always_xy=True)
        arrays["x"], arrays["y"] = transformer.transform(arrays["x"], arrays["y"])
        src_crs = case.crs
    np.savez(npz, **arrays)
    xmin, _, _, ymax = case.extent
    height, width = case.shape
    cmd = [python, str(PEERS / "run_xcube.py"), "--npz", str(npz), "--src-crs", src_crs,
           "--dst-crs", case.crs,
           "--xmin", repr(xmin), "--ymax", repr(ymax), "--res", repr(case.res),
           "--width", str(width), "--height", str(height), "--method", "bilinear",
           "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return None, None, f"no JSON: {done.stderr[-500:]}"
    if report.get("error"):
        return None, None, report["error"].splitlines()[0]
    return report, np.load(out), ""


def xcube_python() -> str | None:
    done = subprocess.run([str(PEERS / "xcube_env.sh")], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        print(f"[swath] xcube env failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return done.stdout.strip().splitlines()[-1]


def differences(ours: np.ndarray, theirs: np.ndarray | None) -> dict:
    if theirs is None or theirs.shape != ours.shape:
        return {}
    both = np.isfinite(ours) & np.isfinite(theirs)
    diff = np.abs(ours - theirs)[both]
    return {"median_abs_diff": float(np.median(diff)) if diff.size else None,
            "max_abs_diff": float(diff.max()) if diff.size else None,
            "p99_abs_diff": float(np.percentile(diff, 99)) if diff.size else None,
            "valid": int(np.isfinite(theirs).sum()), "valid_both": int(both.sum())}


def run(args) -> list[dict]:
    WORK.mkdir(parents=True, exist_ok=True)
    cases = [olci_case(), ssmis_case(), ssmis_north_case()]
    if not args.only or "large" in args.only:
        print(f"[swath] preparing the {args.large_size}^2 synthetic swath", file=sys.stderr)
        cases.append(large_case(args.large_size))
    python = None if args.no_xcube else xcube_python()
    rows = []
    for case in cases:
        if args.only and case.name not in args.only:
            continue
        print(f"[swath] {case.name}", file=sys.stderr)
        row = {"case": case.name, "target": f"{case.shape[1]}x{case.shape[0]} {case.crs}"}
        row["coreg_s"], row["coreg_cpu_s"], ours = run_coreg(case,
                                                             WORK / f"{case.name}_coreg.tif")
        row["floor_s"] = read_write_floor(case, ours, WORK / f"{case.name}_floor.tif")
        row["coreg_valid"] = int(np.isfinite(ours).sum())
        row["coreg_mem_s"], row["coreg_mem_cpu_s"] = run_coreg_in_memory(case)
        if not args.no_gdal:
            row["gdal_s"], row["gdal_cpu_s"], warped = run_gdalwarp(
                case, WORK / f"{case.name}_gdal.tif")
            row["gdal"] = differences(ours, warped)
        if python:
            report, rectified, error = run_xcube(case, python)
            if report:
                row["xcube_s"], row["xcube_cpu_s"] = report["t_rectify_s"], \
                    report["cpu_rectify_s"]
            row["xcube"] = differences(ours, rectified) if rectified is not None else {}
            row["xcube_error"] = error
            row["xcube_version"] = (report or {}).get("version")
        rows.append(row | ratios(row))
    return rows


def ratios(row: dict) -> dict:
    """Each peer's time over Coreg's, as the table prints them (> 1: Coreg faster)."""
    pairs = {"gdal_over_coreg": ("gdal_s", "coreg_s"),
             "gdal_over_coreg_cpu": ("gdal_cpu_s", "coreg_cpu_s"),
             "xcube_over_coreg": ("xcube_s", "coreg_mem_s"),
             "xcube_over_coreg_cpu": ("xcube_cpu_s", "coreg_mem_cpu_s")}
    return {key: row[a] / row[b] for key, (a, b) in pairs.items() if isinstance(row.get(a), float)}


def table(rows: list[dict]) -> str:
    head = (f"{'case':6} {'target':24} {'floor':>6} {'coreg':>6} {'gdal':>6} {'gdal/coreg':>10} "
            f"{'coreg*':>6} {'xcube*':>6} {'xcube/coreg':>11}  {'|d| xcube med/max':>19} "
            f"{'|d| gdal med/max':>19}  valid coreg/xcube/gdal")
    lines = [head, "-" * len(head)]
    for r in rows:
        def s(v):
            return f"{v:6.2f}" if isinstance(v, float) else f"{'-':>6}"

        def ratio(key, base, r=r):
            v = r.get(key)
            return f"{v / r[base]:.2f}" if isinstance(v, float) else "-"

        def d(key, r=r):
            v = r.get(key) or {}
            if v.get("median_abs_diff") is None:
                return f"{'-':>19}"
            return f"{v['median_abs_diff']:.1e}/{v['max_abs_diff']:.1e}".rjust(19)

        valid = "/".join(str((r.get(k) or {}).get("valid", "-")) for k in ("xcube", "gdal"))
        lines.append(f"{r['case']:6} {r['target']:24} {s(r['floor_s'])} {s(r['coreg_s'])} "
                     f"{s(r.get('gdal_s'))} {ratio('gdal_s', 'coreg_s'):>10} "
                     f"{s(r['coreg_mem_s'])} {s(r.get('xcube_s'))} "
                     f"{ratio('xcube_s', 'coreg_mem_s'):>11}  {d('xcube')} {d('gdal')}  "
                     f"{r['coreg_valid']}/{valid}")
        lines.append(f"{'':6} {'CPU s':24} {'':6} {s(r['coreg_cpu_s'])} "
                     f"{s(r.get('gdal_cpu_s'))} {ratio('gdal_cpu_s', 'coreg_cpu_s'):>10} "
                     f"{s(r['coreg_mem_cpu_s'])} {s(r.get('xcube_cpu_s'))} "
                     f"{ratio('xcube_cpu_s', 'coreg_mem_cpu_s'):>11}")
        if r.get("xcube_error"):
            lines.append(f"    xcube: {r['xcube_error'][:300]}")
    lines.append("Seconds, bilinear: wall time, and below it the CPU time of all threads (fairer "
                 "on a busy machine). floor/coreg/gdal: file in, GeoTIFF out. coreg*/xcube*: "
                 "arrays in memory (coordinate transformation + rectification; numba warm). "
                 "Ratios > 1: Coreg faster. |d| = |tool - Coreg| where both are valid.")
    load = os.getloadavg()[0]
    lines.append(f"Load average at the end: {load:.1f} on {os.cpu_count()} CPUs.")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--no-xcube", action="store_true")
    parser.add_argument("--no-gdal", action="store_true")
    parser.add_argument("--large-size", type=int, default=5000)
    parser.add_argument("--json", default=None,
                        help="results file (default benchmarks/results/swath.json)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    rows = run(args)
    print(table(rows))
    xcube = next((r["xcube_version"] for r in rows if r.get("xcube_version")), None)
    meta = run_meta(xcube_resampling_version=xcube, load_average_before=load_before,
                    load_average_after=os.getloadavg())
    written = write_results("swath", {"meta": meta, "rows": rows}, args.json)
    print(f"[swath] results: {written}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
