#!/usr/bin/env python3
"""Where the dense flow's time goes: cProfile of one warm run per case.

    /usr/bin/python3 benchmarks/profile_flow.py [--label before] [--cases hr local] \\
        [--out benchmarks/results/profile_flow.txt]

Appends, under ``--label``, each case's wall time (best of ``--repeat`` unprofiled runs) and
the functions with the most cumulative and own time to ``--out``, on one thread
(``COREG_THREADS=1`` unless set: cProfile only sees the calling thread). Cases: ``hr``, the
512 x 512 UAVSAR / optical pair of benchmarks/flow.py with Coreg's defaults
(``estimate_flow`` alone); ``local``, ``align_local(method="dense_flow")`` on the
1000 x 1000 Sentinel-2 pair of benchmarks/local.py (tiles, check points, field raster).
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"
# One thread: cProfile sees the calling thread only, so the work must stay in it.
os.environ.setdefault("COREG_THREADS", "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import pstats  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from checkout import register_coreg  # noqa: E402

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "profile_flow"
DATA = (HERE.parent / ".." / "shared" / "data").resolve()
register_coreg()
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE)]


def hr_case():
    from flow import make_cases

    from coreg.core.local.dense_flow import estimate_flow

    master, slave, _ = make_cases()["hr"]
    return lambda: estimate_flow(master, slave)


def local_case():
    from local_synthetic import SCENE, write_pair

    from coreg.core.local.local import align_local

    WORK.mkdir(parents=True, exist_ok=True)
    reference, secondary = write_pair(DATA / SCENE, WORK, col=35, row=35, size=1000)
    field = WORK / "field.tif"

    def run():
        if field.exists():
            field.unlink()
        return align_local(reference, secondary, None, field, method="dense_flow",
                           grid_spacing=50, window_size=64, max_shift=10)
    return run


CASES = {"hr": hr_case, "local": local_case}


def profile_case(name: str, repeat: int, top: int) -> str:
    run = CASES[name]()
    run()  # warm
    wall = math.inf
    for _ in range(repeat):  # best of: the machine is shared
        start = time.perf_counter()
        run()
        wall = min(wall, time.perf_counter() - start)
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    body = "\n".join(line for line in text.getvalue().splitlines()
                     if line.strip() and not line.startswith(("   Ordered", "         ")))
    return f"--- case {name}: {wall:.3f} s wall (unprofiled, best of {repeat})\n{body}\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", default="run")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--top", type=int, default=22)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "profile_flow.txt")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=HERE).stdout.strip()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    parts = [f"===== {args.label} (commit {commit}, {when}, load average {load} on "
             f"{os.cpu_count()} CPUs)\n"]
    for name in args.cases:
        parts.append(profile_case(name, args.repeat, args.top))
        print(parts[-1].splitlines()[0], file=sys.stderr, flush=True)
    with open(args.out, "a") as f:
        f.write("\n".join(parts) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
