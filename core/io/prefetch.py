"""Fetching the parts of remote rasters a measurement needs, concurrently.

:func:`.align.estimate_alignment` reads its patches one after the other: over a network
each read waits for a round trip (a tile of a COG is one HTTP range request). The
patches it will read are known beforehand (:func:`.match.layout_patches` over the
common grid), so their tiles are fetched first on several threads into GDAL's
``/vsicurl`` cache, and the measurement then reads them from memory: the latency is paid
once per batch of requests instead of once per tile. Only those tiles travel.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import rasterio
from rasterio.windows import Window, from_bounds

from ..grid import common_grid, footprint_bounds
from ..matching.align import DEFAULT_MAX_SHIFT, _patch_size
from ..matching.match import layout_patches
from .paths import is_remote
from .raster_io import read_info

#: Concurrent range requests (a browser opens 6 per server; object stores take many).
PREFETCH_THREADS = 16
#: Extra source pixels around each patch: the resampling kernel's reach.
KERNEL_MARGIN = 16


def prefetch_patches(reference: str, secondary: str, *, reference_band: int = 1,
                     secondary_band: int = 1, max_shift: float = DEFAULT_MAX_SHIFT,
                     threads: int = PREFETCH_THREADS) -> int:
    """Read, on ``threads`` threads, the windows of the remote one(s) of ``reference``
    and ``secondary`` that measuring their alignment reads; returns the windows read
    (0 when both are local: nothing to gain)."""
    if not (is_remote(reference) or is_remote(secondary)):
        return 0
    ref, sec = read_info(reference, "Reference"), read_info(secondary, "Secondary")
    common = common_grid(ref.grid, sec.grid)
    size = _patch_size(max_shift, ref, common)
    jobs = []
    for patch in layout_patches(common, size):
        for path, info, band, reach in ((reference, ref, reference_band, 0.0),
                                        (secondary, sec, secondary_band, max_shift)):
            if is_remote(path):
                margin = reach * ref.grid.res[0] / min(info.grid.res) + KERNEL_MARGIN
                jobs.append((path, band, footprint_bounds(patch, info.grid.crs), margin))
    blocks = set()
    for path in {job[0] for job in jobs}:
        with rasterio.open(path) as ds:
            blocks.update(b for job in jobs if job[0] == path for b in _blocks(ds, *job))
    blocks = sorted(blocks)
    local, opened = threading.local(), []
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for _ in pool.map(lambda block: _read(local, opened, *block), blocks):
                pass
    finally:
        for ds in opened:
            ds.close()
    return len(blocks)


def _blocks(ds, path: str, band: int, bounds, margin: float) -> list[tuple]:
    """(path, band, block row, block column) of the tiles ``bounds`` (plus ``margin``
    pixels) of ``path`` touch: one tile a read, so that GDAL keeps each in its cache
    (a read of several tiles at once bypasses it)."""
    height, width = ds.block_shapes[band - 1]
    window = from_bounds(*bounds, transform=ds.transform)
    col0 = max(math.floor(window.col_off - margin), 0)
    row0 = max(math.floor(window.row_off - margin), 0)
    col1 = min(math.ceil(window.col_off + window.width + margin), ds.width)
    row1 = min(math.ceil(window.row_off + window.height + margin), ds.height)
    return [(path, band, r, c) for r in range(row0 // height, (row1 - 1) // height + 1)
            for c in range(col0 // width, (col1 - 1) // width + 1)
            if col1 > col0 and row1 > row0]


def _read(local: threading.local, opened: list, path: str, band: int, row: int,
          col: int) -> None:
    """Read tile (``row``, ``col``) of ``path`` with this thread's handle."""
    handles = local.__dict__.setdefault("handles", {})
    if path not in handles:
        handles[path] = rasterio.open(path)
        opened.append(handles[path])  # list.append is atomic
    ds = handles[path]
    height, width = ds.block_shapes[band - 1]
    ds.read(band, window=Window(col * width, row * height, min(width, ds.width - col * width),
                                min(height, ds.height - row * height)))
