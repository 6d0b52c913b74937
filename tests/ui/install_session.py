"""Drive Coreg's Install message bar in the real QGIS desktop by mouse clicks (QTest):
run by test_install_gui.py as ``qgis --code install_session.py`` under Xvfb (and by hand in
a fresh Debian root with a package really removed).

$COREG_INSTALL_ARGS (JSON): ``out`` (screenshots, state), ``result`` (state JSON path),
``fake`` (optional: a requirement ``[module, pip name, minimum]`` added to Coreg's list,
as if it were missing: pip then installs it from wherever the environment says, e.g. a
local wheel folder), ``cleanup`` (true: expect the "copies in your profile" message and
click Remove instead of installing).  Records each message (text, level, whether the text
fits its box) and a screenshot of the window and of each dialog; then quits QGIS.
"""

import json
import os
import sys
import time
import traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtTest import QTest
from qgis.PyQt.QtWidgets import QPushButton, QTextBrowser
from qgis.utils import iface, plugins

ARGS = json.loads(os.environ["COREG_INSTALL_ARGS"])
OUT = Path(ARGS["out"])
STEP_TIMEOUT = 600.0
ERRORS: list = []
STATE: dict = {"messages": []}


def _hook(previous):
    def hook(kind, value, tb):
        ERRORS.append("".join(traceback.format_exception(kind, value, tb)))
        previous(kind, value, tb)
    return hook


sys.excepthook = _hook(sys.excepthook)
QgsApplication.messageLog().messageReceived.connect(
    lambda message, tag, _level: ERRORS.append(message) if tag == "Python error" else None)


def shot(name, widget=None):
    QgsApplication.processEvents()
    (widget or iface.mainWindow()).grab().save(str(OUT / f"{name}.png"))


def item():
    return plugins["coreg"].dependency_installer.item


def record(name):
    """The current Coreg message: text, level, buttons, and whether the text fits."""
    current = item()
    browser = current.findChild(QTextBrowser)
    fits = None
    if browser is not None:
        document = browser.document().size()
        fits = (browser.horizontalScrollBar().maximum() == 0
                and browser.verticalScrollBar().maximum() == 0
                and document.width() <= browser.viewport().width() + 1
                and document.height() <= browser.viewport().height() + 1)
    entry = {"step": name, "text": current.text(), "level": int(current.level()),
             "buttons": [b.text() for b in current.findChildren(QPushButton)],
             "fits": fits, "bar_width": iface.messageBar().width()}
    STATE["messages"].append(entry)
    shot(name)
    return entry


def click(label):
    [button] = [b for b in item().findChildren(QPushButton) if b.text() == label]
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def details(name):
    click("Details")
    dialog = plugins["coreg"].dependency_installer.details
    QgsApplication.processEvents()
    shot(name, dialog)
    STATE[name] = dialog.text.toPlainText()
    dialog.close()


def align_sample(name):
    """Run Align image on ARGS["sample"] (reference, secondary) if given: the shift found
    with the packages now in use, and the rasterio that found it."""
    if not ARGS.get("sample"):
        return
    import processing
    import rasterio

    reference, secondary = ARGS["sample"]
    report = OUT / f"{name}_report.json"
    processing.run("coreg:align_image", {
        "REFERENCE": reference, "REFERENCE_BAND": 4, "SECONDARY": secondary, "TRANSFORM": 0,
        "OUTPUT": str(OUT / f"{name}_aligned.tif"), "SHIFT_VECTORS": "TEMPORARY_OUTPUT",
        "REPORT": str(report)})
    result = json.loads(report.read_text())
    STATE[name] = {"shift_x_map": result["shift_x_map"], "shift_y_map": result["shift_y_map"],
                   "rasterio": rasterio.__version__, "rasterio_file": rasterio.__file__,
                   "gdal": rasterio.__gdal_version__}


def steps():
    plugin = plugins["coreg"]
    deps = plugin.dependency_installer
    yield None
    if ARGS.get("fake"):
        from coreg.provider import dependencies

        module, pip_name, minimum = ARGS["fake"]
        dependencies.REQUIRED_PACKAGES = (*dependencies.REQUIRED_PACKAGES, dependencies.Requirement(
            module, pip_name, f"python3-{module}", minimum))
        plugin.provider.refreshAlgorithms()
        deps.offer(plugin.problems())
    STATE["problems_at_start"] = [p.describe() for p in plugin.problems()]
    if ARGS.get("cleanup"):
        record("01_profile_copies")
        details("02_profile_copies_details")
        click("Remove")
        record("03_removed")
        align_sample("run_after_cleanup")
        return
    record("01_offer")
    details("02_offer_details")
    click("Install…")
    asking = item()
    record("03_asking")
    yield lambda: item() is not asking and not deps.running
    record("04_plan")
    if "Install" not in [b.text() for b in item().findChildren(QPushButton)]:
        return
    details("05_plan_details")
    click("Install")
    installing = item()
    record("06_installing")
    yield lambda: item() is not installing and not deps.running
    record("07_done")
    details("08_done_details")
    STATE["problems_after"] = [p.describe() for p in plugin.problems()]
    STATE["stand_ins_left"] = [a.name() for a in plugin.provider.algorithms()
                               if not a.canExecute()[0]]
    plugin.diagnostics.action.trigger()
    QgsApplication.processEvents()
    shot("09_diagnostics", plugin.diagnostics.dialog)
    STATE["diagnostics"] = plugin.diagnostics.dialog.text.toPlainText()
    plugin.diagnostics.dialog.close()
    align_sample("run_after_install")


class Driver:
    def __init__(self, generator):
        self.generator, self.wait, self.deadline = generator, None, 0.0
        self.timer = QTimer()
        self.timer.timeout.connect(self.tick)
        self.timer.start(100)

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
        os._exit(0)


iface.mainWindow().showMaximized()
DRIVER = Driver(steps())
