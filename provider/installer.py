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

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from qgis.core import QgsApplication, QgsTask

DEPS_FOLDER = "coreg-deps"
# Packages with compiled code: never build them from source (that needs compilers and,
# for rasterio, GDAL headers matching QGIS; a source build failing after minutes helps
# nobody).
BINARY_ONLY = ("numpy", "scipy", "rasterio", "scikit-image", "pyproj")
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


def pip_command(interpreter: Path, specs: list[str],
                constraints: Path | None = None) -> list[str]:
    """``python -m pip install --user ...`` for requirement strings like ``"scipy>=1.6"``,
    within the pins of a ``constraints`` file when given."""
    command = [str(interpreter), "-m", "pip", "install", "--user", "--prefer-binary",
               "--only-binary", ",".join(BINARY_ONLY), "--progress-bar", "off"]
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    return command + list(specs)


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
        return ("No version fits the packages QGIS has already loaded (they stay in memory "
                "until a restart): restart QGIS and click Install before running anything "
                "else, or install the packages with your QGIS distribution.")
    if re.search(r"No matching distribution|Could not find a version", output):
        return ("No build of the package exists for this Python/platform on PyPI: install "
                "it with your QGIS distribution's package manager (OSGeo4W Setup, apt, conda).")
    if re.search(r"(?i)connection|timed out|proxy|SSL|Temporary failure in name resolution",
                 output):
        return ("pip could not reach PyPI: check the internet connection or proxy "
                "(QGIS's proxy settings are passed on), then click Retry.")
    if re.search(r"(?i)permission denied|access is denied", output):
        return "The install folder is not writable: check its permissions, then click Retry."
    return "Read pip's output (Show pip output) or install the packages by hand (README)."


class PipInstallTask(QgsTask):
    """Background pip run with progress; ``on_done(task)`` is called in the main thread.

    After it finishes: ``succeeded``, ``output`` (pip's full output), ``error`` (one
    line), ``advice`` (what to do next when it failed).
    """

    def __init__(self, specs: list[str], userbase: Path,
                 on_done: Callable[[PipInstallTask], None] | None = None,
                 interpreter: Path | None = None, pins: list[str] = (), proxy: str = ""):
        super().__init__(f"Coreg: installing {', '.join(specs)}", QgsTask.Flag.CanCancel)
        self.specs = list(specs)
        self.pins = list(pins)  # e.g. the loaded numpy: pip must not replace it
        self.proxy = proxy
        self.userbase = Path(userbase)
        self.on_done = on_done
        self.interpreter = interpreter
        self.output = ""
        self.error = ""
        self.advice = ""
        self.succeeded = False

    def run(self) -> bool:
        # Never let an exception escape: QGIS cannot report it from a worker thread.
        try:
            return self._install()
        except Exception as error:
            self.error = f"{type(error).__name__}: {error}"
            self.advice = next_step_advice(self.output)
            return False

    def _install(self) -> bool:
        try:
            interpreter = self.interpreter or find_interpreter()
        except InstallerError as error:
            self.error, self.advice = str(error), ""
            return False
        self.userbase.mkdir(parents=True, exist_ok=True)
        constraints = None
        if self.pins:
            constraints = self.userbase / "constraints.txt"
            constraints.write_text("\n".join(self.pins) + "\n", encoding="utf-8")
        command = pip_command(interpreter, self.specs, constraints)
        lines = [" ".join(command), ""]
        progress = PipProgress(len(self.specs))
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, encoding="utf-8", errors="replace",
            env=pip_environment(self.userbase, self.proxy),
            **_subprocess_options())
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            percent = progress.update(line)
            if percent is not None:
                self.setProgress(percent)
            if self.isCanceled():
                process.terminate()
                break
        returncode = process.wait()
        self.output = "\n".join(lines)
        if self.isCanceled():
            self.error, self.advice = "Installation canceled.", "Click Retry to start again."
            return False
        if returncode != 0:
            self.error = summarize_failure(self.output)
            self.advice = next_step_advice(self.output)
            return False
        self.setProgress(100.0)
        return True

    def finished(self, result: bool) -> None:  # noqa: D401 - QgsTask API, main thread
        self.succeeded = bool(result)
        if not result and not self.error:  # canceled before it started
            self.error, self.advice = "Installation canceled.", "Click Retry to start again."
        if result:
            activate(self.userbase)
        if self.on_done is not None:
            self.on_done(self)
