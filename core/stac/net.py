"""STAC over HTTP: item documents fetched with time limits, COG assets streamed by GDAL.

Nothing here runs unless a user named a URL. Each network failure becomes one clear
error naming what was asked for: a server that refuses the connection (down), a 404, a
server that stops answering (timed out), a response cut short, a body that is no JSON.
Remote rasters are read through GDAL's ``/vsicurl/`` with HTTP range requests: only the
tiles (and overview levels) a read needs travel.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping

import rasterio
from rasterio.errors import RasterioError, RasterioIOError

from ..errors import CoregInputError, CoregResourceError

#: Seconds without an answer (connection, or a stalled transfer) before giving up.
DEFAULT_TIMEOUT = 20.0
#: Larger item documents are refused unread (real items are a few kB).
MAX_DOCUMENT_BYTES = 10 * 2**20
#: GDAL reads a stalled asset for this many seconds below 1 byte/s before failing.
GDAL_RETRIES = 1
#: GDAL's process-wide cache of remote file parts (its default is 16 MB).
CURL_CACHE_BYTES = 512 * 2**20


def is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def fetch_json(url: str, label: str, *, timeout: float = DEFAULT_TIMEOUT,
               headers: Mapping[str, str] | None = None) -> dict:
    """The JSON object at ``url``.

    Raises
    ------
    CoregInputError
        The server is down, answers an HTTP error (404...), cuts the response short, or
        sends something that is not a JSON object.
    CoregResourceError
        The server does not answer within ``timeout`` seconds.
    """
    request = urllib.request.Request(url, headers={"Accept": "application/geo+json, "
                                                   "application/json", **(headers or {})})
    with http_errors(label, url, timeout):
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(MAX_DOCUMENT_BYTES + 1)
            announced = response.headers.get("Content-Length", "")
        if announced.isdigit() and len(body) < int(announced) <= MAX_DOCUMENT_BYTES:
            raise http.client.IncompleteRead(body, int(announced) - len(body))
    if len(body) > MAX_DOCUMENT_BYTES:
        raise CoregInputError(f"{label} '{url}' is larger than "
                              f"{MAX_DOCUMENT_BYTES // 2**20} MB; no STAC item is that large.")
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CoregInputError(f"{label} '{url}' is not valid JSON ({exc}); a response cut "
                              "short, or not a STAC document.") from None
    if not isinstance(document, dict):
        raise CoregInputError(f"{label} '{url}' is not a JSON object.")
    return document


@contextlib.contextmanager
def http_errors(label: str, url: str, timeout: float) -> Iterator[None]:
    """urllib's failures of a request for ``label`` at ``url``, in words: an HTTP error
    (404...), a server down, silent for ``timeout`` seconds, or cutting a response short."""
    try:
        yield
    except urllib.error.HTTPError as exc:
        raise CoregInputError(f"{label} '{url}': the server answered HTTP {exc.code} "
                              f"({_reason(exc.code, exc.reason)}).") from None
    except (TimeoutError, socket.timeout) as exc:
        raise _timed_out(label, url, timeout) from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise _timed_out(label, url, timeout) from exc
        raise CoregInputError(f"{label} '{url}': the server cannot be reached "
                              f"({_words(exc.reason)}). Is it running, and is the address "
                              "right?") from None
    except http.client.IncompleteRead as exc:
        raise CoregInputError(f"{label} '{url}': the response was cut short ({len(exc.partial)} "
                              f"of {len(exc.partial) + (exc.expected or 0)} bytes); try "
                              "again.") from None
    except (http.client.HTTPException, OSError) as exc:
        raise CoregInputError(f"{label} '{url}': the transfer failed ({_words(exc)}); "
                              "try again.") from None


def _timed_out(label: str, url: str, timeout: float) -> CoregResourceError:
    return CoregResourceError(f"{label} '{url}': the server did not answer within "
                              f"{timeout:g} s. It may be overloaded; try again later.")


def _reason(code: int, reason: object) -> str:
    return "not found" if code == 404 else str(reason or "error")


def _words(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    return getattr(reason, "strerror", None) or str(reason)


def vsicurl(url: str, *, timeout: float = DEFAULT_TIMEOUT,
            pc_collection: str | None = None) -> str:
    """The GDAL path reading ``url`` by range requests: no directory listing (one
    request less per file), a stalled transfer given up after ``timeout`` seconds;
    with ``pc_collection``, signed by GDAL with a Planetary Computer SAS token of that
    collection (GDAL's ``pc_url_signing``)."""
    options = {"list_dir": "no", "max_retry": str(GDAL_RETRIES), "retry_delay": "0.5",
               "low_speed_time": str(max(1, round(timeout))), "low_speed_limit": "1"}
    if pc_collection is not None:
        options.update(pc_url_signing="yes", pc_collection=pc_collection)
    options["url"] = url
    return "/vsicurl?" + urllib.parse.urlencode(options)


def url_of(path: str) -> str:
    """The URL a :func:`vsicurl` path reads (itself for anything else)."""
    if path.startswith("/vsicurl?"):
        return urllib.parse.parse_qs(path[len("/vsicurl?"):]).get("url", [path])[0]
    return path.removeprefix("/vsicurl/")


@contextlib.contextmanager
def gdal_http(timeout: float = DEFAULT_TIMEOUT) -> Iterator[None]:
    """GDAL's HTTP settings for the block: time limits, no probing of side-car files
    (``.aux.xml``, ``.ovr``: requests that 404), consecutive ranges merged."""
    with rasterio.Env(GDAL_HTTP_TIMEOUT=str(max(1, round(timeout))),
                      GDAL_HTTP_CONNECTTIMEOUT=str(max(1, round(timeout))),
                      GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR",
                      GDAL_HTTP_MERGE_CONSECUTIVE_RANGES="YES",
                      # room for the tiles prefetched for a measurement (:mod:`.prefetch`):
                      # with GDAL's 16 MB they would be fetched again
                      CPL_VSIL_CURL_CACHE_SIZE=str(CURL_CACHE_BYTES),
                      GDAL_HTTP_MULTIPLEX="YES", VSI_CACHE="TRUE"):
        yield


def probe_asset(url: str, label: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """One byte of ``url``: a missing asset or a dead server said before any work."""
    request = urllib.request.Request(url, headers={"Range": "bytes=0-0"})
    with http_errors(label, url, timeout), \
            urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        response.read(16)


def is_cloud_optimized(path: str) -> bool:
    """Whether a GeoTIFF is laid out for range reads: tiled, with its overviews (GDAL
    marks the files its COG driver writes ``LAYOUT=COG``)."""
    with rasterio.open(path) as ds:
        if ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT", "").upper() == "COG":
            return True
        height, width = ds.block_shapes[0]
        tiled = width < ds.width and height > 1
        small = max(ds.width, ds.height) <= 512
        return tiled and (small or bool(ds.overviews(1)))


def network_read_error(exc: Exception, what: str) -> CoregInputError | CoregResourceError:
    """A GDAL read of a remote asset that failed, in words: what failed and what to do.

    GDAL's words may be on a chained exception: rasterio 1.4 raises "Read failed. See
    previous exception for details." from the error GDAL reported."""
    text = str(exc)
    causes = " ".join(str(e) for e in _chain(exc))
    if any(sign in causes for sign in ("IReadBlock failed", "Read error", "Read or write failed")):
        return CoregInputError(f"Reading {what} over the network failed: the data arrived "
                               "incomplete (a response cut short, or a damaged file). Nothing "
                               "was written; try again.")
    if "timed out" in causes.lower() or "operation too slow" in causes.lower():
        return CoregResourceError(f"Reading {what} over the network timed out: the server "
                                  "stopped sending. Nothing was written; try again later.")
    return CoregInputError(f"Reading {what} over the network failed ({text}). Nothing was "
                           "written; try again.")


def _chain(exc: BaseException):
    """``exc`` and the exceptions it was raised from (a few at most)."""
    seen = 0
    while exc is not None and seen < 8:
        yield exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1


NETWORK_ERRORS = (RasterioError, RasterioIOError)


def forget_transfers(paths) -> None:
    """Drop what GDAL cached of the :func:`vsicurl` ``paths``: a transfer cut short
    leaves its part in GDAL's cache, which the next run in this process (a QGIS
    session) would read again as if whole. GDAL drops a file's cached parts when a
    handle on it closes while ``CPL_VSIL_CURL_NON_CACHED`` names it (a list separated
    by ':', which these paths, their URL percent-encoded, never hold)."""
    chosen = sorted({p for p in paths if p.startswith("/vsicurl?")})
    if not chosen:
        return
    with rasterio.Env(CPL_VSIL_CURL_NON_CACHED=":".join(chosen)):
        for path in chosen:
            with contextlib.suppress(Exception), rasterio.open(path):
                pass
