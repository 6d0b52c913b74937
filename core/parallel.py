"""Array work on a few threads: numpy, BLAS, scipy.fft, scipy.ndimage and PROJ release
the GIL on large arrays, so threads share the work without copying it to processes."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from typing import Any

from .errors import check_canceled
from .io.raster_io import IsCanceled, Progress

try:  # optional: without it, BLAS keeps its own threads
    from threadpoolctl import ThreadpoolController
except ImportError:  # pragma: no cover - depends on the installation
    ThreadpoolController = None


def _threads() -> int:
    """COREG_THREADS if it is a positive whole number (a shared server, a benchmark on
    one core), else the CPUs, at most 4."""
    setting = os.environ.get("COREG_THREADS", "").strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return max(1, min(4, os.cpu_count() or 1))


#: Threads of :func:`in_threads`.
THREADS = _threads()


#: Set while :func:`as_worker` runs its work.
_worker = threading.local()


def as_worker(work: Callable[..., Any], *args: Any) -> Any:
    """``work(*args)`` marked as running on a worker thread: :func:`in_threads` inside it
    runs in that thread (threads within threads only crowd the cores, and every thread
    may get a malloc arena of its own, which holds on to freed memory)."""
    _worker.busy = True
    try:
        return work(*args)
    finally:
        _worker.busy = False


def in_threads(work: Callable[[Any], None], items: Sequence, progress: Progress | None = None,
               scale: float = 100.0, is_canceled: IsCanceled | None = None) -> None:
    """``work(item)`` for every item on :data:`THREADS` threads (in this thread inside
    :func:`as_worker`), reporting ``scale`` x the fraction done and polling
    ``is_canceled`` (:class:`CanceledError`) from this thread as items finish; the first
    error is raised."""
    if len(items) <= 1 or THREADS == 1 or getattr(_worker, "busy", False):
        for k, item in enumerate(items):
            check_canceled(is_canceled)
            work(item)
            if progress:
                progress(scale * (k + 1) / len(items))
        return
    with single_threaded_blas(), ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(work, item) for item in items]
        try:
            for k, future in enumerate(as_completed(futures)):
                future.result()
                check_canceled(is_canceled)
                if progress:
                    progress(scale * (k + 1) / len(items))
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Each call's result, in order, the calls run at once on up to :data:`THREADS`
    threads (one after another in this thread inside :func:`as_worker`, or with one
    thread): a few independent pieces of array work (the reads of two files, the halves
    of a batch) whose numpy, FFT and GDAL parts release the GIL. The first error is
    raised once every call has ended."""
    if len(calls) <= 1 or THREADS == 1 or getattr(_worker, "busy", False):
        return [call() for call in calls]
    pool = _kept_pool(min(THREADS, len(calls)) - 1)
    futures = [pool.submit(as_worker, call) for call in calls[1:]]
    try:
        first = as_worker(calls[0])
    finally:
        wait(futures)
    return [first] + [future.result() for future in futures]


#: The threads :func:`together` runs calls on, by their number, started once and kept (a
#: forked child starts its own): a thread's first GDAL or PROJ call sets up that thread's
#: context (a small read took 1.3 ms more in a new thread than in a kept one), which a
#: pool made at every call paid each time (a 256² pair's alignment: 4 % of its time).
#: Their calls run as :func:`as_worker`, so none of them waits on a kept pool itself.
_kept: dict[int, ThreadPoolExecutor] = {}
_kept_lock = threading.Lock()


def _kept_pool(workers: int) -> ThreadPoolExecutor:
    with _kept_lock:
        if workers not in _kept:
            _kept[workers] = ThreadPoolExecutor(workers, thread_name_prefix="coreg")
        return _kept[workers]


def _forget_kept_pools() -> None:
    """In a forked child, which has none of the parent's threads (nor its lock's owner)."""
    global _kept, _kept_lock
    _kept, _kept_lock = {}, threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_forget_kept_pools)


def shares(items: Sequence, pieces: int | None = None) -> list[Sequence]:
    """``items`` cut into ``pieces`` (:data:`THREADS` by default; at most one per item)
    consecutive runs of nearly equal length."""
    pieces = max(1, min(THREADS if pieces is None else pieces, len(items)))
    bounds = [round(k * len(items) / pieces) for k in range(pieces + 1)]
    return [items[a:b] for a, b in zip(bounds, bounds[1:])]


@functools.lru_cache(maxsize=1)
def _blas_controller():
    return None if ThreadpoolController is None else ThreadpoolController()


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread inside: the work is already on our threads, and BLAS's own
    threads, spinning beside them, slowed the tie points by a fifth on two cores."""
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield
