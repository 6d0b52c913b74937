"""The Coregister panel driven offscreen: validation, a background run on a real
Sentinel-2 crop with a known shift, the styled overlay, summary, before/after, cancel,
settings and the hand-over to Processing / qgis_process."""

from __future__ import annotations

import json
import shlex
import shutil
import time
from pathlib import Path

import pytest
from synthetic import Case, crop, make_secondary

BEIRUT = "optical/oscd_s2/beirut_S2_20150820_B02-B03-B04-B08.tif"
CUPERTINO = "optical/oscd_s2/cupertino_S2_20150918_B02-B03-B04-B08.tif"
LANDSAT = "optical/landsat_pairs/taizhou_LE07_20000317_B1-5_7.tif"
SHIFT = Case(2.3, -1.6)


@pytest.fixture(scope="module")
def rasters(shared_data, tmp_path_factory):
    """Reference: a 400 x 400 crop of a real scene (4 bands); secondary: its bands
    B08, B04, B03 misregistered by SHIFT; far: a crop of another city."""
    folder = tmp_path_factory.mktemp("ui_pair")
    reference = crop(shared_data / BEIRUT, folder / "reference.tif", 300, 300, 400)
    secondary = folder / "secondary.tif"
    make_secondary(reference, 4, secondary, SHIFT, extra_bands=(3, 2))
    far = crop(shared_data / CUPERTINO, folder / "far.tif", 0, 0, 100)
    return {"reference": reference, "secondary": secondary, "far": far}


@pytest.fixture
def layers(rasters, qgis_new_project, coreg_provider):
    from qgis.core import QgsProject, QgsRasterLayer

    added = {name: QgsRasterLayer(str(path), name) for name, path in rasters.items()}
    assert all(layer.isValid() for layer in added.values())
    QgsProject.instance().addMapLayers(list(added.values()))
    return added


@pytest.fixture
def panel(layers, qgis_iface):
    """A new panel without remembered settings (tests must not depend on their order)."""
    yield from new_panel(qgis_iface)


def new_panel(qgis_iface, *settings_prefixes: str):
    """A panel made after forgetting its settings (and those under ``settings_prefixes``),
    yielded, then stopped and let go: the body of the panel fixtures."""
    from qgis.core import QgsSettings

    from coreg.ui.panel import SETTINGS_PREFIX, CoregPanel

    for prefix in (SETTINGS_PREFIX, *settings_prefixes):
        QgsSettings().remove(prefix.rstrip("/"))
    widget = CoregPanel(qgis_iface)
    yield widget
    widget.cancel()
    wait_for(lambda: not widget.is_running())
    widget.teardown()
    widget.deleteLater()


def wait_for(predicate, timeout=60.0):
    """Process Qt events until ``predicate()`` holds (the task's signals need them)."""
    from qgis.PyQt.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the task"
        QCoreApplication.processEvents()
        time.sleep(0.005)


def fill(panel, layers, reference="reference", secondary="secondary", output=None):
    panel.reference_combo.setLayer(layers[reference])
    panel.reference_band.setBand(4)
    panel.secondary_combo.setLayer(layers[secondary])
    panel.secondary_band.setBand(1)
    panel.max_shift.setValue(10)
    panel.enums["TRANSFORM"].setCurrentIndex(0)
    if output is not None:
        panel.output.setFilePath(str(output))


def run_and_wait(panel):
    assert panel.run()
    wait_for(lambda: not panel.is_running())


# ------------------------------------------------------------------ validation


def test_methods_follow_the_registry(panel):
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    labels = [panel.method_combo.itemText(i) for i in range(panel.method_combo.count())]
    assert labels[0].startswith("Global") and any(label.startswith("DEM") for label in labels)
    local = registry.algorithmById("coreg:align_local") is not None
    assert any(label.startswith("Local") for label in labels) == local
    # Defaults, ranges, options and tooltips come from the algorithm's parameters.
    definition = registry.algorithmById("coreg:align_image").parameterDefinition("MAX_SHIFT")
    assert panel.max_shift.value() == definition.defaultValue() == 0  # 0: no limit
    assert panel.max_shift.maximum() == definition.maximum()
    assert panel.max_shift.toolTip() == definition.description()
    assert panel.enums["TRANSFORM"].itemText(1) == "Translation + rotation"


def test_same_layer_twice_is_refused_next_to_the_field(panel, layers, tmp_path):
    fill(panel, layers, secondary="reference", output=tmp_path / "out.tif")
    assert not panel.validate()
    assert not panel.secondary_error.isHidden()
    assert "another raster than the reference" in panel.secondary_error.text()
    assert not panel.run_button.isEnabled()
    assert not panel.run() and not panel.is_running()


def test_mask_cannot_be_an_input(panel, layers, tmp_path):
    fill(panel, layers, output=tmp_path / "out.tif")
    assert panel.validate()
    panel.mask_combo.setLayer(layers["secondary"])
    assert "cannot be the reference or the secondary" in panel.mask_error.text()
    assert not panel.mask_error.isHidden() and not panel.run_button.isEnabled()
    panel.mask_combo.setLayer(None)
    assert panel.run_button.isEnabled() and panel.mask_error.isHidden()


def test_non_overlapping_layers_are_refused(panel, layers, tmp_path):
    fill(panel, layers, secondary="far", output=tmp_path / "out.tif")
    panel.secondary_band.setBand(1)
    assert not panel.validate()
    assert "does not overlap" in panel.secondary_error.text()
    assert not panel.run_button.isEnabled() and not panel.run()
    assert not list(tmp_path.iterdir())


def test_missing_band_and_output_messages(layers):
    from qgis.core import QgsProject

    from coreg.ui.validation import OUTPUT, REFERENCE, check_choices

    problems = check_choices(layers["reference"], 9, layers["secondary"], 1,
                             layers["secondary"].source(), QgsProject.instance().transformContext())
    assert problems[REFERENCE] == "Band 9 does not exist: 'reference' has 4 band(s)."
    assert "would replace the input" in problems[OUTPUT]


def test_crs_problems(layers, shared_data, tmp_path):
    """A layer without CRS is refused; a UTM scene elsewhere goes through the CRS
    transform and is found not to overlap the (EPSG:4326) reference."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsProject, QgsRasterLayer

    from coreg.ui.validation import REFERENCE, SECONDARY, check_choices

    context = QgsProject.instance().transformContext()
    utm = QgsRasterLayer(str(shared_data / LANDSAT), "taizhou")
    assert utm.crs().authid() != layers["reference"].crs().authid()
    problems = check_choices(layers["reference"], 1, utm, 1, str(tmp_path / "o.tif"), context)
    assert "does not overlap the reference" in problems[SECONDARY]
    no_crs = QgsRasterLayer(str(layers["reference"].source()), "no crs")
    no_crs.setCrs(QgsCoordinateReferenceSystem())
    problems = check_choices(no_crs, 1, layers["secondary"], 1, str(tmp_path / "o.tif"),
                             context)
    assert problems[REFERENCE] == "'no crs' has no coordinate reference system; set one first."


def test_algorithm_check_is_shown(panel, layers, tmp_path):
    """Incompatible advanced options: the algorithm's own message, Run disabled."""
    fill(panel, layers, output=tmp_path / "out.tif")
    assert panel.validate()
    panel.enums["OUTPUT_MODE"].setCurrentIndex(0)  # geotransform only ...
    panel.enums["TRANSFORM"].setCurrentIndex(1)  # ... with a rotation
    assert not panel.run_button.isEnabled()
    assert "Translation" in panel.general_error.text()


# ------------------------------------------------------------------ a run


def test_run_loads_styled_layers_summary_and_before_after(panel, layers, tmp_path):
    """One background run; then every result the panel shows (one run: ~3 s)."""
    fill(panel, layers, output=tmp_path / "aligned.tif")
    run_and_wait(panel)
    assert panel.status.text().startswith("Done"), panel.status.text()
    check_layers(tmp_path)
    check_summary(panel, json.loads((tmp_path / "aligned_report.json").read_text()))
    check_before_after_and_arrow_scale(panel)


def check_layers(tmp_path):
    from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer

    by_name = {layer.name(): layer for layer in QgsProject.instance().mapLayers().values()}
    aligned = by_name["secondary aligned"]
    vectors = by_name["secondary shift vectors"]
    assert isinstance(aligned, QgsRasterLayer)
    assert Path(aligned.source()) == tmp_path / "aligned.tif"
    assert aligned.renderer().type() == by_name["secondary"].renderer().type()
    assert isinstance(vectors, QgsVectorLayer) and vectors.featureCount() > 0
    order = [node.layerId() for node in QgsProject.instance().layerTreeRoot().findLayers()]
    assert order.index(vectors.id()) < order.index(aligned.id())  # arrows drawn on top
    check_vector_style(vectors)


def check_vector_style(vectors):
    """Used patches: arrows (exaggerated by @coreg_arrow_scale) in five reliability classes,
    each a legend entry; rejected ones: markers at the patch, by reason, with a map tip."""
    renderer = vectors.renderer()
    assert renderer.type() == "RuleRenderer"
    rules = {rule.filterExpression(): rule for rule in renderer.rootRule().children()}
    assert set(rules) == {'"used" = 1', '"used" = 0'}
    colours = set()
    for rule in rules['"used" = 1'].children():
        generator = rule.symbol().symbolLayer(0)
        assert generator.layerType() == "GeometryGenerator"
        assert "@coreg_arrow_scale" in generator.geometryExpression()
        arrow = generator.subSymbol().symbolLayer(0)
        assert arrow.layerType() == "ArrowLine"
        colours.add(arrow.subSymbol().color().name())
        assert "reliability" in rule.filterExpression()
    assert len(colours) == 5
    for rule in rules['"used" = 0'].children():
        generator = rule.symbol().symbolLayer(0)
        assert generator.geometryExpression() == "end_point($geometry)"
        assert generator.subSymbol().symbolLayer(0).layerType() == "SimpleMarker"
    labels = [item.label() for item in renderer.legendSymbolItems()]
    assert "reliability 80-100 %" in labels and "rejected: weak match" in labels
    assert '"reason"' in vectors.mapTipTemplate()


def check_summary(panel, report):
    assert report["shift_x_px"] == pytest.approx(SHIFT.dx_px, abs=0.05)
    summary = panel.summary_text()
    assert summary["Shift x, y"] == (
        f"{report['shift_x_px']:+.3f} px, {report['shift_y_px']:+.3f} px")
    assert summary["Reliability"] == f"{report['reliability']:.1f} %"
    before, after = report["matching_score_before"], report["matching_score_after"]
    assert summary["Score before → after"] == f"{before:.3f} → {after:.3f}"
    assert after > before


def check_before_after_and_arrow_scale(panel):
    from qgis.core import QgsExpressionContextUtils, QgsProject

    project = QgsProject.instance()
    root = project.layerTreeRoot()
    run = panel.run_layers

    def visible(layer_id):
        return root.findLayer(layer_id).isVisible()

    assert visible(run.aligned_id) and not visible(run.secondary_id)
    panel.show_aligned.setChecked(False)
    assert not visible(run.aligned_id) and visible(run.secondary_id)
    assert visible(run.reference_id)
    panel.arrow_scale.setValue(55)
    scope = QgsExpressionContextUtils.projectScope(project)
    assert float(scope.variable("coreg_arrow_scale")) == 55


def test_algorithm_error_is_shown_in_the_panel(panel, layers, tmp_path):
    """A run that fails (shift larger than MAX_SHIFT) says why; nothing is added."""
    from qgis.core import QgsProject

    fill(panel, layers, output=tmp_path / "aligned.tif")
    panel.max_shift.setValue(1)
    count = len(QgsProject.instance().mapLayers())
    run_and_wait(panel)
    assert panel.status.text().startswith("Failed: ")
    assert "Maximum expected shift" in panel.status.text()  # the label, not MAX_SHIFT
    assert len(QgsProject.instance().mapLayers()) == count
    assert not list(tmp_path.iterdir())
    assert panel.results_box.isHidden() and panel.run_button.isEnabled()


# ------------------------------------------------------------------ cancel


@pytest.fixture(scope="module")
def big_pair(shared_data, tmp_path_factory):
    """The whole scene (1070 x 1180): a run long enough to be canceled midway."""
    folder = tmp_path_factory.mktemp("ui_big")
    secondary = folder / "big_secondary.tif"
    make_secondary(shared_data / BEIRUT, 4, secondary, SHIFT)
    return shared_data / BEIRUT, secondary


def test_cancel_stops_and_leaves_no_output(panel, big_pair, tmp_path):
    from qgis.core import QgsProject, QgsRasterLayer, QgsTask

    project = QgsProject.instance()
    big = {name: QgsRasterLayer(str(path), name)
           for name, path in zip(("big_reference", "big_secondary"), big_pair)}
    project.addMapLayers(list(big.values()))
    out = tmp_path / "out"
    out.mkdir()
    fill(panel, big, "big_reference", "big_secondary", output=out / "aligned.tif")
    panel.enums["RESAMPLING"].setCurrentIndex(2)
    count = len(project.mapLayers())
    assert panel.run()
    wait_for(lambda: panel.task is None or panel.task.status() == QgsTask.TaskStatus.Running)
    assert panel.is_running(), "the run ended before it could be canceled"
    panel.cancel_button.click()
    wait_for(lambda: not panel.is_running())
    assert panel.status.text() == "Canceled: nothing was written."
    assert list(out.iterdir()) == []
    assert len(project.mapLayers()) == count
    assert panel.run_button.isEnabled()


# ------------------------------------------------------------------ hand-over


def test_settings_are_remembered(panel, layers, qgis_iface, tmp_path):
    from coreg.ui.panel import CoregPanel

    fill(panel, layers, output=tmp_path / "remembered.tif")
    panel.max_shift.setValue(7.5)
    panel.enums["RESAMPLING"].setCurrentIndex(1)
    panel.save_settings()
    again = CoregPanel(qgis_iface)
    try:
        assert again.reference_combo.currentLayer() is layers["reference"]
        assert again.secondary_combo.currentLayer() is layers["secondary"]
        assert again.reference_band.currentBand() == 4
        assert again.max_shift.value() == 7.5
        assert again.enums["RESAMPLING"].currentIndex() == 1
        assert again.output.filePath() == str(tmp_path / "remembered.tif")
        assert again.parameters() == panel.parameters()
    finally:
        again.teardown()
        again.deleteLater()


def test_copied_qgis_process_command_runs_headless(panel, layers, tmp_path, rasters,
                                                   qgis_process_runner):
    """The clipboard holds a shell command that runs the same alignment as is (one
    qgis_process call, ~5 s; the output name has a space to exercise the quoting)."""
    from qgis.PyQt.QtWidgets import QApplication

    fill(panel, layers, output=tmp_path / "my out.tif")
    command = panel.copy_command()
    assert QApplication.clipboard().text() == command
    args = shlex.split(command)
    program = "qgis_process.bin" if shutil.which("qgis_process.bin") else "qgis_process"
    assert args[:4] == [program, "run", "coreg:align_image", "--"]
    values = dict(arg.split("=", 1) for arg in args[4:])
    assert values["REFERENCE"] == str(rasters["reference"])
    assert values["REFERENCE_BAND"] == "4" and values["TRANSFORM"] == "0"
    assert values["SHIFT_VECTORS"] == str(tmp_path / "my out_shift_vectors.gpkg")
    assert values["COG"] == "false"
    assert "MASK" not in values  # no mask unless chosen
    code, stdout, stderr = qgis_process_runner(*args[1:])
    assert code == 0, stdout + stderr
    assert (tmp_path / "my out.tif").is_file()
    report = json.loads((tmp_path / "my out_report.json").read_text())
    assert report["shift_x_px"] == pytest.approx(SHIFT.dx_px, abs=0.05)


def test_open_in_processing_dialog(panel, layers, tmp_path, qgis_iface, monkeypatch):
    from qgis.gui import QgsBrowserGuiModel

    browser = QgsBrowserGuiModel()  # pytest-qgis' iface mocks it; the dialog needs one
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser, raising=False)
    fill(panel, layers, output=tmp_path / "aligned.tif")
    dialog = panel.open_processing_dialog()
    try:
        assert dialog.algorithm().id() == "coreg:align_image"
        values = dialog.mainWidget().createProcessingParameters()
        assert values["REFERENCE_BAND"] == 4 and values["MAX_SHIFT"] == 10
        assert values["SECONDARY"] == layers["secondary"].id()
    finally:
        dialog.close()
        dialog.deleteLater()


# ------------------------------------------------------------------ DEM method

ASTER = "dem/exploradores_aster/AST_L1A_00303182012144228_Z.tif"


def test_dem_method_runs_align_dem_and_shows_nmad(panel, shared_data, tmp_path):
    """The DEM method: no bands, the secondary goes to DEM, the dh raster is styled by
    the algorithm's own post-processor, the summary shows x, y, z and NMAD."""
    from dem_synthetic import shift_dem
    from qgis.core import QgsProject, QgsRasterLayer

    reference = crop(shared_data / ASTER, tmp_path / "dem_ref.tif", 100, 100, 300)
    truth = shift_dem(reference, tmp_path / "dem_sec.tif", 0.62, -1.37, 4.5)
    dems = {name: QgsRasterLayer(str(tmp_path / f"{name}.tif"), name)
            for name in ("dem_ref", "dem_sec")}
    QgsProject.instance().addMapLayers(list(dems.values()))
    panel.method_combo.setCurrentIndex(panel.method_combo.findText("DEM (Nuth & Kääb)"))
    panel.reference_combo.setLayer(dems["dem_ref"])
    panel.secondary_combo.setLayer(dems["dem_sec"])
    panel.output.setFilePath(str(tmp_path / "dem_aligned.tif"))
    params = panel.parameters()
    assert params["DEM"] == dems["dem_sec"].source()
    assert not {"SECONDARY", "REFERENCE_BAND", "MAX_SHIFT", "TRANSFORM"} & set(params)
    assert not panel.enums["TRANSFORM"].isEnabled() and not panel.max_shift.isEnabled()
    run_and_wait(panel)
    assert panel.status.text().startswith("Done"), panel.status.text()
    by_name = {layer.name(): layer for layer in QgsProject.instance().mapLayers().values()}
    assert by_name["dem_sec dh after alignment"].renderer().type() == "singlebandpseudocolor"
    assert "dem_sec aligned" in by_name
    report = json.loads((tmp_path / "dem_aligned_report.json").read_text())
    assert report["shift_z"] == pytest.approx(truth[2], abs=0.1)
    summary = panel.summary_text()
    assert summary["Shift x, y, z"] == ", ".join(
        f"{report[k]:+.3f}" for k in ("shift_x", "shift_y", "shift_z"))
    assert summary["NMAD before → after"] == (
        f"{report['nmad_before']:.3f} → {report['nmad_after']:.3f}")
    # the report button opens the DEM's own page, written by the algorithm
    assert panel.report_page == str(tmp_path / "dem_aligned_report.html")
    page = (tmp_path / "dem_aligned_report.html").read_text(encoding="utf-8")
    assert "NMAD by slope class" in page and page.count("data:image/png;base64,") == 2


# ------------------------------------------------------------------ initial offset on the map


def test_correction_is_reference_minus_secondary_in_the_reference_crs():
    from qgis.core import QgsCoordinateReferenceSystem, QgsPointXY, QgsProject

    from coreg.ui.offset_pick import correction

    utm = QgsCoordinateReferenceSystem("EPSG:32636")
    context = QgsProject.instance().transformContext()
    assert correction(QgsPointXY(700120, 3740050), QgsPointXY(700100, 3740080), utm, utm,
                      context) == pytest.approx((20, -30))
    # Clicked on a geographic canvas: measured in the reference's metres.
    wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
    dx, dy = correction(QgsPointXY(35.5002, 33.85), QgsPointXY(35.5, 33.85), wgs84, utm,
                        context)
    assert dx == pytest.approx(0.0002 * 111320 * 0.8305, rel=0.01) and abs(dy) < 1


def test_panel_picks_two_points_into_align_image_parameters(panel, layers, tmp_path,
                                                            qgis_iface):
    from qgis.core import QgsPointXY

    fill(panel, layers, output=tmp_path / "out.tif")
    canvas = qgis_iface.mapCanvas()
    canvas.setDestinationCrs(layers["reference"].crs())
    assert panel.pick_button.isEnabled()  # the global method is the first
    assert "INITIAL_OFFSET" not in panel.parameters()

    assert panel.pick_offset() and canvas.mapTool() is panel.pick_tool
    x, y = layers["reference"].extent().center().x(), layers["reference"].extent().center().y()
    panel.pick_tool.click(QgsPointXY(x + 25, y - 15))
    assert "secondary" in panel.status.text()
    panel.pick_tool.click(QgsPointXY(x, y))

    parameters = panel.parameters()
    dx, dy = (float(v) for v in parameters["INITIAL_OFFSET"].split(","))
    assert (dx, dy) == pytest.approx((25, -15)) and parameters["INITIAL_OFFSET_UNITS"] == 1
    assert panel.pick_tool is None and canvas.mapTool() is not panel._retired_pick
    panel.secondary_combo.setLayer(layers["far"])  # another pair: the offset is forgotten
    assert "INITIAL_OFFSET" not in panel.parameters()
