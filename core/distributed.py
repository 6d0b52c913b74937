"""Tiles and blocks of one raster job on a Dask cluster (``dask_scheduler``).

The heavy algorithms (align_local, rectify_swath, align_dem, band_math, the co-registered
stack) split their work into tasks that name their inputs by path and return one tile's
arrays: the workers read the rasters themselves, the client never sends them a whole
array, and it alone writes the outputs (atomically, as in-process). Connecting, sending
the engine and checking that every worker sees the paths are align_stack's
(:mod:`.stack.execution`, :mod:`.stack.cluster`); each task travels as bytes
(:func:`.stack.cluster.packed`), so the scheduler needs no engine.

Dask exchanges pickled code and data: connect only to a scheduler you trust.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .errors import check_canceled
from .io.raster_io import IsCanceled
from .stack.execution import check_dask_address, dask_client

#: The message of a cancel here (:func:`..errors.check_canceled`).
CANCELED = "Canceled while the Dask workers were computing."

#: Tasks waiting or running per worker: enough to keep each busy, few enough that the
#: finished tiles waiting to be written stay a few per worker.
PENDING_PER_WORKER = 2
#: Seconds between two cancel checks while no task has finished.
POLL_S = 0.1
#: glibc malloc settings (mallopt parameter, value) for a worker running tiles: free heap
#: kept up to 256 MiB (M_TRIM_THRESHOLD) and arrays up to 32 MiB from the heap, not fresh
#: mmaps (M_MMAP_THRESHOLD). A Dask nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536,
#: which makes every large temporary array a new mapping whose pages the kernel zeroes
#: again: a dense-flow tile then took twice the CPU (4.2 s instead of 2.0 s).
MALLOC_SETTINGS = ((-1, 256 << 20), (-3, 32 << 20))


@contextlib.contextmanager
def cluster_client(address: str | None, reads: Sequence[str | os.PathLike],
                   folders: Sequence[str | os.PathLike] = (), ship_engine: bool = True
                   ) -> Iterator:
    """None when ``address`` is empty; otherwise a Dask client whose workers have the
    engine and see ``reads`` and ``folders`` (where they read what the client writes
    for them; none: the client writes everything itself), checked before anything is
    written."""
    address = check_dask_address(address)
    with dask_client(address) as client:
        if client is not None:
            from .stack.cluster import absolute, prepare_workers

            folders = list(dict.fromkeys(os.fspath(f) for f in folders))
            prepare_workers(client, [absolute(p) for p in reads],
                            folders[0] if folders else None, ship_engine)
            for folder in folders[1:]:  # the engine is there: only the folder to check
                prepare_workers(client, [], folder, ship_engine=False)
        yield client


def cluster_path(path: str | os.PathLike | None, client) -> str | None:
    """``path`` as a worker must get it: absolute on a cluster (workers have their own
    working folder), unchanged otherwise."""
    if path is None or client is None:
        return None if path is None else os.fspath(path)
    from .stack.cluster import absolute

    return absolute(path)


def cluster_map(client, task: Callable, arguments: Sequence[tuple],
                is_canceled: IsCanceled | None = None,
                preferred: Sequence[str | None] | None = None) -> Iterator[tuple[int, Any]]:
    """``(k, task(*arguments[k]))`` for every k, as the tasks finish on the cluster (any
    order); a few tasks per worker are pending at a time, so finished tiles never pile
    up. The first failure cancels the others and is raised as the worker raised it;
    ``is_canceled`` is polled every :data:`POLL_S` while none finishes. ``preferred``:
    the worker each task should run on if it can (one that kept what the task needs:
    :func:`worker_address`), None for any."""
    from distributed import as_completed

    from .stack.cluster import packed, unpacked

    workers = max(1, len(client.scheduler_info().get("workers", {})))
    queue = iter(enumerate(arguments))
    pending: dict = {}
    finished = as_completed()

    def submit_next() -> None:
        for k, args in queue:
            where = preferred[k] if preferred else None
            future = client.submit(*packed(run_tile, (task, args)), pure=False,
                                   key=f"coreg-{uuid.uuid4().hex}",
                                   workers=[where] if where else None,
                                   allow_other_workers=bool(where))
            pending[future] = k
            finished.add(future)
            return

    try:
        for _ in range(PENDING_PER_WORKER * workers):
            submit_next()
        while pending:
            ready = finished.next_batch(block=False)
            if not ready:  # a task takes seconds: a cancel must not wait for it
                check_canceled(is_canceled, CANCELED)
                time.sleep(POLL_S)
            for future in ready:
                k = pending.pop(future)
                result = unpacked(future.result())
                future.release()
                check_canceled(is_canceled, CANCELED)
                submit_next()
                yield k, result
    finally:
        if pending:
            client.cancel(list(pending))


def cluster_results(client, task: Callable, arguments: Sequence[tuple],
                    is_canceled: IsCanceled | None = None,
                    preferred: Sequence[str | None] | None = None,
                    progress: Callable[[float], None] | None = None) -> list:
    """``task(*arguments[k])`` for every k on the cluster (:func:`cluster_map`), in the
    order of ``arguments``; ``progress`` (0-100) as they finish."""
    results: dict[int, Any] = {}
    for done, (k, result) in enumerate(cluster_map(client, task, arguments, is_canceled,
                                                   preferred)):
        results[k] = result
        if progress:
            progress(100.0 * (done + 1) / len(arguments))
    return [results[k] for k in range(len(arguments))]


def worker_address() -> str | None:
    """The address of the Dask worker running this task; None outside a worker."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def run_tile(task: Callable, args: tuple):
    """On a worker: ``task(*args)`` with malloc set for array work (once per process)."""
    _roomy_malloc()
    return task(*args)


_MALLOC_SET: list[bool] = []


def _roomy_malloc() -> None:
    """Apply :data:`MALLOC_SETTINGS` (glibc only; elsewhere nothing to do)."""
    if _MALLOC_SET:
        return
    _MALLOC_SET.append(True)
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        for parameter, value in MALLOC_SETTINGS:
            libc.mallopt(parameter, value)
    except (OSError, AttributeError):  # not glibc
        pass
