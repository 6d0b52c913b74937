"""Shared and cached reads of a dataset: worker threads reading one handle, and many
small window reads served from one read."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import rasterio
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.windows import Window

from ..errors import CoregInputError
from ..grid import Grid
from ..parallel import together
from ..resources import available_memory
from .paths import is_remote
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
        """``ds.read``: from the kept pixels for a list of kept bands in the window."""
        inner = window is not None and not kwargs and isinstance(indexes, list) and all(
            band in self._bands for band in indexes) and (
            window.row_off >= self._window.row_off and window.col_off >= self._window.col_off
            and window.row_off + window.height <= self._window.row_off + self._window.height
            and window.col_off + window.width <= self._window.col_off + self._window.width)
        if not inner:
            return self._ds.read(indexes, window=window, **kwargs)
        r, c = int(window.row_off - self._window.row_off), int(window.col_off
                                                               - self._window.col_off)
        rows = slice(r, r + int(window.height))
        cols = slice(c, c + int(window.width))
        if indexes == self._bands:
            return self._data[:, rows, cols].copy()
        return self._data[[self._bands.index(b) for b in indexes], rows, cols]

    @property
    def unwrapped(self) -> rasterio.io.DatasetReaderBase:
        """The dataset itself, for GDAL calls that need its handle (warps)."""
        return self._ds

    def __getattr__(self, name: str):
        return getattr(self._ds, name)


def cached_window(ds: rasterio.io.DatasetReaderBase, bands: list[int], grid: Grid | None,
                  ahead: ReadAhead | None = None):
    """``ds`` with its ``bands`` read once and kept, when that is small
    (:data:`CACHED_PIXELS`): the whole raster, or the window ``grid`` is. Many window
    reads of a small overlap then cost one read (the same pixels). Else, or if ``grid``
    does not nest in ``ds``'s grid (its reads are warps, which need the dataset), ``ds``
    itself. ``ahead``: the same raster being read whole (every band): its read serves
    instead of one of ``ds``'s own when the whole raster would be read."""
    window = None if grid is None else nested_window(ds, grid)
    if grid is not None and window is None:
        return ds
    if ds.width * ds.height <= CACHED_PIXELS:
        whole = None if ahead is None else ahead.source()
        if whole is not None:
            return whole
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


def reads_together(datasets, *calls):
    """:func:`..parallel.together` for ``calls`` that read ``datasets`` (one each), when
    every one is local: a remote one's reads need GDAL's HTTP settings, which are the
    calling thread's own; then one after another."""
    if any(is_remote(str(ds.name)) for ds in datasets):
        return [call() for call in calls]
    return together(*calls)


#: Largest raster (bytes, decoded, every band) :class:`ReadAhead` reads: a larger one
#: would hold much memory (at most a quarter of the available memory too) and keep a
#: canceled run waiting for its read (128 MB: about half a second).
READ_AHEAD_BYTES = 2**27
#: Smallest raster :class:`ReadAhead` reads on a thread of its own; a smaller one is read
#: when it is first needed, in the thread that needs it: a thread and its GDAL
#: environment (rasterio registers the drivers anew in each) cost more than decoding a
#: 256 x 256 band.
THREAD_BYTES = 2**20


class ReadAhead:
    """Every band of a local raster read whole, on a thread of its own started at once
    (when it is not small, :data:`THREAD_BYTES`): a writer that needs them after other
    work (an alignment's estimate, which keeps mostly one core busy) then finds them
    decoded instead of inflating its tiles while it compresses its own (a 5000 x 5000
    DEFLATE scene: 150 ms of CPU moved off the write), and the matching of a small raster
    reads them instead of the file (:func:`cached_window`): one decoding where there were
    two. Nothing is read for a remote raster or a large one (:data:`READ_AHEAD_BYTES`),
    and a failed read leaves the reader to open the file itself (and report it)."""

    def __init__(self, path: str, nbytes: int) -> None:
        room = available_memory()
        self._pool = self._future = None
        if is_remote(str(path)) or nbytes > READ_AHEAD_BYTES or (
                room is not None and nbytes > room / 4):
            return
        if nbytes < THREAD_BYTES:
            self._future = _WhenNeeded(self._read, path)
            return
        self._pool = ThreadPoolExecutor(1)
        self._future = self._pool.submit(self._read, path)

    @staticmethod
    def _read(path) -> _WindowCache:
        ds = rasterio.open(path)
        try:
            return _WindowCache(ds, list(range(1, ds.count + 1)),
                                Window(0, 0, ds.width, ds.height))
        except BaseException:
            ds.close()
            raise

    def source(self) -> _WindowCache | None:
        """The raster read, as an open dataset (closed by :meth:`close`); None if it was
        not read or the read failed."""
        if self._future is None:
            return None
        try:
            return self._future.result()
        except Exception:  # the writer reads the file itself, and reports what fails
            return None

    def close(self) -> None:
        """Wait for the read, and close what it opened."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        source = self.source() if self._future is not None and self._future.done() else None
        if source is not None:
            source.close()
        self._pool = self._future = None

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


class _WhenNeeded:
    """A read run at its first :meth:`result` (in that caller's thread), then kept: what
    :class:`ReadAhead` holds for a small raster instead of a thread's future."""

    def __init__(self, read, path) -> None:
        self._read, self._path = read, path
        self._value = self._error = None
        self._ran = False

    def done(self) -> bool:
        return self._ran

    def result(self):
        if not self._ran:
            self._ran = True
            try:
                self._value = self._read(self._path)
            except Exception as exc:
                self._error = exc
        if self._error is not None:
            raise self._error
        return self._value
