"""QGIS plugin object of Coreg: registers the Processing provider."""

from qgis.core import QgsApplication

from .provider import dependencies, installer
from .provider.provider import CoregProvider

MESSAGE_TITLE = "Coreg"
MENU = "&Coreg"  # under Raster; every Coreg menu entry goes here


class CoregPlugin:
    """Registers the ``coreg`` Processing provider; GUI extras live in ``ui/``."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        # Packages installed by the Install button live in the profile: on sys.path first.
        installer.activate(installer.default_userbase())
        self.dependency_installer = None
        self.diagnostics_action = None
        self.diagnostics_dialog = None

    def initProcessing(self):  # noqa: N802 - called by QGIS (hasProcessingProvider=yes)
        if self.provider is not None:
            return
        provider = CoregProvider()
        if QgsApplication.processingRegistry().addProvider(provider):
            # Keep a Python reference, or the provider may be garbage-collected.
            self.provider = provider

    def initGui(self):  # noqa: N802 - called by QGIS
        self.initProcessing()
        if self.iface is None:
            return
        self._add_diagnostics_menu()
        from .ui.installer import DependencyInstaller

        self.dependency_installer = DependencyInstaller(
            self.iface, self.reload_algorithms, problems=self.problems)
        self.dependency_installer.offer(self.problems())

    def problems(self):
        """Missing, too old or broken packages; the provider's list also knows the
        packages that are installed but failed to import."""
        if self.provider is not None:
            return self.provider.problems
        return dependencies.dependency_problems()

    def reload_algorithms(self):
        """After an install: the real algorithms replace the stand-ins, no restart."""
        if self.provider is not None:
            self.provider.refreshAlgorithms()

    def _add_diagnostics_menu(self):
        from qgis.PyQt.QtWidgets import QAction

        from .ui.diagnostics import show_diagnostics

        def show():
            problems = self.problems()
            self.diagnostics_dialog = show_diagnostics(self.iface, problems, lambda: (
                self.dependency_installer.install([p.pip_spec() for p in problems])))

        action = QAction("About / diagnostics…", self.iface.mainWindow())
        action.triggered.connect(show)
        self.iface.addPluginToRasterMenu(MENU, action)
        self.diagnostics_action = action

    def unload(self):
        if self.dependency_installer is not None:
            self.dependency_installer.unload()
            self.dependency_installer = None
        if self.diagnostics_action is not None and self.iface is not None:
            self.iface.removePluginRasterMenu(MENU, self.diagnostics_action)
            self.diagnostics_action = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
