#!/usr/bin/env python3
"""Where ``align_image``'s time goes: cProfile of one warm run per pair side.

    scripts/headless.sh /usr/bin/python3 benchmarks/profile_align.py [--label before] \\
        [--sides 256 512 1024 2048 5000] [--out benchmarks/results/profile_align.txt]

Appends, under ``--label``, each side's wall time and the functions with the most
cumulative and own time to ``--out`` (the pairs are ``speed_pairs.py``'s; 5000 is the
large scene, written with the resampled output); MAX_SHIFT 20 px, as ``speed.py`` runs.
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"

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
WORK = HERE / "work" / "speed"
register_coreg()
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE)]

from speed_pairs import make_large, make_pair  # noqa: E402

from coreg.core.matching.align import align_image  # noqa: E402

#: As ``speed.py`` gives both tools (the large scene is a tiled band: without a cap its
#: coarse search rightly finds the match ambiguous).
MAX_SHIFT = 20


def inputs(side: int):
    return make_large(WORK / "large") if side == 5000 else make_pair(side, WORK / f"pair_{side}")


def profile_side(side: int, mode: str, top: int) -> str:
    ref, sec, _ = inputs(side)
    out = WORK / f"profile_{side}.tif"

    def run():
        return align_image(ref, sec, out, transform="translation" if side == 5000 else "rigid",
                           output_mode=mode, reference_nodata=0, secondary_nodata=0,
                           max_shift=MAX_SHIFT)

    run()  # warm
    wall = math.inf
    for _ in range(5):  # best of 5: the machine is shared
        start = time.perf_counter()
        run()
        wall = min(wall, time.perf_counter() - start)
    profiler = cProfile.Profile()
    profiler.enable()
    alignment = run()
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    body = "\n".join(line for line in text.getvalue().splitlines()
                     if line.strip() and not line.startswith(("   Ordered", "         ")))
    return (f"--- side {side}, output {mode}: {wall:.3f} s wall (unprofiled, best of 5), "
            f"{alignment.iterations} iterations, {len(alignment.patches)} patches\n{body}\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", default="run")
    parser.add_argument("--sides", type=int, nargs="+", default=[256, 512, 1024, 2048, 5000])
    parser.add_argument("--top", type=int, default=18)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "profile_align.txt")
    parser.add_argument("--commit", default=None,
                        help="the commit of a tree without git (a git archive)")
    args = parser.parse_args()
    commit = args.commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                           capture_output=True, text=True,
                                           cwd=HERE).stdout.strip()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    parts = [f"===== {args.label} (commit {commit}, {when}, load average {load} on "
             f"{os.cpu_count()} CPUs)\n"]
    for side in args.sides:
        modes = ("resample", "geotransform") if side == 5000 else ("resample",)
        for mode in modes:
            parts.append(profile_side(side, mode, args.top))
            print(parts[-1].splitlines()[0], file=sys.stderr, flush=True)
    with open(args.out, "a") as f:
        f.write("\n".join(parts) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
