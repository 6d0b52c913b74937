"""The panel's STAC search: a catalogue's items over the map, picked as reference or
secondary from their footprints.

The search is ``coreg:search_stac`` itself (one place for the request, the
authentication and the footprint layer), run as a background task; its footprints go
on the map, listed in a table. Choosing a row selects its footprint and choosing
footprints on the map selects their rows; "Use as reference/secondary" hands the item's
URL to the panel, which shows its asset (:mod:`.stac_items`).
"""

from __future__ import annotations

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFillSymbol,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsSettings,
)
from qgis.gui import QgsAuthConfigSelect, QgsDoubleSpinBox
from qgis.PyQt.QtCore import QDate, Qt
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDateEdit,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

SETTINGS_PREFIX = "coreg/stac_search/"
COLUMNS = ("id", "datetime", "cloud_cover", "gsd")
HEADERS = ("Item", "Date", "Cloud %", "GSD (m)")
WGS84 = "EPSG:4326"
#: The extent of a search over the whole world (Processing's notation).
WORLD = f"-180,180,-90,90 [{WGS84}]"
#: Footprints drawn as outlines: the imagery under them stays visible.
FOOTPRINT_STYLE = {"color": "0,0,0,0", "outline_color": "#e65100", "outline_width": "0.6"}


class _Feedback(QgsProcessingFeedback):
    """Keeps the last error the search reports, to say why it failed."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []

    def reportError(self, error, fatalError=False):  # noqa: N802, N803 - QGIS API
        self.errors.append(error)
        super().reportError(error, fatalError)

    def failure(self) -> str:
        return (self.errors or ["see the log"])[-1]


class SearchDialog(QDialog):
    """API, collections, the map extent, dates, cloud cover → footprints to pick from."""

    def __init__(self, panel, iface=None, parent=None) -> None:
        super().__init__(parent)
        self.panel, self.iface = panel, iface
        self.project = QgsProject.instance()
        self.layer = None  # the footprints of the last search
        self.task = None  # the search under way
        self._run = None  # its (context, feedback)
        self.found: int | None = None  # items the last search found, -1: it failed
        self._syncing = False
        self.setWindowTitle("Search a STAC catalogue")
        self._build()
        self._restore()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)
        self.api = QLineEdit()
        self.api.setPlaceholderText("https://earth-search.aws.element84.com/v1")
        form.addRow("STAC API", self.api)
        self.collections = QLineEdit()
        self.collections.setPlaceholderText("sentinel-2-l2a (comma-separated)")
        form.addRow("Collections", self.collections)
        self.over_map = QCheckBox("Only items over the map extent")
        self.over_map.setChecked(True)
        form.addRow(self.over_map)
        self.use_dates = QCheckBox("Between")
        self.start, self.end = QDateEdit(), QDateEdit()
        for edit in (self.start, self.end):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.start.setDate(QDate.currentDate().addMonths(-1))
        self.end.setDate(QDate.currentDate())
        dates = QHBoxLayout()
        for widget in (self.use_dates, self.start, QLabel("and"), self.end):
            dates.addWidget(widget)
        form.addRow("Dates", dates)
        self.max_cloud = QgsDoubleSpinBox()
        self.max_cloud.setRange(0.0, 100.0)
        self.max_cloud.setClearValue(25.0)
        self.max_cloud.setValue(25.0)
        self.max_cloud.setSuffix(" %")
        form.addRow("Cloud cover below", self.max_cloud)
        self.limit = QSpinBox()
        self.limit.setRange(1, 500)
        self.limit.setValue(20)
        form.addRow("At most", self.limit)
        self.auth = QgsAuthConfigSelect(self)
        form.addRow("Authentication", self.auth)
        self.search_button = QPushButton("Search")
        layout.addWidget(self.search_button)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)
        buttons = QHBoxLayout()
        self.reference_button = QPushButton("Use as reference")
        self.secondary_button = QPushButton("Use as secondary")
        for button in (self.reference_button, self.secondary_button):
            button.setEnabled(False)
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.search_button.clicked.connect(self.search)
        self.table.itemSelectionChanged.connect(self._rows_chosen)
        self.reference_button.clicked.connect(lambda: self.use("reference"))
        self.secondary_button.clicked.connect(lambda: self.use("secondary"))

    # ------------------------------------------------------------------ search

    def parameters(self) -> dict:
        """The ``coreg:search_stac`` parameters of the choices."""
        params = {"API_URL": self.api.text().strip(),
                  "COLLECTIONS": self.collections.text().strip(),
                  "MAX_CLOUD": self.max_cloud.value(), "LIMIT": self.limit.value(),
                  "AUTH_CONFIG": self.auth.configId(), "OUTPUT": "TEMPORARY_OUTPUT"}
        if self.use_dates.isChecked():
            start, end = sorted((self.start.date(), self.end.date()))
            params["DATETIME"] = (f"{start.toString('yyyy-MM-dd')}T00:00:00Z/"
                                  f"{end.toString('yyyy-MM-dd')}T23:59:59Z")
        extent = self.map_extent() if self.over_map.isChecked() else ""
        params["EXTENT"] = extent or WORLD  # the algorithm would default to the canvas
        return params

    def map_extent(self) -> str:
        """The map canvas's extent as Processing writes one, in WGS 84; '' without a
        canvas."""
        canvas = self.iface.mapCanvas() if self.iface is not None else None
        if canvas is None or canvas.extent().isEmpty():
            return ""
        crs = QgsCoordinateReferenceSystem(WGS84)
        transform = QgsCoordinateTransform(canvas.mapSettings().destinationCrs(), crs,
                                           self.project)
        box = transform.transformBoundingBox(canvas.extent())
        return (f"{box.xMinimum()!r},{box.xMaximum()!r},{box.yMinimum()!r},"
                f"{box.yMaximum()!r} [{WGS84}]")

    def search(self) -> bool:
        """Start the search as a background task (QGIS stays usable while the API
        answers); its end shows the footprints and lists them, and sets ``found`` (-1
        on failure, said in the status line). False if a search is under way."""
        if self.task is not None:
            return False
        self._save()
        alg = QgsApplication.processingRegistry().createAlgorithmById("coreg:search_stac")
        if alg is None:
            self._failed("the Coreg provider is not enabled in Processing.")
            return False
        context = QgsProcessingContext()  # no project: not thread-safe (see the panel)
        context.setTransformContext(self.project.transformContext())
        feedback = _Feedback()
        self.task = QgsProcessingAlgRunnerTask(alg, self.parameters(), context, feedback)
        self.task.executed.connect(self._searched)
        self._run = (context, feedback)
        self.found = None
        self.search_button.setEnabled(False)
        self.status.setStyleSheet("")
        self.status.setText("Searching…")
        QgsApplication.taskManager().addTask(self.task)
        return True

    def is_searching(self) -> bool:
        return self.task is not None

    def _searched(self, successful: bool, outputs: dict) -> None:
        context, feedback = self._run
        self.task = self._run = None
        self.search_button.setEnabled(True)
        if not successful:
            self._failed(feedback.failure())
            return
        self._show(context.takeResultLayer(outputs["OUTPUT"]))
        self.found = int(outputs["COUNT"])
        self.status.setText(f"{self.found} item(s) found: choose one in the list or its "
                            "footprint on the map." if self.found else "No item found.")

    def _failed(self, reason: str) -> None:
        self.found = -1
        self.status.setText(f"Search failed: {reason}")
        self.status.setStyleSheet("color: #c62828;")

    def _show(self, layer) -> None:
        """The footprints on the map (replacing the last search's) and in the table."""
        self._forget_layer()
        layer.setName(f"STAC search: {self.collections.text().strip() or self.api.text()}")
        layer.renderer().setSymbol(QgsFillSymbol.createSimple(FOOTPRINT_STYLE))
        self.project.addMapLayer(layer)
        self.layer = layer
        layer.selectionChanged.connect(self._features_chosen)
        self.table.setRowCount(0)
        for feature in layer.getFeatures():
            row = self.table.rowCount()
            self.table.insertRow(row)
            for column, name in enumerate(COLUMNS):
                value = feature[name]
                cell = QTableWidgetItem("" if value is None or value == "" else str(value))
                cell.setData(Qt.ItemDataRole.UserRole, (feature.id(), feature["url"]))
                self.table.setItem(row, column, cell)
        self.table.resizeColumnsToContents()

    def _forget_layer(self) -> None:
        if self.layer is None:
            return
        try:
            self.layer.selectionChanged.disconnect(self._features_chosen)
            if self.project.mapLayer(self.layer.id()) is not None:
                self.project.removeMapLayer(self.layer.id())
        except RuntimeError:  # removed by the user: its object is gone
            pass
        self.layer = None

    # ------------------------------------------------------------------ choosing

    def chosen_urls(self) -> list[str]:
        rows = sorted({index.row() for index in self.table.selectedIndexes()})
        return [self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)[1] for row in rows]

    def choose(self, item_id: str) -> None:
        """Select the row of ``item_id`` (as a click would)."""
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == item_id:
                self.table.selectRow(row)
                return
        raise KeyError(item_id)

    def _rows_chosen(self) -> None:
        urls = self.chosen_urls()
        self.reference_button.setEnabled(len(urls) == 1)
        self.secondary_button.setEnabled(len(urls) == 1)
        if self._syncing or self.layer is None:
            return
        self._syncing = True
        rows = {index.row() for index in self.table.selectedIndexes()}
        self.layer.selectByIds([self.table.item(r, 0).data(Qt.ItemDataRole.UserRole)[0]
                                for r in rows])
        self._syncing = False

    def _features_chosen(self, selected, _deselected, _clear) -> None:
        """Footprints chosen on the map select their rows."""
        if self._syncing:
            return
        self._syncing = True
        chosen = set(self.layer.selectedFeatureIds())
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)[0] in chosen:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)
        self._syncing = False
        self._rows_chosen()

    def use(self, role: str):
        """Hand the chosen item to the panel as ``role`` ("reference" or "secondary");
        the asset's layer, None if it could not be shown (the panel says why)."""
        urls = self.chosen_urls()
        if len(urls) != 1:
            return None
        row = self.panel.reference_item if role == "reference" else self.panel.secondary_item
        return row.set_url(urls[0])

    # ------------------------------------------------------------------ settings

    def _save(self) -> None:
        settings = QgsSettings()
        for key, value in (("api", self.api.text()), ("collections", self.collections.text()),
                           ("max_cloud", self.max_cloud.value()),
                           ("limit", self.limit.value())):
            settings.setValue(SETTINGS_PREFIX + key, value)

    def _restore(self) -> None:
        settings = QgsSettings()
        self.api.setText(settings.value(SETTINGS_PREFIX + "api", "", type=str))
        self.collections.setText(settings.value(SETTINGS_PREFIX + "collections", "", type=str))
        self.max_cloud.setValue(settings.value(SETTINGS_PREFIX + "max_cloud", 25.0, type=float))
        self.limit.setValue(settings.value(SETTINGS_PREFIX + "limit", 20, type=int))

    def teardown(self) -> None:
        """Cancel a search under way and let go of the footprint layer's signal (before
        the plugin unloads)."""
        if self.task is not None:
            self.task.executed.disconnect(self._searched)
            self.task.cancel()
            self.task = self._run = None
        if self.layer is not None:
            try:
                self.layer.selectionChanged.disconnect(self._features_chosen)
            except (RuntimeError, TypeError):
                pass
        self.close()
