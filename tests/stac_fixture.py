"""Two STAC items made from a real Sentinel-2 scene with a known shift, their COG
assets, and the real servers that serve them on 127.0.0.1 (scripts/serve_stac.sh).

The pair is sensor-simulated as in :mod:`corpus` (no "inverse crime"): both items are
2 x 2 block averages of the Abu Dhabi 10 m bands B04 and B08; the source item's blocks
start ``OFFSET`` fine pixels further right and down while its georeferencing says they do
not, so its correction is exactly ``TRUTH_PX`` reference pixels.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from corpus import OSCD, block_average

REPO = Path(__file__).resolve().parents[1]
SCENE = OSCD / "abudhabi_S2_20160120_B02-B03-B04-B08.tif"
BLOCK = 2
OFFSET = (3, 1)  # fine pixels (x right, y down)
TRUTH_PX = (OFFSET[0] / BLOCK, OFFSET[1] / BLOCK)  # the correction, reference pixels
MARGIN = 40  # fine pixels left out around the source: room for the offset
BANDS = {"red": ("B04", 3), "nir": ("B08", 4)}  # asset key -> (band name, band in SCENE)
COLLECTION = "coreg-test"
EO = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
PROJECTION = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
PROCESSING = "https://stac-extensions.github.io/processing/v1.1.0/schema.json"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


@dataclass(frozen=True)
class StacData:
    """The served folder and where each item and asset is, locally and over HTTP."""

    root: Path
    files_url: str

    def url(self, relative: str) -> str:
        return f"{self.files_url}/{relative}"


def write_cog(path: Path, data: np.ndarray, crs, transform: Affine, *, cog: bool = True,
              dtype: str = "float32") -> Path:
    """A COG (256 px tiles, overviews), or a striped GeoTIFF if not ``cog``."""
    profile = dict(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                   dtype=dtype, crs=crs, transform=transform, nodata=None)
    if not cog:
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data.astype(dtype), 1)
        return path
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data.astype(dtype), 1)
    with rasterio.open(tmp) as src:
        rasterio.shutil.copy(src, path, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=256,
                             OVERVIEW_RESAMPLING="AVERAGE")
    tmp.unlink()
    return path


def build_assets(folder: Path) -> dict[str, dict[str, Path]]:
    """``{"reference"|"source": {asset key: COG}}`` plus the source's striped ``nir``
    copy (``source/nir_striped.tif``)."""
    import rasterio.shutil  # noqa: F401 - registers rasterio.shutil for write_cog

    written: dict[str, dict[str, Path]] = {"reference": {}, "source": {}}
    with rasterio.open(SCENE) as ds:
        crs, t = ds.crs, ds.transform
        fine = {key: ds.read(band).astype(np.float64) for key, (_, band) in BANDS.items()}
    for name in written:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for key, band in fine.items():
        height, width = band.shape
        reference = block_average(band, BLOCK, 0, 0, height // BLOCK, width // BLOCK)
        rows, cols = (height - 2 * MARGIN) // BLOCK, (width - 2 * MARGIN) // BLOCK
        kx, ky = OFFSET
        source = block_average(band, BLOCK, MARGIN + ky, MARGIN + kx, rows, cols)
        ref_t = t * Affine.scale(BLOCK)
        src_t = t * Affine.translation(MARGIN, MARGIN) * Affine.scale(BLOCK)
        written["reference"][key] = write_cog(folder / "reference" / f"{key}.tif", reference,
                                              crs, ref_t)
        written["source"][key] = write_cog(folder / "source" / f"{key}.tif", source, crs, src_t)
        if key == "nir":
            write_cog(folder / "source" / "nir_striped.tif", source, crs, src_t, cog=False)
            # A coarser band (40 m, the same content shift) and a 0/1 mask of the source.
            coarse = block_average(band, 2 * BLOCK, MARGIN + ky, MARGIN + kx, rows // 2,
                                   cols // 2)
            written["source"]["nir_40m"] = write_cog(
                folder / "source" / "nir_40m.tif", coarse, crs,
                t * Affine.translation(MARGIN, MARGIN) * Affine.scale(2 * BLOCK))
            written["source"]["mask"] = write_cog(
                folder / "source" / "mask.tif", source > np.median(source), crs, src_t,
                dtype="uint8")
    return written


def item_document(item_id: str, assets: dict[str, Path], base_url: str, *,
                  properties: dict | None = None) -> dict:
    """A STAC 1.0 item whose assets are ``base_url``/<folder>/<file>."""
    with rasterio.open(next(iter(assets.values()))) as ds:
        left, bottom, right, top = ds.bounds
        epsg, shape = ds.crs.to_epsg(), [ds.height, ds.width]
        transform = list(ds.transform)[:6]
    ring = [[left, bottom], [right, bottom], [right, top], [left, top], [left, bottom]]
    documents = {}
    for key, path in assets.items():
        documents[key] = {
            "href": f"{base_url}/{path.parent.name}/{path.name}",
            "type": COG_TYPE if "striped" not in key else "image/tiff; application=geotiff",
            "roles": ["data"], "gsd": 40.0 if key == "nir_40m" else 20.0}
        common = key.removesuffix("_striped").removesuffix("_40m")
        if common in BANDS:
            documents[key]["eo:bands"] = [{"name": BANDS[common][0], "common_name": common}]
    return {
        "type": "Feature", "stac_version": "1.0.0",
        "stac_extensions": [EO, PROJECTION, PROCESSING],
        "id": item_id, "collection": COLLECTION,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [left, bottom, right, top],
        "properties": {"datetime": "2016-01-20T06:50:00Z", "gsd": 20.0,
                       "eo:cloud_cover": 3.0, "processing:level": "L1C",
                       "proj:epsg": epsg, "proj:shape": shape, "proj:transform": transform,
                       "platform": "sentinel-2a", **(properties or {})},
        "links": [{"rel": "collection", "href": "../collection.json",
                   "type": "application/json"}],
        "assets": documents,
    }


def build_stac(folder: Path, files_url: str) -> StacData:
    """Assets, the two items (``reference/item.json``, ``source/item.json``) and their
    collection (``collection.json``), asset hrefs on ``files_url``."""
    assets = build_assets(folder)
    source_assets = {**assets["source"], "nir_striped": folder / "source" / "nir_striped.tif"}
    items = {"reference": item_document("reference", assets["reference"], files_url),
             "source": item_document("source", source_assets, files_url)}
    for name, document in items.items():
        (folder / name / "item.json").write_text(json.dumps(document, indent=1))
    bbox = items["reference"]["bbox"]
    collection = {
        "type": "Collection", "stac_version": "1.0.0", "id": COLLECTION,
        "description": "Coreg's test items", "license": "proprietary",
        "extent": {"spatial": {"bbox": [bbox]},
                   "temporal": {"interval": [["2016-01-20T00:00:00Z", None]]}},
        "links": []}  # rustac's server would follow relative item links from its cwd
    (folder / "collection.json").write_text(json.dumps(collection, indent=1))
    return StacData(folder, files_url)


# ------------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}: "
                               f"{process.stderr.read().decode(errors='replace')}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds:g} s")


def die_with_parent() -> None:
    """Run in the child before exec: SIGTERM when the process that started it dies
    (a killed test run must not leave servers behind; Linux only, else nothing)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@contextlib.contextmanager
def serve(*args: str, port: int) -> Iterator[subprocess.Popen]:
    """``scripts/serve_stac.sh ARGS`` until the block ends (then SIGTERM, its group)."""
    process = subprocess.Popen([str(REPO / "scripts" / "serve_stac.sh"), *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True, preexec_fn=die_with_parent)
    try:
        wait_for_port(port, process)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@contextlib.contextmanager
def file_server(folder: Path, logs: Path, port: int | None = None
                ) -> Iterator[tuple[str, Path]]:
    """nginx serving ``folder``: (its URL, its access log)."""
    port = port or free_port()
    with serve("files", str(folder), str(port), str(logs), port=port):
        yield f"http://127.0.0.1:{port}", logs / "access.log"


@contextlib.contextmanager
def stac_api(*hrefs: Path, port: int | None = None) -> Iterator[str]:
    """rustac's STAC API holding ``hrefs`` (collections with their items): its URL."""
    port = port or free_port()
    with serve("api", str(port), *map(str, hrefs), port=port):
        yield f"http://127.0.0.1:{port}"


def access_log(path: Path) -> list[dict]:
    """The requests nginx logged: method, uri, status, bytes, range."""
    rows = []
    for line in path.read_text().splitlines():
        method, uri, status, sent, *rest = line.split(" ")
        rows.append({"method": method, "uri": uri, "status": int(status),
                     "bytes": int(sent), "range": " ".join(rest)})
    return rows


# ------------------------------------------------------------------------ faulty servers


@contextlib.contextmanager
def stalling_server() -> Iterator[str]:
    """A server that accepts connections and never answers: its URL."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def _half_answer(request: bytes, body: bytes, whole: bool = False) -> bytes:
    """The answer to ``request`` (the range it asks for, 206, or the whole body) with
    its full length announced and half of it sent (all of it if ``whole``)."""
    import re

    asked = re.search(rb"\r\nRange: bytes=(\d+)-(\d*)", request, re.IGNORECASE)
    if asked:
        start = int(asked[1])
        end = min(int(asked[2]) if asked[2] else len(body) - 1, len(body) - 1)
        part = body[start:end + 1]
        head = (b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\n"
                % (start, end, len(body)))
    else:
        part, head = body, b"HTTP/1.1 200 OK\r\n"
    return (head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(part)
            + (part if whole else part[:len(part) // 2]))


@contextlib.contextmanager
def truncating_server(body: bytes, healthy=None) -> Iterator[str]:
    """A server that announces ``body`` (or the range asked for) whole and sends half of
    it, then hangs up; once the event ``healthy`` is set, it sends it all."""
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                with contextlib.suppress(OSError):
                    request = connection.recv(65536)
                    connection.sendall(_half_answer(request, body,
                                                    bool(healthy and healthy.is_set())))

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@contextlib.contextmanager
def recording_proxy(upstream: int, port: int) -> Iterator[list[dict]]:
    """An HTTP proxy on ``port`` to 127.0.0.1:``upstream`` that records every request's
    method, path and headers (the list it yields)."""
    import http.client
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[dict] = []

    class Forward(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({"method": self.command, "path": self.path,
                         "headers": dict(self.headers.items())})
            connection = http.client.HTTPConnection("127.0.0.1", upstream, timeout=10)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            connection.request(self.command, self.path, body=body or None, headers=headers)
            response = connection.getresponse()
            data = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()

        do_GET = do_POST = _forward  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", port), Forward)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
