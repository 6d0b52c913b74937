"""COG conversions one step behind the work that feeds them: a job that writes several
COGs (the co-registered stack) converts one on a thread of its own while the next is
computed, instead of leaving its threads (or Dask workers) idle for each conversion
(4096 x 4096 Float32 pixels: 1.5 s of CPU)."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from .raster_io import to_cog


class CogBehind:
    """``convert(scratch, output)``: :func:`.raster_io.to_cog` on a thread, once the
    previous conversion is done (one scratch GeoTIFF waits at most: disk use stays that
    of one conversion ahead). :meth:`wait` raises a conversion's error; leaving the block
    waits for the conversion under way, so that an output removed on error is never
    still being written."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="coreg-cog")
        self._pending: Future | None = None

    def __enter__(self) -> CogBehind:
        return self

    def __exit__(self, *exc) -> bool:
        self._pool.shutdown(wait=True)
        return False

    def __call__(self, gtiff: str, path: str) -> None:
        self.wait()
        self._pending = self._pool.submit(to_cog, gtiff, path)

    def wait(self) -> None:
        """Until the conversion under way is done; its error raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()
