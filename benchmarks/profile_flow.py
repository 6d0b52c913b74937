#!/usr/bin/env python3
"""Where the dense flow's time goes: cProfile of one warm run per case.

    /usr/bin/python3 benchmarks/profile_flow.py [--label before] [--cases hr local] \\
        [--out benchmarks/results/profile_flow.txt]

Appends, under ``--label``, each case's wall time (best of ``--repeat`` unprofiled runs) and
the functions with the most cumulative and own time to ``--out``, on one thread
(``COREG_THREADS=1`` unless set: cProfile only sees the calling thread). Cases: ``hr``, the
512 x 512 UAVSAR / optical pair of benchmarks/flow.py with Coreg's defaults
(``estimate_flow`` alone); ``local``, ``align_local(method="dense_flow")`` on the
1000 x 1000 Sentinel-2 pair of benchmarks/local.py (tiles, check points, field raster);
``tile``, ``estimate_flow`` on one 1152 x 1152 tile of benchmarks/scale.py's pair (the
unit of its 10980 x 10980 run).
``--versus COMMIT`` times the cases instead, this checkout against COMMIT's, side by side
in fresh processes (``COREG_THREADS`` as set, 1 unless given).
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"
# One thread: cProfile sees the calling thread only, so the work must stay in it.
os.environ.setdefault("COREG_THREADS", "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
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


def tile_case():
    """One 1152 x 1152 tile (1024 core, 64 margin) of benchmarks/scale.py's pair: the unit
    of work of the 10980 x 10980 run (121 such tiles), estimate_flow alone."""
    import rasterio
    from rasterio.windows import Window
    from scale import make_pair

    from coreg.core.local.dense_flow import estimate_flow

    paths = make_pair(2048, HERE / "work" / "scale")
    images = []
    for path in paths:
        with rasterio.open(path) as ds:
            images.append(ds.read(1, window=Window(400, 400, 1152, 1152)).astype("float32"))
    return lambda: estimate_flow(*images)


CASES = {"hr": hr_case, "local": local_case, "tile": tile_case}


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


#: Child for --versus: one case, warm, then timed (wall and CPU seconds) as JSON.
VERSUS_CODE = """
import json, sys, time
sys.path[:0] = [sys.argv[2]]
import profile_flow  # puts this checkout first on sys.path: the package asked for goes before
sys.path.insert(0, sys.argv[3])
run = profile_flow.CASES[sys.argv[1]]()
run()
start, cpu = time.perf_counter(), time.process_time()
run()
print(json.dumps({"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu}))
"""


def versus(commit: str, cases: list[str], repeat: int) -> str:
    """This checkout against ``commit`` (extracted to benchmarks/work/versus/), each case
    in fresh processes taking turns, warm; best wall and CPU time of ``repeat`` each."""
    tree = HERE / "work" / "versus" / commit
    if not tree.exists():
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", commit], capture_output=True, check=True,
                                 cwd=HERE.parent).stdout  # the whole tree, not benchmarks/
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    package = tree.parent / f"{commit}-pkg"
    package.mkdir(exist_ok=True)
    if not (package / "coreg").exists():
        (package / "coreg").symlink_to(tree, target_is_directory=True)
    lines = [f"--- {commit} against this checkout side by side (fresh processes taking "
             f"turns, warm run timed, best of {repeat}; "
             f"COREG_THREADS={os.environ['COREG_THREADS']})"]
    for case in cases:
        best = {}
        for _ in range(repeat):
            for label, pkg in ((commit, package), ("this", HERE / "work" / "pkg")):
                env = os.environ | {"PYTHONPATH": os.pathsep.join([str(pkg), str(HERE),
                                                                   str(HERE.parent / "tests")])}
                out = subprocess.run([sys.executable, "-c", VERSUS_CODE, case, str(HERE),
                                      str(pkg)],
                                     capture_output=True, text=True, env=env, check=True)
                times = json.loads(out.stdout.strip().splitlines()[-1])
                old = best.get(label, {"wall_s": math.inf, "cpu_s": math.inf})
                best[label] = {k: min(old[k], times[k]) for k in times}
        before, after = best[commit], best["this"]
        lines.append(f"case {case}: {commit} {before['wall_s']:.2f} s wall, "
                     f"{before['cpu_s']:.2f} s CPU; this checkout {after['wall_s']:.2f} s wall, "
                     f"{after['cpu_s']:.2f} s CPU; ratio {before['wall_s'] / after['wall_s']:.2f}x "
                     f"wall, {before['cpu_s'] / after['cpu_s']:.2f}x CPU")
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", default="run")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--top", type=int, default=22)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "profile_flow.txt")
    parser.add_argument("--versus", metavar="COMMIT",
                        help="time this checkout against COMMIT side by side (no profile)")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=HERE).stdout.strip()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    parts = [f"===== {args.label} (commit {commit}, {when}, load average {load} on "
             f"{os.cpu_count()} CPUs)\n"]
    if args.versus:
        parts.append(versus(args.versus, args.cases, args.repeat))
    else:
        for name in args.cases:
            parts.append(profile_case(name, args.repeat, args.top))
            print(parts[-1].splitlines()[0], file=sys.stderr, flush=True)
    with open(args.out, "a") as f:
        f.write("\n".join(parts) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
