"""Output safety: a run never destroys a file it was not asked to write, and never
reports success for a write that failed. (One module, about 600 lines, on purpose: the
rules below are one gate, and splitting it would let a writer pass by part of it.)

* :func:`check_outputs` is the one gate every entry point passes before any work: each
  destination must be a writable local file, distinct from every other destination and
  from every file an input reads (symlinks resolved, a VRT's sources, a STAC item's
  assets, a report's displacement raster).
* :func:`hold_outputs` locks the destinations, so a second run writing the same files at
  the same time is refused instead of racing the first.
* :func:`atomic_path` writes beside the destination and moves into place only after the
  write is verified: no GDAL error during it, and for rasters every tile present in the
  file. A failed, canceled or killed run leaves the earlier file untouched; temporaries
  of a killed run are recognised by their name and removed by the next run.
* :func:`terminate_cleanly` turns SIGTERM, SIGHUP and SIGINT into a cancellation, so
  that temporaries are removed on the way out.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import getpass
import hashlib
import inspect
import json
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import rasterio
from rasterio.errors import RasterioError, RasterioIOError

from ..errors import CanceledError, CoregOutputError, CoregResourceError
from .paths import check_writable, embedded_file, is_remote, local_output
from .tiff_index import TiffLayoutError, missing_blocks

#: Marks temporaries (see :func:`temporary_name`), and what GDAL adds to their names.
TEMP_MARK = ".coreg-tmp-"
#: This machine, in temporaries' names.
_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
#: A disk with less free space than this after a write that lost tiles is full.
FULL_DISK = 4 * 2**20
#: JSON inputs larger than this are not searched for the files they name.
MAX_JSON_BYTES = 50 * 2**20

Destinations = Mapping[str, "str | os.PathLike | None"]
Sources = Mapping[str, "str | os.PathLike | Sequence[str | os.PathLike] | None"]


# ----------------------------------------------------------------------------- the gate


def check_outputs(outputs: Destinations, inputs: Sources) -> dict[str, Path]:
    """Refuse destinations that would replace an input or each other.

    ``outputs`` and ``inputs`` map a label the user recognises (a parameter's name in
    the dialog) to a path, or for inputs also to a list of paths. None entries are
    skipped, as are empty inputs; an empty output path is refused. Returns the
    resolved destinations by label.

    Raises
    ------
    CoregOutputError
        Naming both sides of the first collision found, or why a destination cannot be
        written (see :func:`.paths.local_output`).
    """
    # Collisions first: "would replace the input" says more than "not writable".
    resolved = {label: local_output(path, label, writable=False)
                for label, path in outputs.items() if path is not None}
    seen: dict[Path, str] = {}
    for label, target in resolved.items():
        if target in seen:
            raise CoregOutputError(
                f"The outputs '{seen[target]}' and '{label}' are the same file '{target}'; "
                "give each its own name.")
        seen[target] = label
    for label, source, file in _input_files(inputs):
        if file in seen:
            via = "" if file == source else f", which the input reads through '{source}'"
            raise CoregOutputError(
                f"The output '{seen[file]}' ({file}) would replace the input '{label}'"
                f"{via}; choose another file name.")
    for label, target in resolved.items():
        check_writable(target, os.fspath(outputs[label]), label)
    return resolved


def check_output_folder(folder: str | os.PathLike, inputs: Sources,
                        label: str = "Output folder") -> Path:
    """Refuse an output folder that holds a file an input reads: outputs named after the
    inputs (``<name>.tif``, sidecars) could replace it. Returns the resolved folder."""
    target = Path(os.path.realpath(local_output(Path(folder) / "_", label).parent))
    if target.exists() and not target.is_dir():
        raise CoregOutputError(f"{label} '{folder}' is a file, not a folder.")
    for name, _source, file in _input_files(inputs):
        if file.parent == target:
            raise CoregOutputError(
                f"The input '{name}' reads '{file}', which is in the {label.lower()} "
                f"'{target}'; outputs named after the inputs could replace it. Choose "
                "another folder.")
    return target


def _input_files(inputs: Sources) -> Iterator[tuple[str, Path, Path]]:
    """(label, resolved input path, resolved file it reads) for every input file."""
    for label, value in inputs.items():
        paths = value if isinstance(value, (list, tuple)) else [value]
        for path in paths:
            if path in (None, ""):
                continue
            source = Path(os.path.realpath(embedded_file(os.fspath(path))))
            yield label, source, source
            for file in files_read_by(os.fspath(path)):
                yield label, source, file


def files_read_by(path: str) -> set[Path]:
    """Every local file a dataset reads besides itself: a raster's GDAL file list (VRT
    sources, world files, overviews), a STAC item's assets, a report's displacement.
    A remote path is not opened (that would already be a request)."""
    if is_remote(path):
        return set()
    if path.lower().endswith(".json"):
        return {Path(os.path.realpath(p)) for p in _files_named_in_json(path)}
    key = _list_key(path)
    with _FILE_LISTS_LOCK:
        cached = _FILE_LISTS.get(key)
    if cached is not None:
        return set(cached)
    try:
        with rasterio.open(path) as ds:
            files = ds.files
    except (RasterioError, RasterioIOError, OSError, ValueError):
        return set()
    found = {Path(os.path.realpath(f)) for f in files if not f.lower().startswith("/vsi")}
    if key is not None:
        with _FILE_LISTS_LOCK:  # runs of the QGIS desktop share it from their threads
            while len(_FILE_LISTS) >= 16:
                _FILE_LISTS.pop(next(iter(_FILE_LISTS)), None)
            _FILE_LISTS[key] = frozenset(found)
    return found


#: GDAL's file lists by :func:`_list_key` (a run checks each input before each write;
#: an open costs a millisecond or more).
_FILE_LISTS: dict[tuple, frozenset[Path]] = {}
_FILE_LISTS_LOCK = threading.Lock()


def _list_key(path: str) -> tuple | None:
    """A local file's path, inode, size and modification time and its folder's (a new
    sidecar, .ovr or .aux.xml, changes the folder); None for anything else."""
    try:
        real = os.path.realpath(path)
        stat, folder = os.stat(real), os.stat(os.path.dirname(real))
    except (OSError, ValueError):
        return None
    if not os.path.isfile(real):
        return None
    return real, stat.st_ino, stat.st_size, stat.st_mtime_ns, folder.st_mtime_ns


def _files_named_in_json(path: str) -> list[str]:
    try:
        if os.path.getsize(path) > MAX_JSON_BYTES:
            return []
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError, RecursionError):
        return []
    if not isinstance(document, dict):
        return []
    folder = Path(path).parent
    hrefs = [a.get("href") for a in (document.get("assets") or {}).values()
             if isinstance(a, dict)] if isinstance(document.get("assets"), dict) else []
    hrefs.append(document.get("displacement"))
    return [str(folder / h.removeprefix("file://")) for h in hrefs
            if isinstance(h, str) and h and "://" not in h.removeprefix("file://")
            and not h.lower().startswith("/vsi")]


# ---------------------------------------------------------------------------- locking

_held: dict[Path, list] = {}  # lock path -> [owner thread, depth, open file]
_held_guard = threading.Lock()


@contextlib.contextmanager
def hold_outputs(paths: Iterable[str | os.PathLike | None]) -> Iterator[None]:
    """Lock each destination for the duration of the block.

    Locks live in the system's temporary folder, never beside the outputs. They are
    re-entrant within a thread (an algorithm and the engine function it calls both
    hold them) and exclusive between threads and processes.

    Raises
    ------
    CoregOutputError
        Another run holds one of them.
    """
    with contextlib.ExitStack() as stack:
        for path in sorted({os.path.realpath(p) for p in paths if p not in (None, "")}):
            stack.enter_context(_lock(Path(path)))
        yield


@contextlib.contextmanager
def _lock(target: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: locks between threads of this process only
        fcntl = None
    folder = Path(tempfile.gettempdir()) / f"coreg-locks-{getpass.getuser()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    lock = folder / (hashlib.sha1(str(target).encode()).hexdigest() + ".lock")
    me = threading.get_ident()
    with _held_guard:
        held = _held.get(lock)
        if held is not None and held[0] != me:
            raise _busy(target)
        if held is None:
            handle = open(lock, "w")  # noqa: SIM115 - held until the block ends
            try:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise _busy(target) from None
            held = _held[lock] = [me, 0, handle]
        held[1] += 1
    try:
        yield
    finally:
        with _held_guard:
            held[1] -= 1
            if held[1] == 0:
                del _held[lock]
                held[2].close()


def _busy(target: Path) -> CoregOutputError:
    return CoregOutputError(f"Another run is writing '{target}' right now; wait for it to "
                            "finish or choose another file name.")


# ----------------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, size: int = 0) -> Iterator[str]:
    """Yield a temporary path beside ``path``; move it into place once verified.

    ``size`` is an estimate of the bytes to write (0: unknown), checked against the
    free space first. The move happens only if the block succeeds, GDAL reported no
    error while it ran, and a GeoTIFF result holds every one of its tiles. Anything
    else removes the temporary and leaves an existing ``path`` as it was.

    Raises
    ------
    CoregResourceError
        Not enough free space (before or during the write).
    CoregOutputError
        The write failed or the result is incomplete.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    require_space(target, size)
    tmp = str(temporary_name(target, os.getpid(), uuid.uuid4().hex[:8]))
    moved = False
    try:
        with _gdal_errors() as errors:
            try:
                yield tmp
            except OSError as exc:
                raise _write_error(target, exc) from exc
        _check_written(target, tmp, errors)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
        moved = True
        _sweeps.written(target.parent)
    finally:
        if moved:
            _remove_side_files(tmp)
        else:
            _remove_temporary(tmp)


def write_json(path: str | os.PathLike, document: object) -> None:
    """Write ``document`` as indented JSON to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)


def require_space(target: Path, size: int) -> None:
    """Refuse a write of about ``size`` bytes into ``target``'s folder if it cannot fit."""
    if size <= 0:
        return
    free = shutil.disk_usage(target.parent).free
    if free < size:
        raise CoregResourceError(
            f"Not enough space on the disk to write '{target}': it needs about "
            f"{_megabytes(size)}, {_megabytes(free)} are free. Free some space or choose "
            "another folder.")


def temporary_name(target: Path, pid: int, token: str) -> Path:
    """``.<stem>.coreg-tmp-<host>-<pid>-<token><suffix>`` beside ``target``: the host (a
    short hash of its name) and the process tell a killed run's file from a live one's,
    also in a folder that several machines share."""
    return target.with_name(f".{target.stem}{TEMP_MARK}{_HOST}-{pid}-{token}{target.suffix}")


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove the temporaries left in ``target``'s folder (whatever output they were
    for) by runs of this host that no longer exist (killed); those of other hosts are
    left alone. The folder is listed once, by names only, and not again while only this
    process's writes changed it (:class:`_Sweeps`)."""
    folder = target.parent
    if not _sweeps.due(folder):
        return []
    mark = f"{TEMP_MARK}{_HOST}-"
    pattern = re.compile(r"\..*" + re.escape(mark) + r"(\d+)-[0-9a-f]{8}")
    removed = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            match = mark in entry.name and pattern.match(entry.name)
            if match and not _alive(int(match[1])):
                with contextlib.suppress(OSError):
                    os.remove(entry.path)
                    removed.append(Path(entry.path))
    _sweeps.swept(folder)
    return removed


class _Sweeps:
    """When each output folder was last listed for stale temporaries, and its
    modification time after this process last wrote there. A killed run's temporary
    changes that time (a new entry), so a folder this process alone changed since its
    last listing holds none that listing missed, but for one made during this process's
    own write: every :data:`SWEEP_SECONDS` it is listed anyway. Listing a folder of 10 000
    outputs twice cost 10 ms a write before, a quadratic cost over a batch of chips."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, float]] = {}  # folder: (mtime, listed at)

    def due(self, folder: Path) -> bool:
        seen = self._seen.get(str(folder))
        return (seen is None or _mtime(folder) != seen[0]
                or time.monotonic() - seen[1] > SWEEP_SECONDS)

    def swept(self, folder: Path) -> None:
        self._seen[str(folder)] = (_mtime(folder), time.monotonic())

    def written(self, folder: Path) -> None:
        seen = self._seen.get(str(folder))
        if seen is not None:
            self._seen[str(folder)] = (_mtime(folder), seen[1])


#: Seconds after which a folder is listed for stale temporaries again (:class:`_Sweeps`).
SWEEP_SECONDS = 10.0
_sweeps = _Sweeps()


def _mtime(folder: Path) -> int:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return -1


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


#: Side-car files GDAL reads and writes beside a GeoTIFF (its name plus one of these):
#: removed beside a temporary moved into place (a failed write lists the folder
#: instead); a secondary that has any is copied block by block (:mod:`.raster_io`).
SIDE_CARS = (".aux.xml", ".msk", ".ovr")


def _remove_side_files(tmp: str) -> None:
    """Side files of a temporary moved into place, by name: the folder is not listed (a
    folder of thousands of outputs)."""
    for suffix in SIDE_CARS:
        with contextlib.suppress(OSError):
            os.remove(tmp + suffix)


def _remove_temporary(tmp: str) -> None:
    """The temporary and whatever GDAL made beside it (.aux.xml, .ovr.tmp, scratch)."""
    folder, name = os.path.split(tmp)
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder or "."):
            if entry.name.startswith(name):
                with contextlib.suppress(OSError):
                    os.remove(entry.path)


def _check_written(target: Path, tmp: str, errors: list[str]) -> None:
    if errors:
        raise _write_error(target, errors[0])
    if not os.path.isfile(tmp):
        raise CoregOutputError(f"Writing '{target}' produced no file.")
    if target.suffix.lower() in (".tif", ".tiff"):
        missing = missing_tiles(tmp)
        if missing and shutil.disk_usage(target.parent).free < FULL_DISK:
            # GDAL's own words did not reach us (rasterio 1.4 logs them elsewhere)
            raise _write_error(target, OSError(errno.ENOSPC, "No space left on device"))
        if missing:
            raise _write_error(target, f"{missing} tile(s) missing from the written file")


def missing_tiles(path: str) -> int:
    """How many blocks of a GeoTIFF (its tiles or strips, overviews and masks included)
    are absent or cut off (a write that ran out of space, or was truncated); its
    directories must read back too."""
    try:
        return missing_blocks(path)
    except (OSError, TiffLayoutError) as exc:
        raise CoregOutputError(f"The written file '{path}' cannot be read back: {exc}") from exc


def _write_error(target: Path, cause: object) -> Exception:
    text = str(cause)
    if (isinstance(cause, OSError) and cause.errno == errno.ENOSPC) or "No space left" in text:
        return CoregResourceError(
            f"Not enough space on the disk to write '{target}'; nothing was replaced. Free "
            "some space or choose another folder.")
    if isinstance(cause, OSError) and cause.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return CoregOutputError(f"'{target.parent}' cannot be written to ({cause.strerror}); "
                                "choose another folder.")
    return CoregOutputError(f"Writing '{target}' failed ({text}); nothing was replaced.")


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -------------------------------------------------------------------- GDAL's errors

_GDAL_LOGGER = logging.getLogger("rasterio._env")
_capturing: dict[int, list[list[str]]] = {}  # thread -> error lists of open writes
_capture_guard = threading.Lock()


class _GdalErrorFilter(logging.Filter):
    """Collects the errors GDAL signals (rasterio logs them at INFO) for the writes of
    the thread they happen in; other records pass as they did before capturing began
    (``threshold``: the logger's effective level then)."""

    threshold = logging.WARNING

    def filter(self, record: logging.LogRecord) -> bool:
        sinks = _capturing.get(record.thread)
        if sinks and str(record.msg).startswith("GDAL signalled an error"):
            message = str(record.args[-1]) if record.args else record.getMessage()
            for sink in sinks:
                sink.append(message)
            return False
        return record.levelno >= self.threshold


_FILTER = _GdalErrorFilter()
_saved_level: list[int] = []


@contextlib.contextmanager
def _gdal_errors() -> Iterator[list[str]]:
    """The GDAL errors signalled in this thread while the block runs (out of space,
    write errors), which rasterio only logs: a rasterio Env keeps its handler on."""
    errors: list[str] = []
    me = threading.get_ident()
    with _capture_guard:
        if not _capturing:
            _saved_level.append(_GDAL_LOGGER.level)
            _FILTER.threshold = _GDAL_LOGGER.getEffectiveLevel()
            _GDAL_LOGGER.setLevel(logging.INFO)
            _GDAL_LOGGER.addFilter(_FILTER)
        _capturing.setdefault(me, []).append(errors)
    try:
        with rasterio.Env():
            yield errors
    finally:
        with _capture_guard:
            _capturing[me].remove(errors)
            if not _capturing[me]:
                del _capturing[me]
            if not _capturing:
                _GDAL_LOGGER.removeFilter(_FILTER)
                _GDAL_LOGGER.setLevel(_saved_level.pop())


# ------------------------------------------------------------------------- signals


@contextlib.contextmanager
def terminate_cleanly(cancel: Callable[[], None] | None = None) -> Iterator[list[int]]:
    """While the block runs in the main thread, SIGTERM, SIGHUP and SIGINT cancel it, so
    that every temporary is removed; a signal the process ignores (``nohup``) stays
    ignored. With ``cancel`` (a run's cancel flag, which the
    engine polls at safe points, at least every second) the first signal sets it and the
    run ends there with :class:`CanceledError`; a second one, or a signal without
    ``cancel``, raises :class:`CanceledError` at once, wherever the run is. (An exception
    raised at an arbitrary point can land in an import or a finaliser, which print it.)
    A signal whose previous action was to end the process is then sent again, so it still
    does; others (Python's Ctrl+C handler) end in the cancellation. qgis_process lets
    neither reach Python on its own. Elsewhere (a worker thread of the QGIS desktop) it
    does nothing. The block gets the list of the signals received (their numbers), for
    :func:`stopped_by`."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    names = [name for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name)]
    # an ignored signal stays ignored: ``nohup`` (SIGHUP) or a shell's background job
    # (SIGINT) asked that the run outlive it
    previous = {name: handler for name in names
                if (handler := signal.getsignal(getattr(signal, name))) is not signal.SIG_IGN}

    def stop(number, _frame):
        received.append(number)
        if cancel is not None and len(received) == 1:
            cancel()
            return
        raise CanceledError(stopped_by(number))

    for name in previous:
        signal.signal(getattr(signal, name), stop)
    try:
        yield received
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler if handler is not None
                          else signal.SIG_DFL)
        if received and previous[signal.Signals(received[0]).name] in (signal.SIG_DFL, None):
            os.kill(os.getpid(), received[0])  # cleaned up: now end as the signal would have


def stopped_by(number: int) -> str:
    """What a run stopped by signal ``number`` says: whichever point it stopped at."""
    return (f"Stopped by {signal.Signals(number).name}; nothing was replaced and the "
            "temporary files were removed.")


@contextlib.contextmanager
def guarded_outputs(outputs: Destinations, inputs: Sources) -> Iterator[dict[str, Path]]:
    """:func:`check_outputs`, then :func:`hold_outputs` on the destinations while the
    block runs: the gate every engine entry point writes through."""
    resolved = check_outputs(outputs, inputs)
    with hold_outputs(resolved.values()):
        yield resolved


def file_paths(values: Iterable[object] | None) -> list[str]:
    """The entries of ``values`` that are file paths (masks may also be polygons)."""
    return [os.fspath(v) for v in values or () if isinstance(v, (str, os.PathLike))]


def guards(*, outputs: Mapping[str, str], inputs: Mapping[str, str]):
    """Decorate an engine function so that it runs inside :func:`guarded_outputs`.

    ``outputs`` and ``inputs`` map the function's parameter names to the labels the
    messages use; the values are taken from each call's arguments.
    """
    def decorate(function):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def guarded(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            values = bound.arguments
            with guarded_outputs({label: values.get(name) for name, label in outputs.items()},
                                 {label: values.get(name) for name, label in inputs.items()}):
                return function(*args, **kwargs)
        return guarded
    return decorate
