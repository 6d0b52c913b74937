"""QGIS plugin object of Coreg: registers the Processing provider."""

from qgis.core import Qgis, QgsApplication

from .provider.dependencies import missing_dependencies, missing_dependencies_message
from .provider.provider import CoregProvider

MESSAGE_TITLE = "Coreg"


class CoregPlugin:
    """Registers the ``coreg`` Processing provider; GUI extras live in ``ui/``."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self.message_item = None
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
        missing = missing_dependencies()
        if missing and self.iface is not None:
            self._show_missing_dependencies(missing)
        if self.iface is not None and self.launcher is None:
            from .ui.launcher import Launcher

            self.launcher = Launcher(self.iface)
            self.launcher.add()

    def _show_missing_dependencies(self, missing):
        from qgis.gui import QgsMessageBarItem

        item = QgsMessageBarItem(
            MESSAGE_TITLE,
            missing_dependencies_message(missing),
            Qgis.MessageLevel.Warning,
            0,
        )
        self.iface.messageBar().pushItem(item)
        self.message_item = item

    def unload(self):
        if self.launcher is not None:
            self.launcher.remove()
            self.launcher = None
        if self.message_item is not None and self.iface is not None:
            try:
                self.iface.messageBar().popWidget(self.message_item)
            except RuntimeError:
                pass  # the user already closed it and Qt deleted the item
            self.message_item = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
