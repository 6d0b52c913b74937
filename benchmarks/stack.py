#!/usr/bin/env python3
"""Benchmark: throughput of ``coreg.core.stack.stack.align_stack`` on a time series of real scenes.

Run with ``/usr/bin/python3 benchmarks/stack.py`` (from anywhere). It prints a table of items
aligned per minute, and the peak memory per worker, for three ways of running the same stack:

* ``in-process``: ``workers=1`` (items one after the other in this process);
* ``processes``: ``workers=2`` (spawned worker processes, ``ProcessPoolExecutor``);
* ``dask``: a local Dask cluster (``distributed.LocalCluster(n_workers=2,
  threads_per_worker=1, processes=True)``), passed as ``dask_scheduler``.

The stack (``benchmarks/work/stack/inputs/``, rebuilt every run, deterministic): the anchor is
band 4 (red) of the OSCD Sentinel-2 scene ``beirut_S2_20150820`` (1070 x 1180 px) written as a
single-band file; 12 items are made from it by ``tests/synthetic.py`` (``make_secondary``:
shifts of 1-5 px, radiometric change, 1 % noise, a different seed each); the 13th item is the
real second date ``beirut_S2_20171003``, band 4. Every item should come out "aligned"; the run
reports any that does not.

Timing: wall clock of the ``align_stack`` call alone (``time.perf_counter``), the fastest of
``--repeats`` runs (default 2; ``--only MODE`` runs one mode). It includes
starting the worker processes for ``processes`` (they are part of the call) and the workers'
first imports, but not starting the Dask cluster (a scheduler one connects to already runs).
"CPU s" is the workers' CPU time during the call; "others" is how many cores were kept busy
outside the measured processes meanwhile (other jobs, the kernel; from /proc/stat): on a
shared 2-core machine the speed-up means little when it is not near 0. The synthetic items'
shifts are checked against their truth.

Peak memory (RSS high-water mark, ``VmHWM`` of ``/proc/<pid>/status``; not
``ru_maxrss``, which carries the parent's peak into children across fork + exec):

* ``in-process``: this process's VmHWM during the call; the peak is first reset to the
  current RSS (``echo 5 > /proc/self/clear_refs``), and "over idle" is the peak minus the RSS
  before the call;
* ``processes``: the worker processes (children of this process running
  ``multiprocessing.spawn``) are polled every 50 ms while the call runs; their last VmHWM
  read is their peak (no idle baseline: they only exist inside the call);
* ``dask``: each worker's VmHWM is reset before the call (``client.run``) and read after it;
  "over idle" is the peak minus the worker's RSS before the call.

Temporary files go to ``benchmarks/work/stack/`` (git-ignored); every process runs with
``GDAL_PAM_ENABLED=NO``.
"""

from __future__ import annotations

import os

# Before anything imports GDAL: never write .aux.xml side-cars (next to shared data).
os.environ["GDAL_PAM_ENABLED"] = "NO"
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from checkout import PACKAGE_DIR, register_coreg  # noqa: E402
from results import write_results  # noqa: E402

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work" / "stack"
INPUTS = WORK / "inputs"
OSCD = (REPO / ".." / "shared" / "data" / "optical" / "oscd_s2").resolve()
ANCHOR_SOURCE = OSCD / "beirut_S2_20150820_B02-B03-B04-B08.tif"
SECOND_DATE = OSCD / "beirut_S2_20171003_B02-B03-B04-B08.tif"
BAND = 4  # red
#: The synthetic items: correction (dx, dy) in pixels, all between 1 and 5 px long.
SHIFTS = ((1.2, -0.6), (-2.3, 1.4), (3.1, 2.2), (-0.8, -3.6), (4.4, 0.9), (-3.7, -2.9),
          (1.9, 4.1), (-4.6, 1.3), (2.6, -3.3), (0.7, 2.4), (-1.5, -1.1), (3.8, -2.7))
#: Synthetic item file name -> true correction (dx, dy) px.
TRUTH = {f"beirut_synthetic_{k:02d}.tif": shift for k, shift in enumerate(SHIFTS, start=1)}
POLL_S = 0.05
MIB = 1024 * 1024


# --------------------------------------------------------------------------- the stack


def build_stack() -> tuple[list[Path], Path]:
    """Write the anchor and its 13 items into INPUTS; return (inputs, anchor)."""
    import rasterio
    from synthetic import Case, make_secondary

    if INPUTS.exists():
        shutil.rmtree(INPUTS)
    INPUTS.mkdir(parents=True)
    anchor = INPUTS / "beirut_20150820_B04_anchor.tif"
    _single_band(ANCHOR_SOURCE, BAND, anchor, rasterio)
    inputs = [anchor]
    for k, (dx, dy) in enumerate(SHIFTS, start=1):
        out = INPUTS / f"beirut_synthetic_{k:02d}.tif"  # the names of TRUTH
        make_secondary(anchor, 1, out, Case(dx, dy, seed=100 + k))
        inputs.append(out)
    second = INPUTS / "beirut_20171003_B04.tif"
    _single_band(SECOND_DATE, BAND, second, rasterio)
    inputs.append(second)
    return inputs, anchor


def _single_band(source: Path, band: int, out: Path, rasterio) -> None:
    with rasterio.open(source) as src:
        profile = src.profile | {"count": 1, "compress": "deflate"}
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(src.read(band), 1)
            dst.set_band_description(1, f"{source.name} band {band}")


# --------------------------------------------------------------------------- memory


def _status_kib(status: str, key: str) -> int | None:
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def _read_status(pid: int | str = "self") -> str:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            return handle.read()
    except OSError:  # gone
        return ""


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process, all its threads (from /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _busy_seconds() -> float:
    """CPU seconds all cores of the machine spent busy (not idle, not iowait) so far."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is counted in user)
    return (sum(fields[:8]) - fields[3] - fields[4] - fields[7]) / os.sysconf("SC_CLK_TCK")


def _reset_peak() -> None:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")


def _worker_status() -> str:
    """Run on a Dask worker: its /proc status."""
    with open("/proc/self/status", encoding="ascii") as handle:
        return handle.read()


def _worker_cpu() -> float:
    """Run on a Dask worker: its CPU seconds so far (all threads)."""
    return time.process_time()


def _worker_reset_peak() -> bool:
    """Run on a Dask worker: reset its VmHWM."""
    try:
        _reset_peak()
        return True
    except OSError:
        return False


def _children(parent: int) -> list[int]:
    """Pids whose parent is ``parent`` (from /proc/*/stat)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
        if len(fields) > 1 and int(fields[1]) == parent:
            pids.append(int(entry))
    return pids


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class WorkerPoller:
    """Poll the VmHWM of this process's spawned worker processes while a call runs."""

    def __init__(self) -> None:
        self.peak_kib: dict[int, int] = {}
        self.cpu_s: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> WorkerPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        me = os.getpid()
        while True:
            for pid in _children(me):
                command = _cmdline(pid)
                if "spawn_main" not in command:  # not the resource tracker, not others
                    continue
                hwm = _status_kib(_read_status(pid), "VmHWM")
                if hwm is not None:
                    self.peak_kib[pid] = max(hwm, self.peak_kib.get(pid, 0))
                cpu = _cpu_seconds(pid)
                if cpu is not None:
                    self.cpu_s[pid] = cpu
            if self._stop.wait(POLL_S):
                return


# --------------------------------------------------------------------------- runs


def run_mode(mode: str, inputs: list[Path], anchor: Path, repeats: int) -> dict:
    """The fastest of ``repeats`` runs, with the highest memory peaks of all of them."""
    runs = [run_once(mode, inputs, anchor) for _ in range(repeats)]
    best = min(runs, key=lambda r: r["seconds"])
    best["peaks_mib"] = [max(r["peaks_mib"][k] for r in runs if len(r["peaks_mib"]) > k)
                         for k in range(max(len(r["peaks_mib"]) for r in runs))]
    overs = [r["over_mib"] for r in runs if r["over_mib"]]
    best["over_mib"] = [max(o[k] for o in overs) for k in range(len(overs[0]))] if overs else None
    best["not_aligned"] = sorted({x for r in runs for x in r["not_aligned"]})
    best["all_seconds"] = [r["seconds"] for r in runs]
    return best


def run_once(mode: str, inputs: list[Path], anchor: Path) -> dict:
    """Align the stack one way; return the row (timing, memory, statuses)."""
    from coreg.core.stack.stack import align_stack

    out = WORK / f"out_{mode}"
    if out.exists():
        shutil.rmtree(out)
    kwargs = dict(band=1, anchor_band=1, transform="rigid")
    row = {"mode": mode, "items": len(inputs) - 1, "idle_mib": None}
    print(f"[stack] {mode}: aligning {row['items']} items ...", file=sys.stderr, flush=True)
    busy, own = _busy_seconds(), time.process_time()
    if mode == "in-process":
        row["workers"] = 1
        idle = _status_kib(_read_status(), "VmRSS")
        _reset_peak()
        cpu = time.process_time()
        start = time.perf_counter()
        results = align_stack(inputs, anchor, out, workers=1, **kwargs)
        row["seconds"] = time.perf_counter() - start
        row["cpu_s"] = time.process_time() - cpu
        row["peaks_mib"] = [_status_kib(_read_status(), "VmHWM") / 1024]
        row["idle_mib"] = [idle / 1024]
    elif mode == "processes":
        row["workers"] = 2
        with WorkerPoller() as poller:
            start = time.perf_counter()
            results = align_stack(inputs, anchor, out, workers=2, **kwargs)
            row["seconds"] = time.perf_counter() - start
        row["peaks_mib"] = [v / 1024 for _, v in sorted(poller.peak_kib.items())]
        row["cpu_s"] = sum(poller.cpu_s.values())
    elif mode == "dask":
        from distributed import Client, LocalCluster

        row["workers"] = 2
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.wait_for_workers(2)
            idle = {w: _status_kib(s, "VmRSS") for w, s in client.run(_worker_status).items()}
            client.run(_worker_reset_peak)
            cpu = client.run(_worker_cpu)
            start = time.perf_counter()
            results = align_stack(inputs, anchor, out, dask_scheduler=cluster.scheduler_address,
                                  **kwargs)
            row["seconds"] = time.perf_counter() - start
            row["cpu_s"] = sum(client.run(_worker_cpu)[w] - cpu[w] for w in cpu)
            peaks = {w: _status_kib(s, "VmHWM") for w, s in client.run(_worker_status).items()}
        row["peaks_mib"] = [peaks[w] / 1024 for w in sorted(peaks)]
        row["idle_mib"] = [idle[w] / 1024 for w in sorted(peaks)]
    else:
        raise ValueError(mode)
    own_cpu = time.process_time() - own + (row["cpu_s"] if mode != "in-process" else 0.0)
    row["other_load"] = max(0.0, _busy_seconds() - busy - own_cpu) / row["seconds"]
    if row["idle_mib"]:
        row["over_mib"] = [p - i for p, i in zip(row["peaks_mib"], row["idle_mib"])]
    else:
        row["over_mib"] = None
    items = [r for r in results if r.status != "anchor"]
    row["not_aligned"] = [(Path(r.input).name, r.status, r.reason) for r in items
                          if r.status != "aligned"]
    row["shifts"] = {Path(r.input).name: (r.pixel_shift["x"], r.pixel_shift["y"])
                     for r in items}
    row["per_minute"] = 60.0 * row["items"] / row["seconds"]
    print(f"[stack] {mode}: {row['seconds']:.1f} s", file=sys.stderr, flush=True)
    return row


def print_table(rows: list[dict]) -> None:
    base = next((r["seconds"] for r in rows if r["mode"] == "in-process"), None)
    header = (f"{'mode':<11} {'workers':>7} {'items':>5} {'wall s':>7} {'items/min':>9} "
              f"{'speed-up':>8} {'CPU s':>6} {'CPU/wall':>8} {'others':>6} {'peak MiB/worker':>16} "
              f"{'over idle':>10}  not aligned")
    print(header)
    print("-" * len(header))
    for r in rows:
        peaks = r["peaks_mib"]
        peak = f"{max(peaks):.0f}" if peaks else "n/a"
        if len(peaks) > 1:
            peak = "/".join(f"{p:.0f}" for p in peaks)
        over = "-"
        if r["over_mib"]:
            over = "/".join(f"+{o:.0f}" for o in r["over_mib"])
        speed = f"{base / r['seconds']:.2f}x" if base else "-"
        bad = ", ".join(f"{n}: {s}" for n, s, _ in r["not_aligned"]) or "none"
        print(f"{r['mode']:<11} {r['workers']:>7} {r['items']:>5} {r['seconds']:>7.1f} "
              f"{r['per_minute']:>9.1f} {speed:>8} {r['cpu_s']:>6.1f} "
              f"{r['cpu_s'] / r['seconds']:>8.2f} {r['other_load']:>6.2f} {peak:>16} {over:>10}"
              f"  {bad}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=("in-process", "processes", "dask"),
                        help="run only this mode (repeatable); default all three")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs per mode; the fastest is reported (default 2)")
    parser.add_argument("--json", default=None,
                        help="results file (default benchmarks/results/stack.json)")
    args = parser.parse_args()
    modes = args.only or ["in-process", "processes", "dask"]
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    register_coreg(REPO / "tests")
    try:
        started = time.perf_counter()
        inputs, anchor = build_stack()
        print(f"[stack] built {len(inputs)} inputs in {time.perf_counter() - started:.1f} s "
              f"under {INPUTS}", file=sys.stderr, flush=True)
        rows = [run_mode(mode, inputs, anchor, args.repeats) for mode in modes]
    finally:
        link = PACKAGE_DIR / "coreg"
        if link.is_symlink():  # a symlink to the checkout inside the checkout: not left behind
            link.unlink()
    import rasterio

    with rasterio.open(anchor) as ds:
        size = f"{ds.width} x {ds.height} px"
    print(f"\nalign_stack: {len(inputs) - 1} items onto {anchor.name} ({size}, "
          f"{os.cpu_count()} cores), transform=rigid\n")
    print_table(rows)
    print("\nwall s: the fastest of " + ", ".join(
        f"{r['mode']} " + "/".join(f"{t:.1f}" for t in r["all_seconds"]) for r in rows) + " s")
    print("CPU s: the workers' CPU time (in-process: this process's, all threads); others: "
          "cores kept busy\noutside the measured processes during the run (other jobs, kernel); "
          "peak: VmHWM per worker;\nover idle: its rise above the RSS before the call; both "
          "max over runs.")
    for r in rows:
        errors = [math.hypot(r["shifts"][n][0] - dx, r["shifts"][n][1] - dy)
                  for n, (dx, dy) in TRUTH.items()]
        r["shift_error_max_px"], r["shift_error_mean_px"] = max(errors), sum(errors) / len(errors)
        print(f"{r['mode']}: synthetic items' shift error vs truth: max {max(errors):.3f} px, "
              f"mean {sum(errors) / len(errors):.3f} px")
    ok = True
    for r in rows:
        for name, status, reason in r["not_aligned"]:
            ok = False
            print(f"NOT ALIGNED ({r['mode']}): {name}: {status} ({reason})")
    if ok:
        print("\nEvery item's status is 'aligned' in every mode.")
    first = rows[0]["shifts"]
    for r in rows[1:]:
        diff = max(abs(a - b) for n in first for a, b in zip(first[n], r["shifts"][n]))
        if diff > 1e-9:
            print(f"note: {r['mode']} shifts differ from {rows[0]['mode']} by up to {diff:.2g} px")
    written = write_results("stack", results_payload(rows, size, args.repeats, ok), args.json)
    print(f"results: {written}", file=sys.stderr)
    return 0 if ok else 1


def results_payload(rows: list[dict], size: str, repeats: int, ok: bool) -> dict:
    """The rows (with speed-up and CPU/wall as the table prints them) and the summary."""
    base = next((r["seconds"] for r in rows if r["mode"] == "in-process"), None)
    for r in rows:
        r["speed_up"] = base / r["seconds"] if base else None
        r["cpu_per_wall"] = r["cpu_s"] / r["seconds"]
        r["peak_mib_max"] = max(r["peaks_mib"]) if r["peaks_mib"] else None
    return {"anchor": ANCHOR_SOURCE.name, "band": BAND, "size": size, "repeats": repeats,
            "cpus": os.cpu_count(), "rows": rows,
            "summary": {"all_aligned": ok,
                        "speed_up": {r["mode"]: r["speed_up"] for r in rows},
                        "items_per_minute": {r["mode"]: r["per_minute"] for r in rows},
                        "shift_error_max_px": max(r["shift_error_max_px"] for r in rows),
                        "other_load_max": max(r["other_load"] for r in rows)}}


if __name__ == "__main__":
    sys.exit(main())
