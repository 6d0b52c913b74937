#!/usr/bin/env python3
"""Benchmark: align_local on a whole Sentinel-2-sized pair, by tiles, with a known field.

Run with ``/usr/bin/python3 benchmarks/scale.py`` (``--size 10980``, the default, is a
whole Sentinel-2 10 m tile; ``--size 3072`` for a shorter run). It prints a table and
writes it, with the run's meta, to ``benchmarks/results/scale.json`` (``--json PATH``
elsewhere); the rasters go to ``benchmarks/work/scale/`` (git-ignored).

The pair (no inverse crime: Coreg resamples with cubic B-splines, the truth is made with
other kernels at a finer scale): a *fine* image, band 8 of the shared Cupertino
Sentinel-2 scene tiled by mirror images (real texture, no seams), is twice the size
asked for. The reference is its 2 x 2 block average; the secondary is the 2 x 2 block
average of the fine image sampled bilinearly through a smooth field ``e`` (sinusoids,
within +-3.5 px, wavelengths 2700 to 4100 px), with a gain, an offset and 1 % noise.
The truth ``d`` (GeFolki convention: the secondary at ``p + d(p)`` shows the reference
at ``p``) is the fixed point ``d(p) = e(p + d(p))``. Both are written strip by strip
(uint16 GeoTIFF, 512-pixel blocks).

Each method (dense flow, tie points) runs ``align_local`` in a child process with the
DISPLACEMENT raster as its only output; measured there: wall time, CPU time (all
threads), peak resident memory (VmHWM), the longest wait between two progress reports (and
the percentages it lay between, which tell the phase: tie points 0-55 measures and fits,
55-60 the field raster; dense flow 0-50 tiles, 50-60 check points). A second child cancels the
dense flow after ``--cancel-after`` seconds and measures how long the cancel takes.
Field RMS: the DISPLACEMENT raster against the truth on every 4th pixel, 32 px inside
the edges, read strip by strip.
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"  # never write .aux.xml side-cars next to shared data
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from affine import Affine  # noqa: E402
from checkout import register_coreg  # noqa: E402
from results import run_meta, write_results  # noqa: E402
from scipy import ndimage  # noqa: E402

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "scale"
DATA = (HERE.parent / ".." / "shared" / "data").resolve()
SCENE = DATA / "optical" / "oscd_s2" / "cupertino_S2_20150918_B02-B03-B04-B08.tif"
STRIP = 512
INSIDE = 32
#: align_local's parameters, per method (tie points as in benchmarks/local.py --large).
PARAMETERS = {"dense_flow": dict(grid_spacing=256, window_size=64, max_shift=10),
              "tie_points": dict(grid_spacing=256, window_size=64, max_shift=10)}


def true_e(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The field the secondary is sampled through (secondary pixels)."""
    ex = 2.0 * np.sin(2 * np.pi * rows / 3100 + 0.3) + 1.5 * np.cos(2 * np.pi * cols / 2700)
    ey = 1.8 * np.cos(2 * np.pi * (rows + cols) / 4100) + 1.2 * np.sin(2 * np.pi * cols / 3500
                                                                        + 1)
    return ex, ey


def true_field(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d(p) = e(p + d(p)): where the secondary shows the reference's pixel p."""
    dx, dy = true_e(rows, cols)
    for _ in range(30):
        dx, dy = true_e(rows + dy, cols + dx)
    return dx, dy


def _mirror(index: np.ndarray, n: int) -> np.ndarray:
    m = np.mod(index, 2 * n)
    return np.where(m < n, m, 2 * n - 1 - m)


def _fine(rows: np.ndarray, cols: np.ndarray, scene: np.ndarray) -> np.ndarray:
    """The fine image (the scene tiled by mirror images) at whole fine indices."""
    return scene[np.ix_(_mirror(rows, scene.shape[0]), _mirror(cols, scene.shape[1]))]


def make_pair(size: int, folder: Path) -> tuple[Path, Path]:
    """Reference and secondary (uint16 GeoTIFFs, same grid), written strip by strip."""
    paths = folder / f"reference_{size}.tif", folder / f"secondary_{size}.tif"
    if all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(SCENE) as src:
        scene = src.read(4).astype(np.float32)
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint16",
                   crs="EPSG:32610", transform=Affine(10, 0, 580000, 0, -10, 4150000),
                   tiled=True, blockxsize=512, blockysize=512, compress="deflate", zlevel=1,
                   bigtiff="if_safer")
    rng = np.random.default_rng(0)
    noise = 0.01 * float(scene.std())
    tmp = [p.with_suffix(".part.tif") for p in paths]
    with rasterio.open(tmp[0], "w", **profile) as ref, rasterio.open(tmp[1], "w", **profile) as sec:
        for row in range(0, size, STRIP):
            height = min(STRIP, size - row)
            window = rasterio.windows.Window(0, row, size, height)
            reference, secondary = _strip(scene, row, height, size)
            secondary = 0.9 * secondary + 120 + rng.normal(0, noise, secondary.shape)
            ref.write(np.clip(np.rint(reference), 0, 65535).astype(np.uint16), 1, window=window)
            sec.write(np.clip(np.rint(secondary), 0, 65535).astype(np.uint16), 1, window=window)
            print(f"[scale] pair rows {row + height}/{size}", file=sys.stderr, flush=True)
    for t, p in zip(tmp, paths):
        t.rename(p)
    return paths


def _strip(scene, row: int, height: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference and secondary rows row:row+height: 2 x 2 block averages of the fine
    image, the secondary's sampled bilinearly through ``e`` at the fine scale."""
    pad = 12  # fine pixels beyond the largest |e| (3.5 px = 7 fine px)
    fine_rows = np.arange(2 * row - pad, 2 * (row + height) + pad)
    fine = _fine(fine_rows, np.arange(-pad, 2 * size + pad), scene)
    reference = fine[pad:-pad, pad:-pad].reshape(height, 2, size, 2).mean(axis=(1, 3))
    rr, cc = np.mgrid[row:row + height, 0:size].astype(np.float64)
    ex, ey = true_e(rr, cc)
    secondary = np.zeros((height, size))
    for i in (0, 1):
        for j in (0, 1):  # fine sub-pixel (i, j) of the secondary pixel, moved by -e
            fr = 2 * (rr - ey) + i - (2 * row - pad)
            fc = 2 * (cc - ex) + j + pad
            secondary += ndimage.map_coordinates(fine, [fr, fc], order=1, mode="nearest")
    return reference, secondary / 4


def field_rms(path: Path, size: int, error_map: Path | None = None) -> float:
    """RMS of the field's error against the truth, every 4th pixel, INSIDE px in;
    ``error_map``: the error's length there saved as a .npy (NaN outside)."""
    total, count, strips = 0.0, 0, []
    with rasterio.open(path) as ds:
        for row in range(0, size, STRIP):
            height = min(STRIP, size - row)
            dx, dy = ds.read([1, 2], window=rasterio.windows.Window(0, row, size, height))
            rr, cc = np.mgrid[row:row + height:4, 0:size:4]
            keep = ((rr >= INSIDE) & (rr < size - INSIDE) & (cc >= INSIDE)
                    & (cc < size - INSIDE))
            tx, ty = true_field(rr[keep].astype(float), cc[keep].astype(float))
            ex = dx[::4, ::4][keep] - tx
            ey = dy[::4, ::4][keep] - ty
            total += float(np.nansum(ex ** 2 + ey ** 2))
            count += int(np.isfinite(ex).sum())
            strip = np.full(rr.shape, np.nan, np.float32)
            strip[keep] = np.hypot(ex, ey)
            strips.append(strip)
    if error_map is not None:
        np.save(error_map, np.concatenate(strips))
    return float(np.sqrt(total / count))


#: Child: align_local with its DISPLACEMENT raster; wall and CPU time, peak memory, progress gaps;
#: with a cancel delay, how long the cancel took instead.
CHILD = """
import json, sys, time
from coreg.core.errors import CanceledError
from coreg.core.local.local import align_local
ref, sec, field, method, params, cancel_after = sys.argv[1:7]
params, cancel_after = json.loads(params), float(cancel_after)
start, cpu = time.perf_counter(), time.process_time()
calls, values, asked = [start], [0.0], []
def progress(p):
    calls.append(time.perf_counter())
    values.append(p)
def is_canceled():
    now = time.perf_counter()
    if cancel_after > 0 and now - start > cancel_after:
        asked.append(asked[0] if asked else now)
        return True
    return False
out = {}
try:
    r = align_local(ref, sec, None, field, method=method, progress=progress,
                    is_canceled=is_canceled, **params)
    out.update(n_points=len(r.points), n_kept=int(r.points.kept.sum()))
except CanceledError:
    out["cancel_latency_s"] = time.perf_counter() - asked[0]
end = time.perf_counter()
calls.append(end)
values.append(100.0)
gaps = [b - a for a, b in zip(calls, calls[1:])]
k = max(range(len(gaps)), key=gaps.__getitem__)
out.update(seconds=end - start, cpu_s=time.process_time() - cpu, max_progress_gap_s=gaps[k],
           max_progress_gap_between=[values[k], values[k + 1]])
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({**out, "rss_mib": int(hwm.split()[1]) / 1024}))
"""


def run_child(reference: Path, secondary: Path, field: Path, method: str,
              cancel_after: float = 0.0) -> dict:
    env = os.environ | {"GDAL_CACHEMAX": "256"}  # PYTHONPATH from register_coreg
    if field.exists():
        field.unlink()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(reference), str(secondary),
                           str(field), method, json.dumps(PARAMETERS[method]),
                           str(cancel_after)], capture_output=True, text=True, env=env)
    if proc.returncode:
        return {"error": proc.stderr.strip()[-500:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def markdown(size: int, zero: float, rows: list[dict]) -> list[str]:
    """The README's table of this run (``render_docs.py`` copies it there)."""
    def number(value, spec):
        return "-" if value is None else format(value, spec)

    lines = ["| method | size | wall s | CPU s | peak RSS MiB | field RMS px "
             "| longest progress gap s | cancel s |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cancel = (r.get("cancel") or {}).get("cancel_latency_s")
        lines.append(f"| {r['method'].replace('_', ' ')} | {size} | {r['seconds']:.1f} | "
                     f"{number(r.get('cpu_s'), '.1f')} | {r['rss_mib']:.0f} | "
                     f"{r['field_rms_px']:.4f} | {r['max_progress_gap_s']:.2f} | "
                     f"{number(cancel, '.2f')} |")
    return lines + ["", f"Doing nothing leaves {zero:.3f} px RMS."]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10980)
    parser.add_argument("--methods", nargs="+", default=["dense_flow", "tie_points"],
                        choices=list(PARAMETERS))
    parser.add_argument("--cancel-after", type=float, default=20.0,
                        help="seconds before the dense flow is canceled (0: no cancel run)")
    parser.add_argument("--error-maps", action="store_true",
                        help="save each field's error (every 4th pixel) as error_METHOD_SIZE.npy "
                             "in benchmarks/work/scale/")
    parser.add_argument("--json", default=None,
                        help="results file (default benchmarks/results/scale.json)")
    args = parser.parse_args()
    register_coreg()
    reference, secondary = make_pair(args.size, WORK)
    rows = []
    for method in args.methods:
        print(f"[scale] {method} on {args.size} x {args.size}", file=sys.stderr, flush=True)
        field = WORK / f"field_{method}_{args.size}.tif"
        row = {"method": method, "size": args.size, "parameters": PARAMETERS[method],
               **run_child(reference, secondary, field, method)}
        if "error" not in row:
            errors = WORK / f"error_{method}_{args.size}.npy" if args.error_maps else None
            row["field_rms_px"] = field_rms(field, args.size, errors)
        if method == "dense_flow" and args.cancel_after > 0:
            canceled = run_child(reference, secondary, field, method, args.cancel_after)
            row["cancel"] = {"after_s": args.cancel_after, **canceled}
        rows.append(row)
        print(json.dumps(row), flush=True)
    zero = field_rms_zero(args.size)
    print(f"{'method':12} {'size':>6} {'wall s':>8} {'RSS MiB':>8} {'field RMS px':>12} "
          f"{'max progress gap s':>18} {'cancel s':>8}   (zero field: {zero:.3f} px)")
    for r in rows:
        cancel = r.get("cancel", {}).get("cancel_latency_s")
        print(f"{r['method']:12} {r['size']:6d} {r.get('seconds', float('nan')):8.1f} "
              f"{r.get('rss_mib', float('nan')):8.0f} {r.get('field_rms_px', float('nan')):12.4f} "
              f"{r.get('max_progress_gap_s', float('nan')):18.2f} "
              f"{'-' if cancel is None else f'{cancel:.2f}':>8}")
    meta = run_meta(threads=os.environ.get("COREG_THREADS"))
    result = {"meta": meta, "size": args.size, "zero_field_rms_px": zero, "rows": rows,
              "markdown": markdown(args.size, zero, rows)}
    print(f"results: {write_results('scale', result, args.json)}")
    return 0


def field_rms_zero(size: int) -> float:
    """RMS of the truth itself on the same pixels (the error of doing nothing)."""
    rr, cc = np.mgrid[INSIDE:size - INSIDE:4, INSIDE:size - INSIDE:4].astype(float)
    tx, ty = true_field(rr, cc)
    return float(np.sqrt(np.mean(tx ** 2 + ty ** 2)))


if __name__ == "__main__":
    sys.exit(main())
