"""Install Python packages for Coreg with pip, run by QGIS's own interpreter.

Packages go into a folder Coreg owns (``<QGIS profile>/python/coreg-deps``), used as pip's
*user base* (``PYTHONUSERBASE`` + ``--user``): pip then installs only what the running
QGIS lacks (an installed numpy is reused, not duplicated) and never touches the system
site-packages.  :func:`activate` puts the folder's site-packages on ``sys.path``, ahead of
the system ones so that an upgrade wins, at plugin load and after an install.

``sys.executable`` is not QGIS's interpreter inside QGIS (it is the ``qgis`` binary, or a
pyenv shim in a terminal): :func:`find_interpreter` derives it from ``sys.base_prefix``
and checks that it runs the same Python as QGIS.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, NamedTuple
from urllib.parse import quote

from qgis.core import QgsApplication, QgsTask

from . import dependencies

DEPS_FOLDER = "coreg-deps"
# Packages with compiled code: never build them from source (that needs compilers and,
# for rasterio, GDAL headers matching QGIS; a source build failing after minutes helps
# nobody).
BINARY_ONLY = ("numpy", "scipy", "rasterio", "pyproj")
_VERSION_PROBE = "import sys; print('%d.%d.%d' % sys.version_info[:3]); print(sys.base_prefix)"


class InstallerError(RuntimeError):
    """Installing cannot start; the message says what to do instead."""


def default_userbase() -> Path:
    """``<active QGIS profile>/python/coreg-deps``."""
    return Path(QgsApplication.qgisSettingsDirPath()) / "python" / DEPS_FOLDER


def site_packages(userbase: Path) -> Path:
    """The site-packages pip uses for ``--user`` with ``PYTHONUSERBASE=userbase`` (the
    layout of :func:`site.getusersitepackages`, computed without a subprocess)."""
    major, minor = sys.version_info[:2]
    if os.name == "nt":
        return Path(userbase) / f"Python{major}{minor}" / "site-packages"
    if sys.platform == "darwin" and getattr(sys, "_framework", None):
        return Path(userbase) / "lib" / "python" / "site-packages"
    return Path(userbase) / "lib" / f"python{major}.{minor}" / "site-packages"


def activate(userbase: Path) -> bool:
    """Put ``userbase``'s site-packages on ``sys.path`` (once), before the first
    site-/dist-packages entry; returns False when the folder does not exist yet."""
    folder = str(site_packages(userbase))
    if not os.path.isdir(folder):
        return False
    if folder not in sys.path:
        index = next(
            (i for i, entry in enumerate(sys.path)
             if os.path.basename(entry.rstrip("/\\")) in ("site-packages", "dist-packages")),
            len(sys.path),
        )
        sys.path.insert(index, folder)
    importlib.invalidate_caches()
    return True


def interpreter_candidates() -> list[Path]:
    """Where the Python executable of the running QGIS can be, most likely first."""
    major, minor = sys.version_info[:2]
    candidates = []
    for prefix in dict.fromkeys((sys.base_exec_prefix, sys.base_prefix)):
        base = Path(prefix)
        if os.name == "nt":  # OSGeo4W: apps/Python3X/python.exe; standalone installers too
            candidates += [base / "python.exe", base / "python3.exe"]
        else:  # Linux, conda, macOS QGIS.app (Contents/MacOS or Python.framework)
            candidates += [base / "bin" / f"python{major}.{minor}", base / "bin" / "python3",
                           base / "bin" / "python"]
    if os.path.basename(sys.executable).lower().startswith("python"):
        candidates.append(Path(sys.executable))
    return list(dict.fromkeys(candidates))


def _same_python(probe_output: str) -> bool:
    lines = probe_output.splitlines()
    if len(lines) < 2:
        return False
    version = ".".join(str(part) for part in sys.version_info[:3])
    return lines[0] == version and os.path.realpath(lines[1]) == os.path.realpath(sys.base_prefix)


def find_interpreter() -> Path:
    """The Python executable of the running QGIS, checked to be the same Python
    (version and prefix); InstallerError names the places tried otherwise."""
    tried = []
    for candidate in interpreter_candidates():
        if not candidate.is_file():
            continue
        try:
            completed = _run([str(candidate), "-c", _VERSION_PROBE], timeout=60)
        except (OSError, subprocess.SubprocessError) as error:
            tried.append(f"{candidate}: {error}")
            continue
        if completed.returncode == 0 and _same_python(completed.stdout):
            return candidate
        found = " ".join(completed.stdout.split()[:1]) or "nothing printed"
        tried.append(f"{candidate}: exit code {completed.returncode}" if completed.returncode
                     else f"{candidate}: runs another Python ({found})")
    raise InstallerError(
        "Could not find the Python interpreter of this QGIS "
        f"(Python {sys.version.split()[0]} in {sys.base_prefix}). Tried: "
        + ("; ".join(tried) or "no candidate exists") + ". Install the packages by hand "
        "with the Python that QGIS uses (see the Coreg README, 'Installing in QGIS')."
    )


def _subprocess_options() -> dict:
    if os.name == "nt":  # no console window flashing up from the QGIS GUI
        return {"creationflags": getattr(subprocess, "CREATE_NO_WINDOW", 0)}
    return {}


def _run(args, timeout):
    return subprocess.run(args, capture_output=True, text=True, errors="replace",
                          stdin=subprocess.DEVNULL, timeout=timeout, check=False,
                          **_subprocess_options())


def pip_environment(userbase: Path, proxy: str = "") -> dict:
    """The environment pip runs in: ``userbase`` is its user site; ``proxy`` (QGIS's own
    proxy, see :func:`qgis_proxy_url`) unless the environment already names one.

    ``PIP_BREAK_SYSTEM_PACKAGES``: Debian/Ubuntu refuse ``--user`` installs (PEP 668) to
    protect the system Python; ours go to a private folder, which is what PEP 668 asks.
    """
    env = dict(os.environ)
    env.pop("PYTHONNOUSERSITE", None)
    env.update(PYTHONUSERBASE=str(userbase), PIP_BREAK_SYSTEM_PACKAGES="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONIOENCODING="utf-8")
    if proxy and not any(env.get(name) for name in ("HTTPS_PROXY", "https_proxy", "PIP_PROXY")):
        env["PIP_PROXY"] = proxy
    return env


def qgis_proxy_url() -> str:
    """The HTTP proxy set in QGIS (Settings > Options > Network) as a URL pip accepts, or
    "" when there is none.  Call it from the main thread (the network manager is per
    thread)."""
    from qgis.core import QgsNetworkAccessManager
    from qgis.PyQt.QtNetwork import QNetworkProxy

    proxy = QgsNetworkAccessManager.instance().fallbackProxy()
    if proxy.type() != QNetworkProxy.HttpProxy or not proxy.hostName():
        return ""
    credentials = ""
    if proxy.user():
        credentials = quote(proxy.user(), safe="") + (
            ":" + quote(proxy.password(), safe="") if proxy.password() else "") + "@"
    port = f":{proxy.port()}" if proxy.port() > 0 else ""
    return f"http://{credentials}{proxy.hostName()}{port}"


def pip_command(interpreter: Path, specs: list[str], constraints: Path | None = None,
                report: Path | None = None, dry_run: bool = False,
                no_deps: bool = False) -> list[str]:
    """``python -m pip install --user ...`` for requirement strings like ``"scipy>=1.6"``,
    within the pins of a ``constraints`` file when given; ``report``: pip's JSON report of
    what it installs (or, with ``dry_run``, would install) goes there."""
    command = [str(interpreter), "-m", "pip", "install", "--user", "--prefer-binary",
               "--only-binary", ",".join(BINARY_ONLY), "--progress-bar", "off"]
    if dry_run:
        command.append("--dry-run")
    if no_deps:
        command.append("--no-deps")
    if report is not None:
        command += ["--report", str(report)]
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    return command + list(specs)


# pip's --dry-run and --report (what would be installed, as JSON) came with pip 22.2.
PLAN_PIP = (22, 2)


class Package(NamedTuple):
    """A distribution pip installs (or would): its download ``url`` and ``size`` in bytes
    (None when unknown)."""

    name: str
    version: str
    url: str = ""
    size: int | None = None
    requested: bool = False

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


def report_packages(report: dict) -> list[Package]:
    """The distributions of a pip ``--report`` (version 0 or 1), requested ones first."""
    packages = []
    for item in report.get("install", []):
        metadata = item.get("metadata", {})
        packages.append(Package(str(metadata.get("name", "?")), str(metadata.get("version", "?")),
                                str(item.get("download_info", {}).get("url", "")),
                                None, bool(item.get("requested"))))
    return sorted(packages, key=lambda package: (not package.requested, package.name.lower()))


def successfully_installed(output: str) -> list[Package]:
    """The distributions of pip's ``Successfully installed a-1.0 b-2.0`` line (for a pip
    without ``--report``)."""
    packages = []
    for line in output.splitlines():
        if line.strip().startswith("Successfully installed "):
            for item in line.split()[2:]:
                name, _, version = item.rpartition("-")
                packages.append(Package(name or item, version))
    return packages


def download_size(url: str, proxy: str = "", timeout: float = 30.0) -> int | None:
    """Bytes of the file at ``url``: its size on disk for a ``file:`` URL (a local wheel
    folder), else the ``Content-Length`` of a HEAD request (PyPI's file host answers
    those); None when unknown."""
    from urllib.parse import unquote, urlparse
    from urllib.request import (
        HTTPSHandler,
        ProxyHandler,
        Request,
        build_opener,
        url2pathname,
    )

    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = url2pathname(unquote(parsed.path))
        return os.path.getsize(path) if os.path.isfile(path) else None
    if parsed.scheme not in ("http", "https"):
        return None
    handlers = [ProxyHandler({"http": proxy, "https": proxy})] if proxy else []
    # The certificates pip is told to trust (a proxy that inspects TLS has its own CA).
    cafile = next((os.environ[name] for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE",
                                                 "SSL_CERT_FILE")
                   if os.path.isfile(os.environ.get(name, ""))), None)
    if cafile is not None:
        import ssl

        handlers.append(HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
    try:
        with build_opener(*handlers).open(Request(url, method="HEAD"), timeout=timeout) as reply:
            length = reply.headers.get("Content-Length")
        return int(length) if length and length.isdigit() else None
    except (OSError, ValueError):
        return None


def with_sizes(packages: list[Package], proxy: str = "") -> list[Package]:
    """``packages`` with their download sizes, asked a few at a time."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        sizes = list(pool.map(lambda package: download_size(package.url, proxy), packages))
    return [package._replace(size=size) for package, size in zip(packages, sizes)]


def format_size(size: int) -> str:
    """``36.8 MB`` (decimal units, as download sites show them)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def total_size(packages: list[Package]) -> str:
    """``36.8 MB``, ``36.8 MB + 1 file of unknown size``, or ``unknown size``."""
    known = [package.size for package in packages if package.size is not None]
    unknown = len(packages) - len(known)
    if not known:
        return "unknown size" if packages else "nothing"
    text = format_size(sum(known))
    return text + (f" + {unknown} file{'s' * (unknown > 1)} of unknown size" if unknown else "")


class PipProgress:
    """Turns pip's output lines into a rough percentage: collecting and downloading the
    ``n`` requested packages and their dependencies up to 80 %, installing 90 %."""

    def __init__(self, requested: int):
        self.expected = max(requested, 1)
        self.steps = 0

    def update(self, line: str) -> float | None:
        text = line.strip()
        if text.startswith(("Collecting ", "Downloading ", "Requirement already satisfied")):
            self.steps += 1
            # The dependency count is unknown up front: approach 80 % without reaching it.
            return 80.0 * self.steps / (self.steps + self.expected)
        if text.startswith("Installing collected packages"):
            return 90.0
        if text.startswith("Successfully installed"):
            return 100.0
        return None


def summarize_failure(output: str) -> str:
    """The line of pip's output that explains a failure, or its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for pattern in (r"^ERROR: ", r"^error: ", r"No module named pip"):
        for line in lines:
            if re.search(pattern, line):
                return line
    return lines[-1] if lines else "pip printed nothing"


def next_step_advice(output: str) -> str:
    """What the user can do about a failed pip run, from the cause pip printed."""
    if "No module named pip" in output:
        return ("QGIS's Python has no pip. On Debian/Ubuntu: sudo apt install python3-pip "
                "(or install the python3-* packages listed in the README).")
    if re.search(r"ResolutionImpossible|conflicting dependencies", output):
        return ("No version on PyPI fits the packages already installed, which Install "
                "never replaces (pip's output names the conflict): install the package with "
                "your QGIS distribution (apt, OSGeo4W Setup, conda), or update the package "
                "it conflicts with there.")
    if re.search(r"No matching distribution|Could not find a version", output):
        return ("No build of the package exists for this Python/platform on PyPI: install "
                "it with your QGIS distribution's package manager (OSGeo4W Setup, apt, conda).")
    if re.search(r"(?i)connection|timed out|proxy|SSL|Temporary failure in name resolution",
                 output):
        return ("pip could not reach PyPI: check the internet connection or proxy "
                "(QGIS's proxy settings are passed on), then click Retry.")
    if re.search(r"(?i)permission denied|access is denied", output):
        return "The install folder is not writable: check its permissions, then click Retry."
    return "Read pip's output below or install the packages by hand (README)."


def short_reason(output: str) -> str:
    """A few words for the message bar on why pip failed (:func:`next_step_advice` says
    what to do, in Details)."""
    if "No module named pip" in output:
        return "QGIS's Python has no pip"
    if re.search(r"ResolutionImpossible|conflicting dependencies", output):
        return "no version fits what is installed"
    if re.search(r"No matching distribution|Could not find a version", output):
        return "no build for this platform"
    if re.search(r"(?i)connection|timed out|proxy|SSL|Temporary failure in name resolution",
                 output):
        return "PyPI cannot be reached"
    if re.search(r"(?i)permission denied|access is denied", output):
        return "folder not writable"
    if "Could not find the Python interpreter" in output:
        return "QGIS's Python not found"
    return "see Details"


class PipTask(QgsTask):
    """A background pip run; ``on_done(task)`` is called in the main thread.

    After it finishes: ``succeeded``, ``output`` (pip's full output), ``error`` (one
    line), ``advice`` (what to do next when it failed).  ``pins`` are written to a pip
    constraints file (see :func:`dependencies.installed_pins`).
    """

    DESCRIPTION = "Coreg: pip"

    def __init__(self, specs: list[str], userbase: Path,
                 on_done: Callable[[PipTask], None] | None = None,
                 interpreter: Path | None = None, pins: list[str] = (), proxy: str = ""):
        super().__init__(f"{self.DESCRIPTION} {', '.join(specs)}", QgsTask.Flag.CanCancel)
        self.specs = list(specs)
        self.pins = list(pins)
        self.proxy = proxy
        self.userbase = Path(userbase)
        self.on_done = on_done
        self.interpreter = interpreter
        self.output = ""
        self.error = ""
        self.advice = ""
        self.succeeded = False
        self.packages: list[Package] = []  # what pip installed, or would install

    def run(self) -> bool:
        # Never let an exception escape: QGIS cannot report it from a worker thread.
        try:
            return self._work()
        except Exception as error:
            self.error = f"{type(error).__name__}: {error}"
            self.advice = next_step_advice(self.output)
            return False

    def _work(self) -> bool:
        raise NotImplementedError

    def _interpreter(self) -> Path | None:
        try:
            return self.interpreter or find_interpreter()
        except InstallerError as error:
            self.error, self.advice = str(error), ""
            return None

    def _constraints(self) -> Path | None:
        self.userbase.mkdir(parents=True, exist_ok=True)
        if not self.pins:
            return None
        constraints = self.userbase / "constraints.txt"
        constraints.write_text("\n".join(self.pins) + "\n", encoding="utf-8")
        return constraints

    def _pip(self, command: list[str], progress: PipProgress | None) -> int | None:
        """Run pip, its output into ``self.output``; None when canceled."""
        lines = [" ".join(command), ""]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, encoding="utf-8", errors="replace",
            env=pip_environment(self.userbase, self.proxy),
            **_subprocess_options())
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            percent = progress.update(line) if progress is not None else None
            if percent is not None:
                self.setProgress(percent)
            if self.isCanceled():
                process.terminate()
                break
        returncode = process.wait()
        self.output = (self.output + "\n\n" if self.output else "") + "\n".join(lines)
        if self.isCanceled():
            self.error, self.advice = "Installation canceled.", "Click Retry to start again."
            return None
        if returncode != 0:
            self.error = summarize_failure(self.output)
            self.advice = next_step_advice(self.output)
        return returncode

    def _read_report(self, path: Path) -> list[Package] | None:
        try:
            return report_packages(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return None
        finally:
            with contextlib.suppress(OSError):
                path.unlink()

    def finished(self, result: bool) -> None:  # noqa: D401 - QgsTask API, main thread
        self.succeeded = bool(result)
        if not result and not self.error:  # canceled before it started
            self.error, self.advice = "Installation canceled.", "Click Retry to start again."
        if self.on_done is not None:
            self.on_done(self)


def pip_version(interpreter: Path) -> tuple[int, ...]:
    """The version of the pip module of ``interpreter``; () without pip."""
    completed = _run([str(interpreter), "-m", "pip", "--version"], timeout=120)
    match = re.match(r"pip (\S+)", completed.stdout) if completed.returncode == 0 else None
    return dependencies.version_tuple(match.group(1)) if match else ()


class PipPlanTask(PipTask):
    """What ``pip install`` would install for ``specs``, without installing anything
    (``--dry-run --report``), and the size of each download.  ``planned`` is False with
    a pip older than 22.2, which cannot tell (the install then goes ahead unplanned)."""

    DESCRIPTION = "Coreg: planning the install of"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.planned = False
        self.pip = ()

    def _work(self) -> bool:
        interpreter = self._interpreter()
        if interpreter is None:
            return False
        self.pip = pip_version(interpreter)
        if not self.pip:
            self.output = "No module named pip"
            self.error = f"{interpreter}: No module named pip"
            self.advice = next_step_advice(self.output)
            return False
        if self.pip < PLAN_PIP:
            return True  # installs without a plan
        constraints = self._constraints()
        report = self.userbase / "plan.json"
        command = pip_command(interpreter, self.specs, constraints, report, dry_run=True)
        self.setProgress(10.0)
        returncode = self._pip(command, None)
        if returncode != 0:
            return False
        packages = self._read_report(report)
        if packages is None:
            self.error = "pip wrote no report of what it would install"
            return False
        self.setProgress(70.0)
        self.packages = with_sizes(packages, self.proxy)
        self.planned = True
        return True


class PipInstallTask(PipTask):
    """Background ``pip install`` with progress.  ``no_deps``: install exactly ``specs``
    (the pins of a plan, which already holds every dependency)."""

    DESCRIPTION = "Coreg: installing"

    def __init__(self, *args, no_deps: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.no_deps = no_deps
        self.planned: list[Package] = []  # the plan it follows, with download sizes

    def _work(self) -> bool:
        interpreter = self._interpreter()
        if interpreter is None:
            return False
        constraints = self._constraints()
        report = self.userbase / "installed.json"
        with_report = pip_version(interpreter) >= PLAN_PIP
        command = pip_command(interpreter, self.specs, constraints,
                              report if with_report else None, no_deps=self.no_deps)
        returncode = self._pip(command, PipProgress(len(self.specs)))
        if returncode != 0:
            return False
        self.packages = (self._read_report(report) if with_report else None) \
            or successfully_installed(self.output)
        self.setProgress(100.0)
        return True

    def finished(self, result: bool) -> None:  # noqa: D401 - QgsTask API, main thread
        if result:
            activate(self.userbase)
        super().finished(result)


# ------------------------------------------------------- copies the system now provides


class Shadowed(NamedTuple):
    """A required package both in Coreg's folder (``profile`` version) and, recent
    enough, elsewhere on sys.path (``system`` version in ``folder``): the system's copy
    is what the README asks for, the profile's hides it while the folder is active."""

    requirement: dependencies.Requirement
    profile: str
    system: str
    folder: str

    def describe(self) -> str:
        return (f"{self.requirement.pip} {self.system} in {self.folder} (the profile's copy "
                f"from PyPI is {self.profile})")


def profile_copies(userbase: Path, requirements=None) -> tuple[list[Shadowed], bool]:
    """(required packages of Coreg's folder that the system provides as well, whether the
    folder still holds a required package the system lacks or has too old).  Reads
    metadata only; cheap when the folder does not exist."""
    folder = site_packages(userbase)
    if not folder.is_dir():
        return [], False
    requirements = dependencies.REQUIRED_PACKAGES if requirements is None else requirements
    inside = dependencies.installed_distributions([str(folder)])
    others = [entry for entry in sys.path
              if entry and os.path.realpath(entry) != os.path.realpath(folder)]
    outside = dependencies.installed_distributions(others)
    shadowed, needed = [], False
    for requirement in requirements:
        key = dependencies.canonical_name(requirement.pip)
        if key not in inside:
            continue
        system = outside.get(key)
        minimum = dependencies.version_tuple(requirement.minimum)
        if system is not None and dependencies.version_tuple(system[1]) >= minimum:
            shadowed.append(Shadowed(requirement, inside[key][1], system[1], system[2]))
        else:
            needed = True
    return shadowed, needed


def folder_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def remove_distributions(userbase: Path, names: list[str]) -> list[str]:
    """Delete the distributions ``names`` from Coreg's folder, file by file as their
    RECORD lists them (nothing outside ``userbase``), as ``pip uninstall`` would; returns
    ``name version`` of each one removed.  A file that cannot be deleted (loaded, on
    Windows) raises OSError."""
    from importlib import metadata

    userbase = Path(userbase).resolve()
    folder = site_packages(userbase)
    wanted = {dependencies.canonical_name(name) for name in names}
    removed = []
    for distribution in list(metadata.distributions(path=[str(folder)])):
        name, version = distribution.metadata["Name"] or "", distribution.version
        if dependencies.canonical_name(name) not in wanted:
            continue
        files = [Path(distribution.locate_file(entry)).resolve()
                 for entry in distribution.files or []]
        files = [path for path in files if _inside(path, userbase)]
        info = {path.parent for path in files if path.parent.name.endswith(".dist-info")}
        for path in files:
            if path.is_file() or path.is_symlink():
                path.unlink()
        for directory in sorted({path.parent for path in files}, key=lambda p: -len(p.parts)):
            while directory != folder and _inside(directory, folder):
                if directory.name == "__pycache__" or directory in info:
                    shutil.rmtree(directory, ignore_errors=True)
                elif directory.is_dir() and not any(directory.iterdir()):
                    directory.rmdir()
                else:
                    break
                directory = directory.parent
        removed.append(f"{name} {version}")
    importlib.invalidate_caches()
    return removed


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def deactivate(userbase: Path) -> None:
    """Take Coreg's folder off sys.path (after it was deleted)."""
    folder = str(site_packages(userbase))
    while folder in sys.path:
        sys.path.remove(folder)
    importlib.invalidate_caches()
