"""The README screenshots, rendered offscreen by scripts/make_screenshots.py (the real
Abu Dhabi pair, the panel's default settings): the panel shows the run's summary, the
map shows the arrows and the compare view is the panel's swipe tool."""

import importlib.util

import pytest


@pytest.fixture(scope="module")
def screenshots(repo_root):
    spec = importlib.util.spec_from_file_location(
        "make_screenshots", repo_root / "scripts" / "make_screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _image(path):
    from qgis.PyQt.QtGui import QImage

    image = QImage(str(path))
    assert not image.isNull(), path
    return image


def _changed_pixels(a, b, rows, step=3):
    """Pixels (on a grid of ``step``, in the first ``rows``) that differ, and how many of
    them are saturated (the reliability colours of the arrows; the desert scene is not)."""
    changed = saturated = 0
    for y in range(0, rows, step):
        for x in range(0, a.width(), step):
            pa, pb = a.pixelColor(x, y), b.pixelColor(x, y)
            if pa != pb:
                changed += 1
                saturated += pa.hsvSaturationF() > 0.6 and pa.valueF() > 0.5
    return changed, saturated


def test_screenshots_show_the_summary_and_visible_arrows(
        screenshots, tmp_path, shared_data, qgis_new_project, qgis_iface, coreg_provider):
    shots = screenshots.make(tmp_path, shared_data, qgis_iface)
    dialog = _image(shots["dialog"])
    assert dialog.width() >= screenshots.PANEL_WIDTH and dialog.height() > 600
    swipe = _image(shots["before_after"])
    assert (swipe.width(), swipe.height()) == screenshots.COMPARE_SIZE
    # Left of the swipe line the aligned raster, right of it the reference: they differ.
    half = round(swipe.width() * 0.62)
    assert swipe.pixelColor(half, swipe.height() // 2).lightness() > 200  # the line
    assert swipe.pixelColor(half - 40, 15) != swipe.pixelColor(half + 40, 15)  # labels
    arrows = _image(shots["map"])
    assert (arrows.width(), arrows.height()) == screenshots.MAP_SIZE
    from qgis.core import QgsProject

    reference = QgsProject.instance().mapLayersByName("Abu Dhabi 2016")[0]
    plain = _image(screenshots.render_map([reference], reference, tmp_path / "plain.png"))
    rows = arrows.height() - screenshots.CAPTION_HEIGHT  # the map above the caption
    changed, saturated = _changed_pixels(arrows, plain, rows)
    samples = arrows.width() * rows / 9
    assert changed > 0.01 * samples  # arrows cover > 1 % of the map (~2 % now)
    assert saturated > 0.002 * samples  # many of them in the reliability colours
