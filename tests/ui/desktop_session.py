"""Drive the Coreg panel in the real QGIS desktop, by mouse and keyboard events (QTest) on
its widgets: run by test_plugin_gui.py as ``qgis --code desktop_session.py`` under Xvfb,
with the plugin enabled in a throwaway profile.

Reads its inputs from the JSON in $COREG_DESKTOP_ARGS (pair, big_pair, out, result) and
writes the state after each step, the Python errors (sys.excepthook and the message
log's "Python error" tag) and screenshots into ``out``; then quits QGIS.
"""

import json
import os
import sys
import time
import traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsTask
from qgis.PyQt.QtCore import QPoint, Qt, QTimer
from qgis.PyQt.QtTest import QTest
from qgis.PyQt.QtWidgets import QCheckBox, QLineEdit, QToolButton
from qgis.utils import iface, plugins

ARGS = json.loads(os.environ["COREG_DESKTOP_ARGS"])
OUT = Path(ARGS["out"])
STEP_TIMEOUT = 120.0
ERRORS: list = []
STATE: dict = {}


def _hook(previous):
    def hook(kind, value, tb):
        ERRORS.append("".join(traceback.format_exception(kind, value, tb)))
        previous(kind, value, tb)
    return hook


sys.excepthook = _hook(sys.excepthook)
QgsApplication.messageLog().messageReceived.connect(
    lambda message, tag, _level: ERRORS.append(message) if tag == "Python error" else None)


def shot(name):
    QgsApplication.processEvents()
    iface.mainWindow().grab().save(str(OUT / f"{name}.png"))


def click(widget, pos=None):
    """A left click, on the check box's box for check boxes, scrolled into view first."""
    scroll = plugins["coreg"].launcher.dock.scroll if plugins["coreg"].launcher.dock else None
    if scroll is not None and scroll.widget().isAncestorOf(widget):
        scroll.ensureWidgetVisible(widget)
    if pos is None and isinstance(widget, QCheckBox):
        pos = QPoint(6, widget.height() // 2)
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     pos or widget.rect().center())


def choose(combo, layer):
    """Select ``layer`` with the arrow keys, as a user tabbing through the form would."""
    combo.setFocus()
    for _ in range(combo.count()):
        if combo.currentLayer() is not None and combo.currentLayer().id() == layer.id():
            return
        QTest.keyClick(combo, Qt.Key.Key_Down)
    if combo.currentLayer() is None or combo.currentLayer().id() != layer.id():
        for _ in range(combo.count()):
            QTest.keyClick(combo, Qt.Key.Key_Up)
            if combo.currentLayer().id() == layer.id():
                return
    raise AssertionError(f"could not choose {layer.name()}")


def retype(line_edit, text):
    """Select all, erase, then type ``text`` one key at a time."""
    line_edit.setFocus()
    QTest.keyClick(line_edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(line_edit, Qt.Key.Key_Backspace)
    for char in text:
        QTest.keyClicks(line_edit, char)


def layer_names():
    return sorted(layer.name() for layer in QgsProject.instance().mapLayers().values())


def visible_ids():
    return [node.layerId() for node in QgsProject.instance().layerTreeRoot().findLayers()
            if node.isVisible()]


def steps():
    """The session; each ``yield`` waits for its predicate (processing events)."""
    project = QgsProject.instance()
    pair = [QgsRasterLayer(path, Path(path).stem) for path in ARGS["pair"]]
    project.addMapLayers(pair)
    iface.setActiveLayer(pair[0])
    iface.zoomToActiveLayer()
    plugin = plugins["coreg"]
    buttons = [b for b in iface.mainWindow().findChildren(QToolButton)
               if b.defaultAction() is plugin.launcher.action and b.isVisible()]
    if buttons:
        click(buttons[0])
    else:
        plugin.launcher.action.trigger()
    yield lambda: plugin.launcher.dock is not None and plugin.launcher.dock.isVisible()
    dock = plugin.launcher.dock
    panel = dock.panel
    yield None
    QgsApplication.processEvents()
    STATE["dock"] = {
        "width": dock.width(), "panel_minimum": panel.minimumSizeHint().width(),
        "horizontal_scroll": dock.scroll.horizontalScrollBar().maximum(),
        "reference": panel.reference_combo.currentLayer().name(),
        "secondary": panel.secondary_combo.currentLayer().name(),
        "shown": [panel.reference_combo.shown_text(), panel.secondary_combo.shown_text()],
        "errors_shown": [label.text() for label in (panel.reference_error,
                                                     panel.secondary_error)
                         if not label.isHidden()]}
    shot("01_opened")
    # Layers chosen with the keyboard: the 2016 scene is the reference.
    choose(panel.reference_combo, pair[0])
    choose(panel.secondary_combo, pair[1])
    edit = panel.output.findChild(QLineEdit)
    output = str(OUT / "run" / "aligned.tif")
    (OUT / "run").mkdir()
    retype(edit, output)
    STATE["typed"] = {"path": panel.output.filePath(), "errors": list(ERRORS)}
    # Run twice.
    runs = []
    for _run in (1, 2):
        click(panel.run_button)
        yield lambda: not panel.is_running() and panel.status.text()[:4] in ("Done", "Fail")
        runs.append({"status": panel.status.text(), "names": layer_names(),
                     "outputs": dict(panel.run_layers.outputs),
                     "summary": panel.summary_text(), "title": panel.results_box.title()})
    STATE["runs"] = runs
    run = panel.run_layers
    shot("02_second_run")
    # Before/after by the check box.
    click(panel.show_aligned)
    STATE["after_unticked"] = {"aligned_visible": run.aligned_id in visible_ids(),
                               "secondary_visible": run.secondary_id in visible_ids(),
                               "first_run_layers_left": [
                                   i for i in runs[0]["outputs"].values()
                                   if project.mapLayer(i) is not None]}
    click(panel.show_aligned)
    # Compare: swipe follows the mouse over the map; then blink; the pan tool ends it.
    click(panel.compare.button)
    canvas = iface.mapCanvas()
    yield lambda: panel.compare.item is not None and panel.compare.item.ready()
    QTest.mouseMove(canvas.viewport(), QPoint(canvas.width() // 3, canvas.height() // 2))
    yield lambda: panel.compare.item.split_x is not None
    STATE["compare"] = {"tool_active": canvas.mapTool() is panel.compare.tool,
                        "split_x": panel.compare.item.split_x, "canvas_width": canvas.width()}
    shot("03_swipe")
    panel.compare.mode.setFocus()
    QTest.keyClick(panel.compare.mode, Qt.Key.Key_Down)
    blink = panel.compare.item
    shown = blink.top_shown
    yield lambda: blink.top_shown != shown
    STATE["compare"]["blinked"] = True
    iface.actionPan().trigger()
    STATE["compare"]["ended_by_pan"] = (panel.compare.tool is None
                                        and not panel.compare.button.isChecked())
    STATE["report_page"] = panel.report_page
    # Fail once: a maximum shift below the real one.
    spin = panel.max_shift.findChild(QLineEdit)
    retype(spin, "0.5")
    QTest.keyClick(spin, Qt.Key.Key_Tab)
    click(panel.run_button)
    yield lambda: not panel.is_running() and panel.status.text()[:4] in ("Done", "Fail")
    STATE["failed"] = {"status": panel.status.text(),
                       "results_hidden": panel.results_box.isHidden(),
                       "summary_rows": panel.summary.rowCount()}
    shot("04_failed")
    # Cancel once, on a run long enough to be canceled.
    big = [QgsRasterLayer(path, Path(path).stem) for path in ARGS["big_pair"]]
    project.addMapLayers(big)
    choose(panel.reference_combo, big[0])
    choose(panel.secondary_combo, big[1])
    retype(spin, "20")
    QTest.keyClick(spin, Qt.Key.Key_Tab)
    (OUT / "cancel").mkdir()
    retype(edit, str(OUT / "cancel" / "big.tif"))
    click(panel.run_button)
    yield lambda: panel.task is None or panel.task.status() == QgsTask.TaskStatus.Running
    click(panel.cancel_button)
    yield lambda: not panel.is_running()
    STATE["canceled"] = {"status": panel.status.text(),
                         "files": sorted(p.name for p in (OUT / "cancel").iterdir()),
                         "results_hidden": panel.results_box.isHidden()}
    shot("05_canceled")


class Driver:
    def __init__(self, generator):
        self.generator, self.wait, self.deadline = generator, None, 0.0
        self.timer = QTimer()
        self.timer.timeout.connect(self.tick)
        self.timer.start(50)

    def tick(self):
        try:
            if self.wait is not None and not self.wait():
                if time.monotonic() > self.deadline:
                    raise TimeoutError("step timed out")
                return
            self.wait = next(self.generator)
            self.deadline = time.monotonic() + STEP_TIMEOUT
        except StopIteration:
            self.finish()
        except Exception:
            STATE["failure"] = traceback.format_exc()
            self.finish()

    def finish(self):
        self.timer.stop()
        STATE["errors"] = ERRORS
        Path(ARGS["result"]).write_text(json.dumps(STATE, indent=1), encoding="utf-8")
        QgsProject.instance().setDirty(False)
        os._exit(0)  # no "save the project?" question, no teardown to wait for


DRIVER = Driver(steps())
