#!/usr/bin/env python3
"""Benchmark: align_local (dense flow), rectify_swath, align_dem (blockwise), band_math and
coregistered_stack on jobs of real size, in-process and on Dask LocalClusters of 1, 2, 4
and 8 workers.

Run with ``.venv/bin/python benchmarks/scale_dask.py`` (from anywhere; coregistered_stack
writes its STAC item with pystac, which the test venv has); it prints a table and
writes ``benchmarks/results/scale_dask.json`` (``--json PATH``: elsewhere). 5 minutes on the
2-core machine while other jobs kept it loaded (``--workers 1 2``: the two-worker comparison
alone).

Each job runs in-process (the library call without ``dask_scheduler``, its own threads where
it has them) and on ``distributed.LocalCluster(n_workers=N, threads_per_worker=1,
processes=True)`` for each N of ``--workers``: N one-thread worker processes
(``COREG_THREADS=1`` in them), so that 4 and 8 workers on 2 cores draw the shape of the curve
a machine with as many cores would give, less the cores it lacks. The cluster is started,
and the engine sent to it once, before the clock starts (a scheduler one connects to already
runs); the call still connects and checks the workers, which is part of its time.

Timing: wall clock of the call alone (``time.perf_counter``), the fastest of ``--repeats``
runs (default 1). "others" is how many cores were kept busy outside this process and the
workers meanwhile (other jobs, the kernel; from /proc/stat), and the load average is recorded
at the start and end of every job: on a shared machine a speed-up means little when others
is not near 0. Every cluster output is compared with the in-process one (largest absolute
difference, NaN where either is NaN counted apart).

Where the time goes, for every cluster run: the CPU seconds of the client (this process:
its serial steps, e.g. a global fit or writing a COG, and its writing of the tiles as they
arrive) and of the workers, and the tasks the workers ran (Dask's task stream: how many,
their mean compute seconds). Amdahl's bound for 2 workers over 1 takes the client's CPU
of the 1-worker run as serial: a job whose client works 1.5 s for 1 s of tasks can never
gain 1.7x, whatever the cluster. (The output rasters are compressed by the workers, tile
by tile; the client lays the files out and compresses a COG's overviews.)

Jobs, each of several tiles or blocks of a few thousand pixels (real data from
``../shared/data``):

* ``align_local``: dense flow (radii 16 and 8, 2 levels, 1 iteration) on the 2048 x 2048 pair of
  benchmarks/scale.py (Sentinel-2 band 8 and its copy through a smooth field), 16 tiles of
  512 px (``reader.TILE``), check points every 256 px, and the warp (4 strips of 512 rows);
* ``rectify_swath``: the OLCI netCDF band onto a 4170 x 2675 grid (a fifth of its pixel),
  bilinear, with the lookup output (one run of 512-row strips per worker);
* ``align_dem``: blockwise (512 px blocks) on the Longyearbyen DEM pair resampled to 10 m
  (2664 x 1970, bilinear), and the aligned DEM's strips;
* ``band_math``: a normalised difference of the 4096 x 4096 scale.py pair minus its mean
  (two passes over 8 strips of 512 rows);
* ``coregistered_stack``: the 4096 x 4096 pair stacked on its first image (the shift of the
  second measured, both resampled by strips) with their difference as an expression.

Temporary files go to ``benchmarks/work/scale_dask/`` (git-ignored); the scale.py pairs to
``benchmarks/work/scale/``.
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"  # never write .aux.xml side-cars next to shared data
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from checkout import register_coreg  # noqa: E402

HERE = Path(__file__).resolve().parent
register_coreg()

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from results import run_meta, write_results  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data"
WORK = HERE / "work" / "scale_dask"
JOBS = ("align_local", "rectify_swath", "align_dem", "band_math", "coregistered_stack")


def _busy_seconds() -> float:
    """CPU seconds all cores spent busy (not idle, iowait or steal) so far."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4] - fields[7]) / os.sysconf("SC_CLK_TCK")


def _worker_cpu() -> float:
    """Run on a Dask worker: its CPU seconds so far."""
    return time.process_time()


def _dem_10m(source: Path, target: Path) -> Path:
    """``source`` resampled to 10 m (linear, nodata as NaN, never mixed into a value): four
    times the pixels."""
    from scipy import ndimage

    if target.exists():
        return target
    with rasterio.open(source) as src:
        data = src.read(1, masked=True).astype(np.float32).filled(np.nan)
        profile = src.profile | dict(width=src.width * 2, height=src.height * 2, tiled=True,
                                     blockxsize=512, blockysize=512, nodata=float("nan"),
                                     transform=src.transform * src.transform.scale(0.5))
    fine = ndimage.zoom(data, 2, order=1, grid_mode=True, mode="grid-constant", cval=np.nan)
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(fine, 1)
    return target


def _jobs(folder: Path) -> dict:
    """name -> (call(out_folder, scheduler), [output file names])."""
    import scale

    from coreg.core.bandmath.raster_math import band_math
    from coreg.core.dem.dem import align_dem
    from coreg.core.local.local import align_local
    from coreg.core.stack.coregistered_stack import coregistered_stack
    from coreg.core.swath.swath import rectify_swath

    small = scale.make_pair(2048, scale.WORK)
    large = scale.make_pair(4096, scale.WORK)
    olci = DATA / "swath" / "O_L2_0001_SNS_2017104102450_v1.0.nc"
    res, x0, y0 = 0.0005832 / 5, 1.152138, 52.32967
    dem = DATA / "dem" / "longyearbyen"
    dems = [_dem_10m(dem / name, folder / name) for name in ("aligned_elev.tif", "DEM_1995.tif")]
    difference = "(norm_diff 1.b1 2.b1)"
    return {
        "align_local": (lambda out, scheduler: align_local(
            *small, out / "aligned.tif", out / "field.tif", method="dense_flow",
            grid_spacing=256, window_size=64, max_shift=10, radius=(16, 8), levels=2,
            iterations=1,
            dask_scheduler=scheduler), ["aligned.tif", "field.tif"]),
        "rectify_swath": (lambda out, scheduler: rectify_swath(
            f'NETCDF:"{olci}":rtoa_8', str(out / "olci.tif"), interpolation="bilinear",
            target_crs="EPSG:4326", pixel_size=res,
            extent=(x0, x0 + 4170 * res, y0, y0 + 2675 * res),
            lookup_output=str(out / "lookup.tif"), dask_scheduler=scheduler),
            ["olci.tif", "lookup.tif"]),
        "align_dem": (lambda out, scheduler: align_dem(
            *dems, out / "dem.tif", method="blockwise", block_size=512,
            dask_scheduler=scheduler), ["dem.tif"]),
        "band_math": (lambda out, scheduler: band_math(
            list(large), f"anomaly:(- {difference} (mean {difference}))", out / "anomaly.tif",
            dask_scheduler=scheduler), ["anomaly.tif"]),
        "coregistered_stack": (lambda out, scheduler: coregistered_stack(
            list(large), "1.1,2.1", "1.1", out / "stack", expressions="change:(- 2.b1 1.b1)",
            dask_scheduler=scheduler), ["stack/1.b1.tif", "stack/2.b1.tif", "stack/change.tif"]),
    }


def _tiles() -> None:
    """Tiles of 512 px for the dense flow: 16 on the 2048 x 2048 pair (default 1024: 4)."""
    from coreg.core.local import reader

    reader.TILE = 512


def _difference(a_path: Path, b_path: Path) -> dict:
    with rasterio.open(a_path) as a, rasterio.open(b_path) as b:
        x, y = a.read().astype(np.float64), b.read().astype(np.float64)
    both = np.isfinite(x) & np.isfinite(y)
    return {"max_abs": float(np.abs(x - y)[both].max()) if both.any() else 0.0,
            "nan_mismatch": int((np.isnan(x) != np.isnan(y)).sum())}


def _measure(call, out: Path, scheduler, client, repeats: int) -> dict:
    from distributed import get_task_stream

    best = None
    for _ in range(repeats):
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        busy, own, load = _busy_seconds(), time.process_time(), os.getloadavg()[0]
        workers_cpu = client.run(_worker_cpu) if client else {}
        with (get_task_stream(client) if client else contextlib.nullcontext()) as stream:
            start = time.perf_counter()
            call(out, scheduler)
            seconds = time.perf_counter() - start
        client_cpu = time.process_time() - own
        cpu = client_cpu
        if client:
            cpu += sum(v - workers_cpu[w] for w, v in client.run(_worker_cpu).items())
        row = {"seconds": seconds, "cpu_s": cpu,
               "others": max(0.0, _busy_seconds() - busy - cpu) / seconds,
               "load_1min": [load, os.getloadavg()[0]]}
        if client:
            row |= {"client_cpu_s": client_cpu, "workers_cpu_s": cpu - client_cpu,
                    **_tasks(stream.data)}
        if best is None or seconds < best["seconds"]:
            best = row
    return best


def _tasks(stream: list[dict]) -> dict:
    """How many tasks the workers ran and their compute seconds (Dask's task stream)."""
    seconds = [s["stop"] - s["start"] for t in stream for s in t["startstops"]
               if s["action"] == "compute"]
    return {"tasks": len(seconds), "task_s": sum(seconds),
            "task_mean_s": sum(seconds) / len(seconds) if seconds else 0.0}


def _run_mode(workers: int, jobs: dict, names: list[str], repeats: int) -> list[dict]:
    """Every job of ``names`` in-process (``workers`` 0) or on a cluster of ``workers``."""
    from distributed import Client, LocalCluster
    from threadpoolctl import threadpool_limits

    mode = f"dask-{workers}" if workers else "in-process"
    rows = []
    with LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=True,
                      dashboard_address=None, env={"COREG_THREADS": "1"}) as cluster, \
            Client(cluster) as client:
        scheduler = cluster.scheduler_address if workers else None
        for name in names:
            call, outputs = jobs[name]
            print(f"[scale_dask] {name} {mode} ...", file=sys.stderr, flush=True)
            # BLAS on one thread, as on a Dask worker: the outputs compare bit for bit.
            with threadpool_limits(1, user_api="blas"):
                row = _measure(call, WORK / mode / name, scheduler,
                               client if workers else None, repeats)
            row |= {"job": name, "mode": mode, "workers": workers}
            if workers:
                row["difference"] = {o: _difference(WORK / "in-process" / name / o,
                                                    WORK / mode / name / o) for o in outputs}
            rows.append(row)
    return rows


def _summary(rows: list[dict], names: list[str]) -> dict:
    """Per job: its times, and the speed-up of N workers over one."""
    summary = {}
    for name in names:
        times = {r["workers"]: r["seconds"] for r in rows if r["job"] == name}
        one = times.get(1)
        summary[name] = {"in_process_s": times[0],
                         **{f"dask_{n}_s": t for n, t in times.items() if n},
                         "speedup_over_1": {n: one / t for n, t in times.items()
                                            if n and one}}
        if 2 in times and one:
            summary[name]["speedup_2_over_1"] = one / times[2]
            summary[name] |= _bounds(name, rows)
    return summary


def _bounds(name: str, rows: list[dict]) -> dict:
    """What 2 workers can give over 1 at best (Amdahl): the client's CPU seconds of the
    1-worker run as the serial part, the workers' as the part 2 workers halve. The
    client's writing while the workers compute counts as serial too: a bound on the
    low side where the client overlaps its work (align_local's field tiles)."""
    one = next(r for r in rows if r["job"] == name and r["workers"] == 1)
    serial, parallel = one["client_cpu_s"], one["workers_cpu_s"]
    return {"amdahl_2_over_1": (serial + parallel) / (serial + parallel / 2)}


def markdown(rows: list[dict], summary: dict) -> list[str]:
    """The README's tables of this run (``render_docs.py`` copies them there)."""
    counts = sorted({r["workers"] for r in rows if r["workers"]})
    more = [n for n in counts if n > 1]
    head = (["job", "in-process s"] + [f"{n} worker{'s' * (n > 1)} s" for n in counts]
            + [f"{n} / 1" for n in more]
            + ["Amdahl's bound 2 / 1", "client / workers CPU s (1 worker)", "outputs"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in summary.items():
        speedup = {int(n): v for n, v in s["speedup_over_1"].items()}
        one = next((r for r in rows if r["job"] == name and r["workers"] == 1), {})
        same = all(d["max_abs"] == 0 and d["nan_mismatch"] == 0 for r in rows
                   if r["job"] == name for d in r.get("difference", {}).values())
        bound = s.get("amdahl_2_over_1")
        cells = ([name, f"{s['in_process_s']:.2f}"] + [f"{s[f'dask_{n}_s']:.2f}" for n in counts]
                 + [f"{speedup[n]:.2f}x" for n in more]
                 + ["-" if bound is None else f"{bound:.2f}x",
                    f"{one.get('client_cpu_s', float('nan')):.2f} / "
                    f"{one.get('workers_cpu_s', float('nan')):.2f}",
                    "identical" if same else "DIFFERENT"])
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--json", metavar="PATH", help="Write the results there instead.")
    parser.add_argument("--only", choices=JOBS, action="append")
    args = parser.parse_args()
    _tiles()
    if WORK.exists():
        shutil.rmtree(WORK)
    (WORK / "inputs").mkdir(parents=True)
    jobs = _jobs(WORK / "inputs")
    names = args.only or list(jobs)
    load = os.getloadavg()
    rows = []
    for workers in [0, *args.workers]:
        rows += _run_mode(workers, jobs, names, args.repeats)
    summary = _summary(rows, names)
    import distributed

    path = write_results("scale_dask", {
        "meta": run_meta(dask=distributed.__version__, repeats=args.repeats,
                         load_average_start=load, load_average_end=os.getloadavg()),
        "rows": rows, "summary": summary, "markdown": markdown(rows, summary)}, args.json)
    _print(rows, summary)
    print(f"wrote {path}")


def _print(rows: list[dict], summary: dict) -> None:
    print(f"{'job':18} {'mode':11} {'seconds':>8} {'CPU s':>7} {'others':>7} {'load':>5}  "
          "largest difference")
    for r in rows:
        diff = max((d["max_abs"] for d in r.get("difference", {}).values()), default=None)
        nan = sum(d["nan_mismatch"] for d in r.get("difference", {}).values())
        print(f"{r['job']:18} {r['mode']:11} {r['seconds']:8.2f} {r['cpu_s']:7.1f} "
              f"{r['others']:7.2f} {r['load_1min'][0]:5.1f}  "
              + ("" if diff is None else f"{diff:.2g} ({nan} NaN)"))
    print(f"{'job':18} {'mode':11} {'client CPU':>10} {'workers CPU':>11} {'tasks':>5} "
          f"{'task mean s':>11}")
    for r in rows:
        if "tasks" in r:
            print(f"{r['job']:18} {r['mode']:11} {r['client_cpu_s']:10.2f} "
                  f"{r['workers_cpu_s']:11.2f} {r['tasks']:5d} {r['task_mean_s']:11.3f}")
    for name, s in summary.items():
        curve = ", ".join(f"{n}: {v:.2f}x" for n, v in s["speedup_over_1"].items())
        bounds = (f" (Amdahl's bound for 2: {s['amdahl_2_over_1']:.2f}x)"
                  if "amdahl_2_over_1" in s else "")
        print(f"{name}: speed-up over 1 worker {curve}{bounds}")


if __name__ == "__main__":
    main()
