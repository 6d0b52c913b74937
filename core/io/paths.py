"""Where the engine reads from and writes to: local files, unless remote reads are asked for.

GDAL opens far more than files: ``/vsicurl/`` and ``/vsis3/`` paths, option strings such
as ``/vsicurl?url=http%3A...``, ``http://`` URLs, and ``DRIVER:"file":subdataset``
connection strings. A path that comes from a report or a STAC item is data, not an
instruction: resolving it must never make the machine contact a server nor open a file
through a driver nobody chose. Every input and output path goes through
:func:`local_input` or :func:`local_output`, the one place these rules live.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import CoregInputError, CoregOutputError

#: GDAL virtual file systems that stay on this machine (archives, memory); any other
#: ``/vsi`` prefix (curl, s3, gs, az, oss, swift, hdfs, stdin...) is remote or a stream.
LOCAL_VSI = ("/vsizip/", "/vsitar/", "/vsigzip/", "/vsi7z/", "/vsirar/")
#: A URL scheme (``http://``, ``s3://``, ``file://``...).
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: A GDAL connection string ``DRIVER:"path":name`` or ``DRIVER:path:name`` (NETCDF, HDF5,
#: GPKG...): an upper-case driver of two letters at least, so that ``C:\\...`` and a
#: file named ``run:2.tif`` stay plain paths.
CONNECTION = re.compile(r'^(?P<driver>[A-Z][A-Z0-9_]+):(?P<rest>.+)$')

#: Remote datasets the user chose to read in the runs under way (:func:`remote_reads`):
#: a process-wide count, so that the worker threads of a run see them too.
_chosen_remote: Counter[str] = Counter()
_chosen_lock = threading.Lock()


@contextlib.contextmanager
def remote_reads(paths: Iterable[str]) -> Iterator[None]:
    """Let :func:`local_input` accept exactly ``paths`` (remote datasets, e.g. the
    ``/vsicurl/`` assets of a STAC item the user named) while the block runs; any other
    remote path is still refused."""
    chosen = [p for p in paths if is_remote(p)]
    with _chosen_lock:
        _chosen_remote.update(chosen)
    try:
        yield
    finally:
        with _chosen_lock:
            _chosen_remote.subtract(chosen)
            for path in chosen:
                if _chosen_remote[path] <= 0:
                    del _chosen_remote[path]


def local_input(path: str | os.PathLike, label: str = "Input", *,
                allow_remote: bool = False) -> str:
    """``path`` as GDAL should open it, if it names an existing local dataset.

    Raises
    ------
    CoregInputError
        Empty, not text, a remote or stream path while ``allow_remote`` is False, or a
        local file that does not exist (naming ``label`` and the path).
    """
    text = _as_text(path, label, CoregInputError)
    if is_remote(text):
        if allow_remote or text in _chosen_remote:
            return text
        raise CoregInputError(
            f"{label} '{text}' is not a local file (a URL or GDAL network path); Coreg only "
            "reads local files here. Download it and give the local copy.")
    file = embedded_file(text)
    if not os.path.exists(file):
        raise CoregInputError(f"{label} '{text}': no such file.")
    return text


def local_output(path: str | os.PathLike, label: str = "Output", *,
                 writable: bool = True) -> Path:
    """``path`` as an absolute local file path an output may be written to.

    Raises
    ------
    CoregOutputError
        Empty, remote, an existing folder, or (if ``writable``) in a folder that cannot
        be written.
    """
    text = _as_text(path, label, CoregOutputError)
    if is_remote(text) or text.lower().startswith("/vsi") or CONNECTION.match(text):
        raise CoregOutputError(f"{label} '{text}' is not a local file path; outputs are "
                               "written to local files only.")
    target = Path(os.path.realpath(os.path.expanduser(text)))
    if target.is_dir():
        raise CoregOutputError(f"{label} '{text}' is an existing folder; give a file name "
                               f"such as '{target / 'aligned.tif'}'.")
    if writable:
        check_writable(target, text, label)
    return target


def check_writable(target: Path, text: str, label: str) -> None:
    """Refuse an output whose folder (or its nearest existing parent) is not writable."""
    folder = _nearest_existing(target.parent)
    if not folder.is_dir():
        raise CoregOutputError(f"{label} '{text}': '{folder}' is a file, not a folder.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CoregOutputError(f"{label} '{text}': the folder '{folder}' is not writable; "
                               "choose a folder you can write to.")


def embedded_file(text: str) -> str:
    """The local file a GDAL dataset name reads: the name itself, the file inside a
    connection string, or the archive of a ``/vsizip/`` path."""
    for prefix in LOCAL_VSI:
        if text.lower().startswith(prefix):
            inner = text[len(prefix):]
            archive = re.split(r"(?<=\.(?:zip|tar|tgz|gz|7z|rar))(?=/|$)", inner,
                               maxsplit=1, flags=re.IGNORECASE)[0]
            return embedded_file(archive)
    match = CONNECTION.match(text)
    if match and not os.path.exists(text):
        rest = match["rest"]
        if rest.startswith('"'):
            return rest[1:].split('"', 1)[0]
        return rest.rsplit(":", 1)[0] if ":" in rest else rest
    return text


def is_remote(text: str) -> bool:
    """Whether GDAL would read ``text`` over a network or from a stream."""
    lower = text.lower()
    if URL.match(text):
        return True
    if lower.startswith("/vsi"):
        return (not lower.startswith(LOCAL_VSI) or "/vsi" in lower[4:] or "://" in lower
                or "?" in lower.split("/", 2)[1])
    match = CONNECTION.match(text)
    return bool(match and not os.path.exists(text) and is_remote(embedded_file(text)))


def _as_text(path, label: str, error: type[Exception]) -> str:
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise error(f"{label} must be a file path, not {type(path).__name__}.")
    if not path.strip():
        raise error(f"{label}: no file given.")
    if "\x00" in path:
        raise error(f"{label} '{path!r}' holds a NUL character.")
    return path


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder
