"""QGIS plugin object of Coreg: registers the Processing provider."""

from qgis.core import QgsApplication

from .provider import dependencies, installer
from .provider.provider import CoregProvider
from .ui import MENU

MESSAGE_TITLE = "Coreg"


class CoregPlugin:
    """Registers the ``coreg`` Processing provider; GUI extras live in ``ui/``."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        # Packages installed by the Install button live in the profile: on sys.path first,
        # unless the system now provides every required package the folder holds (the
        # README's `apt install python3-rasterio` after a PyPI install): then the
        # system's are used, and the bar offers to delete the folder.
        userbase = installer.default_userbase()
        self.shadowed, needed = installer.profile_copies(userbase)
        self.profile_unused = bool(self.shadowed) and not needed
        if not self.profile_unused:
            installer.activate(userbase)
        self.dependency_installer = None
        self.diagnostics = None
        self.launcher = None

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
        from .ui.diagnostics import DiagnosticsMenuEntry
        from .ui.installer import DependencyInstaller

        self.dependency_installer = DependencyInstaller(
            self.iface, self.reload_algorithms, problems=self.problems)
        if self.dependency_installer.offer(self.problems()) is None and self.shadowed:
            self.dependency_installer.offer_cleanup(self.shadowed, not self.profile_unused)
        self.diagnostics = DiagnosticsMenuEntry(
            self.iface, MENU, self.problems, self.dependency_installer.install)
        if self.launcher is None:
            from .ui.launcher import Launcher

            self.launcher = Launcher(self.iface)
            self.launcher.add()

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

    def unload(self):
        if self.launcher is not None:
            self.launcher.remove()
            self.launcher = None
        if self.dependency_installer is not None:
            self.dependency_installer.unload()
            self.dependency_installer = None
        if self.diagnostics is not None:
            self.diagnostics.unload()
            self.diagnostics = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
