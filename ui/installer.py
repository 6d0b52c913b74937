"""The "Install" message bar: offers to pip-install missing packages, shows progress,
reloads the algorithms on success and keeps pip's output one click away on failure.

Nothing is installed before the user clicks Install.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Callable

from qgis.core import Qgis, QgsApplication
from qgis.gui import QgsMessageBarItem
from qgis.PyQt.QtGui import QFontDatabase
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..provider import dependencies
from ..provider import installer as pip_installer

TITLE = "Coreg"
SUCCESS_SECONDS = 30  # a success needs no action: it goes away by itself


def qgis_gdal_version() -> str:
    """GDAL version of the library QGIS links (its osgeo bindings), or "unknown"."""
    try:
        from osgeo import gdal

        return gdal.__version__
    except Exception:
        return "unknown"


def rasterio_bundles_gdal() -> bool:
    """True when the rasterio on sys.path carries its own GDAL (PyPI wheels do:
    ``rasterio.libs`` next to it on Linux/Windows, ``rasterio/.dylibs`` on macOS)."""
    try:
        spec = importlib.util.find_spec("rasterio")
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    package = Path(list(spec.submodule_search_locations)[0])
    return (package.parent / "rasterio.libs").is_dir() or (package / ".dylibs").is_dir()


def matching_rasterio_source() -> str:
    """Where this QGIS gets a rasterio built on its own GDAL: its distribution."""
    if os.path.isdir(os.path.join(sys.prefix, "conda-meta")):
        return ("QGIS runs from conda: conda install -c conda-forge rasterio (pip's rasterio "
                "and conda's GDAL often conflict there)")
    if os.path.exists("/etc/debian_version"):
        return "Debian/Ubuntu: sudo apt install python3-rasterio"
    if os.name == "nt":
        return "OSGeo4W: OSGeo4W Setup, if it offers rasterio for your QGIS"
    return "your QGIS distribution's package manager, if it has rasterio"


def gdal_warning() -> str:
    """Why a PyPI rasterio differs from QGIS's, and how to get one on QGIS's GDAL."""
    return (
        f"rasterio from PyPI brings its own GDAL, not the GDAL {qgis_gdal_version()} of "
        "QGIS (PyPI has no build on QGIS's GDAL). Coreg only passes file names between "
        "them, so results are the same, but a format QGIS reads may be missing from it. "
        f"A rasterio on QGIS's GDAL is preferable where available: {matching_rasterio_source()}."
    )


class TextDialog(QDialog):
    """Read-only view of a long text (pip's output, install details), non-modal."""

    def __init__(self, text: str, title: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(760, 420)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.text.setPlainText(text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)


class DependencyInstaller:
    """Message bar items of the dependency bootstrap, for one plugin instance.

    ``on_installed()`` is called after a successful install (the plugin refreshes its
    provider there); ``problems()`` then says what is still missing (default: the cheap
    check; the plugin passes its provider's list, which also knows import failures);
    ``userbase`` is the pip user base (default: the profile's ``python/coreg-deps``).
    """

    def __init__(self, iface, on_installed: Callable[[], None] | None = None,
                 userbase: Path | None = None,
                 problems: Callable[[], list[dependencies.Problem]] | None = None):
        self.iface = iface
        self.on_installed = on_installed
        self.problems = problems or dependencies.dependency_problems
        self.userbase = Path(userbase) if userbase is not None else pip_installer.default_userbase()
        self.item = None  # the one Coreg item currently in the bar
        self.task = None  # QGIS keeps no Python reference to a running task
        self.running = False
        self.details = None

    # ------------------------------------------------------------------ message bar

    def _push(self, text: str, level, buttons=(), widget=None,
              duration: int = 0) -> QgsMessageBarItem:
        """Replace Coreg's item in the bar by a new one with ``buttons`` (label, slot);
        ``duration`` 0 keeps it until closed."""
        self.clear()
        item = QgsMessageBarItem(TITLE, text, level, duration)
        for label, slot in buttons:
            button = QPushButton(label, item)
            button.clicked.connect(slot)
            item.layout().addWidget(button)
        if widget is not None:
            item.layout().addWidget(widget)
        self.iface.messageBar().pushItem(item)
        self.item = item
        return item

    def clear(self) -> None:
        if self.item is not None:
            try:
                self.iface.messageBar().popWidget(self.item)
            except RuntimeError:
                pass  # the user closed it and Qt deleted the item
            self.item = None

    def offer(self, problems: list[dependencies.Problem]) -> QgsMessageBarItem | None:
        """The warning with Install and Details buttons, when something is missing."""
        if not problems:
            return None
        text = (f"Coreg's algorithms need {', '.join(p.describe() for p in problems)}. "
                "Install gets them from PyPI with pip, into your QGIS profile.")
        details = (f"{dependencies.missing_dependencies_message(problems)}\n\n"
                   f"Install runs pip with QGIS's own Python into {self.userbase} "
                   "(delete that folder to undo).")
        if any(problem.requirement.module == "rasterio" for problem in problems):
            text += (f" rasterio from PyPI has its own GDAL, not QGIS's {qgis_gdal_version()}:"
                     " see Details.")
            details += f"\n\n{gdal_warning()}"
        specs = [problem.pip_spec() for problem in problems]
        return self._push(text, Qgis.MessageLevel.Warning, [
            ("Install", lambda: self.install(specs)),
            ("Details", lambda: self.show_details(details, "Coreg: missing packages")),
        ])

    # ---------------------------------------------------------------------- install

    def install(self, specs: list[str]) -> pip_installer.PipInstallTask:
        """Start pip for ``specs`` in a background task; progress goes to the bar.
        While one runs, asking again returns it instead of starting a second pip."""
        if self.running:
            return self.task
        progress = QProgressBar()
        progress.setRange(0, 100)
        self._push(f"Installing {', '.join(specs)} into {self.userbase}...",
                   Qgis.MessageLevel.Info, widget=progress)
        task = pip_installer.PipInstallTask(specs, self.userbase, on_done=self._finished,
                                            pins=dependencies.loaded_pins(),
                                            proxy=pip_installer.qgis_proxy_url())
        task.progressChanged.connect(lambda value: _set_value(progress, value))
        self.task, self.running = task, True
        QgsApplication.taskManager().addTask(task)
        return task

    def _finished(self, task: pip_installer.PipInstallTask) -> None:
        if task is not self.task:
            return  # the plugin was unloaded (or another install started) meanwhile
        self.running = False
        if task.succeeded and self.on_installed is not None:
            self.on_installed()  # before the outcome: it depends on what loads now
        level, text = self._outcome(task)
        buttons = [("Show pip output", lambda: self.show_details(task.output))]
        if not task.succeeded:
            buttons.append(("Retry", lambda: self.install(task.specs)))
        self._push(text, level, buttons,
                   duration=SUCCESS_SECONDS if level == Qgis.MessageLevel.Success else 0)

    def _outcome(self, task: pip_installer.PipInstallTask) -> tuple[Qgis.MessageLevel, str]:
        """Level and text of the message that ends an install: what happened, what next."""
        installed = ", ".join(task.specs)
        if not task.succeeded:
            return (Qgis.MessageLevel.Critical,
                    f"Installing {installed} failed: {task.error} {task.advice}".strip())
        problems = self.problems()
        note = ""
        if any(spec.startswith("rasterio") for spec in task.specs) and rasterio_bundles_gdal():
            note = (f" rasterio uses its own GDAL, not QGIS's {qgis_gdal_version()} "
                    "(Raster > Coreg > About / diagnostics shows both).")
        if any(problem.loaded for problem in problems):
            old = ", ".join(problem.describe() for problem in problems if problem.loaded)
            return (Qgis.MessageLevel.Warning,
                    f"Installed {installed}. Restart QGIS to finish: {old} is still loaded.{note}")
        if problems:
            still = ", ".join(problem.describe() for problem in problems)
            return (Qgis.MessageLevel.Critical,
                    f"pip installed {installed}, but Coreg still cannot use {still}. Restart "
                    "QGIS; if that does not help, install them with your QGIS distribution "
                    f"(see the README, 'Installing in QGIS').{note}")
        return (Qgis.MessageLevel.Success,
                f"Installed {installed}: Coreg's algorithms are ready, no restart needed.{note}")

    def show_details(self, text: str, title: str = "Coreg: pip output") -> TextDialog:
        parent = self.iface.mainWindow()
        self.details = TextDialog(text, title, parent if isinstance(parent, QWidget) else None)
        self.details.show()
        return self.details

    def unload(self) -> None:
        self.clear()
        if self.task is not None:
            try:
                self.task.cancel()
            except RuntimeError:
                pass  # already finished and deleted by the task manager
            self.task, self.running = None, False
        if self.details is not None:
            self.details.close()
            self.details = None


def _set_value(progress: QProgressBar, value: float) -> None:
    try:
        progress.setValue(int(value))
    except RuntimeError:
        pass  # the bar item was closed while pip was running

