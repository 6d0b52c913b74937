"""The "Coregister" panel: choose two rasters and a method, run in the background, inspect.

Qt comes from qgis.PyQt only, with fully qualified enums, so that it runs on Qt 5 and 6.
"""

from __future__ import annotations

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsMapLayerProxyModel,
    QgsProcessingAlgRunnerTask,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProject,
    QgsSettings,
)
from qgis.gui import (
    QgsCollapsibleGroupBox,
    QgsDoubleSpinBox,
    QgsFileWidget,
    QgsMapLayerComboBox,
    QgsRasterBandComboBox,
)
from qgis.PyQt.QtCore import QUrl
from qgis.PyQt.QtGui import QDesktopServices
from qgis.PyQt.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from . import (
    compare_box,
    methods,
    offset_pick,
    report_page,
    results,
    stac_items,
    stac_search,
    validation,
)
from .methods import Choices, Method
from .widgets import LayerComboBox

SETTINGS_PREFIX = "coreg/dialog/"
#: Layer-combo filters: Qgis.LayerFilter(s) from QGIS 3.34 (setFilters() with the proxy
#: model's own, or with a plain int, is deprecated there), QgsMapLayerProxyModel's before.
if hasattr(Qgis, "LayerFilters"):
    LAYER_FILTER, LAYER_FILTERS = Qgis.LayerFilter, Qgis.LayerFilters
else:
    LAYER_FILTER, LAYER_FILTERS = QgsMapLayerProxyModel.Filter, QgsMapLayerProxyModel.Filters
ERROR_STYLE = "color: #c62828;"
#: Enum parameters the panel shows as combo boxes, filled from the algorithm's own options.
ENUMS = ("RESAMPLING", "TRANSFORM", "OUTPUT_MODE")


class _Feedback(QgsProcessingFeedback):
    """Keeps the errors the algorithm reports, to say why a run failed."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[tuple[str, bool]] = []  # (message, fatal)

    def reportError(self, error, fatalError=False):  # noqa: N802, N803 - QGIS API
        self.errors.append((error, fatalError))
        super().reportError(error, fatalError)

    def pushWarning(self, warning):  # noqa: N802 - QGIS API
        self.errors.append((warning, False))
        super().pushWarning(warning)

    def failure(self) -> str:
        """The last fatal error (else the last warning): why the run failed."""
        fatal = [text for text, is_fatal in self.errors if is_fatal]
        return (fatal or [text for text, _ in self.errors] or ["see the log"])[-1]


def _compact(combo: QComboBox) -> QComboBox:
    """A combo box whose width does not follow its longest item (the panel is a dock)."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(10)
    return combo


def _error_label() -> QLabel:
    label = QLabel()
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.hide()
    return label


class CoregPanel(QWidget):
    """Choices, validation, background run, and the inspection of the results."""

    def __init__(self, iface=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.project = QgsProject.instance()
        self.task: QgsProcessingAlgRunnerTask | None = None
        self.run_layers: results.RunLayers | None = None
        self.processing_dialog = None
        self._run = None  # (context, feedback, reference id, secondary id) of the running task
        self.runs = 0  # finished runs, to number the results
        self.report_page = ""  # the HTML report of the last run
        self._build()
        self._connect()
        self.refresh_methods()
        self.restore_settings()
        self._distinct_inputs()
        self.validate()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)
        self.reference_combo, self.reference_band = self._raster_row(form, "Reference")
        self.reference_item, self.reference_item_error = self._item_row(
            form, self.reference_combo, self.reference_band)
        self.reference_error = self._add_error(form)
        self.secondary_combo, self.secondary_band = self._raster_row(form, "Secondary")
        self.secondary_item, self.secondary_item_error = self._item_row(
            form, self.secondary_combo, self.secondary_band)
        self.secondary_error = self._add_error(form)
        self.search_button = QPushButton("Search a STAC catalogue…")
        self.search_button.setToolTip("Find items over the map extent and pick the "
                                      "reference and secondary among their footprints")
        form.addRow("", self.search_button)
        self.search_dialog = None
        self.mask_combo = _compact(LayerComboBox())
        self.mask_combo.setFilters(LAYER_FILTERS(LAYER_FILTER.RasterLayer
                                                 | LAYER_FILTER.PolygonLayer))
        self.mask_combo.setAllowEmptyLayer(True)
        self.mask_combo.setLayer(None)  # else it picks the first raster: no mask by default
        self.mask_combo.setToolTip("Areas to leave out: polygons, or rasters where non-zero")
        form.addRow("Mask (optional)", self.mask_combo)
        self.mask_error = self._add_error(form)
        self.method_combo = _compact(QComboBox())
        form.addRow("Method", self.method_combo)
        self.max_shift = QgsDoubleSpinBox()  # range and default: from the algorithm
        self.max_shift.setSuffix(" px")
        form.addRow("Maximum shift", self.max_shift)
        self.enums = {key: _compact(QComboBox()) for key in ENUMS}
        form.addRow("Resampling", self.enums["RESAMPLING"])
        self.output = QgsFileWidget()
        self.output.setStorageMode(QgsFileWidget.StorageMode.SaveFile)
        self.output.setFilter("GeoTIFF (*.tif *.tiff)")
        form.addRow("Aligned raster", self.output)
        self.output_error = self._add_error(form)
        layout.addWidget(self._build_advanced())
        self.general_error = _error_label()
        layout.addWidget(self.general_error)
        layout.addLayout(self._build_buttons())
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self._build_results())
        layout.addStretch(1)

    def _raster_row(self, form: QFormLayout, label: str):
        combo = _compact(LayerComboBox())
        combo.setFilters(LAYER_FILTER.RasterLayer)
        band = _compact(QgsRasterBandComboBox())
        combo.setMinimumContentsLength(16)  # room for a date or tile id
        band.setMinimumContentsLength(11)  # "Band 4: B08"
        row = QHBoxLayout()
        row.addWidget(combo, 3)
        row.addWidget(QLabel("Band"))
        row.addWidget(band, 2)
        form.addRow(label, row)
        band.setLayer(combo.currentLayer())
        combo.layerChanged.connect(band.setLayer)
        return combo, band

    def _item_row(self, form: QFormLayout, combo, band):
        """'… or a STAC item' under a raster row: its loaded asset becomes the row's
        layer (band 1 of the asset's view), its failure is said below it."""
        row = stac_items.ItemRow(self.project)
        form.addRow("", row)
        error = self._add_error(form)

        def loaded(layer) -> None:
            error.hide()
            combo.setLayer(layer)
            band.setBand(1)

        def failed(text: str) -> None:
            error.setText(text)
            error.show()

        row.loaded.connect(loaded)
        row.failed.connect(failed)
        return row, error

    def open_search_dialog(self):
        """The STAC search dialog (one per panel, kept with its last search)."""
        if self.search_dialog is None:
            self.search_dialog = stac_search.SearchDialog(self, self.iface, self)
        self.search_dialog.show()
        self.search_dialog.raise_()
        return self.search_dialog

    @staticmethod
    def _add_error(form: QFormLayout) -> QLabel:
        label = _error_label()
        form.addRow("", label)
        return label

    def _build_advanced(self) -> QgsCollapsibleGroupBox:
        box = QgsCollapsibleGroupBox("Advanced")
        box.setObjectName("coregAdvanced")  # QGIS remembers its collapsed state by name
        box.setCollapsed(True)
        form = QFormLayout(box)
        form.addRow("Transform model", self.enums["TRANSFORM"])
        form.addRow("Output mode", self.enums["OUTPUT_MODE"])
        self.cog = QCheckBox("Write a Cloud-Optimized GeoTIFF")
        form.addRow(self.cog)
        self.pick_button = QPushButton("Pick the initial offset on the map")
        self.pick_button.setToolTip("Click a feature on the reference, then the same feature "
                                    "on the secondary: the global alignment starts its "
                                    "search there (for offsets too large or ambiguous)")
        self.offset_label = QLabel("none")
        form.addRow(self.pick_button, self.offset_label)
        self.initial_offset: tuple[float, float] | None = None
        self.pick_tool = self._retired_pick = None
        self.advanced = box
        return box

    def _build_buttons(self) -> QGridLayout:
        grid = QGridLayout()
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.processing_button = QPushButton("Open in Processing…")
        self.processing_button.setToolTip("Open the same run in the Processing dialog "
                                          "(e.g. to switch to batch mode)")
        self.command_button = QPushButton("Copy as qgis_process")
        self.command_button.setToolTip("Copy the same run as a qgis_process command line")
        for k, button in enumerate((self.run_button, self.cancel_button,
                                    self.processing_button, self.command_button)):
            grid.addWidget(button, k // 2, k % 2)
        return grid

    def _build_results(self) -> QGroupBox:
        box = QGroupBox("Result")
        layout = QVBoxLayout(box)
        self.summary = QFormLayout()
        layout.addLayout(self.summary)
        form = QFormLayout()
        self.arrow_scale = QgsDoubleSpinBox()
        self.arrow_scale.setRange(1.0, 10000.0)
        self.arrow_scale.setClearValue(results.DEFAULT_ARROW_SCALE)
        self.arrow_scale.setValue(results.arrow_scale(self.project))
        self.arrow_scale.setToolTip("Arrows are drawn this many times longer than the shift "
                                    "(rejected patches are points, not arrows)")
        form.addRow("Arrow exaggeration ×", self.arrow_scale)
        self.show_aligned = QCheckBox("After: show the aligned raster")
        self.show_aligned.setToolTip("Toggle between the aligned output and the original "
                                     "secondary over the reference")
        form.addRow(self.show_aligned)
        layout.addLayout(form)
        self.compare = compare_box.CompareBox(self._canvas, self._compare_layers,
                                              self.status.setText)
        layout.addWidget(self.compare)
        self.report_button = QPushButton("Open report")
        self.report_button.setToolTip("Open this run's report (summary, arrow map, "
                                      "residuals) in the web browser")
        layout.addWidget(self.report_button)
        box.hide()
        self.results_box = box
        return box

    def _connect(self) -> None:
        for combo in (self.reference_combo, self.secondary_combo):
            combo.layerChanged.connect(self.validate)
            combo.layerChanged.connect(self._forget_offset)
        self.pick_button.clicked.connect(self.pick_offset)
        for band in (self.reference_band, self.secondary_band):
            band.bandChanged.connect(self.validate)
        self.output.fileChanged.connect(self.validate)
        self.mask_combo.layerChanged.connect(self.validate)
        self.method_combo.currentIndexChanged.connect(self._method_changed)
        for combo in self.enums.values():
            combo.currentIndexChanged.connect(self.validate)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.processing_button.clicked.connect(self.open_processing_dialog)
        self.command_button.clicked.connect(self.copy_command)
        self.search_button.clicked.connect(self.open_search_dialog)
        self.arrow_scale.valueChanged.connect(self._arrow_scale_changed)
        self.show_aligned.toggled.connect(self._compare)
        self.report_button.clicked.connect(self.open_report)
        self.project.layersAdded.connect(self._layers_added)
        self.project.layersWillBeRemoved.connect(self._layers_removed)
        registry = QgsApplication.processingRegistry()
        registry.providerAdded.connect(self.refresh_methods)
        registry.providerRemoved.connect(self.refresh_methods)

    def teardown(self) -> None:
        """Cancel a running task and let go of the registry (before the plugin unloads)."""
        self.cancel()
        self.compare.set_comparing(False)
        if self.search_dialog is not None:
            self.search_dialog.teardown()
        self._stop_picking()
        for signal, slot in ((self.project.layersAdded, self._layers_added),
                             (self.project.layersWillBeRemoved, self._layers_removed)):
            try:
                signal.disconnect(slot)
            except TypeError:
                pass
        registry = QgsApplication.processingRegistry()
        for signal in (registry.providerAdded, registry.providerRemoved):
            try:
                signal.disconnect(self.refresh_methods)
            except TypeError:
                pass

    # ------------------------------------------------------------------ initial offset

    def pick_offset(self) -> bool:
        """Start the two-click pick of the initial offset; whether it started."""
        canvas, reference = self._canvas(), self.reference_combo.currentLayer()
        if canvas is None or reference is None:
            self.status.setText("Choose a reference layer (and open a map) to pick on.")
            return False
        self._stop_picking()
        self.pick_tool = offset_pick.OffsetPickTool(canvas, reference.crs())
        self.pick_tool.first_picked.connect(lambda: self.status.setText(
            "Now click the same feature on the secondary."))
        self.pick_tool.picked.connect(self._offset_picked)
        self.pick_tool.finished.connect(self._pick_finished)
        canvas.setMapTool(self.pick_tool)
        self.status.setText("Click a feature on the reference.")
        return True

    def _offset_picked(self, dx: float, dy: float) -> None:
        self.initial_offset = (dx, dy)
        self.offset_label.setText(f"{dx:+.6g}, {dy:+.6g} (reference CRS units)")
        self.status.setText("Initial offset picked: the global alignment starts there.")
        self._stop_picking()

    def _pick_finished(self) -> None:
        """Another map tool was chosen: the pick ends (a first click alone is dropped)."""
        self.pick_tool = None

    def _stop_picking(self) -> None:
        tool, canvas = self.pick_tool, self._canvas()
        self.pick_tool = None
        # Kept until the next pick: the canvas may still be in this tool's click.
        self._retired_pick = tool
        if tool is not None and canvas is not None and canvas.mapTool() is tool:
            canvas.unsetMapTool(tool)

    def _forget_offset(self, *_args) -> None:
        """A picked offset belongs to the pair it was picked on."""
        self.initial_offset = None
        self.offset_label.setText("none")

    # ------------------------------------------------------------------ methods

    def refresh_methods(self, *_args) -> None:
        """List the methods whose algorithm is registered (keeping the current one)."""
        current = self.method_combo.currentData()
        self.method_combo.blockSignals(True)
        self.method_combo.clear()
        for method in methods.available_methods():
            self.method_combo.addItem(method.label, method)
        keys = [self.method_combo.itemData(i).key for i in range(self.method_combo.count())]
        if current is not None and current.key in keys:
            self.method_combo.setCurrentIndex(keys.index(current.key))
        self.method_combo.blockSignals(False)
        self._method_changed()

    def current_method(self) -> Method | None:
        return self.method_combo.currentData()

    def _method_changed(self, *_args) -> None:
        """Fill the enum combos from the algorithm; enable (and explain, in a tooltip)
        what it declares."""
        method = self.current_method()
        alg = methods.algorithm(method) if method else None
        for key, combo in self.enums.items():
            definition = alg.parameterDefinition(key) if alg else None
            index = combo.currentIndex()
            combo.blockSignals(True)
            combo.clear()
            if definition is not None:
                combo.addItems(definition.options())
                default = definition.defaultValue()
                combo.setCurrentIndex(index if 0 <= index < combo.count() else int(default or 0))
            combo.blockSignals(False)
        for key, widget in (("MAX_SHIFT", self.max_shift), ("COG", self.cog), *self.enums.items()):
            definition = alg.parameterDefinition(key) if alg else None
            widget.setEnabled(definition is not None)
            widget.setToolTip(definition.description() if definition else "")
        self._follow_max_shift(alg.parameterDefinition("MAX_SHIFT") if alg else None)
        for band in (self.reference_band, self.secondary_band):
            band.setEnabled(method is not None and method.uses_bands)
        self.pick_button.setEnabled(alg is not None
                                    and alg.parameterDefinition("INITIAL_OFFSET") is not None)
        self.validate()

    def _follow_max_shift(self, definition) -> None:
        """Range and default of the maximum shift from the algorithm (one source)."""
        if definition is None:
            return
        self.max_shift.setRange(definition.minimum(), definition.maximum())
        self.max_shift.setClearValue(definition.defaultValue())
        # 0 means no limit where the algorithm allows it (align_image's coarse search).
        self.max_shift.setSpecialValueText("none" if definition.minimum() == 0 else "")

    # ------------------------------------------------------------------ choices

    def _distinct_inputs(self) -> None:
        """The secondary starts on another raster than the reference (if there is one):
        the same raster twice is only an error message."""
        reference = self.reference_combo.currentLayer()
        secondary = self.secondary_combo.currentLayer()
        if reference is None or (secondary is not None and secondary.id() != reference.id()):
            return
        # The one the secondary's STAC item row chose stays; the reference moves then.
        combo = self.reference_combo if reference.id() == self.secondary_item.layer_id \
            else self.secondary_combo
        for index in range(combo.count()):
            layer = combo.layer(index)
            if layer is not None and layer.id() != reference.id():
                combo.setLayer(layer)
                return

    def _layers_added(self, _layers) -> None:
        self._distinct_inputs()

    def _layers_removed(self, layer_ids) -> None:
        """End the comparison before the layers it draws go."""
        self.compare.end_if_drawing(layer_ids)

    def choices(self) -> Choices:
        mask = self.mask_combo.currentLayer()
        advanced = {key: combo.currentIndex() for key, combo in self.enums.items()
                    if key != "RESAMPLING" and combo.isEnabled()}
        if self.cog.isEnabled():
            advanced["COG"] = self.cog.isChecked()
        advanced.update(offset_pick.offset_parameters(self.initial_offset))
        return Choices(
            reference=_source(self.reference_combo.currentLayer()),
            secondary=_source(self.secondary_combo.currentLayer()),
            output=self.output.filePath(),
            reference_band=max(self.reference_band.currentBand(), 1),
            secondary_band=max(self.secondary_band.currentBand(), 1),
            mask=mask.source() if mask else None,
            max_shift=self.max_shift.value(),
            resampling=max(self.enums["RESAMPLING"].currentIndex(), 0),
            advanced=advanced)

    def parameters(self) -> dict:
        method = self.current_method()
        return methods.parameters(method, self.choices()) if method else {}

    def validate(self, *_args) -> bool:
        """Show what is wrong next to each field; Run is enabled only when nothing is."""
        method = self.current_method()
        bands = method is None or method.uses_bands
        problems = validation.check_choices(
            self.reference_combo.currentLayer(),
            self.reference_band.currentBand() if bands else 1,
            self.secondary_combo.currentLayer(),
            self.secondary_band.currentBand() if bands else 1,
            self.output.filePath(), self.project.transformContext(),
            self.mask_combo.currentLayer())
        if method is None:
            problems[validation.GENERAL] = "No coregistration algorithm is available: is the " \
                                           "Coreg provider enabled in Processing?"
        elif not problems:
            problems.update(self._algorithm_problem(method))
        for key, label in ((validation.REFERENCE, self.reference_error),
                           (validation.SECONDARY, self.secondary_error),
                           (validation.MASK, self.mask_error),
                           (validation.OUTPUT, self.output_error),
                           (validation.GENERAL, self.general_error)):
            label.setText(problems.get(key, ""))
            label.setVisible(key in problems)
        valid = not problems
        self.run_button.setEnabled(valid and self.task is None)
        for button in (self.processing_button, self.command_button):
            button.setEnabled(method is not None)
        return valid

    def _algorithm_problem(self, method: Method) -> dict:
        """The algorithm's own check of the parameters (e.g. incompatible options)."""
        context = QgsProcessingContext()
        context.setProject(self.project)
        ok, message = methods.algorithm(method).checkParameterValues(self.parameters(), context)
        return {} if ok else {validation.GENERAL: message}

    # ------------------------------------------------------------------ running

    def run(self) -> bool:
        """Start the algorithm as a background task; returns whether it started."""
        if self.task is not None or not self.validate():
            return False
        method = self.current_method()
        alg = QgsApplication.processingRegistry().createAlgorithmById(method.algorithm_id)
        # No project in the worker thread's context: QgsProject's expression scope is not
        # thread-safe (a canvas refresh during a run crashed QGIS 3.22 in
        # QgsProject::createExpressionContextScope), and the inputs are read from their
        # files. The outputs still load into the project (see methods.for_project).
        context = QgsProcessingContext()
        context.setTransformContext(self.project.transformContext())
        context.setEllipsoid(self.project.ellipsoid())
        feedback = _Feedback()
        names = self._output_names(method)
        task = QgsProcessingAlgRunnerTask(
            alg, methods.for_project(self.parameters(), self.project, names), context, feedback)
        task.executed.connect(self._finished)
        task.progressChanged.connect(self._progress)
        self._run = (context, feedback, self.reference_combo.currentLayer().id(),
                     self.secondary_combo.currentLayer().id())
        self.task = task
        self.save_settings()
        self.progress.setValue(0)
        self.status.setText(f"Running {method.label}…")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        QgsApplication.taskManager().addTask(task)
        return True

    def _progress(self, value: float) -> None:
        self.progress.setValue(int(value))

    def cancel(self) -> None:
        if self.task is not None:
            self.status.setText("Canceling…")
            self.task.cancel()

    def is_running(self) -> bool:
        return self.task is not None

    def _output_names(self, method: Method) -> dict[str, str]:
        name = self.secondary_combo.currentLayer().name()
        names = {"OUTPUT": f"{name} aligned", "DH_OUTPUT": f"{name} dh after alignment",
                 "DISPLACEMENT": f"{name} displacement",
                 "UNCERTAINTY": f"{name} field uncertainty (95 % radius, px)"}
        if method.vectors_key:
            names[method.vectors_key] = f"{name} {method.vectors_name}"
        return names

    def _finished(self, successful: bool, outputs: dict) -> None:
        context, feedback, reference_id, secondary_id = self._run
        self.task, self._run = None, None
        self.cancel_button.setEnabled(False)
        self.validate()
        if not successful:
            self.progress.setValue(0)
            self.clear_results()
            self.status.setText("Canceled: nothing was written." if feedback.isCanceled()
                                else "Failed: " + feedback.failure())
            return
        self.progress.setValue(100)
        self.compare.set_comparing(False)
        # The latest run replaces the previous one's layers (same names, same files).
        replaced = results.remove_outputs(self.project, self.run_layers)
        self.run_layers = None
        layers = results.load_outputs(context, outputs, feedback)
        # The inputs of this run, whatever the combo boxes show now.
        results.match_renderer(layers.get("OUTPUT"), self.project.mapLayer(secondary_id))
        self.run_layers = results.RunLayers({key: layer.id() for key, layer in layers.items()},
                                            secondary_id, reference_id)
        report = results.read_report(outputs["REPORT"]) if outputs.get("REPORT") else {}
        self.runs += 1
        self.results_box.setTitle(f"Result of run {self.runs}")
        self._show_summary(report)
        self._arrow_scale_changed(self.arrow_scale.value())
        self.show_aligned.setChecked(True)
        self._compare(True)
        # a DEM run writes its own page (dh maps, histograms, NMAD by slope class)
        self.report_page = (outputs.get("REPORT_PAGE")
                            or self._write_report_page(report, outputs.get("REPORT")))
        self.report_button.setEnabled(bool(self.report_page))
        self.status.setText(f"Done: {len(layers)} layer(s) added"
                            + (f", replacing the previous run's {replaced}." if replaced else "."))
        if self.iface is not None:
            self.iface.mapCanvas().refresh()

    def clear_results(self) -> None:
        """Hide the result of the previous run (its numbers are not this run's)."""
        self.compare.set_comparing(False)
        self._show_summary({})
        self.results_box.hide()
        self.report_page = ""

    # ------------------------------------------------------------------ inspection

    def _show_summary(self, report: dict) -> None:
        while self.summary.rowCount():
            self.summary.removeRow(0)
        ground = results.ground_shift(report, self.project.transformContext()) if report \
            else None
        for label, text, meaning in results.summary_entries(report, ground):
            value = QLabel(text)
            value.setWordWrap(True)
            name = QLabel(label)
            tip = results.EXPLAIN.get(meaning, "")
            for widget in (name, value):
                widget.setToolTip(tip)
            self.summary.addRow(name, value)
        self.results_box.setVisible(bool(report))

    def summary_text(self) -> dict[str, str]:
        """The summary as {label: text} (what the panel shows)."""
        rows = {}
        for row in range(self.summary.rowCount()):
            label = self.summary.itemAt(row, QFormLayout.ItemRole.LabelRole).widget()
            value = self.summary.itemAt(row, QFormLayout.ItemRole.FieldRole).widget()
            rows[label.text()] = value.text()
        return rows

    def vector_layers(self) -> list:
        """The shift-vector layers of the last run (still in the project)."""
        if self.run_layers is None:
            return []
        keys = {m.vectors_key for m in methods.METHODS if m.vectors_key}
        return self.run_layers.layers(self.project, keys)

    def _arrow_scale_changed(self, value: float) -> None:
        results.set_arrow_scale(self.project, value, self.vector_layers())

    def _compare(self, aligned: bool) -> None:
        if self.run_layers is not None:
            results.show_aligned(self.project, self.run_layers, aligned)

    # ------------------------------------------------------------------ compare tool

    def _canvas(self):
        return self.iface.mapCanvas() if self.iface is not None else None

    def _compare_layers(self, what: str):
        """(reference, ``what`` layer: "OUTPUT" or "SECONDARY") of the last run, or
        (None, None)."""
        if self.run_layers is None:
            return None, None
        top_id = self.run_layers.aligned_id if what == "OUTPUT" else self.run_layers.secondary_id
        return (self.project.mapLayer(self.run_layers.reference_id),
                self.project.mapLayer(top_id))

    # ------------------------------------------------------------------ report page

    def _write_report_page(self, report: dict, report_path: str | None) -> str:
        """Write ``<report>.html`` beside the JSON report; '' if there is none."""
        if not report or not report_path:
            return ""
        reference = self.project.mapLayer(self.run_layers.reference_id)
        secondary = self.project.mapLayer(self.run_layers.secondary_id)
        try:
            return report_page.write_for_run(report, report_path, reference, secondary,
                                             self.vector_layers(), self.project)
        except OSError as error:
            self.status.setText(f"Could not write the report page: {error}")
            return ""

    def open_report(self) -> bool:
        """Open the last run's HTML report in the web browser."""
        if not self.report_page:
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(self.report_page))

    # ------------------------------------------------------------------ hand-over

    def open_processing_dialog(self):
        """The same run in the generic Processing dialog (e.g. to start a batch)."""
        import processing

        method = self.current_method()
        params = self.parameters()
        for key in ("REFERENCE", method.secondary_key):
            layer = (self.reference_combo if key == "REFERENCE" else self.secondary_combo)
            if layer.currentLayer() is not None:
                params[key] = layer.currentLayer().id()
        self.processing_dialog = processing.createAlgorithmDialog(method.algorithm_id, params)
        self.processing_dialog.show()
        return self.processing_dialog

    def command(self) -> str:
        return methods.qgis_process_command(self.current_method().algorithm_id,
                                            self.parameters())

    def copy_command(self) -> str:
        command = self.command()
        QApplication.clipboard().setText(command)
        self.status.setText("qgis_process command copied to the clipboard.")
        return command

    # ------------------------------------------------------------------ settings

    def save_settings(self) -> None:
        settings = QgsSettings()
        choices = self.choices()
        values = {"reference": choices.reference, "reference_band": choices.reference_band,
                  "secondary": choices.secondary, "secondary_band": choices.secondary_band,
                  "mask": choices.mask or "", "method": self.current_method().key,
                  "max_shift": choices.max_shift, "output": choices.output,
                  "cog": self.cog.isChecked(), "arrow_scale": self.arrow_scale.value(),
                  **{key.lower(): combo.currentIndex() for key, combo in self.enums.items()}}
        for key, value in values.items():
            settings.setValue(SETTINGS_PREFIX + key, value)

    def restore_settings(self) -> None:
        settings = QgsSettings()

        def value(key, default=None, kind=str):
            return settings.value(SETTINGS_PREFIX + key, default, type=kind)

        keys = [self.method_combo.itemData(i).key for i in range(self.method_combo.count())]
        if value("method", "") in keys:
            self.method_combo.setCurrentIndex(keys.index(value("method")))
        for name, combo, band in (("reference", self.reference_combo, self.reference_band),
                                  ("secondary", self.secondary_combo, self.secondary_band)):
            _select_source(combo, value(name, ""))
            band.setBand(value(f"{name}_band", 1, int))
        _select_source(self.mask_combo, value("mask", ""))
        self.max_shift.setValue(value("max_shift", self.max_shift.clearValue(), float))
        self.output.setFilePath(value("output", ""))
        self.cog.setChecked(value("cog", False, bool))
        for key, combo in self.enums.items():
            index = value(key.lower(), -1, int)
            if 0 <= index < combo.count():
                combo.setCurrentIndex(index)
        self.arrow_scale.blockSignals(True)  # the project variable is set when results show
        self.arrow_scale.setValue(value("arrow_scale", results.arrow_scale(self.project), float))
        self.arrow_scale.blockSignals(False)


def _source(layer) -> str:
    return layer.source() if layer is not None else ""


def _select_source(combo: QgsMapLayerComboBox, source: str) -> None:
    """Select the project layer reading ``source``, if there is one."""
    if not source:
        return
    for layer in QgsProject.instance().mapLayers().values():
        if layer.source() == source:
            combo.setLayer(layer)
            if combo.currentLayer() is layer:
                return

