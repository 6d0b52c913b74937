"""Load, use, unload and load again the Coreg plugin in ONE QGIS session (run as a script
by test_plugin_gui.py, in a fresh process so that no other test's provider is around).

The interface is a small real one (main window, Raster menu, toolbar, docks), so that what
the plugin leaves behind is visible. Prints one JSON object: the state after each step.
"""

import json
import sys

from qgis.core import QgsApplication
from qgis.gui import QgsMapCanvas, QgsMessageBar
from qgis.PyQt.QtCore import QCoreApplication, QEvent
from qgis.PyQt.QtWidgets import QDockWidget, QMainWindow


class Iface:
    """The part of QgisInterface the plugin uses, backed by real widgets."""

    def __init__(self):
        self.window = QMainWindow()
        self.canvas = QgsMapCanvas()
        self.window.setCentralWidget(self.canvas)
        self.raster_menu = self.window.menuBar().addMenu("&Raster")
        self.toolbar = self.window.addToolBar("Plugins")
        self.bar = QgsMessageBar()

    def mainWindow(self):  # noqa: N802
        return self.window

    def mapCanvas(self):  # noqa: N802
        return self.canvas

    def messageBar(self):  # noqa: N802
        return self.bar

    def _submenu(self, name):
        for action in self.raster_menu.actions():
            if action.menu() is not None and action.text() == name:
                return action.menu()
        return None

    def addPluginToRasterMenu(self, name, action):  # noqa: N802
        menu = self._submenu(name) or self.raster_menu.addMenu(name)
        menu.addAction(action)

    def removePluginRasterMenu(self, name, action):  # noqa: N802
        menu = self._submenu(name)
        if menu is not None:
            menu.removeAction(action)
            if not menu.actions():  # as QGIS does: an empty plugin menu goes
                self.raster_menu.removeAction(menu.menuAction())

    def addToolBarIcon(self, action):  # noqa: N802
        self.toolbar.addAction(action)

    def removeToolBarIcon(self, action):  # noqa: N802
        self.toolbar.removeAction(action)

    def addDockWidget(self, area, dock):  # noqa: N802
        self.window.addDockWidget(area, dock)

    def removeDockWidget(self, dock):  # noqa: N802
        self.window.removeDockWidget(dock)


def state(iface):
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    menu = iface._submenu("&Coreg")
    provider = QgsApplication.processingRegistry().providerById("coreg")
    return {
        "menu": [a.text() for a in menu.actions()] if menu else [],
        "toolbar": [a.text() for a in iface.toolbar.actions()],
        "docks": [d.objectName() for d in iface.window.findChildren(QDockWidget)],
        "algorithms": sorted(a.id() for a in provider.algorithms()) if provider else [],
    }


def main(profile):
    app = QgsApplication([], True, profile)  # a throwaway profile, never the user's
    app.initQgis()
    import coreg

    iface = Iface()
    steps = {}
    for cycle in ("first", "second"):
        plugin = coreg.classFactory(iface)
        plugin.initGui()
        steps[f"{cycle} load"] = state(iface)
        plugin.launcher.action.trigger()
        dock = plugin.launcher.dock
        steps[f"{cycle} open"] = state(iface) | {"methods": dock.panel.method_combo.count()}
        plugin.unload()
        steps[f"{cycle} unload"] = state(iface)
    json.dump(steps, sys.stdout)
    app.exitQgis()


if __name__ == "__main__":
    main(sys.argv[1])
