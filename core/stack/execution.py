"""Running one task per item: in this process, in worker processes (spawned with the Python
installation's own interpreter, also inside QGIS), or on a Dask cluster; a failed item
is reported by the caller's failed and never stops the others."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import shutil
import sys
import sysconfig
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from ..errors import CanceledError, CoregInputError, CoregResourceError, check_canceled
from ..io.raster_io import IsCanceled, Progress

#: The message of a cancel here (:func:`..errors.check_canceled`).
CANCELED = "Canceled between items."
#: Memory one worker may need at most (patches, one output strip, interpreter), bytes.
WORKER_MEMORY = 1_500_000_000


#: Seconds a Dask scheduler has to answer before the run gives up (Dask's own default,
#: 30 s and retries, left the user looking at a frozen dialog).
DASK_CONNECT_TIMEOUT = 10


#: A Dask scheduler address: tcp:// or tls://, a host name (at most 253 characters),
#: IPv4 or [IPv6], a port.
DASK_ADDRESS = re.compile(
    r"(tcp|tls)://([A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):(\d{1,5})")


def default_workers() -> int:
    """Cores, fewer if the available memory cannot hold that many workers."""
    cores = os.cpu_count() or 1
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            fields = dict(line.split(":", 1) for line in handle)
        available = int(fields["MemAvailable"].split()[0]) * 1024
        return max(1, min(cores, available // WORKER_MEMORY))
    except (OSError, KeyError, ValueError):
        return cores


def run_items(task: Callable, arguments: list[tuple], workers: int | None, client,
              progress: Progress | None, is_canceled: IsCanceled | None,
              failed: Callable[[str, Exception], Any]) -> dict[str, Any]:
    """Run ``task(*args)`` for every item (``args[0]`` names it): on a Dask ``client``
    (if not None), in processes, or in-process; an item that raised, or whose worker
    died, gets ``failed(name, exception)``."""
    if client is not None:
        return _run_dask(task, arguments, client, progress, is_canceled, failed)
    workers = min(workers or default_workers(), max(len(arguments), 1))
    if workers <= 1:
        results = {}
        for k, args in enumerate(arguments):
            check_canceled(is_canceled, CANCELED)
            try:
                results[args[0]] = task(*args)
            except Exception as exc:  # an unreadable item: reported, the stack goes on
                results[args[0]] = failed(args[0], exc)
            if progress:
                progress(100.0 * (k + 1) / len(arguments))
        return results
    context = multiprocessing.get_context("spawn")
    context.set_executable(python_executable())
    with _no_main_module(), ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = {pool.submit(task, *args): args[0] for args in arguments}
        return _collect(futures, as_completed(futures), progress, is_canceled,
                        lambda: [f.cancel() for f in futures], failed)


@contextlib.contextmanager
def _no_main_module():
    """Keep spawned workers from re-running the host's ``__main__`` (QGIS's, or a
    script's): they need nothing from it, only the task's own module."""
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__")
             if main is not None and hasattr(main, name)}
    for name in saved:
        setattr(main, name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


def check_dask_address(address: str | None) -> str | None:
    """The scheduler address stripped, None if empty; CoregInputError unless it is
    ``tcp://host:port`` or ``tls://host:port`` (Dask also accepts other schemes, e.g.
    ``inproc://``, that mean nothing to a user of the plugin)."""
    if address is None or not str(address).strip():
        return None
    text = str(address).strip()
    match = DASK_ADDRESS.fullmatch(text)
    if match is None or not 0 < int(match.group(3)) < 65536:
        raise CoregInputError(f"The Dask scheduler address '{text[:200]}' is not "
                              "tcp://host:port or tls://host:port (e.g. tcp://192.168.1.10:8786); "
                              "leave it empty to use local processes.")
    return text


@contextlib.contextmanager
def dask_client(address: str | None) -> Iterator:
    """A Dask client connected to ``address`` (None: yields None), or
    CoregResourceError after :data:`DASK_CONNECT_TIMEOUT` seconds without an answer."""
    if address is None:
        yield None
        return
    from distributed import Client

    if address.startswith("tls://") and not _tls_configured():
        raise CoregInputError(f"The Dask scheduler address {address} asks for TLS, but no "
                              "TLS certificates are configured for Dask (distributed.comm.tls "
                              "in the Dask configuration); configure them or use tcp://.")
    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT)
    except OSError as exc:  # Dask's connection timeout is an OSError
        raise CoregResourceError(
            f"No Dask scheduler answers at {address} (waited {DASK_CONNECT_TIMEOUT} s): "
            "start one with `dask scheduler` or leave the field empty to use local "
            "processes.") from exc
    with client:
        yield client


def _tls_configured() -> bool:
    """Whether the Dask configuration gives the client TLS certificates (without them
    Dask fails on a tls:// address with a TypeError)."""
    from distributed.security import Security

    return Security().get_connection_args("client")["ssl_context"] is not None


def _run_dask(task, arguments, client, progress, is_canceled, failed) -> dict[str, Any]:
    from distributed import as_completed as dask_completed

    from ..distributed import run_tile  # malloc set for array work, as for tiles
    from .cluster import packed, unpacked

    futures = {client.submit(*packed(run_tile, (task, args)), pure=False,
                             key=f"coreg-{uuid.uuid4().hex}"): args[0] for args in arguments}
    return _collect(futures, dask_completed(list(futures)), progress, is_canceled,
                    lambda: client.cancel(list(futures)), failed,
                    lambda future: unpacked(future.result()))


def _collect(futures: dict, completed, progress, is_canceled, cancel, failed,
             result: Callable = lambda future: future.result()) -> dict[str, Any]:
    results = {}
    for k, future in enumerate(completed):
        path = futures[future]
        try:
            results[path] = result(future)
        except Exception as exc:  # a worker that died: the item failed, the stack goes on
            results[path] = failed(path, exc)
        if progress:
            progress(100.0 * (k + 1) / len(futures))
        if is_canceled and is_canceled():
            cancel()
            raise CanceledError(CANCELED)
    return results


def python_executable() -> str:
    """A Python interpreter for worker processes: inside QGIS ``sys.executable`` is
    QGIS itself, so look for the interpreter of the running Python installation (the
    one whose library QGIS embeds), never just the first ``python3`` on PATH."""
    executable = Path(sys.executable)
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_exec_prefix, sys.exec_prefix)}
    if executable.name.lower().startswith("python") and any(
            prefix in executable.resolve().parents for prefix in prefixes):
        return sys.executable
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    folders = [sysconfig.get_config_var("BINDIR"), Path(sys.base_exec_prefix) / "bin",
               Path(sys.exec_prefix) / "bin", sys.exec_prefix]
    for folder in map(Path, filter(None, folders)):
        for candidate in (f"python{version}", "python3", "python", "python3.exe", "python.exe"):
            if (folder / candidate).is_file():
                return str(folder / candidate)
    return shutil.which("python3") or sys.executable
