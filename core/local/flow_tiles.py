"""Dense flow over a raster of any size: tiles with overlap read from disk, flowed on
threads, handed back tile row by tile row in order (the caller writes them), so memory
stays bounded by a few tiles and one row of them whatever the raster size.

:func:`flow_tile` is a function of one tile window: the unit a tiled or distributed run
dispatches. :func:`flow_tiles` runs them on :data:`~coreg.core.parallel.THREADS` threads
and answers progress and cancel from the calling thread every :data:`POLL_S` seconds.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from itertools import groupby

import numpy as np

from ..errors import CanceledError, check_canceled
from ..parallel import THREADS, as_worker
from .dense_flow import RADIUS_SCHEDULE, estimate_flow
from .points import Core, Tile

#: The message of a cancel here (:func:`..errors.check_canceled`).
CANCELED = "Canceled while computing the optical flow."
#: Pixels added to a tile's margin beyond the largest shift and the largest full-resolution
#: window. Tiles of 512 px with margins of 32 px gave fields within 0.0004 px of the whole
#: 1000 x 1000 image's (a +-3 px field; 16 px: 0.016 px), see field_margin_test in tests.
MARGIN_SLACK = 16
#: Seconds between two progress reports / cancel checks while tiles run.
POLL_S = 0.25

ReadTile = Callable[[int, int, int, int, int], Tile]


def flow_margin(options: dict, max_shift: float) -> int:
    """Pixels read around each tile core: the largest expected shift, the largest window
    at full resolution and MARGIN_SLACK, rounded up to a multiple of ``2**levels`` so that
    every tile's pyramid samples the same grid (the tiles agree at their seams)."""
    radius = options.get("radius", 8)
    largest = (max(radius) if np.ndim(radius) else
               int(round(RADIUS_SCHEDULE[0] * radius)))
    step = 2 ** options.get("levels", 4)
    margin = math.ceil(max_shift) + largest + MARGIN_SLACK
    return -(-margin // step) * step


def flow_tile(read: ReadTile, core: Core, margin: int, options: dict,
              is_canceled: Callable[[], bool] | None = None,
              progress: Callable[[float], None] | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """(dx, dy) float32 over ``core`` (r0, r1, c0, c1 of the overlap grid, ends excluded),
    from the tile ``read(r0, r1, c0, c1, margin)`` returns (clipped to the overlap). NaN
    where the tile has no valid reference or secondary pixel at all."""
    r0, r1, c0, c1 = core
    tile = read(r0, r1, c0, c1, margin)
    inner = (slice(r0 - tile.row, r1 - tile.row), slice(c0 - tile.col, c1 - tile.col))
    if not (np.isfinite(tile.reference).any() and np.isfinite(tile.secondary).any()):
        empty = np.full((r1 - r0, c1 - c0), np.nan, np.float32)
        return empty, empty.copy()
    dx, dy = estimate_flow(tile.reference, tile.secondary, is_canceled=is_canceled,
                           progress=progress, **options)
    return dx[inner], dy[inner]


def flow_tiles(reader, cores: list[Core], options: dict, max_shift: float,
               progress: Callable[[float], None] | None = None,
               is_canceled: Callable[[], bool] | None = None
               ) -> Iterator[tuple[int, int, list[tuple[Core, np.ndarray, np.ndarray]]]]:
    """Yields (r0, r1, [(core, dx, dy)]) for each row of tile cores, in order; the tiles
    run on threads meanwhile. ``reader.read(r0, r1, c0, c1, margin, clip=True)`` reads a
    tile (under a lock: one dataset is not read by two threads at once). ``progress``
    gets the percentage done."""
    margin = flow_margin(options, max_shift)
    done = [0.0] * len(cores)
    stop, lock = threading.Event(), threading.Lock()

    def read(*window) -> Tile:
        with lock:  # and never once the run is over: the datasets may be closed by then
            if stop.is_set():
                raise CanceledError(CANCELED)
            return reader.read(*window, clip=True)

    def task(k: int):
        def report(fraction: float) -> None:
            done[k] = fraction
        result = flow_tile(read, cores[k], margin, options, stop.is_set, report)
        done[k] = 1.0
        return result

    if THREADS == 1 or len(cores) == 1:  # in this thread (its bands of rows on threads)
        yield from _flow_tiles_here(read, cores, margin, options, progress, is_canceled)
        return
    pool = ThreadPoolExecutor(THREADS)  # the tiles' own bands of rows in their threads
    futures = [pool.submit(as_worker, task, k) for k in range(len(cores))]
    try:
        for (r0, r1), ks in groupby(range(len(cores)), key=lambda k: cores[k][:2]):
            ks = list(ks)
            _wait([futures[k] for k in ks], done, progress, is_canceled)
            yield r0, r1, [(cores[k], *futures[k].result()) for k in ks]
            for k in ks:
                futures[k] = None  # the row is written: free its fields
    finally:
        # On error, cancel or an abandoned generator, return at once: the running tiles
        # stop at their next iteration by themselves, and read nothing more.
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        with lock:
            pass  # a read under way ends before the caller may close the datasets


def _flow_tiles_here(read, cores, margin, options, progress, is_canceled):
    """:func:`flow_tiles` without threads."""
    for (r0, r1), ks in groupby(range(len(cores)), key=lambda k: cores[k][:2]):
        fields = []
        for k in ks:
            def report(fraction: float, k: int = k) -> None:
                if progress is not None:
                    progress(100.0 * (k + fraction) / len(cores))
            fields.append((cores[k], *flow_tile(read, cores[k], margin, options, is_canceled,
                                                report)))
        yield r0, r1, fields


def _wait(futures, done: list[float], progress, is_canceled) -> None:
    """Until ``futures`` are done, reporting progress and polling cancel every POLL_S."""
    pending = futures
    while pending:
        finished, pending = wait(pending, timeout=POLL_S, return_when=FIRST_EXCEPTION)
        for future in finished:
            if future.exception() is not None:
                raise future.exception()
        check_canceled(is_canceled, CANCELED)
        if progress is not None:
            progress(100.0 * sum(done) / len(done))
