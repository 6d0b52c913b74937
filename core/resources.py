"""Memory a job may use: refuse one that cannot fit before it starts, not after swapping.

The engine holds bounded strips, tiles or grids in memory; their size follows from the
inputs (a reference declaring 100000 x 100000 pixels, a fine swath target grid). Each
caller estimates its peak and calls :func:`require_memory` first; :func:`memory_guard`
turns a ``MemoryError`` that slips through (an estimate too low, memory taken meanwhile)
into the same :class:`CoregResourceError`.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Iterator

from .errors import CoregResourceError

MEMINFO = "/proc/meminfo"
#: Memory limit and use of this process's control group (containers): cgroup v2, v1.
CGROUP_FILES = (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                 "/sys/fs/cgroup/memory/memory.usage_in_bytes"))
#: Share of the available memory one job may plan to fill (the rest: GDAL's block cache,
#: QGIS, estimates that are approximate).
USABLE_SHARE = 0.8
#: What to do when a job does not fit, unless the caller knows better.
ADVICE = "process a smaller area or choose a coarser grid (larger pixels)"


def available_memory() -> int | None:
    """Bytes that can be allocated without swapping: ``MemAvailable`` of /proc/meminfo,
    lowered to what a control-group limit leaves; psutil's figure where there is no
    /proc (Windows, macOS); None when unknown (then no job is refused in advance)."""
    available = _meminfo_available()
    if available is None:
        available = _psutil_available()
    limit = _cgroup_room()
    if limit is not None:
        available = limit if available is None else min(available, limit)
    return available


def _meminfo_available() -> int | None:
    try:
        with open(MEMINFO, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _psutil_available() -> int | None:
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except Exception:  # not installed, or no figure on this platform
        return None


def _cgroup_room() -> int | None:
    """Limit minus use of the control group, if it has a limit."""
    for limit_file, usage_file in CGROUP_FILES:
        try:
            with open(limit_file, encoding="ascii") as handle:
                limit = handle.read().strip()
            with open(usage_file, encoding="ascii") as handle:
                usage = int(handle.read().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or int(limit) >= 1 << 60:  # v1 says "no limit" with ~2**63
            return None
        return max(int(limit) - usage, 0)
    return None


def format_bytes(nbytes: float) -> str:
    """"1.5 GB", "340 MB": sizes as a user reads them (powers of 1024)."""
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{max(nbytes, 0) / 1024:.0f} kB"


def require_memory(nbytes: float, what: str, advice: str = ADVICE) -> None:
    """Raise :class:`CoregResourceError` if ``what`` (e.g. "Resampling onto the 100000 x
    100000 reference grid") would need more than :data:`USABLE_SHARE` of the available
    memory; the message says how much it needs, how much there is and ``advice``."""
    available = available_memory()
    if available is None or nbytes <= USABLE_SHARE * available:
        return
    raise CoregResourceError(
        f"{what} needs about {format_bytes(nbytes)} of memory, but only "
        f"{format_bytes(available)} is available: {advice}.")


@contextlib.contextmanager
def memory_guard(what: str, advice: str = ADVICE) -> Iterator[None]:
    """Turn a ``MemoryError`` inside the block into a :class:`CoregResourceError`."""
    try:
        yield
    except MemoryError as exc:
        available = available_memory()
        there = "" if available is None else f" ({format_bytes(available)} available)"
        raise CoregResourceError(f"Not enough memory for {what}{there}: {advice}.") from exc


#: glibc's mallopt parameters, and the values :func:`reuse_freed_memory` gives them:
#: arrays up to MMAP_BYTES come from the heap, up to TRIM_BYTES of it free are kept.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
TRIM_BYTES, MMAP_BYTES = 256 * 2**20, 32 * 2**20


def reuse_freed_memory() -> bool:
    """Ask the C library (glibc) to keep freed memory for the next arrays rather than give
    it back to the system: every strip of a resampled output (every patch batch) allocates
    the same large arrays again, and faulting their pages back in cost more than the
    arithmetic on them (a 5000 x 5000 output's strips: 0.5 s of CPU with the default
    thresholds, 0.23 s without page faults). Process-wide and not undone, so for a process
    of the engine's own only (the command line), never inside QGIS. False where there is
    no glibc (the defaults stay)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_BYTES)) and bool(
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_BYTES))
    except (OSError, AttributeError):  # another C library (musl): no mallopt
        return False
