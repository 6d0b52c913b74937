#!/usr/bin/env python3
"""Benchmark: the tiles and blocks of align_local (dense flow), rectify_swath, align_dem
(blockwise) and band_math in-process, and on a Dask LocalCluster of 1 and 2 workers.

Run with ``/usr/bin/python3 benchmarks/scale_dask.py`` (from anywhere); it prints a table and
writes ``benchmarks/results/scale_dask.json`` (``--json PATH``: elsewhere).

Each job runs three ways, in one run, on the same inputs:

* ``in-process``: the library call without ``dask_scheduler`` (its own threads where it has
  them);
* ``dask-1`` and ``dask-2``: ``distributed.LocalCluster(n_workers=N, threads_per_worker=1,
  processes=True)``, passed as ``dask_scheduler`` (the cluster is started, and the engine
  sent to it once, before the clock starts: a scheduler one connects to already runs; the
  call still connects and checks the workers, which is part of its time).

Timing: wall clock of the call alone (``time.perf_counter``), the fastest of ``--repeats``
runs (default 2). "others" is how many cores were kept busy outside this process and the
workers meanwhile (other jobs, the kernel; from /proc/stat): on a shared 2-core machine a
speed-up means little when it is not near 0. Every cluster output is compared with the
in-process one (largest absolute difference, NaN where either is NaN counted apart).

Jobs (all real data from ``../shared/data``):

* ``align_local``: dense flow on a 704 x 704 crop of a Sentinel-2 band and its copy warped
  by a smooth field (``tests/local_synthetic.py``), radius 8, 2 levels, 4 iterations, in 4
  tiles of 352 px (``reader.TILE``), plus the warp;
* ``rectify_swath``: the OLCI netCDF band onto its 834 x 535 grid, bilinear, with the lookup
  output, in 4 strips of target rows (``swath_tasks.MIN_ROWS`` 1);
* ``align_dem``: blockwise (256 px blocks) on the Longyearbyen DEM pair; the cluster
  resamples the aligned DEM's strips (128 rows: ``warp.BLOCK``);
* ``band_math``: an NDVI anomaly with a ``mean`` on the Beirut Sentinel-2 scene, strips of
  128 rows (``raster_math.BLOCK``).

Temporary files go to ``benchmarks/work/scale_dask/`` (git-ignored).
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"  # never write .aux.xml side-cars next to shared data
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from checkout import register_coreg  # noqa: E402

HERE = Path(__file__).resolve().parent
register_coreg(HERE.parent / "tests")

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from results import run_meta, write_results  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data"
WORK = HERE / "work" / "scale_dask"
MODES = ("in-process", "dask-1", "dask-2")


def _busy_seconds() -> float:
    """CPU seconds all cores spent busy (not idle, iowait or steal) so far."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4] - fields[7]) / os.sysconf("SC_CLK_TCK")


def _worker_cpu() -> float:
    """Run on a Dask worker: its CPU seconds so far."""
    return time.process_time()


def _jobs(folder: Path) -> dict:
    """name -> (call(out_folder, scheduler), [output file names])."""
    from local_synthetic import SCENE, write_pair

    from coreg.core.bandmath.raster_math import band_math
    from coreg.core.dem.dem import align_dem
    from coreg.core.local.local import align_local
    from coreg.core.swath.swath import rectify_swath

    reference, secondary = write_pair(DATA / SCENE, folder, size=704)
    olci = DATA / "swath" / "O_L2_0001_SNS_2017104102450_v1.0.nc"
    res, x0, y0 = 0.0005832, 1.152138, 52.32967
    dem = DATA / "dem" / "longyearbyen"
    beirut = DATA / "optical" / "oscd_s2" / "beirut_S2_20150820_B02-B03-B04-B08.tif"
    return {
        "align_local": (lambda out, scheduler: align_local(
            reference, secondary, out / "aligned.tif", out / "field.tif", method="dense_flow",
            grid_spacing=64, window_size=64, max_shift=10, radius=8, levels=2, iterations=4,
            dask_scheduler=scheduler), ["aligned.tif", "field.tif"]),
        "rectify_swath": (lambda out, scheduler: rectify_swath(
            f'NETCDF:"{olci}":rtoa_8', str(out / "olci.tif"), interpolation="bilinear",
            target_crs="EPSG:4326", pixel_size=res,
            extent=(x0, x0 + 834 * res, y0, y0 + 535 * res),
            lookup_output=str(out / "lookup.tif"), dask_scheduler=scheduler),
            ["olci.tif", "lookup.tif"]),
        "align_dem": (lambda out, scheduler: align_dem(
            dem / "aligned_elev.tif", dem / "DEM_1995.tif", out / "dem.tif", method="blockwise",
            block_size=256, dask_scheduler=scheduler), ["dem.tif"]),
        "band_math": (lambda out, scheduler: band_math(
            [beirut], "anomaly:(- (norm_diff 1.b4 1.b3) (mean (norm_diff 1.b4 1.b3)))",
            out / "anomaly.tif", dask_scheduler=scheduler), ["anomaly.tif"]),
    }


def _tiles() -> None:
    """Tiles and strips small enough that two workers share every job."""
    from coreg.core.bandmath import raster_math
    from coreg.core.local import reader
    from coreg.core.swath import swath_tasks
    from coreg.core.transforms import warp

    reader.TILE = 352
    swath_tasks.MIN_ROWS = 1
    warp.BLOCK = 128
    raster_math.BLOCK = 128


def _difference(a_path: Path, b_path: Path) -> dict:
    with rasterio.open(a_path) as a, rasterio.open(b_path) as b:
        x, y = a.read().astype(np.float64), b.read().astype(np.float64)
    both = np.isfinite(x) & np.isfinite(y)
    return {"max_abs": float(np.abs(x - y)[both].max()) if both.any() else 0.0,
            "nan_mismatch": int((np.isnan(x) != np.isnan(y)).sum())}


def _measure(call, out: Path, scheduler, client, repeats: int) -> dict:
    best = None
    for _ in range(repeats):
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        busy, own = _busy_seconds(), time.process_time()
        workers_cpu = client.run(_worker_cpu) if client else {}
        start = time.perf_counter()
        call(out, scheduler)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - own
        if client:
            cpu += sum(v - workers_cpu[w] for w, v in client.run(_worker_cpu).items())
        row = {"seconds": seconds, "cpu_s": cpu,
               "others": max(0.0, _busy_seconds() - busy - cpu) / seconds}
        if best is None or seconds < best["seconds"]:
            best = row
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", metavar="PATH", help="Write the results there instead.")
    parser.add_argument("--only", choices=["align_local", "rectify_swath", "align_dem",
                                           "band_math"], action="append")
    args = parser.parse_args()
    from distributed import Client, LocalCluster
    from threadpoolctl import threadpool_limits

    _tiles()
    if WORK.exists():
        shutil.rmtree(WORK)
    (WORK / "inputs").mkdir(parents=True)
    jobs = _jobs(WORK / "inputs")
    names = args.only or list(jobs)
    rows = []
    for mode in MODES:
        workers = 0 if mode == "in-process" else int(mode.split("-")[1])
        with LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            scheduler = cluster.scheduler_address if workers else None
            for name in names:
                call, outputs = jobs[name]
                print(f"[scale_dask] {name} {mode} ...", file=sys.stderr, flush=True)
                # BLAS on one thread, as on a Dask worker: the outputs compare bit for bit.
                with threadpool_limits(1, user_api="blas"):
                    row = _measure(call, WORK / mode / name, scheduler,
                                   client if workers else None, args.repeats)
                row |= {"job": name, "mode": mode, "workers": workers}
                if workers:
                    row["difference"] = {o: _difference(WORK / "in-process" / name / o,
                                                        WORK / mode / name / o)
                                         for o in outputs}
                rows.append(row)
    summary = {}
    for name in names:
        times = {r["mode"]: r["seconds"] for r in rows if r["job"] == name}
        summary[name] = {"in_process_s": times["in-process"], "dask_1_s": times["dask-1"],
                         "dask_2_s": times["dask-2"],
                         "speedup_2_over_1": times["dask-1"] / times["dask-2"]}
    import distributed

    path = write_results("scale_dask", {
        "meta": run_meta(dask=distributed.__version__, repeats=args.repeats),
        "rows": rows, "summary": summary}, args.json)
    print(f"{'job':14} {'mode':11} {'seconds':>8} {'CPU s':>7} {'others':>7}  largest difference")
    for r in rows:
        diff = max((d["max_abs"] for d in r.get("difference", {}).values()), default=None)
        nan = sum(d["nan_mismatch"] for d in r.get("difference", {}).values())
        print(f"{r['job']:14} {r['mode']:11} {r['seconds']:8.2f} {r['cpu_s']:7.1f} "
              f"{r['others']:7.2f}  " + ("" if diff is None else f"{diff:.2g} ({nan} NaN)"))
    for name, s in summary.items():
        print(f"{name}: 2 workers {s['speedup_2_over_1']:.2f}x faster than 1")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
