"""The plugin's GUI entry points: Raster > Coreg menu item, toolbar icon and the dock."""

from __future__ import annotations

import os

from qgis.gui import QgsDockWidget
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QScrollArea

from . import MENU

ICON = os.path.join(os.path.dirname(os.path.dirname(__file__)), "resources", "icon.svg")
DOCK_NAME = "CoregDock"


class CoregDock(QgsDockWidget):
    """Dock holding the Coregister panel (scrollable: it grows with the results)."""

    def __init__(self, iface, parent=None) -> None:
        from .panel import CoregPanel

        super().__init__("Coregister", parent)
        self.setObjectName(DOCK_NAME)
        self.panel = CoregPanel(iface)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.panel)
        self.setWidget(scroll)
        self.scroll = scroll
        # Never narrower than the panel's smallest layout: nothing is clipped.
        self.setMinimumWidth(self.content_width(minimum=True))

    def content_width(self, minimum: bool = False) -> int:
        """The dock width that shows the panel without clipping (``minimum``: the least)."""
        hint = self.panel.minimumSizeHint() if minimum else self.panel.sizeHint()
        bar = self.scroll.verticalScrollBar().sizeHint().width()
        return hint.width() + bar + 2 * self.scroll.frameWidth() + 2


class Launcher:
    """Adds the menu entry and toolbar icon; opens the dock; removes it all on unload."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.action: QAction | None = None
        self.dock: CoregDock | None = None

    def add(self) -> None:
        self.action = QAction(QIcon(ICON), "Coregister…", self.iface.mainWindow())
        self.action.setObjectName("CoregCoregisterAction")
        self.action.setToolTip("Align a raster onto a reference (Coreg)")
        self.action.triggered.connect(self.show_dock)
        self.iface.addPluginToRasterMenu(MENU, self.action)
        self.iface.addToolBarIcon(self.action)

    def show_dock(self) -> CoregDock:
        if self.dock is None:
            self.dock = CoregDock(self.iface, self.iface.mainWindow())
            self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
            self.fit_width()
        self.dock.show()
        self.dock.raise_()
        return self.dock

    def fit_width(self) -> None:
        """Size the dock to its content (a new dock is as narrow as its area allows)."""
        window = self.iface.mainWindow()
        if self.dock is not None and hasattr(window, "resizeDocks"):
            window.resizeDocks([self.dock], [self.dock.content_width()],
                               Qt.Orientation.Horizontal)

    def remove(self) -> None:
        if self.dock is not None:
            self.dock.panel.teardown()
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
        if self.action is not None:
            self.iface.removePluginRasterMenu(MENU, self.action)
            self.iface.removeToolBarIcon(self.action)
            self.action.deleteLater()
            self.action = None
