#!/usr/bin/env python3
"""Benchmark: band math of a 5-asset stack with 3 expressions, against gdal_calc.py.

Run with ``/usr/bin/python3 benchmarks/band_math.py`` (from anywhere; ``make bench``).

Inputs (``benchmarks/work/band_math/``, rebuilt every run, deterministic): the two OSCD
Sentinel-2 dates of Beirut (B03 B04 B08 of 2015-08-20, B04 B08 of 2017-10-03: 5 assets),
each upsampled 2 x 2 by GDAL's Lanczos kernel (2140 x 2360 px of 5 m, 5.05 Mpx: large
enough that fixed costs fade), written as tiled DEFLATE uint16 GeoTIFFs on one grid. Not
tiled: a search without a limit rightly finds a scene's copies as good a match as the
truth; nor mirrored, which would flip the shift; nor by repeating pixels, whose 2 x 2
blocks pull a shift towards whole blocks: the second date keeps its one misregistration,
about +0.5 px E-W at 10 m (+1 px at 5 m), which the full stack should find. The 3 expressions::

    ndvi:(norm_diff 1.B08 1.B04)
    change:(- (norm_diff 2.B08 2.B04) (norm_diff 1.B08 1.B04))
    water:(where (>= (norm_diff 1.B03 1.B08) 0.3) 1 0)

Rows (fastest of ``--repeats``, default 2; wall clock and CPU time of this process, its
threads and child processes, which varies less than the wall clock on a shared machine):

* ``coreg band math``: ``raster_math.write_expressions``, the 3 Float32 COGs;
* ``gdal_calc.py -> GTiff``: three ``gdal_calc.py`` runs, tiled DEFLATE Float32 GeoTIFFs
  (gdal_calc cannot write COGs: the GDAL COG driver has no Create());
* ``gdal_calc.py + COG``: the same, then ``gdal_translate -of COG`` each (same outputs as ours);
* ``read + write floor``: the 5 assets read strip by strip and 3 Float32 COGs of one of them
  written by GDAL (an uncompressed scratch GeoTIFF, then GDAL's COG copy: how Coreg wrote
  them before ``core/io/cog_tiles.py``), no arithmetic: the physical floor, GDAL's read
  and write;
* ``read + Coreg's COG writer``: the same reads, the 3 COGs written as ours are (each
  strip's tiles and overview pieces compressed on threads, ``core/io/cog_tiles.py``);
* ``coreg full stack``: ``coregistered_stack`` from the two 4-band files (5 assets
  co-registered, resampled onto the reference grid and written, then the 3 expressions):
  per output megapixel it counts its 8 outputs.

"s/Mpx" is seconds per output megapixel (grid pixels x outputs / 1e6). The outputs of
gdal_calc and ours are compared (largest difference where both are valid).
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from checkout import register_coreg  # noqa: E402
from results import write_results  # noqa: E402

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work" / "band_math"
OSCD = (REPO / ".." / "shared" / "data" / "optical" / "oscd_s2").resolve()
DATES = ("20150820", "20171003")
EXPRESSIONS = {
    "ndvi": ("(norm_diff 1.B08 1.B04)", "(C.astype(numpy.float32)-B)/(C+B)", "B04 B08"),
    "change": ("(- (norm_diff 2.B08 2.B04) (norm_diff 1.B08 1.B04))",
               "(E.astype(numpy.float32)-D)/(E+D)-(C.astype(numpy.float32)-B)/(C+B)", ""),
    "water": ("(where (>= (norm_diff 1.B03 1.B08) 0.3) 1 0)",
              "numpy.where((A.astype(numpy.float32)-C)/(A+C)>=0.3,1,0)", ""),
}
#: gdal_calc letters: A..E = 1.B03, 1.B04, 1.B08, 2.B04, 2.B08 (band numbers in the files).
LETTERS = (("A", 0, 2), ("B", 0, 3), ("C", 0, 4), ("D", 1, 3), ("E", 1, 4))
CREATION = ["--co", "TILED=YES", "--co", "COMPRESS=DEFLATE", "--co", "PREDICTOR=3",
            "--co", "ZLEVEL=1"]




def build_inputs() -> list[Path]:
    """The two dates upsampled 2 x 2 (Lanczos), 4-band uint16 tiled GeoTIFFs on one grid
    of half the pixel size."""
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling

    inputs = WORK / "inputs"
    if inputs.exists():
        shutil.rmtree(inputs)
    inputs.mkdir(parents=True)
    paths = []
    for date in DATES:
        with rasterio.open(OSCD / f"beirut_S2_{date}_B02-B03-B04-B08.tif") as src:
            tiled = src.read(out_shape=(src.count, 2 * src.height, 2 * src.width),
                             resampling=Resampling.lanczos)
            profile = src.profile
        profile.update(width=tiled.shape[2], height=tiled.shape[1], tiled=True,
                       blockxsize=512, blockysize=512, compress="deflate",
                       transform=profile["transform"] * Affine.scale(0.5))
        path = inputs / f"beirut_{date}_x4.tif"
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(tiled)
            dst.descriptions = ("B02", "B03", "B04", "B08")
        paths.append(path)
    return paths


def run_coreg(paths, out: Path) -> dict[str, Path]:
    from coreg.core.bandmath.band_math import parse_definitions
    from coreg.core.bandmath.raster_math import AssetSource, write_expressions
    from coreg.core.io.raster_io import read_info

    assets = {f"{k + 1}.{name}": AssetSource(str(paths[k]), band, None)
              for k, name, band in ((0, "B03", 2), (0, "B04", 3), (0, "B08", 4),
                                    (1, "B04", 3), (1, "B08", 4))}
    definitions = parse_definitions("\n".join(f"{n}:{e[0]}" for n, e in EXPRESSIONS.items()))
    outputs = {d.name: out / f"{d.name}.tif" for d in definitions}
    write_expressions(definitions, assets, read_info(paths[0]).grid, outputs)
    return outputs


def run_gdal_calc(paths, out: Path, cog: bool) -> dict[str, Path]:
    outputs = {}
    for name, (_, calc, _) in EXPRESSIONS.items():
        target = out / f"{name}.gtiff.tif"
        letters = [a for letter, k, band in LETTERS if letter in calc
                   for a in (f"-{letter}", str(paths[k]), f"--{letter}_band={band}")]
        subprocess.run([shutil.which("gdal_calc.py") or "gdal_calc.py", *letters,
                        f"--outfile={target}", f"--calc={calc}", "--type=Float32",
                        "--NoDataValue=nan", "--overwrite", "--quiet", *CREATION],
                       check=True, stderr=subprocess.DEVNULL)
        outputs[name] = target
        if cog:
            cog_path = out / f"{name}.tif"
            subprocess.run(["gdal_translate", "-q", "-of", "COG", "-co", "COMPRESS=DEFLATE",
                            "-co", "LEVEL=1", "-co", "PREDICTOR=3", str(target), str(cog_path)],
                           check=True)
            outputs[name] = cog_path
    return outputs


def run_floor(paths, out: Path) -> None:
    """Read the 5 assets strip by strip, write 3 Float32 COGs of one: no arithmetic."""
    import rasterio
    from rasterio.windows import Window

    from coreg.core.io.raster_io import BLOCK, output_profile, read_info, read_on_grid, to_cog

    grid = read_info(paths[0]).grid
    datasets = [rasterio.open(p) for p in paths]
    profile = output_profile(grid, count=1, dtype="float32", nodata=float("nan"), scratch=True)
    targets = [str(out / f"floor{k}.gtiff.tmp") for k in range(3)]
    writers = [rasterio.open(t, "w", **profile) for t in targets]
    for row in range(0, grid.height, BLOCK):
        strip = grid.subgrid(row, 0, min(BLOCK, grid.height - row), grid.width)
        blocks = [read_on_grid(datasets[k], band, strip, nodata=None)
                  for _, k, band in LETTERS]
        for writer in writers:
            writer.write(blocks[0], 1, window=Window(0, row, strip.width, strip.height))
    for writer, target in zip(writers, targets):
        writer.close()
        to_cog(target, target.replace(".gtiff.tmp", ".tif"))
    for ds in datasets:
        ds.close()


def run_floor_own_writer(paths, out: Path) -> None:
    """Read the 5 assets strip by strip, write 3 Float32 COGs of one with Coreg's own COG
    writer (the strips compressed on threads, as band math does)."""
    from concurrent.futures import ThreadPoolExecutor

    import rasterio
    from rasterio.windows import Window

    from coreg.core.io.cog_tiles import CogAssembler, TileSpec, encode_strip
    from coreg.core.io.raster_io import BLOCK, read_info, read_on_grid, tile_side
    from coreg.core.parallel import THREADS

    grid = read_info(paths[0]).grid
    spec = TileSpec.for_grid(grid, count=1, dtype="float32", nodata=float("nan"),
                             strip_rows=BLOCK, tile_width=tile_side(grid.width))
    with contextlib.ExitStack() as opened, ThreadPoolExecutor(THREADS) as pool:
        datasets = [opened.enter_context(rasterio.open(p)) for p in paths]
        writers = [opened.enter_context(CogAssembler(out / f"floor{k}.tif", grid, spec))
                   for k in range(3)]
        for k, row in enumerate(range(0, grid.height, BLOCK)):
            strip = grid.subgrid(row, 0, min(BLOCK, grid.height - row), grid.width)
            blocks = [read_on_grid(datasets[d], band, strip, nodata=None)
                      for _, d, band in LETTERS]
            covered = (Window(0, 0, strip.width, strip.height), blocks[0][None])
            encoded = [pool.submit(encode_strip, spec, k, covered) for _ in writers]
            for writer, strip_bytes in zip(writers, encoded):
                writer.add(k, strip_bytes.result())
        for writer in writers:
            writer.finish()


def run_full_stack(paths, out: Path) -> dict:
    from coreg.core.stack.coregistered_stack import coregistered_stack

    result = coregistered_stack(
        paths, "1.B03,1.B04,1.B08,2.B04,2.B08", "1.B04", out,
        expressions="\n".join(f"{n}:{e[0]}" for n, e in EXPRESSIONS.items()))
    return result.shifts


def timed(function, repeats: int, paths, **kwargs) -> tuple[float, float, object]:
    """Fastest of ``repeats`` calls ``function(paths, out, **kwargs)``, each into an
    empty folder: (wall s, CPU s of this process and its children in that call, the
    last result)."""
    best_wall = best_cpu = float("inf")
    result = None
    for k in range(repeats):
        out = WORK / f"out_{function.__name__}_{len(kwargs)}_{k}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        cpu0, wall0 = _cpu(), time.perf_counter()
        result = function(paths, out, **kwargs)
        best_wall = min(best_wall, time.perf_counter() - wall0)
        best_cpu = min(best_cpu, _cpu() - cpu0)
    return best_wall, best_cpu, result


def _cpu() -> float:
    """CPU seconds (user + system) of this process, its threads and waited-for children."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def largest_difference(ours: dict, theirs: dict) -> float:
    import numpy as np
    import rasterio

    worst = 0.0
    for name in ours:
        with rasterio.open(ours[name]) as a, rasterio.open(theirs[name]) as b:
            x, y = a.read(1).astype(np.float64), b.read(1).astype(np.float64)
        both = np.isfinite(x) & np.isfinite(y)
        worst = max(worst, float(np.abs(x[both] - y[both]).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", default=None,
                        help="results file (default benchmarks/results/band_math.json)")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    register_coreg()
    import rasterio

    paths = build_inputs()
    with rasterio.open(paths[0]) as ds:
        mpx = ds.width * ds.height / 1e6
        print(f"grid {ds.width} x {ds.height} = {mpx:.2f} Mpx, 5 assets, "
              f"{len(EXPRESSIONS)} expressions", file=sys.stderr)
    n = len(EXPRESSIONS)
    t_floor = timed(run_floor, args.repeats, paths)
    t_own_floor = timed(run_floor_own_writer, args.repeats, paths)
    t_ours = timed(run_coreg, args.repeats, paths)
    t_calc = timed(run_gdal_calc, args.repeats, paths, cog=False)
    t_calc_cog = timed(run_gdal_calc, args.repeats, paths, cog=True)
    t_full = timed(run_full_stack, 1, paths)
    rows = [("coreg band math (COG)", t_ours, n), ("gdal_calc.py -> GTiff", t_calc, n),
            ("gdal_calc.py + COG", t_calc_cog, n), ("read + write floor (COG)", t_floor, n),
            ("read + Coreg's COG writer", t_own_floor, n),
            ("coreg full stack (5 assets + 3 expr.)", t_full, 5 + n)]
    print(f"\n{'method':40s} {'wall s':>7s} {'CPU s':>7s} {'wall s/Mpx':>10s} "
          f"{'CPU s/Mpx':>10s} {'CPU / floor':>11s} {'CPU / gdal_calc+COG':>19s}")
    for name, (wall, cpu, _), outputs in rows:
        out_mpx = mpx * outputs
        print(f"{name:40s} {wall:7.2f} {cpu:7.2f} {wall / out_mpx:10.3f} {cpu / out_mpx:10.3f} "
              f"{cpu / out_mpx / (t_floor[1] / (mpx * n)):11.2f} "
              f"{cpu / out_mpx / (t_calc_cog[1] / (mpx * n)):19.2f}")
    ours, theirs, shifts = t_ours[2], t_calc_cog[2], t_full[2]
    difference = largest_difference(ours, theirs)
    print(f"\nlargest |coreg - gdal_calc| where both valid: {difference:.2e}")
    shift = shifts.get(2, {})
    print(f"full stack: input 2 shift {shift.get('x_px', float('nan')):+.2f}, "
          f"{shift.get('y_px', float('nan')):+.2f} px ({shift.get('status')})")
    floor_cpu, calc_cpu = t_floor[1] / (mpx * n), t_calc_cog[1] / (mpx * n)
    written = write_results("band_math", {
        "grid_mpx": mpx, "repeats": args.repeats,
        "rows": [{"method": name, "wall_s": wall, "cpu_s": cpu, "outputs": outputs,
                  "wall_s_per_mpx": wall / (mpx * outputs),
                  "cpu_s_per_mpx": cpu / (mpx * outputs),
                  "cpu_vs_floor": cpu / (mpx * outputs) / floor_cpu,
                  "cpu_vs_gdal_calc_cog": cpu / (mpx * outputs) / calc_cpu}
                 for name, (wall, cpu, _), outputs in rows],
        "largest_difference": difference,
        "full_stack_shift_px": {"x": shift.get("x_px"), "y": shift.get("y_px"),
                                "status": shift.get("status")},
    }, args.json)
    print(f"results: {written}", file=sys.stderr)


if __name__ == "__main__":
    main()
