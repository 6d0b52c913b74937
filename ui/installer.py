"""The "Install" message bar: offers to pip-install missing packages, says what pip would
download and how much before anything is installed, shows progress, lists what was
installed, reloads the algorithms on success and keeps pip's output one click away.

Nothing is installed before the user clicks Install twice: once to ask, once after
seeing the download.  Every text in the bar is short (:data:`MAX_TEXT`); the rest is
behind its Details button.
"""

from __future__ import annotations

import os
import re
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

from ..provider import dependencies, environment
from ..provider import installer as pip_installer

TITLE = "Coreg"
SUCCESS_SECONDS = 30  # a success needs no action: it goes away by itself
# Characters of a message bar text: with the title, two buttons and the close box it
# stays on one line of the bar over the map of a 1366x768 QGIS window with its default
# docks (the bar is ~790 px wide there; tests/ui/test_install_gui.py measures it).
MAX_TEXT = 64


def qgis_gdal_version() -> str:
    return environment.qgis_gdal_version()


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


def gdal_note() -> str:
    """What a rasterio from PyPI means for GDAL, before it is installed (Details)."""
    return (
        "rasterio from PyPI is a wheel that brings its own GDAL. Inside QGIS on Linux "
        f"rasterio then calls the GDAL QGIS has already loaded ({qgis_gdal_version()}); on "
        "Windows and macOS it keeps its own. Coreg only passes file names between QGIS "
        "and rasterio, so results are the same either way. After the install, About / "
        "diagnostics shows the GDAL rasterio runs on. A rasterio built on QGIS's GDAL "
        f"comes from your QGIS distribution and is preferable: {matching_rasterio_source()}."
    )


def short_list(items: list[str], budget: int) -> str:
    """``a, b, c`` or ``a, b + 3 more``: at most ``budget`` characters when it can."""
    for shown in range(len(items), 0, -1):
        text = ", ".join(items[:shown])
        if shown < len(items):
            text += f" + {len(items) - shown} more"
        if len(text) <= budget:
            return text
    return f"{items[0]} + {len(items) - 1} more" if len(items) > 1 else items[0]


def compose(prefix: str, items: list[str], suffix: str = "") -> str:
    """``prefix`` + as much of ``items`` as fits in :data:`MAX_TEXT` + ``suffix``."""
    return prefix + short_list(items, MAX_TEXT - len(prefix) - len(suffix)) + suffix


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


def _package_lines(packages: list[pip_installer.Package]) -> str:
    return "\n".join(
        f"  {package}" + (f"  ({pip_installer.format_size(package.size)})"
                          if package.size is not None else "")
        for package in packages)


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
        if widget is not None:
            item.layout().addWidget(widget)
        for label, slot in buttons:
            button = QPushButton(label, item)
            button.clicked.connect(slot)
            item.layout().addWidget(button)
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

    def _details_button(self, text: str, title: str = "Coreg: install details"):
        return ("Details", lambda: self.show_details(text, title))

    def offer(self, problems: list[dependencies.Problem]) -> QgsMessageBarItem | None:
        """The warning with Install and Details buttons, when something is missing."""
        if not problems:
            return None
        text = compose("Coreg needs ", [problem.short() for problem in problems], ".")
        details = (f"{dependencies.missing_dependencies_message(problems)}\n\n"
                   "Install first asks pip what it would download (nothing is installed "
                   "then) and shows the size; a second click installs. pip runs with QGIS's "
                   f"own Python into {self.userbase} (delete that folder to undo), and "
                   "installs only what is missing: every package already installed is kept "
                   "at its version.")
        if any(problem.requirement.module == "rasterio" for problem in problems):
            details += f"\n\n{gdal_note()}"
        specs = [problem.pip_spec() for problem in problems]
        return self._push(text, Qgis.MessageLevel.Warning, [
            ("Install…", lambda: self.install(specs)),
            self._details_button(details, "Coreg: missing packages"),
        ])

    def offer_cleanup(self, shadowed: list[pip_installer.Shadowed],
                      active: bool) -> QgsMessageBarItem | None:
        """Coreg's folder holds PyPI copies of packages the system now provides too.
        ``active`` False: the folder was left off sys.path (the system's copies are
        used), one click deletes it; True: the folder is still needed for another package
        and its copies hide the system's, one click deletes those copies."""
        if not shadowed:
            return None
        names = [f"{s.requirement.pip} {s.system}" for s in shadowed]
        site = pip_installer.site_packages(self.userbase)
        details = ("The system provides packages that Coreg's Install put into your QGIS "
                   f"profile earlier ({site}):\n"
                   + "\n".join(f"  {s.describe()}" for s in shadowed) + "\n\n")
        if not active:
            text = compose("Coreg uses the system's ", names, "; its PyPI copy is unused.")
            details += ("Coreg now uses the system's copies: the folder is left off "
                        "sys.path. 'Remove' deletes it "
                        f"({pip_installer.format_size(pip_installer.folder_size(site))}): "
                        f"{self.userbase}")
            button = ("Remove", self.remove_folder)
        else:
            text = compose("Coreg's PyPI ", [f"{s.requirement.pip} {s.profile}" for s in shadowed],
                           " hides the system's copy.")
            details += ("The folder is still needed for another package, so it stays on "
                        "sys.path and its copies win over the system's. 'Remove' deletes "
                        "these copies (a restart of QGIS then loads the system's).")
            button = ("Remove", lambda: self.remove_copies(shadowed))
        return self._push(text, Qgis.MessageLevel.Info, [
            button, self._details_button(details, "Coreg: copies in the profile")])

    def remove_folder(self) -> None:
        """Delete Coreg's folder in the profile (it is off sys.path: nothing is loaded)."""
        import shutil

        size = pip_installer.format_size(pip_installer.folder_size(self.userbase))
        try:
            shutil.rmtree(self.userbase)
        except OSError as error:
            self._push(f"Could not delete {self.userbase.name}: {error.strerror}.",
                       Qgis.MessageLevel.Critical,
                       [self._details_button(f"Delete {self.userbase} by hand: {error}")])
            return
        pip_installer.deactivate(self.userbase)
        self._push(f"Deleted Coreg's PyPI copies ({size}).",
                   Qgis.MessageLevel.Success,
                   [self._details_button(f"Deleted {self.userbase}.")], duration=SUCCESS_SECONDS)

    def remove_copies(self, shadowed: list[pip_installer.Shadowed]) -> None:
        """Delete the profile's copies of ``shadowed``; loaded ones stay in memory until
        QGIS restarts."""
        try:
            removed = pip_installer.remove_distributions(
                self.userbase, [s.requirement.pip for s in shadowed])
        except OSError as error:
            self._push(f"Could not delete the copies: {error.strerror}.",
                       Qgis.MessageLevel.Critical, [self._details_button(
                           f"{error}\nClose QGIS and delete them from "
                           f"{pip_installer.site_packages(self.userbase)} by hand.")])
            return
        text = compose("Removed ", removed, ": restart QGIS to use the system's.")
        self._push(text, Qgis.MessageLevel.Warning, [self._details_button(
            "Removed from " f"{pip_installer.site_packages(self.userbase)}:\n"
            + "\n".join(f"  {name}" for name in removed))])

    # ---------------------------------------------------------------------- install

    def _start(self, task: pip_installer.PipTask, text: str, busy: bool = False):
        progress = QProgressBar()
        progress.setRange(0, 0 if busy else 100)
        progress.setMaximumWidth(160)
        self._push(text, Qgis.MessageLevel.Info, [("Cancel", task.cancel)], widget=progress)
        task.progressChanged.connect(lambda value: _set_value(progress, value))
        self.task, self.running = task, True
        QgsApplication.taskManager().addTask(task)
        return task

    def install(self, specs: list[str]) -> pip_installer.PipTask:
        """First step: ask pip what it would download for ``specs`` (nothing installed),
        then :meth:`confirm` offers it with its size.  While pip runs, asking again
        returns the running task instead of starting a second pip."""
        if self.running:
            return self.task
        task = pip_installer.PipPlanTask(
            specs, self.userbase, on_done=self._planned,
            pins=dependencies.installed_pins(_names(specs)), proxy=pip_installer.qgis_proxy_url())
        return self._start(task, compose("Asking pip what ", _names(specs), " needs…"), busy=True)

    def _planned(self, task: pip_installer.PipPlanTask) -> None:
        if task is not self.task:
            return  # the plugin was unloaded (or another install started) meanwhile
        self.running = False
        if not task.succeeded:
            self._failed(task, "Checking")
            return
        if task.planned and not task.packages:
            # pip finds everything installed: on sys.path once the folder is.
            pip_installer.activate(self.userbase)
            if self.on_installed is not None:
                self.on_installed()
            self._done(task)
            return
        self.confirm(task)

    def confirm(self, plan: pip_installer.PipPlanTask) -> QgsMessageBarItem:
        """The plan: what pip will download, how much, and a button to go ahead."""
        if plan.planned:
            requested = [package for package in plan.packages if package.requested]
            others = len(plan.packages) - len(requested)
            size = pip_installer.total_size(plan.packages)
            more = f" + {others} more" if others else ""
            text = compose(f"Download {size} to install ", [str(p) for p in requested],
                           more + "?")
            details = (f"pip will install into {self.userbase}:\n"
                       f"{_package_lines(plan.packages)}\n"
                       f"Download: {size}.\n\nEvery package already installed is kept "
                       "at its version (pip gets them as constraints); the system is not "
                       "touched.")
            specs, no_deps = [f"{p.name}=={p.version}" for p in plan.packages], True
        else:
            pip_version = ".".join(str(part) for part in plan.pip)
            text = compose("Install ", _names(plan.specs), " (size unknown)?")
            details = (f"pip {pip_version} has no --dry-run (pip 22.2 has): what it "
                       "downloads shows after the install.")
            specs, no_deps = plan.specs, False
        if any(spec.lower().startswith("rasterio") for spec in specs):
            details += f"\n\n{gdal_note()}"
        return self._push(text, Qgis.MessageLevel.Info, [
            ("Install", lambda: self.run_install(specs, no_deps, plan.packages)),
            self._details_button(details + f"\n\n{plan.output}", "Coreg: what Install does"),
        ])

    def run_install(self, specs: list[str], no_deps: bool = False,
                    planned: list[pip_installer.Package] = ()) -> pip_installer.PipTask:
        """Second step: the real ``pip install`` of ``specs`` (a plan's exact pins with
        ``no_deps``), progress in the bar."""
        if self.running:
            return self.task
        task = pip_installer.PipInstallTask(
            specs, self.userbase, on_done=self._finished,
            pins=dependencies.installed_pins(_names(specs)), proxy=pip_installer.qgis_proxy_url(),
            no_deps=no_deps)
        task.planned = list(planned)
        size = pip_installer.total_size(task.planned) if task.planned else ""
        return self._start(task, compose("Installing ", _names(specs), f" ({size})…" if size
                                         else "…"))

    def _finished(self, task: pip_installer.PipInstallTask) -> None:
        if task is not self.task:
            return  # the plugin was unloaded (or another install started) meanwhile
        self.running = False
        if not task.succeeded:
            self._failed(task, "Installing")
            return
        if self.on_installed is not None:
            self.on_installed()  # before the outcome: it depends on what loads now
        self._done(task)

    def _failed(self, task: pip_installer.PipTask, step: str) -> None:
        if task.error == "Installation canceled.":
            text = compose("Install of ", _names(task.specs), " canceled.")
        else:
            reason = pip_installer.short_reason(task.output + "\n" + task.error)
            text = compose("Cannot install ", _names(task.specs), f": {reason}.")
        details = (f"{step} {', '.join(task.specs)} failed: {task.error}\n\n"
                   f"What to do: {task.advice or 'see pip output below.'}\n\n"
                   f"pip output:\n{task.output}")
        if isinstance(task, pip_installer.PipInstallTask):
            def retry():
                self.run_install(task.specs, task.no_deps, task.planned)
        else:
            def retry():
                self.install(task.specs)
        self._push(text, Qgis.MessageLevel.Critical, [
            self._details_button(details, "Coreg: install failed"), ("Retry", retry)])

    def _done(self, task: pip_installer.PipTask) -> None:
        level, text, details = self._outcome(task)
        self._push(text, level, [self._details_button(details)],
                   duration=SUCCESS_SECONDS if level == Qgis.MessageLevel.Success else 0)

    def _outcome(self, task: pip_installer.PipTask) -> tuple[Qgis.MessageLevel, str, str]:
        """Level, bar text and details of the message that ends an install: what was
        installed, what happens next, which GDAL rasterio runs on."""
        packages = list(getattr(task, "packages", []) or [])
        planned = {(p.name.lower(), p.version): p.size for p in getattr(task, "planned", [])}
        packages = [p._replace(size=planned.get((p.name.lower(), p.version), p.size))
                    for p in packages]
        names = [str(package) for package in packages]
        details = (f"Installed into {pip_installer.site_packages(self.userbase)}:\n"
                   f"{_package_lines(packages)}" if packages else
                   "pip found everything already installed; nothing was downloaded.")
        if packages and any(p.size is not None for p in packages):
            details += f"\nDownloaded: {pip_installer.total_size(packages)}."
        gdal = ""
        if any(p.name.lower() == "rasterio" for p in packages) or any(
                spec.lower().startswith("rasterio") for spec in task.specs):
            measured = environment.rasterio_gdal()
            if measured is not None:
                gdal = measured.short()
                details += (f"\n\nGDAL of rasterio: {measured.describe()}.\n"
                            f"rasterio: {environment.origin('rasterio', self.userbase)}")
        problems = self.problems()
        details += f"\n\npip output:\n{task.output}"

        def installed(tail: str) -> str:
            return compose("Installed ", names, tail) if names else "Nothing to install" + tail

        if any(problem.loaded for problem in problems):
            details = (f"Still loaded: {', '.join(p.describe() for p in problems if p.loaded)}."
                       " Restart QGIS to finish.\n\n" + details)
            return (Qgis.MessageLevel.Warning,
                    installed("; restart QGIS to finish."), details)
        if problems:
            still = short_list([problem.requirement.pip for problem in problems], 20)
            details = (f"Still missing or broken: {', '.join(p.describe() for p in problems)}."
                       " Restart QGIS; if that does not help, install them with your QGIS "
                       "distribution (see the README, 'Installing in QGIS').\n\n" + details)
            return (Qgis.MessageLevel.Critical,
                    installed(f"; {still} fails: restart QGIS."), details)
        if gdal:  # rasterio installed: which GDAL it runs on matters more than the list
            return (Qgis.MessageLevel.Success, compose("Installed ", names, f". {gdal}"),
                    details)
        return (Qgis.MessageLevel.Success, installed("; no restart needed."), details)

    def show_details(self, text: str, title: str = "Coreg: install details") -> TextDialog:
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


def _names(specs: list[str]) -> list[str]:
    """Project names of requirement strings: ``"rasterio>=1.2"`` -> ``"rasterio"``."""
    return [re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0] for spec in specs]


def _set_value(progress: QProgressBar, value: float) -> None:
    try:
        progress.setValue(int(value))
    except RuntimeError:
        pass  # the bar item was closed while pip was running
