#!/usr/bin/env python3
"""Benchmark: measuring an alignment on two remote COGs, streamed vs downloaded first.

Run with ``.venv/bin/python benchmarks/stac.py`` (needs nginx, ``make deps``).

Inputs (``benchmarks/work/stac/``, built once, deterministic): a 10980 x 10980 uint16
COG pair, the size of a Sentinel-2 10 m tile: the Abu Dhabi B08 band (OSCD, 10 m)
mirrored out to 10980 px, and the same mosaic moved by whole pixels (``SHIFT``) with
1 % noise. Both COGs: DEFLATE, 512 px tiles, overviews (GDAL's COG driver).

Served by nginx (scripts/serve_stac.sh) behind a small proxy that delays every request
by ``--latency`` ms (default 50: a nearby cloud bucket), first at the loopback's speed
(the issue's condition), then through a link of ``--bandwidth`` MB/s shared by all
connections (default 100 MB/s, 800 Mbit/s; 0 skips it). Each way runs in its own fresh
process (no GDAL cache shared), the same measurement (``estimate_alignment`` with
``coreg:align_items``'s ``max_shift``), and nginx's access log counts the requests and
bytes; the fastest of ``--repeats`` alternated runs is kept (a shared machine):

* ``streamed``: GDAL ``/vsicurl`` range requests, as ``coreg:align_items`` reads: the
  tiles of the patches fetched first on 16 threads (:mod:`coreg.core.io.prefetch`), then
  the measurement;
* ``download, then align``: both files fetched whole through the proxy, then the same
  measurement on the local copies (seconds: download + measurement).

Writes ``benchmarks/results/stac.json`` and prints the table.
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from pathlib import Path  # noqa: E402

from checkout import register_coreg  # noqa: E402
from results import run_meta, write_results  # noqa: E402

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work" / "stac"
RESULTS = HERE / "results" / "stac.json"
SCENE = (REPO / ".." / "shared" / "data" / "optical" / "oscd_s2" /
         "abudhabi_S2_20160120_B02-B03-B04-B08.tif").resolve()
SIZE = 10980
SHIFT = (3, 2)  # whole pixels (x, y): the secondary's content, its correction is -SHIFT
LATENCY_MS = 50.0
#: The second condition's link: 100 MB/s (800 Mbit/s, a fast office or cloud line).
BANDWIDTH_MBPS = 100.0


# --------------------------------------------------------------------------- inputs


def build_pair(folder: Path) -> tuple[Path, Path]:
    """The reference and secondary COGs (kept between runs)."""
    import numpy as np
    import rasterio
    import rasterio.shutil
    from affine import Affine

    reference, secondary = folder / "reference.tif", folder / "secondary.tif"
    if reference.is_file() and secondary.is_file():
        return reference, secondary
    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(SCENE) as ds:
        band = ds.read(4)
        crs, t = ds.crs, ds.transform
    pad = SIZE + 2 * max(SHIFT) - band.shape[0], SIZE + 2 * max(SHIFT) - band.shape[1]
    mosaic = np.pad(band, ((0, max(pad[0], 0)), (0, max(pad[1], 0))), mode="symmetric")
    rng = np.random.default_rng(0)
    kx, ky = SHIFT
    planes = {reference: mosaic[:SIZE, :SIZE],
              secondary: mosaic[ky:ky + SIZE, kx:kx + SIZE].astype(np.float64)}
    noise = rng.normal(0, 0.01 * float(band.std()), (SIZE, SIZE))
    planes[secondary] = np.clip(planes[secondary] + noise, 0, 65535).astype(np.uint16)
    transform = Affine(t.a, 0, t.c, 0, t.e, t.f)
    for path, data in planes.items():
        scratch = path.with_suffix(".scratch.tif")
        with rasterio.open(scratch, "w", driver="GTiff", width=SIZE, height=SIZE, count=1,
                           dtype="uint16", crs=crs, transform=transform, tiled=True,
                           blockxsize=512, blockysize=512) as dst:
            dst.write(data, 1)
        with rasterio.open(scratch) as src:
            rasterio.shutil.copy(src, path, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=512,
                                 OVERVIEW_RESAMPLING="AVERAGE", NUM_THREADS="2")
        scratch.unlink()
    return reference, secondary


# --------------------------------------------------------------------------- proxy


class Link:
    """A link of ``megabytes_per_s`` shared by every connection (None: unlimited): each
    chunk waits for its turn on the link, as on a real line."""

    def __init__(self, megabytes_per_s: float | None) -> None:
        self.rate = megabytes_per_s * 1e6 if megabytes_per_s else None
        self.free_at = 0.0
        self.lock = threading.Lock()

    def send(self, size: int) -> None:
        if self.rate is None:
            return
        with self.lock:
            start = max(self.free_at, time.monotonic())
            self.free_at = start + size / self.rate
            done = self.free_at
        time.sleep(max(0.0, done - time.monotonic()))


def serve_proxy(upstream: int, port: int, latency_ms: float,
                megabytes_per_s: float | None = None) -> None:
    """HTTP/1.1 proxy to 127.0.0.1:``upstream`` adding ``latency_ms`` to each request,
    its responses through a :class:`Link` of ``megabytes_per_s``."""
    link = Link(megabytes_per_s)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _forward(self, method: str) -> None:
            time.sleep(latency_ms / 1000.0)
            connection = getattr(self.server.local, "connection", None)
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
                self.server.local.connection = connection
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() in ("range", "accept", "user-agent")}
            try:
                connection.request(method, self.path, headers=headers)
                response = connection.getresponse()
            except (http.client.HTTPException, OSError):
                connection.close()
                self.server.local.connection = None
                connection = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
                self.server.local.connection = connection
                connection.request(method, self.path, headers=headers)
                response = connection.getresponse()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("connection", "keep-alive", "transfer-encoding"):
                    self.send_header(key, value)
            self.end_headers()
            while method == "GET":
                chunk = response.read(1 << 16)
                if not chunk:
                    break
                link.send(len(chunk))
                self.wfile.write(chunk)
            response.read()

        def do_GET(self):  # noqa: N802
            self._forward("GET")

        def do_HEAD(self):  # noqa: N802
            self._forward("HEAD")

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.local = threading.local()
    server.daemon_threads = True
    server.serve_forever()


# --------------------------------------------------------------------------- the two ways


def measure(reference: str, secondary: str) -> dict:
    from coreg.core.matching.align import DEFAULT_MAX_SHIFT, estimate_alignment

    start = time.perf_counter()
    # align_items's shift range: over the whole overlap, the mirrored mosaic's copy one
    # period (1598 px) away correlates as well as the truth (an ambiguous match).
    alignment = estimate_alignment(reference, secondary, max_shift=DEFAULT_MAX_SHIFT)
    seconds = time.perf_counter() - start
    return {"measure_seconds": seconds, "shift_x_px": alignment.shift_x_px,
            "shift_y_px": alignment.shift_y_px, "reliability": alignment.reliability}


def run_streamed(base: str) -> dict:
    from coreg.core.io.paths import remote_reads
    from coreg.core.io.prefetch import prefetch_patches
    from coreg.core.stac.net import gdal_http, vsicurl

    paths = [vsicurl(f"{base}/{name}.tif", timeout=60) for name in ("reference", "secondary")]
    start = time.perf_counter()
    with gdal_http(60), remote_reads(paths):
        prefetch_patches(*paths)  # as align_items does before measuring
        prefetched = time.perf_counter() - start
        row = measure(*paths)
    row.update(seconds=time.perf_counter() - start, prefetch_seconds=prefetched)
    return row


def run_downloaded(base: str) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="coreg-stac-bench-"))
    try:
        start = time.perf_counter()
        local = []
        for name in ("reference", "secondary"):
            local.append(folder / f"{name}.tif")
            with urllib.request.urlopen(f"{base}/{name}.tif", timeout=60) as response, \
                    open(local[-1], "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
        download = time.perf_counter() - start
        row = measure(*map(str, local))
        row.update(seconds=time.perf_counter() - start, download_seconds=download)
        return row
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def in_process(way: str, base: str) -> dict:
    """``way`` in a fresh Python process (nothing cached): its row."""
    completed = subprocess.run([sys.executable, __file__, "--run", way, base],
                               capture_output=True, text=True, check=False)
    if completed.returncode:
        raise RuntimeError(f"{way} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.splitlines()[-1])


# --------------------------------------------------------------------------- main


def meta(sizes: dict, repeats: int) -> dict:
    """The run's meta (benchmarks/results.py), with the web server and the pair."""
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return run_meta(nginx=nginx, size_px=SIZE, file_bytes=sizes, shift_px=list(SHIFT),
                    repeats=repeats)


def table(rows: list[dict], total: int) -> str:
    lines = [f"{'way':<24}{'requests':>10}{'MB read':>10}{'% of files':>12}{'seconds':>10}"
             f"{'shift x, y (px)':>20}",
             "-" * 86]
    for r in rows:
        lines.append(f"{r['way']:<24}{r['requests']:>10}{r['bytes'] / 1e6:>10.1f}"
                     f"{100 * r['bytes'] / total:>11.1f}%{r['seconds']:>10.1f}"
                     f"{r['shift_x_px']:>+10.3f},{r['shift_y_px']:>+8.3f}")
    return "\n".join(lines)


def measure_condition(latency: float, bandwidth: float | None, repeats: int,
                      total: int) -> dict:
    """Both ways, ``repeats`` times alternated, behind a proxy of ``latency`` ms per
    request and ``bandwidth`` MB/s (None: the loopback's)."""
    import stac_fixture

    logs = Path(tempfile.mkdtemp(prefix="coreg-stac-nginx-"))
    port = stac_fixture.free_port()
    best: dict[str, dict] = {}
    runs: dict[str, list[float]] = {}
    with stac_fixture.file_server(WORK / "data", logs) as (files_url, log):
        proxy = subprocess.Popen([sys.executable, __file__, "--proxy",
                                  files_url.rsplit(":", 1)[1], str(port), str(latency),
                                  str(bandwidth or 0)])
        try:
            stac_fixture.wait_for_port(port, proxy)
            base = f"http://127.0.0.1:{port}"
            for _ in range(repeats):
                for way, label in (("streamed", "streamed (/vsicurl)"),
                                   ("downloaded", "download, then align")):
                    before = len(stac_fixture.access_log(log))
                    row = in_process(way, base)
                    requests = stac_fixture.access_log(log)[before:]
                    row.update(way=label, requests=len(requests),
                               bytes=sum(r["bytes"] for r in requests))
                    print(f"{latency:g} ms, {bandwidth or 'loopback'} MB/s, {label}: "
                          f"{row['seconds']:.1f} s, {len(requests)} requests", flush=True)
                    runs.setdefault(label, []).append(row["seconds"])
                    if way not in best or row["seconds"] < best[way]["seconds"]:
                        best[way] = row
        finally:
            proxy.terminate()
            proxy.wait(10)
    shutil.rmtree(logs, ignore_errors=True)
    streamed, downloaded = best["streamed"], best["downloaded"]
    summary = {"bytes_fraction": streamed["bytes"] / total,
               "time_ratio_streamed_over_download": streamed["seconds"] / downloaded["seconds"],
               "median_ratio": statistics.median(runs[streamed["way"]])
               / statistics.median(runs[downloaded["way"]]),
               "same_shift_px": max(abs(streamed[k] - downloaded[k])
                                    for k in ("shift_x_px", "shift_y_px"))}
    return {"latency_ms": latency, "bandwidth_MBps": bandwidth, "summary": summary,
            "rows": [streamed, downloaded], "all_runs_seconds": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=LATENCY_MS, help="ms per request")
    parser.add_argument("--bandwidth", type=float, default=BANDWIDTH_MBPS,
                        help="MB/s of the second condition's link (0: only the first)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="runs of each way, alternated; the fastest is kept")
    parser.add_argument("--run", nargs=2, metavar=("WAY", "BASE_URL"), help=argparse.SUPPRESS)
    parser.add_argument("--proxy", nargs=4, type=float,
                        metavar=("UPSTREAM", "PORT", "MS", "MBPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    register_coreg(REPO / "tests")
    if args.proxy:
        serve_proxy(int(args.proxy[0]), int(args.proxy[1]), args.proxy[2],
                    args.proxy[3] or None)
        return 0
    if args.run:
        way, base = args.run
        print(json.dumps(run_streamed(base) if way == "streamed" else run_downloaded(base)))
        return 0
    reference, secondary = build_pair(WORK / "data")
    sizes = {p.name: p.stat().st_size for p in (reference, secondary)}
    total = sum(sizes.values())
    conditions = [measure_condition(args.latency, None, args.repeats, total)]
    if args.bandwidth:
        conditions.append(measure_condition(args.latency, args.bandwidth, args.repeats, total))
    write_results("stac", {"meta": meta(sizes, args.repeats), "conditions": conditions},
                  RESULTS)
    for condition in conditions:
        s = condition["summary"]
        print(f"\n{condition['latency_ms']:g} ms per request, "
              f"{condition['bandwidth_MBps'] or 'loopback'} MB/s:")
        print(table(condition["rows"], total))
        print(f"streamed: {100 * s['bytes_fraction']:.1f} % of the two files' "
              f"{total / 1e6:.0f} MB; {s['time_ratio_streamed_over_download']:.2f} x the time "
              f"of download-then-align (fastest runs), {s['median_ratio']:.2f} x (medians)")
    print(f"results in {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
