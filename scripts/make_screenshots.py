"""Render the README screenshots offscreen: the Coregister panel after a run, and the map
with the shift-vector overlay, from the real Abu Dhabi Sentinel-2 pair (two dates from
different UTM tiles, about 1.4 px apart).

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
ARROW_SCALE = 40.0
MAP_SIZE = (900, 900)
PANEL_WIDTH = 560
CAPTION_HEIGHT = 40
ZOOM_SIZE = (440, 440)
ZOOM_PIXELS = 60  # reference pixels across the before/after close-up
ZOOM_AT = (0.55, 0.50)  # the motorway junction: long straight edges show the shift


def make(out_dir: Path, data: Path = DATA, iface=None) -> dict[str, Path]:
    """Run the panel on the pair and write dialog.png and map.png into ``out_dir``."""
    from qgis.core import QgsProject, QgsRasterLayer

    from coreg.ui.panel import CoregPanel

    out_dir.mkdir(parents=True, exist_ok=True)
    names = ("Abu Dhabi 2016", "Abu Dhabi 2018")
    layers = [QgsRasterLayer(str(data / path), name) for path, name in zip(PAIR, names)]
    for layer in layers:
        natural_colour(layer)
    QgsProject.instance().addMapLayers(layers)
    panel = CoregPanel(iface)
    try:
        with tempfile.TemporaryDirectory(prefix="coreg-shots-") as work:
            run(panel, layers, Path(work) / "abudhabi_2018_aligned.tif")
            panel.output.setFilePath("/data/abudhabi_2018_aligned.tif")  # a readable path
            legend = (f"Shift vectors ×{panel.arrow_scale.value():g}: colour = reliability "
                      "(red 0 % → green 100 %), grey = rejected patch")
            aligned = QgsProject.instance().mapLayer(panel.run_layers.aligned_id)
            shots = {"dialog": grab(panel, out_dir / "dialog.png"),
                     "map": render_map([*panel.vector_layers(), layers[0]], layers[0],
                                       out_dir / "map.png", legend),
                     "before_after": render_before_after(layers[0], layers[1], aligned,
                                                         out_dir / "before_after.png")}
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
    """Fill the panel (NIR bands, translation) and wait for the background run."""
    from qgis.PyQt.QtCore import QCoreApplication

    # Every choice explicitly: the panel restores the last session's settings.
    global_method = [panel.method_combo.itemData(i).algorithm_id
                     for i in range(panel.method_combo.count())].index("coreg:align_image")
    panel.method_combo.setCurrentIndex(global_method)
    panel.mask_combo.setLayer(None)
    panel.enums["RESAMPLING"].setCurrentIndex(2)
    panel.enums["OUTPUT_MODE"].setCurrentIndex(1)
    panel.cog.setChecked(False)
    panel.reference_combo.setLayer(layers[0])
    panel.reference_band.setBand(4)
    panel.secondary_combo.setLayer(layers[1])
    panel.secondary_band.setBand(4)
    panel.max_shift.setValue(10)
    panel.enums["TRANSFORM"].setCurrentIndex(0)
    panel.output.setFilePath(str(output))
    panel.arrow_scale.setValue(ARROW_SCALE)
    if not panel.run():
        raise RuntimeError("the panel refused to run: " + panel.general_error.text()
                           + panel.secondary_error.text() + panel.output_error.text())
    deadline = time.monotonic() + 120
    while panel.is_running() and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.01)
    if not panel.status.text().startswith("Done"):
        raise RuntimeError(f"{panel.status.text()} ({panel.command()})")


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


def render_before_after(reference, secondary, aligned, path: Path, band: int = 4,
                        size_px: int = ZOOM_PIXELS, at: tuple = ZOOM_AT) -> Path:
    """Red = reference, cyan = secondary (left) or aligned (right), added: edges that
    match are grey, a misregistration shows red/cyan fringes. A ``size_px`` reference
    pixels square at ``at`` (fractions of the reference extent from its top-left corner),
    each side rendered at ZOOM_SIZE."""
    from qgis.core import QgsPointXY, QgsRectangle
    from qgis.PyQt.QtGui import QImage, QPainter

    full = reference.extent()
    centre = QgsPointXY(full.xMinimum() + at[0] * full.width(),
                        full.yMaximum() - at[1] * full.height())
    half = size_px / 2 * reference.rasterUnitsPerPixelX()
    extent = QgsRectangle(centre.x() - half, centre.y() - half,
                          centre.x() + half, centre.y() + half)
    sides = []
    for layer, title in ((secondary, "Before: 2018 as delivered"),
                         (aligned, "After: 2018 aligned by Coreg")):
        top = tinted(layer, band, "#00ffff", additive=True)
        image = render_layers([top, tinted(reference, band, "#ff0000")], reference.crs(),
                              extent, ZOOM_SIZE)
        caption(image, title)
        sides.append(image)
    gap = 12
    combined = QImage(2 * ZOOM_SIZE[0] + gap, ZOOM_SIZE[1], QImage.Format.Format_RGB32)
    combined.fill(0xFFFFFF)
    painter = QPainter(combined)
    painter.drawImage(0, 0, sides[0])
    painter.drawImage(ZOOM_SIZE[0] + gap, 0, sides[1])
    painter.end()
    combined.save(str(path))
    return path


def tinted(layer, band: int, colour: str, additive: bool = False):
    """A copy of ``layer`` drawing ``band`` from black to ``colour`` (2-98 % stretch)."""
    from qgis.core import QgsColorRampShader, QgsRasterShader, QgsSingleBandPseudoColorRenderer
    from qgis.PyQt.QtGui import QColor, QPainter

    low, high = layer.dataProvider().cumulativeCut(band, 0.02, 0.98)
    ramp = QgsColorRampShader(low, high)
    ramp.setColorRampType(QgsColorRampShader.Type.Interpolated)
    ramp.setColorRampItemList([QgsColorRampShader.ColorRampItem(low, QColor("black")),
                               QgsColorRampShader.ColorRampItem(high, QColor(colour))])
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    copy = layer.clone()
    copy.setRenderer(QgsSingleBandPseudoColorRenderer(copy.dataProvider(), band, shader))
    if additive:
        copy.setBlendMode(QPainter.CompositionMode.CompositionMode_Plus)
    return copy


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
