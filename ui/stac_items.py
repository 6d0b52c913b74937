"""STAC items as the panel's inputs: an item URL (or file) for the reference or the
secondary, one of its assets shown on the map and matched like any raster.

The asset becomes a map layer through a one-band VRT naming its ``/vsicurl`` path
(:func:`..core.stac.item_stack.item_view`, as the item stacks do): QGIS draws it
streaming the COG, the band and validation rows work as for a file, and the run reads
it by range requests. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QCursor
from qgis.PyQt.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from ..core.errors import CoregError
from ..core.stac.stac import StacItem, read_item
from ..core.stac.views import asset_view, default_asset

#: Where the VRT views of items' assets are kept (under QGIS's settings folder): a
#: project that shows one still finds it in a later session.
VIEWS_FOLDER = "coreg/stac_views"


def views_folder() -> Path:
    folder = Path(QgsApplication.qgisSettingsDirPath()) / VIEWS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def asset_layer(item: StacItem, name: str, project: QgsProject) -> QgsRasterLayer:
    """The map layer of the asset ``name`` of ``item`` (the project's, if it has one);
    added to ``project``; its VRT (:func:`..core.stac.views.asset_view`) is kept in
    :func:`views_folder`. CoregError if the asset cannot be read."""
    source = asset_view(item, name, views_folder())
    key = item.asset(name).key
    for layer in project.mapLayers().values():
        if layer.source() == source:
            layer.reload()
            return layer
    layer = QgsRasterLayer(source, f"{item.id} ({key})")
    if not layer.isValid():
        raise CoregError(f"The asset '{key}' of the item '{item.id}' cannot be shown: "
                         f"{layer.error().summary()}")
    project.addMapLayer(layer)
    return layer


class ItemRow(QWidget):
    """'… or a STAC item': its URL or file, the asset to use, and Load. A loaded asset
    is handed to the raster combo (``loaded``); a failure is said in ``failed``."""

    loaded = pyqtSignal(object)  # the asset's QgsRasterLayer
    failed = pyqtSignal(str)

    def __init__(self, project: QgsProject, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.item: StacItem | None = None
        self.layer_id = ""  # the layer of the asset shown last
        self.url = QLineEdit()
        self.url.setPlaceholderText("or a STAC item: https://…/items/<id> or item.json")
        self.url.setClearButtonEnabled(True)
        self.url.setToolTip("A STAC item (a URL, a STAC API item or a local JSON file): its "
                            "asset is shown on the map and read by range requests")
        self.asset = QComboBox()
        self.asset.setToolTip("The item's asset (band) to match")
        self.asset.setEnabled(False)
        self.load_button = QPushButton("Load")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.url, 3)
        row.addWidget(self.asset, 1)
        row.addWidget(self.load_button)
        self.url.returnPressed.connect(self.load)
        self.load_button.clicked.connect(self.load)
        self.asset.activated.connect(self._asset_chosen)

    def set_url(self, url: str) -> QgsRasterLayer | None:
        """Load the item at ``url`` (e.g. picked in the search dialog)."""
        self.url.setText(url)
        return self.load()

    def load(self, *_args) -> QgsRasterLayer | None:
        """Read the item, list its assets, show the default one; None on failure."""
        text = self.url.text().strip()
        if not text:
            return None
        QApplication.setOverrideCursor(QCursor(Qt.CursorShape.WaitCursor))
        from ..core.stac.align_items import optical_assets  # scipy: on use

        try:  # the user named the item: its assets may be remote
            self.item = read_item(text, allow_remote=True)
            names = [a.key for a in optical_assets(self.item)] or [
                a.key for a in self.item.assets]
            self.asset.clear()
            self.asset.addItems(names)
            default = default_asset(self.item)
            if default in names:
                self.asset.setCurrentIndex(names.index(default))
            self.asset.setEnabled(True)
            return self._show(self.asset.currentText())
        except CoregError as error:
            self.item = None
            self.asset.clear()
            self.asset.setEnabled(False)
            self.failed.emit(str(error))
            return None
        finally:
            QApplication.restoreOverrideCursor()

    def _asset_chosen(self, *_args) -> None:
        if self.item is not None:
            try:
                self._show(self.asset.currentText())
            except CoregError as error:
                self.failed.emit(str(error))

    def _show(self, name: str) -> QgsRasterLayer:
        layer = asset_layer(self.item, name, self.project)
        self.layer_id = layer.id()
        self.loaded.emit(layer)
        return layer
