#!/usr/bin/env python3
"""Benchmark: bytes a remote measurement reads, the coarse search on overviews or not.

Run with ``.venv/bin/python benchmarks/stac_coarse.py`` (needs nginx, ``make deps``).

The 10980 x 10980 uint16 COG pair of ``benchmarks/stac.py`` (built there once, in
``benchmarks/work/stac/``; 512 px tiles, overviews 2x to 32x) served by nginx on
127.0.0.1, no added latency (bytes and requests do not depend on it). Two reads, each
in a fresh process (no GDAL cache shared), each counted in nginx's access log:

* ``coarse search``: :func:`coreg.core.matching.coarse_search.coarse_offset`, the step
  that finds the offset before the fine patches (within ``MAX_SHIFT``, as align_items);
* ``measurement``: what ``coreg:align_items`` reads to measure: the patches' tiles
  prefetched, then ``estimate_alignment`` (coarse search and fine patches), with
  align_items's ``max_shift``.

Each with the overview levels (``core/io/overviews.py``, the engine's way) and with
them turned off (the full resolution averaged, as before). Writes
``benchmarks/results/stac_coarse.json`` and prints the table.
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from checkout import register_coreg  # noqa: E402
from results import write_results  # noqa: E402

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "stac_coarse.json"
READS = ("coarse search", "measurement")
#: align_items's shift range (reference pixels): the search stays within it. The pair is
#: a mirrored mosaic, periodic every 1598 px: over the whole overlap, that copy of the
#: content correlates as well as the truth, and the search rightly calls it ambiguous.
MAX_SHIFT = 20.0
MODES = ("overviews", "full resolution")


def run(read: str, mode: str, base: str) -> dict:
    """One read of the pair at ``base``, in this process: its seconds and result."""
    from coreg.core.grid import common_grid
    from coreg.core.io import overviews
    from coreg.core.io.paths import remote_reads
    from coreg.core.io.prefetch import prefetch_patches
    from coreg.core.io.raster_io import read_info
    from coreg.core.matching.align import estimate_alignment
    from coreg.core.matching.coarse_search import coarse_offset
    from coreg.core.stac.net import gdal_http, vsicurl

    if mode == "full resolution":
        overviews.overview_level = lambda *args: None
    paths = [vsicurl(f"{base}/{name}.tif", timeout=60) for name in ("reference", "secondary")]
    with gdal_http(60), remote_reads(paths):
        infos = [read_info(p) for p in paths]
        print("ready", flush=True)  # the headers are read: the count starts here
        sys.stdin.readline()
        start = time.perf_counter()
        if read == "coarse search":
            import rasterio

            pixel = infos[0].grid.res[0]
            with rasterio.open(paths[0]) as ref, rasterio.open(paths[1]) as sec:
                found = coarse_offset(ref, 1, infos[0].nodata, sec, 1, infos[1].nodata,
                                      common_grid(infos[0].grid, infos[1].grid), [],
                                      max_shift_map=MAX_SHIFT * pixel)
            row = {"shift_x_px": found.shift_x / pixel, "shift_y_px": -found.shift_y / pixel,
                   "level_factor": found.factor}
        else:
            prefetch_patches(*paths, max_shift=MAX_SHIFT)
            alignment = estimate_alignment(*paths, max_shift=MAX_SHIFT)
            row = {"shift_x_px": alignment.shift_x_px, "shift_y_px": alignment.shift_y_px}
    row["seconds"] = time.perf_counter() - start
    return row


def measure(read: str, mode: str, base: str, log: Path) -> dict:
    """``read`` in ``mode`` in a fresh process; its row with nginx's count."""
    import stac_fixture

    process = subprocess.Popen([sys.executable, __file__, "--run", read, mode, base],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    before = len(stac_fixture.access_log(log))
    process.stdin.write("\n")
    process.stdin.flush()
    row = json.loads(process.stdout.read().splitlines()[-1])
    if process.wait():
        raise RuntimeError(f"{read}, {mode} failed")
    requests = stac_fixture.access_log(log)[before:]
    return {"read": read, "mode": mode, "requests": len(requests),
            "bytes": sum(r["bytes"] for r in requests), **row}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", nargs=3, metavar=("READ", "MODE", "BASE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    register_coreg(REPO / "tests")
    if args.run:
        print(json.dumps(run(*args.run)))
        return 0
    import stac
    import stac_fixture

    pair = stac.build_pair(stac.WORK / "data")
    sizes = {p.name: p.stat().st_size for p in pair}
    total = sum(sizes.values())
    rows = []
    with tempfile.TemporaryDirectory(prefix="coreg-stac-coarse-") as logs, \
            stac_fixture.file_server(stac.WORK / "data", Path(logs)) as (url, log):
        for read in READS:
            for mode in MODES:
                rows.append(measure(read, mode, url, log))
                rows[-1]["percent_of_files"] = 100 * rows[-1]["bytes"] / total
                print(f"{read}, {mode}: {rows[-1]['requests']} requests, "
                      f"{rows[-1]['bytes'] / 1e6:.1f} MB", flush=True)
    # each read is measured once (stac.meta's repeats), at loopback speed (no latency)
    write_results("stac_coarse", {"meta": {**stac.meta(sizes, 1), "latency_ms": 0},
                                  "rows": rows}, RESULTS)
    print(f"\n{'read':<16}{'mode':<18}{'requests':>9}{'MB read':>10}{'% of files':>12}"
          f"{'shift x, y (px)':>20}")
    for r in rows:
        print(f"{r['read']:<16}{r['mode']:<18}{r['requests']:>9}{r['bytes'] / 1e6:>10.1f}"
              f"{r['percent_of_files']:>11.1f}%{r['shift_x_px']:>+10.3f},"
              f"{r['shift_y_px']:>+8.3f}")
    print(f"results in {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
