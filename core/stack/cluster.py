"""Getting a Dask cluster ready for the engine's tasks before any is sent.

A task is pickled with the name of the module that defines it (``<package>.core.stack.stack``),
and a worker unpickles it by importing that module: the workers need this very engine,
under this package name (a QGIS plugin folder may be called ``coreg``, ``coreg-main``, ...).
So the client either sends it (:class:`EnginePlugin`, a Dask worker plugin holding the
engine's files, stamped with the version and a digest of their content) or the workers
have the same version installed (``pip install coreg``). Before any scene, every worker
answers :func:`worker_report`: which engine it imports, and whether it sees the paths the
tasks will read and the folder they will write; any problem stops the run with a message
naming the worker and the path.

The report and the plugin are pickled by value (cloudpickle), not by name, so that a worker
that lacks the engine can still run them (:class:`ByValue`): they use only the standard
library. So is every task (:func:`packed`): newer Dask unpickles the task graph on the
scheduler, which never gets the engine.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import os
import shutil
import socket
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

try:
    from distributed import WorkerPlugin
except ImportError:  # pragma: no cover - without the 'dask' extra nothing here runs
    WorkerPlugin = object

from ..errors import CoregInputError, CoregOutputError, CoregResourceError
from ..io.paths import embedded_file

#: The package the workers must import: this copy's own name (see the module docstring).
PACKAGE = __name__.split(".")[0]
#: Seconds the workers have to appear, take the engine and answer the report.
WORKER_TIMEOUT = 10
#: Folder name prefix of a sent engine in a worker's local directory.
SHIPPED_PREFIX = "coreg-engine-"
#: The engine as the wheel ships it (pyproject.toml: only-include), without the command line.
ENGINE_FILES = ("__init__.py", "py.typed")
ENGINE_FOLDERS = ("core",)


def engine_archive() -> tuple[bytes, str]:
    """The engine's files as a zip under ``PACKAGE/``, and its stamp ``<version>-<digest>``
    (of the package name and the files: two copies differently named unpack apart).

    A ``metadata.txt`` with the client's version goes along, so that a worker's
    ``__version__`` is the client's whatever the worker has installed. Built again only
    when a file's size or modification time changed (30 ms a call, every cluster job)."""
    root = Path(__file__).resolve().parents[2]  # the package: core/stack/cluster.py
    files = [root / name for name in ENGINE_FILES if (root / name).is_file()]
    for folder in ENGINE_FOLDERS:
        files += sorted((root / folder).rglob("*.py"))
    version = engine_version()
    key = (version, tuple((f, *_size_and_time(f)) for f in files))
    if _ARCHIVE.get("key") != key:
        _ARCHIVE.update(key=key, value=_zipped(root, files, version))
    return _ARCHIVE["value"]


#: The last :func:`engine_archive`, under its files' sizes and modification times.
_ARCHIVE: dict = {}


def _size_and_time(file: Path) -> tuple[int, int]:
    status = file.stat()
    return status.st_size, status.st_mtime_ns


def _zipped(root: Path, files: list[Path], version: str) -> tuple[bytes, str]:
    """:func:`engine_archive` of ``files`` (under ``root``)."""
    digest = hashlib.sha256(f"{PACKAGE}\0{version}".encode())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            name = file.relative_to(root).as_posix()
            data = file.read_bytes()
            digest.update(name.encode() + b"\0" + data)
            archive.writestr(f"{PACKAGE}/{name}", data)
        archive.writestr(f"{PACKAGE}/metadata.txt", f"[general]\nversion={version}\n")
    return buffer.getvalue(), f"{version}-{digest.hexdigest()[:12]}"


def absolute(path: str | os.PathLike) -> str:
    """``path`` absolute, as a worker in another working folder must get it (a GDAL
    connection string or /vsi path unchanged)."""
    text = os.fspath(path)
    return os.path.abspath(text) if embedded_file(text) == text else text


def engine_version() -> str:
    return importlib.import_module(PACKAGE).__version__


class ByValue:
    """Unpickles as ``value`` sent by value: pickled, it is ``cloudpickle.loads(<bytes>)``,
    which a worker can run without the engine whatever its version of Dask. Callable, as
    ``value`` is, so that it can stand for it. (Itself sent by value, with the plugin: it
    names nothing of the engine, :func:`register_by_value` has been called.)"""

    def __init__(self, value) -> None:
        import cloudpickle

        self.value, self.data = value, cloudpickle.dumps(value)

    def __reduce__(self):
        import cloudpickle

        return cloudpickle.loads, (self.data,)

    def __call__(self, *args, **kwargs):
        return self.value(*args, **kwargs)


class EnginePlugin(WorkerPlugin):
    """Puts the sent engine first on every worker's import path (also on workers that
    join later: the scheduler keeps the plugin). One plugin per package name: sending it
    again replaces it, and another copy of Coreg, differently named, keeps its own."""

    def __init__(self, package: str, stamp: str, archive: bytes) -> None:
        self.package, self.stamp, self.archive = package, stamp, archive
        self.name = f"coreg-engine-{package}"

    def __reduce__(self):  # the class by value, then called with these arguments
        return ByValue(type(self)), (self.package, self.stamp, self.archive)

    def setup(self, worker) -> None:
        install_engine(Path(worker.local_directory), self.package, self.stamp, self.archive)


def install_engine(local: Path, package: str, stamp: str, archive: bytes) -> Path:
    """Unpack the engine into ``local/coreg-engine-<stamp>`` (once), put it first on the
    import path and forget any other copy of ``package`` this worker imported before."""
    target = local / f"{SHIPPED_PREFIX}{stamp}"
    if not (target / package / "__init__.py").is_file():
        staging = Path(tempfile.mkdtemp(prefix=".coreg-engine-", dir=local))
        with zipfile.ZipFile(io.BytesIO(archive)) as unpack:
            unpack.extractall(staging)
        try:
            os.replace(staging, target)  # whole, or not at all
        except OSError:  # another worker sharing the folder was first
            shutil.rmtree(staging, ignore_errors=True)
    sys.path[:] = [p for p in sys.path if not (Path(p).name.startswith(SHIPPED_PREFIX)
                                                and (Path(p) / package).is_dir())]
    sys.path.insert(0, str(target))
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        if not str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(target)):
            del sys.modules[name]
    importlib.invalidate_caches()
    return target


def worker_report(package: str, reads: Sequence[tuple[str, int]], folder: str | None,
                  token: str) -> dict:
    """What one worker imports and sees: ``engine`` (version and file) or ``error``, and
    ``paths``, the problems with the files it must read (path, size on the client) and
    with the output ``folder`` (where the client left the file ``token``; None: the
    worker writes nothing)."""
    report: dict = {"host": socket.gethostname(), "version": None, "file": None,
                    "error": None, "paths": []}
    try:
        module = importlib.import_module(package)
        importlib.import_module(f"{package}.core.stack.stack")  # the engine and its dependencies
        report["version"], report["file"] = module.__version__, module.__file__
    except Exception as exc:  # noqa: BLE001 - reported to the client, whatever it is
        report["error"] = f"{type(exc).__name__}: {exc}"
    for path, size in reads:
        try:
            with open(path, "rb") as handle:
                handle.read(1)
            if os.path.getsize(path) != size:
                report["paths"].append(("input", path, "is another file there (its size "
                                        "differs)"))
        except OSError as exc:
            report["paths"].append(("input", path, f"cannot be read there ({exc.strerror})"))
    if folder is None:
        return report
    if not os.path.isfile(os.path.join(folder, token)):
        report["paths"].append(("output", folder, "is not the client's folder there "
                                f"('{folder}' is missing there, or another folder)"))
        return report
    try:
        handle, probe = tempfile.mkstemp(prefix=".coreg-probe-", dir=folder)
        os.close(handle)
        os.remove(probe)
    except OSError as exc:
        report["paths"].append(("output", folder, f"cannot be written there ({exc.strerror})"))
    return report


def prepare_workers(client, reads: Sequence[str], folder: str | os.PathLike | None,
                    ship_engine: bool = True) -> None:
    """Wait for workers, send them the engine (if ``ship_engine``) and check that every
    one imports this engine version and sees ``reads`` and ``folder`` (the output folder
    or, if it does not exist yet, the nearest folder above it that does; None: the
    workers write nothing); raise with what is wrong where, before anything is written."""
    register_by_value()
    _wait_for_workers(client)
    archive, stamp = engine_archive()
    if ship_engine:  # register_plugin since Dask 2023.9, register_worker_plugin before
        register = getattr(client, "register_plugin", None) or client.register_worker_plugin
        _in_time(lambda: register(EnginePlugin(PACKAGE, stamp, archive)),
                 "take the Coreg engine", client)
    files = [f for f in dict.fromkeys(embedded_file(os.fspath(p)) for p in reads)
             if os.path.isfile(f)]  # a connection string's file, a /vsizip/ archive
    sizes = [(path, os.path.getsize(path)) for path in files]
    if folder is None:
        reports = _in_time(lambda: client.run(ByValue(worker_report), PACKAGE, sizes, None,
                                              ""), "answer", client)
        _raise_for(reports, stamp if ship_engine else None, "")
        return
    existing = _existing_folder(Path(folder))
    try:
        handle, token_path = tempfile.mkstemp(prefix=".coreg-cluster-", dir=existing)
        os.close(handle)
    except OSError as exc:
        raise CoregOutputError(f"Cannot write in the output folder '{existing}': "
                               f"{exc.strerror}.") from exc
    try:
        reports = _in_time(lambda: client.run(ByValue(worker_report), PACKAGE, sizes, str(existing),
                                              os.path.basename(token_path)),
                           "answer", client)
    finally:
        os.remove(token_path)
    _raise_for(reports, stamp if ship_engine else None, str(folder))


def packed(task: Callable, args: tuple) -> tuple[ByValue, bytes]:
    """``task(*args)`` as a function and argument the scheduler can unpickle without the
    engine: Dask 2024.12 and newer unpickle the task graph on the scheduler, which has
    no engine (only the workers get it), so the call travels as bytes and is unpickled,
    run and its outcome pickled again on the worker (:func:`run_packed`)."""
    import cloudpickle

    register_by_value()
    return ByValue(run_packed), cloudpickle.dumps((task, args))


def run_packed(call: bytes) -> bytes:
    """On a worker: run the pickled ``(task, args)``; its result, or the exception it
    raised, pickled (an exception that cannot be pickled, as a RuntimeError)."""
    import pickle

    task, args = pickle.loads(call)
    try:
        return pickle.dumps((True, task(*args)))
    except Exception as exc:  # noqa: BLE001 - handed to the client, which raises it
        try:
            return pickle.dumps((False, exc))
        except Exception:  # noqa: BLE001 - e.g. an exception holding a lock
            return pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


def unpacked(outcome: bytes):
    """The result of :func:`run_packed` on the client, or its exception raised."""
    import pickle

    succeeded, value = pickle.loads(outcome)
    if not succeeded:
        raise value
    return value


def register_by_value() -> None:
    """cloudpickle pickles this module's classes and functions by value."""
    import cloudpickle

    if not hasattr(cloudpickle, "register_pickle_by_value"):
        raise CoregResourceError("Running on a Dask cluster needs cloudpickle 2.0 or newer; "
                                 f"this Python has {cloudpickle.__version__}.")
    if __name__ not in cloudpickle.list_registry_pickle_by_value():
        cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _wait_for_workers(client) -> None:
    try:
        client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - distributed raises its own TimeoutError
        raise CoregResourceError(
            f"The Dask scheduler at {client.scheduler.address} has no workers (waited "
            f"{WORKER_TIMEOUT} s): start some with `dask worker {client.scheduler.address}`."
        ) from exc


def _in_time(call: Callable, what: str, client):
    """``call()``, or CoregResourceError if it takes longer than :data:`WORKER_TIMEOUT`."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(call).result(WORKER_TIMEOUT)
    except FutureTimeout:
        raise CoregResourceError(
            f"The Dask workers of {client.scheduler.address} did not {what} within "
            f"{WORKER_TIMEOUT} s.") from None
    except CoregResourceError:
        raise
    except Exception as exc:  # noqa: BLE001 - a worker's failure, told as it is
        raise CoregResourceError(f"The Dask workers of {client.scheduler.address} could not "
                                 f"{what}: {type(exc).__name__}: {exc}") from exc
    finally:
        pool.shutdown(wait=False)


def _existing_folder(folder: Path) -> Path:
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    return folder


def _raise_for(reports: dict[str, dict], stamp: str | None, folder: str) -> None:
    """The first kind of problem found, for every worker that has it."""
    version = engine_version()
    engine = [_engine_problem(address, report, version, stamp)
              for address, report in sorted(reports.items())]
    engine = [problem for problem in engine if problem]
    if engine:
        raise CoregResourceError(" ".join(engine) + " " + _engine_fix(version, stamp))
    for kind, error in (("input", CoregInputError), ("output", CoregOutputError)):
        problems = [f"On Dask worker {address} ({report['host']}) the "
                    + (f"input '{path}'" if kind == "input" else f"output folder '{folder}'")
                    + f" {why}." for address, report in sorted(reports.items())
                    for where, path, why in report["paths"] if where == kind]
        if problems:
            raise error(" ".join(problems) + " Workers read the inputs and write the outputs "
                        "themselves: give paths that every worker sees the same (a shared "
                        "file system, mounted at the same place).")


def _engine_problem(address: str, report: dict, version: str, stamp: str | None) -> str:
    where = f"Dask worker {address} ({report['host']})"
    if report["error"]:
        return f"{where} cannot import the Coreg engine as '{PACKAGE}': {report['error']}."
    if report["version"] != version:
        return f"{where} has Coreg {report['version']}, this is Coreg {version}."
    if stamp and f"{SHIPPED_PREFIX}{stamp}" not in Path(report["file"]).parts:
        return f"{where} imports Coreg from {report['file']}, not the engine sent to it."
    return ""


def _engine_fix(version: str, stamp: str | None) -> str:
    if stamp:
        return ("Check the worker's log; the workers need Coreg's dependencies (numpy, scipy, "
                "rasterio, pyproj).")
    fix = (f"Install the same engine on every worker (`pip install 'coreg[dask]=={version}'` "
           "in the workers' Python) or let Coreg send it (leave 'ship the engine' on: "
           "ship_engine=True, without --no-ship-engine).")
    if PACKAGE != "coreg":
        fix += (f" This copy of Coreg is the package '{PACKAGE}' (its folder name), which an "
                "installed engine does not provide: let Coreg send it.")
    return fix
