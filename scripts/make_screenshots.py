"""Render the README screenshots offscreen from the real Abu Dhabi Sentinel-2 pair (two
dates from different UTM tiles, about 1.4 px apart), driving the Coregister panel with its
DEFAULT settings (only the two layers and the output file are chosen): the panel after
the run (dialog.png), the map with the shift-vector layer as its style draws it
(map.png), and the panel's compare map tool in swipe mode on a map canvas
(before_after.png). The layers are drawn in natural colour (a layer style, as a user
would set it in QGIS).

    scripts/headless.sh /usr/bin/python3 scripts/make_screenshots.py [OUT_DIR]   (default docs/)

tests/ui/test_screenshots.py calls make() in its pytest-qgis session, into a temporary folder.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
PAIR = ("optical/oscd_s2/abudhabi_S2_20160120_B02-B03-B04-B08.tif",
        "optical/oscd_s2/abudhabi_S2_20180328_B02-B03-B04-B08.tif")
MAP_SIZE = (900, 900)
PANEL_WIDTH = 560
CAPTION_HEIGHT = 40
COMPARE_SIZE = (900, 500)
COMPARE_PIXELS = 240  # reference pixels across the compare view
COMPARE_AT = (0.55, 0.50)  # the motorway junction: long straight edges show the shift


class _Iface:
    """The part of QgisInterface the panel uses, when no QGIS interface is given."""

    def __init__(self):
        from qgis.gui import QgsMapCanvas

        self.canvas = QgsMapCanvas()

    def mapCanvas(self):  # noqa: N802 - QGIS API
        return self.canvas


def make(out_dir: Path, data: Path = DATA, iface=None) -> dict[str, Path]:
    """Run the panel on the pair; write dialog.png, map.png and before_after.png."""
    from qgis.core import QgsExpressionContextUtils, QgsProject, QgsRasterLayer, QgsSettings

    from coreg.ui.panel import SETTINGS_PREFIX, CoregPanel
    from coreg.ui.results import ARROW_SCALE_VARIABLE

    out_dir.mkdir(parents=True, exist_ok=True)
    # The panel's defaults: no remembered session, no arrow scale set in the project.
    QgsSettings().remove(SETTINGS_PREFIX.rstrip("/"))
    QgsExpressionContextUtils.removeProjectVariable(QgsProject.instance(), ARROW_SCALE_VARIABLE)
    names = ("Abu Dhabi 2016", "Abu Dhabi 2018")
    layers = [QgsRasterLayer(str(data / path), name) for path, name in zip(PAIR, names)]
    for layer in layers:
        natural_colour(layer)
    QgsProject.instance().addMapLayers(layers)
    iface = iface or _Iface()
    panel = CoregPanel(iface)
    try:
        with tempfile.TemporaryDirectory(prefix="coreg-shots-") as work:
            run(panel, layers, Path(work) / "abudhabi_2018_aligned.tif")
            legend = (f"Shift vectors ×{panel.arrow_scale.value():g}: colour = reliability "
                      "(red 0 % → green 100 %), grey marks = rejected patches")
            shots = {"map": render_map([*panel.vector_layers(), layers[0]], layers[0],
                                       out_dir / "map.png", legend),
                     "before_after": compare_view(panel, iface.mapCanvas(), layers[0],
                                                  out_dir / "before_after.png")}
            panel.output.setFilePath("/data/abudhabi_2018_aligned.tif")  # a readable path
            shots["dialog"] = grab(panel, out_dir / "dialog.png")
    finally:
        panel.teardown()
        panel.deleteLater()
    return shots


def natural_colour(layer) -> None:
    """Red, green, blue = B04, B03, B02, stretched 2-98 %."""
    from qgis.core import QgsContrastEnhancement, QgsRasterMinMaxOrigin

    renderer = layer.renderer()
    renderer.setRedBand(3)
    renderer.setGreenBand(2)
    renderer.setBlueBand(1)
    layer.setContrastEnhancement(QgsContrastEnhancement.ContrastEnhancementAlgorithm
                                 .StretchToMinimumMaximum,
                                 QgsRasterMinMaxOrigin.Limits.CumulativeCut)


def run(panel, layers, output: Path) -> None:
    """Choose the two layers and the output, nothing else, and wait for the run."""
    panel.reference_combo.setLayer(layers[0])
    panel.secondary_combo.setLayer(layers[1])
    panel.output.setFilePath(str(output))
    if not panel.run():
        raise RuntimeError("the panel refused to run: " + panel.general_error.text()
                           + panel.secondary_error.text() + panel.output_error.text())
    wait(lambda: not panel.is_running(), 120)
    if not panel.status.text().startswith("Done"):
        raise RuntimeError(f"{panel.status.text()} ({panel.command()})")


def wait(predicate, seconds: float) -> None:
    from qgis.PyQt.QtCore import QCoreApplication

    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        QCoreApplication.processEvents()
        time.sleep(0.01)


def compare_view(panel, canvas, reference, path: Path, split: float = 0.62) -> Path:
    """The panel's compare tool in swipe mode on ``canvas``, zoomed on COMPARE_AT: the
    aligned raster left of the swipe line, the reference right of it."""
    from qgis.core import QgsPointXY, QgsRectangle

    canvas.window().resize(*COMPARE_SIZE)
    canvas.resize(*COMPARE_SIZE)
    canvas.window().show()
    wait(lambda: canvas.mapSettings().outputSize() == canvas.viewport().size(), 10)
    canvas.setDestinationCrs(reference.crs())
    full = reference.extent()
    centre = QgsPointXY(full.xMinimum() + COMPARE_AT[0] * full.width(),
                        full.yMaximum() - COMPARE_AT[1] * full.height())
    half_x = COMPARE_PIXELS / 2 * reference.rasterUnitsPerPixelX()
    half_y = half_x * COMPARE_SIZE[1] / COMPARE_SIZE[0]
    canvas.setExtent(QgsRectangle(centre.x() - half_x, centre.y() - half_y,
                                  centre.x() + half_x, centre.y() + half_y))
    if not panel.compare.set_comparing(True):
        raise RuntimeError("the compare tool did not start")
    item = panel.compare.item
    item.set_split(item.pos().x() + split * canvas.viewport().width())
    item.render()
    item.wait()
    wait(item.ready, 30)
    canvas.grab().save(str(path))
    panel.compare.set_comparing(False)
    return path


#: What QGIS desktop's own style sheet does for collapsible group boxes (the title clears
#: the collapse arrow); a bare QgsApplication has no such style sheet.
QGIS_GROUP_BOX_STYLE = ("QgsCollapsibleGroupBox::title { subcontrol-origin: margin; "
                        "subcontrol-position: top left; margin-left: 20px; }")


def grab(panel, path: Path) -> Path:
    """The panel at the width of a wide dock, tall enough for every wrapped line."""
    panel.setStyleSheet(QGIS_GROUP_BOX_STYLE)
    panel.advanced.setCollapsed(False)
    width = max(PANEL_WIDTH, panel.minimumSizeHint().width())
    panel.resize(width, 2000)
    panel.layout().activate()
    height = panel.layout().heightForWidth(width)
    panel.resize(width, height if height > 0 else panel.sizeHint().height())
    panel.grab().save(str(path))
    return path


def render_map(layers, extent_layer, path: Path, legend: str = "") -> Path:
    """``layers`` (top first) over the extent of ``extent_layer``, as the map canvas
    draws them (with the project variables, e.g. the arrow scale)."""
    image = render_layers(layers, extent_layer.crs(), extent_layer.extent(), MAP_SIZE)
    if legend:
        caption(image, legend)
    image.save(str(path))
    return path


def render_layers(layers, crs, extent, size):
    """``layers`` (top first) rendered offscreen, with the project's variables."""
    from qgis.core import (
        QgsExpressionContext,
        QgsExpressionContextUtils,
        QgsMapRendererParallelJob,
        QgsMapSettings,
        QgsProject,
    )
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(crs)
    settings.setExtent(extent)
    settings.setOutputSize(QSize(*size))
    settings.setBackgroundColor(QColor("white"))
    context = QgsExpressionContext()
    context.appendScopes([QgsExpressionContextUtils.globalScope(),
                          QgsExpressionContextUtils.projectScope(QgsProject.instance())])
    settings.setExpressionContext(context)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    return job.renderedImage()


def caption(image, text: str) -> None:
    """A legible caption band at the bottom of ``image``."""
    from qgis.PyQt.QtCore import QRect, Qt
    from qgis.PyQt.QtGui import QColor, QFont, QPainter

    painter = QPainter(image)
    band = QRect(0, image.height() - CAPTION_HEIGHT, image.width(), CAPTION_HEIGHT)
    painter.fillRect(band, QColor(255, 255, 255, 220))
    font = QFont()
    font.setPixelSize(18)
    painter.setFont(font)
    painter.setPen(QColor("black"))
    painter.drawText(band, int(Qt.AlignmentFlag.AlignCenter), text)
    painter.end()


def compact_png(path: Path) -> None:
    """Rewrite ``path`` with a 256-colour palette (dithered): a quarter of the size."""
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtGui import QImage

    image = QImage(str(path)).convertToFormat(QImage.Format.Format_Indexed8,
                                              Qt.ImageConversionFlag.DiffuseDither)
    image.save(str(path))


def main() -> None:
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["GDAL_PAM_ENABLED"] = "NO"
    packages = Path(tempfile.mkdtemp(prefix="coreg-pkg-"))
    (packages / "coreg").symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(packages))
    from qgis.core import QgsApplication

    # A throwaway profile: the panel remembers its settings, never in the user's profile.
    app = QgsApplication([], True, tempfile.mkdtemp(prefix="coreg-profile-"))
    app.initQgis()
    from coreg.provider.provider import CoregProvider

    provider = CoregProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs"
    for name, path in make(out).items():
        if name != "dialog":  # imagery: a palette quarters it; the panel is smaller as is
            compact_png(path)
        print(name, path)
    app.exitQgis()


if __name__ == "__main__":
    main()
