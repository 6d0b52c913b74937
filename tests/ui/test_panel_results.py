"""The panel's inspection of runs, offscreen: paths typed from '/', repeated runs that
replace their layers, a failure that clears the result, distinct default layers and
labels, the shift in pixels / metres / map units with explanations, the compare map
tool (swipe, blink, opacity) and the HTML report."""

from __future__ import annotations

import json
import math
import sys

import pytest
from test_dialog import fill, layers, panel, rasters, run_and_wait, wait_for  # noqa: F401


@pytest.fixture
def python_errors(monkeypatch):
    """Exceptions raised in Qt slots (they go to sys.excepthook), collected."""
    errors = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, tb: errors.append(value))
    return errors


# ------------------------------------------------------------------ item 1: typing '/'


def test_output_path_typed_from_a_slash(panel, layers, tmp_path, python_errors):  # noqa: F811
    from qgis.PyQt.QtTest import QTest
    from qgis.PyQt.QtWidgets import QLineEdit

    from coreg.ui.methods import destinations

    fill(panel, layers)
    panel.output.setFilePath("")
    edit = panel.output.findChild(QLineEdit)
    text = str(tmp_path / "typed.tif")
    seen = []
    for char in text:
        QTest.keyClicks(edit, char)
        seen.append(panel.output_error.text())
        panel.parameters()  # what Copy as qgis_process and Processing read
    assert python_errors == []
    assert panel.output.filePath() == text
    assert "folder" in seen[0]  # "/" alone
    assert panel.validate() and panel.output_error.isHidden()
    assert destinations("/") == {"OUTPUT": "/"}
    assert destinations(str(tmp_path) + "/") == {"OUTPUT": str(tmp_path) + "/"}


# ------------------------------------------------------------------ item 2: the command


def test_command_uses_the_program_that_runs(monkeypatch, tmp_path):
    import shlex

    from coreg.ui import methods

    for name in ("qgis_process", "qgis_process.bin"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    command = methods.qgis_process_command("coreg:align_image",
                                           {"OUTPUT": "/d/it's here.tif", "MASK": ["a b"]})
    assert shlex.split(command) == ["qgis_process.bin", "run", "coreg:align_image", "--",
                                    "OUTPUT=/d/it's here.tif", "MASK=a b"]
    (tmp_path / "qgis_process.bin").unlink()
    assert methods.qgis_process_program() == "qgis_process"


# ------------------------------------------------------------------ item 5: defaults, names


def test_distinct_default_layers_and_labels(layers, qgis_iface):  # noqa: F811
    from qgis.core import QgsProject, QgsRasterLayer, QgsSettings

    from coreg.ui.panel import SETTINGS_PREFIX, CoregPanel

    QgsSettings().remove(SETTINGS_PREFIX.rstrip("/"))
    widget = CoregPanel(qgis_iface)
    try:
        reference = widget.reference_combo.currentLayer()
        secondary = widget.secondary_combo.currentLayer()
        assert reference is not None and secondary is not None
        assert reference.id() != secondary.id()
        # Two layers of one place: the labels keep what tells them apart.
        source = layers["reference"].source()
        names = ("abudhabi_S2_20160120_B02-B03-B04-B08", "abudhabi_S2_20180328_B02-B03-B04-B08")
        added = [QgsRasterLayer(source, name) for name in names]
        QgsProject.instance().addMapLayers(added)
        widget.reference_combo.setLayer(added[0])
        widget.secondary_combo.setLayer(added[1])
        width = widget.fontMetrics().horizontalAdvance("abudhabi_S2_201601")
        shown = [combo.shown_text(width) for combo in (widget.reference_combo,
                                                       widget.secondary_combo)]
        assert "20160120" in shown[0] and "20180328" in shown[1], shown
        assert all(widget.fontMetrics().horizontalAdvance(text) <= width for text in shown)
        assert names[0] in widget.reference_combo.toolTip()
    finally:
        widget.teardown()
        widget.deleteLater()


def test_distinct_text_keeps_the_differing_words():
    from coreg.ui.widgets import distinct_text

    def fits(n):
        return lambda text: len(text) <= n

    assert distinct_text("short", ["other"], fits(10)) == "short"
    text = distinct_text("S2A_T39RYH_20160120_B08", ["S2A_T39RYH_20180328_B08"], fits(16))
    assert "20160120" in text and len(text) <= 16 and text.startswith("S2A")
    # Same prefix, different band lists at the end.
    text = distinct_text("scene_2016_bands_B02-B03", ["scene_2016_bands_B04-B08"], fits(12))
    assert text.endswith("B02-B03") and len(text) <= 12
    # A layer named after this one ("... aligned") does not hide the date.
    text = distinct_text("S2A_T39RYH_20160120_B08", ["S2A_T39RYH_20180328_B08",
                                                     "S2A_T39RYH_20160120_B08 aligned"], fits(16))
    assert "20160120" in text
    assert distinct_text("abcdefghij", [], fits(5), lambda t: t[:2] + "…" + t[-2:]) == "ab…ij"


def test_dock_fits_its_content(qgis_iface, layers):  # noqa: F811
    from qgis.PyQt.QtCore import QCoreApplication

    from coreg.ui.launcher import CoregDock

    dock = CoregDock(qgis_iface)
    try:
        width = dock.content_width()
        assert width >= dock.panel.minimumSizeHint().width()
        assert dock.minimumWidth() >= dock.panel.minimumSizeHint().width()
        dock.resize(width, 900)
        dock.show()
        QCoreApplication.processEvents()
        assert dock.scroll.horizontalScrollBar().maximum() == 0  # nothing clipped
    finally:
        dock.panel.teardown()
        dock.deleteLater()


# ------------------------------------------------------------------ item 6: shift figures


def test_ground_shift_geographic_and_projected():
    from coreg.ui.results import ground_shift, summary_entries

    report = {"shift_x_map": -5.04464e-05, "shift_y_map": 0.000123303, "shift_x_px": -0.53,
              "shift_y_px": -1.3, "map_units_crs": "EPSG:4326", "rotation_centre_x": 54.4,
              "rotation_centre_y": 24.45}
    ground = ground_shift(report)
    # One degree of longitude at 24.45° N is 101.4 km, of latitude 110.8 km (WGS 84).
    assert ground.east_m == pytest.approx(-5.04464e-05 * 101_440, rel=2e-3)
    assert ground.north_m == pytest.approx(0.000123303 * 110_780, rel=2e-3)
    assert ground.units == "degrees" and ground.geodesic
    rows = {label: (text, key) for label, text, key in summary_entries(report, ground)}
    assert rows["Shift (map units)"][0] == "-5.045e-05, +1.233e-04 degrees (EPSG:4326)"
    assert rows["Shift east, north"][0] == (f"{ground.east_m:+.2f} m, {ground.north_m:+.2f} m "
                                            "(geodesic)")
    assert rows["Shift length"][0].startswith(f"{math.hypot(-0.53, -1.3):.3f} px = ")
    utm = ground_shift({"shift_x_map": 10.0, "shift_y_map": -20.0, "map_units_crs": "EPSG:32640",
                        "rotation_centre_x": 500000.0, "rotation_centre_y": 2700000.0})
    assert utm.units == "meters"
    # On the central meridian the UTM scale is 0.9996: the ground is slightly longer.
    assert utm.east_m == pytest.approx(10.0 / 0.9996, rel=1e-3)
    assert utm.north_m == pytest.approx(-20.0 / 0.9996, rel=1e-3)


# ------------------------------------------------------------------ runs: items 3, 4, 6, 8, 9


def _names():
    from qgis.core import QgsProject

    return sorted(layer.name() for layer in QgsProject.instance().mapLayers().values())


def test_runs_replace_fail_compare_and_report(panel, layers, tmp_path, qgis_iface,  # noqa: F811
                                              python_errors, monkeypatch):
    from qgis.core import QgsProject

    from coreg.ui import panel as panel_module

    project = QgsProject.instance()
    root = project.layerTreeRoot()
    fill(panel, layers, output=tmp_path / "first.tif")
    run_and_wait(panel)
    first = panel.run_layers
    assert panel.results_box.title() == "Result of run 1"
    fill(panel, layers, output=tmp_path / "second.tif")
    panel.secondary_band.setBand(2)
    run_and_wait(panel)
    assert panel.status.text().startswith("Done"), panel.status.text()
    # Item 3: the second run's layers replace the first's; names stay unique.
    assert all(project.mapLayer(i) is None for i in first.outputs.values())
    names = _names()
    assert names.count("secondary aligned") == 1 and len(names) == len(set(names))
    run = panel.run_layers
    aligned = project.mapLayer(run.aligned_id)
    assert aligned.source().endswith("second.tif")
    panel.show_aligned.setChecked(False)
    visible = [node.layer().id() for node in root.findLayers()
               if node.isVisible() and node.layer().type() == aligned.type()]
    assert run.aligned_id not in visible and run.secondary_id in visible
    panel.show_aligned.setChecked(True)
    # Item 6: pixels, metres and named map units, each explained in a tooltip.
    summary = panel.summary_text()
    assert summary["Shift east, north"].endswith("m (geodesic)")
    assert summary["Shift (map units)"].endswith("degrees (EPSG:4326)")
    tips = {panel.summary.itemAt(k, panel.summary.ItemRole.LabelRole).widget().text():
            panel.summary.itemAt(k, panel.summary.ItemRole.LabelRole).widget().toolTip()
            for k in range(panel.summary.rowCount())}
    assert "10 m east" in tips["Shift x, y"] and "peak" in tips["Reliability"]
    assert "1-sigma" in tips["Uncertainty"] and "SSIM" in tips["Score before → after"]
    check_compare(panel, qgis_iface, run)
    check_report(panel, tmp_path / "second_report.json")
    opened = []
    monkeypatch.setattr(panel_module.QDesktopServices, "openUrl",
                        lambda url: opened.append(url.toLocalFile()) or True)
    panel.report_button.click()
    assert opened == [str(tmp_path / "second_report.html")]
    # Item 4: a failed run clears the previous numbers.
    panel.max_shift.setValue(1)
    run_and_wait(panel)
    assert panel.status.text().startswith("Failed: ")
    assert panel.results_box.isHidden() and panel.summary.rowCount() == 0
    assert panel.compare.tool is None
    assert python_errors == []


def check_compare(panel, iface, run):  # noqa: F811
    """Swipe: the aligned raster left of the cursor, the reference right of it; the
    opacity slider fades it; blink alternates; another map tool ends it."""
    from qgis.core import QgsProject
    from qgis.gui import QgsMapMouseEvent, QgsMapToolPan
    from qgis.PyQt.QtCore import QEvent, QPoint, Qt
    from qgis.PyQt.QtGui import QImage, QPainter

    from coreg.ui import compare

    canvas = iface.mapCanvas()
    reference = QgsProject.instance().mapLayer(run.reference_id)
    canvas.resize(400, 300)
    canvas.window().show()
    wait_for(lambda: canvas.mapSettings().outputSize().width() > 300)
    canvas.setDestinationCrs(reference.crs())
    canvas.setExtent(reference.extent())
    assert panel.compare.set_comparing(True) and panel.compare.button.isChecked()
    assert canvas.mapTool() is panel.compare.tool
    item = panel.compare.item
    item.render()
    item.wait()
    wait_for(item.ready)

    top, below = item.images["top"], item.images["reference"]

    def painted():
        image = QImage(top.size(), QImage.Format.Format_ARGB32)
        image.fill(0)
        painter = QPainter(image)
        item.paint(painter)
        painter.end()
        return image

    x = int(top.width() * 0.3)
    move = QgsMapMouseEvent(canvas, QEvent.Type.MouseMove, QPoint(int(item.pos().x()) + x, 50),
                            Qt.MouseButton.NoButton, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    panel.compare.tool.canvasMoveEvent(move)
    assert item.split_in_item() == pytest.approx(x)
    image = painted()
    rows = range(40, image.height(), 17)  # below the labels
    columns = {"left": range(2, x - 4, 13), "right": range(x + 4, image.width(), 13)}

    def share(a, b, side):
        pairs = [(px, py) for px in columns[side] for py in rows
                 if top.pixelColor(px, py).alpha() == 255]  # not the aligned raster's nodata
        return sum(a.pixel(px, py) == b.pixel(px, py) for px, py in pairs) / len(pairs)

    assert share(image, top, "left") == 1 and share(image, below, "right") == 1
    assert share(top, below, "left") < 0.5  # the two layers differ there
    panel.compare.opacity.setValue(0)
    assert share(painted(), below, "left") == 1  # fully transparent: the reference
    panel.compare.opacity.setValue(100)
    panel.compare.mode.setCurrentIndex(panel.compare.mode.findData(compare.BLINK))
    assert item.mode == compare.BLINK and item.timer.isActive()
    shown = item.top_shown
    wait_for(lambda: item.top_shown != shown, timeout=3)
    pan = QgsMapToolPan(canvas)
    canvas.setMapTool(pan)  # another tool ends the comparison
    assert panel.compare.tool is None and not panel.compare.button.isChecked()
    assert item.scene() is None
    canvas.unsetMapTool(pan)


def check_report(panel, report_json):  # noqa: F811
    from html.parser import HTMLParser

    page = report_json.with_suffix(".html")
    assert panel.report_page == str(page) and page.is_file()
    text = page.read_text(encoding="utf-8")

    class Parser(HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.headings, self.rows, self._tag = [], [], 0, None

        def handle_starttag(self, tag, attrs):
            self._tag = tag
            if tag == "img":
                self.images.append(dict(attrs)["src"])
            self.rows += tag == "tr"

        def handle_data(self, data):
            if self._tag == "h2" and data.strip():
                self.headings.append(data.strip())

    parser = Parser()
    parser.feed(text)
    assert parser.headings == ["Summary", "Arrow map", "Residuals"]
    assert (page.parent / parser.images[0]).is_file()  # the map PNG beside it
    assert sum(src.startswith("data:image/png") for src in parser.images) >= 6  # legend
    report = json.loads(report_json.read_text())
    assert parser.rows > len(report["patches"])
    assert "Shift east, north" in text and "1-sigma" in text and "geodesic" in text


def test_report_page_for_a_stack(tmp_path):
    from coreg.ui.report_page import stack_report, write_page

    summary = tmp_path / "summary.csv"
    summary.write_text(
        "input,output_file,status,reason,pixel_shift_x,pixel_shift_y,rotation_deg,"
        "matching_score_before,matching_score_after\n"
        "/d/a.tif,/o/a.tif,anchor,,0,0,0,1,1\n"
        "/d/b.tif,/o/b.tif,aligned,,1.25,-0.5,0.01,0.4,0.8\n"
        "/d/c.tif,,failed,No reliable match,,,,,\n", encoding="utf-8")
    page = write_page(stack_report(summary), tmp_path / "stack.html", title="Stack")
    text = page.read_text(encoding="utf-8")
    assert text.count("<tr") == 4  # heading + one row per scene
    assert "b.tif" in text and "+1.250" in text and "No reliable match" in text


def test_report_page_for_tie_points(tmp_path):
    from coreg.ui.report_page import write_page

    report = {"kind": "coreg.align_local", "n_points": 2, "n_kept": 1,
              "rms_shift_before_px": 2.5, "rms_shift_after_px": 0.1,
              "points": [{"x": 1.0, "y": 2.0, "dx": 2.4, "dy": -1.5, "residual_dx": 0.05,
                          "residual_dy": -0.02, "reliability": 90.0, "score_before": 0.4,
                          "score_after": 0.8, "reason": ""},
                         {"x": 3.0, "y": 4.0, "dx": None, "dy": None, "residual_dx": None,
                          "residual_dy": None, "reliability": 0.0, "score_before": None,
                          "score_after": None, "reason": "low texture"}]}
    text = write_page(report, tmp_path / "local.html").read_text(encoding="utf-8")
    assert "<h2>Tie points</h2>" in text and "Tie points kept" in text
    assert "+2.400" in text and "rejected: low texture" in text
