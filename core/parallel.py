"""Array work on a few threads: numpy, BLAS, scipy.fft, scipy.ndimage and PROJ release
the GIL on large arrays, so threads share the work without copying it to processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from .raster_io import Progress


def _threads() -> int:
    """COREG_THREADS if it is a positive whole number (a shared server, a benchmark on
    one core), else the CPUs, at most 4."""
    setting = os.environ.get("COREG_THREADS", "").strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return max(1, min(4, os.cpu_count() or 1))


#: Threads of :func:`in_threads`.
THREADS = _threads()


def in_threads(work: Callable[[Any], None], items: Sequence, progress: Progress | None = None,
               scale: float = 100.0) -> None:
    """``work(item)`` for every item on :data:`THREADS` threads, reporting ``scale`` x
    the fraction done; the first error is raised."""
    if len(items) <= 1 or THREADS == 1:
        for k, item in enumerate(items):
            work(item)
            if progress:
                progress(scale * (k + 1) / len(items))
        return
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(work, item) for item in items]
        try:
            for k, future in enumerate(as_completed(futures)):
                future.result()
                if progress:
                    progress(scale * (k + 1) / len(items))
        except BaseException:
            for future in futures:
                future.cancel()
            raise
