"""Raster > Coreg > About / diagnostics: the versions a bug report needs, one click to copy.

Works without Processing and without the dependencies (a missing package is listed as
such), so it helps exactly when the algorithms do not load.
"""

from __future__ import annotations

import importlib
import platform
import sys
from typing import Callable

from qgis.core import Qgis
from qgis.PyQt.QtGui import QFontDatabase
from qgis.PyQt.QtWidgets import (
    QAction,
    QApplication,
    QDialog,
    QDialogButtonBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..provider import dependencies, environment, installer
from ..provider.provider import _plugin_version


def _module_version(module_name: str) -> str:
    """Version of an importable module and where it comes from, or why it is not usable."""
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # missing, or broken: both belong in a bug report
        return f"not usable ({type(error).__name__}: {error})"
    version = str(getattr(module, "__version__", "unknown version"))
    return f"{version} ({environment.origin(module_name)})"


def _optional_version(module_name: str, purpose: str) -> str:
    """An optional package is not imported here (distributed is slow to import)."""
    if environment.module_folder(module_name) is None:
        return f"not installed (optional: {purpose})"
    requirement = next(r for r, _ in dependencies.OPTIONAL_PACKAGES if r.module == module_name)
    version = dependencies.installed_version(requirement) or "unknown version"
    return f"{version} ({environment.origin(module_name)})"


def _rasterio_gdal() -> str:
    """The GDAL rasterio runs on in this process, measured (rasterio.__gdal_version__)."""
    measured = environment.rasterio_gdal()
    return "no rasterio" if measured is None else measured.describe()


def _rasterio_crs_check() -> str:
    """A reprojection through rasterio: a PyPI rasterio reading QGIS's PROJ database (set
    by PROJ_LIB/PROJ_DATA) of another version fails here, not in the algorithms only."""
    try:
        from rasterio.crs import CRS
        from rasterio.warp import transform

        xs, _ys = transform(CRS.from_epsg(4326), CRS.from_epsg(32633), [15.0], [0.0])
    except Exception as error:
        return f"failed ({type(error).__name__}: {error})"
    return "ok" if abs(xs[0] - 500000.0) < 1e-3 else f"wrong result ({xs[0]})"


def _pyproj_proj() -> str:
    try:
        import pyproj
    except Exception:
        return "no pyproj"
    return str(pyproj.proj_version_str)


def _interpreter() -> str:
    try:
        return str(installer.find_interpreter())
    except installer.InstallerError as error:
        return f"not found ({error})"


def collect_versions() -> list[tuple[str, str]]:
    """(label, value) rows, in the order they are shown."""
    return [
        ("Coreg", _plugin_version() or "unknown"),
        ("QGIS", Qgis.version()),
        ("GDAL (QGIS)", environment.qgis_gdal_version()),
        ("GDAL (rasterio)", _rasterio_gdal()),
        ("PROJ (pyproj)", _pyproj_proj()),
        ("Reprojection (rasterio)", _rasterio_crs_check()),
        ("Python", sys.version.replace("\n", " ")),
        ("Python interpreter", _interpreter()),
        ("Platform", platform.platform()),
        *[(requirement.pip, _module_version(requirement.module))
          for requirement in dependencies.REQUIRED_PACKAGES],
        *[(requirement.pip, _optional_version(requirement.module, purpose))
          for requirement, purpose in dependencies.OPTIONAL_PACKAGES],
        ("Install folder", f"{installer.site_packages(installer.default_userbase())}"
         f"{'' if _on_sys_path() else ' (not in use)'}"),
        *[(f"{shadowed.requirement.pip} (system)", f"{shadowed.system} in {shadowed.folder}, "
           f"also in the install folder ({shadowed.profile}): "
           + ("that copy is used" if _on_sys_path() else "the system's is used"))
          for shadowed in installer.profile_copies(installer.default_userbase())[0]],
    ]


def _on_sys_path() -> bool:
    return str(installer.site_packages(installer.default_userbase())) in sys.path


def diagnostics_text(problems: list[dependencies.Problem] | None = None) -> str:
    """Plain text for bug reports: one ``label: value`` line per row, then the problems
    (default: :func:`dependencies.dependency_problems`)."""
    rows = collect_versions()
    width = max(len(label) for label, _value in rows)
    lines = [f"{label + ':':<{width + 1}} {value}" for label, value in rows]
    if problems is None:
        problems = dependencies.dependency_problems()
    lines.append("Missing, too old or broken: " + (
        ", ".join(problem.describe() for problem in problems) if problems else "nothing"))
    return "\n".join(lines)


class DiagnosticsDialog(QDialog):
    """Shows :func:`diagnostics_text`, copies it, and offers the install when needed."""

    def __init__(self, parent=None, problems: list[dependencies.Problem] | None = None,
                 install: Callable[[], None] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Coreg: about / diagnostics")
        self.resize(720, 380)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))  # aligned columns
        self.text.setPlainText(diagnostics_text(problems))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.copy_button = QPushButton("Copy to clipboard", self)
        self.copy_button.clicked.connect(self.copy)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.install_button = None
        if install is not None and problems:
            self.install_button = QPushButton("Install missing packages", self)
            self.install_button.clicked.connect(install)
            self.install_button.clicked.connect(self.accept)
            buttons.addButton(self.install_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)

    def copy(self) -> None:
        QApplication.clipboard().setText(self.text.toPlainText())


class DiagnosticsMenuEntry:
    """The "About / diagnostics…" action in the plugin menu and the dialog it opens.

    ``problems()`` lists what is missing when the dialog opens; ``install(specs)`` starts
    the install of pip requirement strings (the message bar's installer).
    """

    def __init__(self, iface, menu: str, problems: Callable[[], list[dependencies.Problem]],
                 install: Callable[[list[str]], object]):
        self.iface, self.menu = iface, menu
        self.problems, self.install = problems, install
        self.dialog = None
        self.action = QAction("About / diagnostics…", iface.mainWindow())
        self.action.triggered.connect(self.show)
        iface.addPluginToRasterMenu(menu, self.action)

    def show(self) -> DiagnosticsDialog:
        problems = self.problems()
        parent = self.iface.mainWindow()
        self.dialog = DiagnosticsDialog(
            parent if isinstance(parent, QWidget) else None, problems,
            lambda: self.install([problem.pip_spec() for problem in problems]))
        self.dialog.show()
        return self.dialog

    def unload(self) -> None:
        self.iface.removePluginRasterMenu(self.menu, self.action)
        if self.dialog is not None:
            self.dialog.close()
            self.dialog = None
