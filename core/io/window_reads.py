"""Shared and cached reads of a dataset: worker threads reading one handle, and many
small window reads served from one read."""

from __future__ import annotations

import threading

import numpy as np
import rasterio
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.windows import Window

from ..errors import CoregInputError
from ..grid import Grid
from .raster_io import nested_window


class SerialReads:
    """A dataset whose reads are serialised by a lock, for worker threads sharing it (a
    GDAL dataset handle is not thread-safe); everything else is the dataset's."""

    def __init__(self, ds: rasterio.io.DatasetReaderBase) -> None:
        self._ds, self._lock = ds, threading.Lock()

    def read(self, *args, **kwargs) -> np.ndarray:
        with self._lock:
            return self._ds.read(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._ds, name)


#: Largest window (pixels) that :func:`cached_window` reads at once.
CACHED_PIXELS = 2**22


class _WindowCache:
    """A dataset whose reads of ``bands`` inside ``window`` come from one read of it."""

    def __init__(self, ds: rasterio.io.DatasetReaderBase, bands: list[int],
                 window: Window) -> None:
        self._ds, self._bands, self._window = ds, list(bands), window
        self._data = ds.read(bands, window=window)

    def read(self, indexes=None, window: Window | None = None, **kwargs) -> np.ndarray:
        inner = window is not None and not kwargs and indexes == self._bands and (
            window.row_off >= self._window.row_off and window.col_off >= self._window.col_off
            and window.row_off + window.height <= self._window.row_off + self._window.height
            and window.col_off + window.width <= self._window.col_off + self._window.width)
        if not inner:
            return self._ds.read(indexes, window=window, **kwargs)
        r, c = int(window.row_off - self._window.row_off), int(window.col_off
                                                               - self._window.col_off)
        return self._data[:, r:r + int(window.height), c:c + int(window.width)].copy()

    @property
    def unwrapped(self) -> rasterio.io.DatasetReaderBase:
        """The dataset itself, for GDAL calls that need its handle (warps)."""
        return self._ds

    def __getattr__(self, name: str):
        return getattr(self._ds, name)


def cached_window(ds: rasterio.io.DatasetReaderBase, bands: list[int], grid: Grid | None):
    """``ds`` with its ``bands`` read once and kept, when that is small
    (:data:`CACHED_PIXELS`): the whole raster, or the window ``grid`` is. Many window
    reads of a small overlap then cost one read (the same pixels). Else, or if ``grid``
    does not nest in ``ds``'s grid (its reads are warps, which need the dataset), ``ds``
    itself."""
    window = None if grid is None else nested_window(ds, grid)
    if grid is not None and window is None:
        return ds
    if ds.width * ds.height <= CACHED_PIXELS:
        window = Window(0, 0, ds.width, ds.height)
    elif window is None or grid.width * grid.height > CACHED_PIXELS:
        return ds
    r0, c0 = max(window.row_off, 0), max(window.col_off, 0)
    r1 = min(window.row_off + window.height, ds.height)
    c1 = min(window.col_off + window.width, ds.width)
    if r1 <= r0 or c1 <= c0:
        return ds
    try:
        return _WindowCache(ds, bands, Window(c0, r0, c1 - c0, r1 - r0))
    except (RasterioError, RasterioIOError) as exc:
        raise CoregInputError(f"'{ds.name}' is unreadable or truncated: {exc}") from exc
