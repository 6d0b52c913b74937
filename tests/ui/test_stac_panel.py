"""The panel with STAC items, offscreen, against the project's own servers (nginx for
the items and COGs, rustac's STAC API): an item URL as reference or secondary, and the
search dialog whose footprints are picked from (tests/stac_fixture.py)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import stac_fixture
from test_dialog import new_panel, wait_for

COLLECTION = stac_fixture.COLLECTION


@pytest.fixture
def panel(qgis_new_project, qgis_iface, coreg_provider):
    from coreg.ui.stac_search import SETTINGS_PREFIX as SEARCH_SETTINGS

    yield from new_panel(qgis_iface, SEARCH_SETTINGS)


def searched(dialog) -> int:
    """Start the dialog's search, wait for its background task: the items found."""
    assert dialog.search() and dialog.is_searching()  # QGIS stays usable meanwhile
    assert not dialog.search_button.isEnabled() and not dialog.search()  # one at a time
    wait_for(lambda: not dialog.is_searching())
    assert dialog.search_button.isEnabled()
    return dialog.found


def _api_item(site, item_id: str) -> str:
    return f"{site['api']}/collections/{COLLECTION}/items/{item_id}"


def _show_items_area(iface, site) -> None:
    """The map canvas over the items (their CRS, WGS 84)."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsRectangle

    bbox = json.loads((site["data"].root / "reference" / "item.json").read_text())["bbox"]
    canvas = iface.mapCanvas()
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
    canvas.setExtent(QgsRectangle(*bbox))


def test_item_urls_as_reference_and_secondary_run_the_alignment(stac_site, panel, tmp_path):
    reference = panel.reference_item.set_url(_api_item(stac_site, "reference"))
    secondary = panel.secondary_item.set_url(f"{stac_site['files']}/source/item.json")
    assert reference.isValid() and secondary.isValid()
    assert (reference.name(), secondary.name()) == ("reference (nir)", "source (nir)")
    assert panel.reference_combo.currentLayer() is reference
    assert panel.secondary_combo.currentLayer() is secondary
    assert panel.reference_item.asset.currentText() == "nir"  # the default: NIR
    view = open(reference.source()).read()  # the view streams the asset: no download
    assert "/vsicurl?" in view and quote(f"{stac_site['files']}/reference/nir.tif", "") in view
    panel.output.setFilePath(str(tmp_path / "aligned.tif"))
    assert panel.validate(), panel.general_error.text()
    assert panel.run()
    wait_for(lambda: not panel.is_running(), 120)
    assert panel.status.text().startswith("Done"), panel.status.text()
    report = json.loads((tmp_path / "aligned_report.json").read_text())
    truth_x, truth_y = stac_fixture.TRUTH_PX
    assert report["shift_x_px"] == pytest.approx(truth_x, abs=0.05)
    assert report["shift_y_px"] == pytest.approx(truth_y, abs=0.05)


def test_another_asset_of_the_item_is_chosen_by_its_name(stac_site, panel):
    row = panel.secondary_item
    row.set_url(f"{stac_site['files']}/source/item.json")
    assert [row.asset.itemText(i) for i in range(row.asset.count())] == [
        "red", "nir", "nir_40m", "mask", "nir_striped"]
    row.asset.setCurrentIndex(0)
    row.asset.activated.emit(0)
    layer = panel.secondary_combo.currentLayer()
    assert layer.name() == "source (red)" and "red.tif" in open(layer.source()).read()


def test_an_item_that_cannot_be_read_is_said_under_its_row(stac_site, panel):
    from qgis.core import QgsProject

    before = len(QgsProject.instance().mapLayers())
    assert panel.reference_item.set_url(_api_item(stac_site, "missing")) is None
    assert not panel.reference_item_error.isHidden()
    assert "HTTP 404 (not found)" in panel.reference_item_error.text()
    assert "Traceback" not in panel.reference_item_error.text()
    assert len(QgsProject.instance().mapLayers()) == before
    panel.reference_item.set_url(_api_item(stac_site, "reference"))  # a later try works
    assert panel.reference_item_error.isHidden()
    assert panel.reference_combo.currentLayer().name() == "reference (nir)"


def test_the_search_dialog_finds_items_and_hands_them_to_the_panel(stac_site, panel,
                                                                  qgis_iface):
    from qgis.core import QgsProject
    from qgis.PyQt.QtCore import QDate

    _show_items_area(qgis_iface, stac_site)
    dialog = panel.open_search_dialog()
    dialog.api.setText(stac_site["api"])
    dialog.collections.setText(COLLECTION)
    dialog.use_dates.setChecked(True)
    dialog.start.setDate(QDate(2016, 1, 1))
    dialog.end.setDate(QDate(2016, 1, 31))
    dialog.max_cloud.setValue(10.0)
    assert dialog.parameters()["EXTENT"].endswith("[EPSG:4326]")
    assert searched(dialog) == 2
    layer = dialog.layer
    assert QgsProject.instance().mapLayer(layer.id()) is layer and layer.featureCount() == 2
    assert sorted(dialog.table.item(r, 0).text() for r in range(2)) == ["reference", "source"]
    assert {dialog.table.item(r, 2).text() for r in range(2)} == {"3.0"}
    # A row chosen selects its footprint; a footprint chosen on the map, its row.
    dialog.choose("reference")
    assert [f["id"] for f in layer.selectedFeatures()] == ["reference"]
    source = next(f for f in layer.getFeatures() if f["id"] == "source")
    layer.selectByIds([source.id()])
    assert dialog.chosen_urls() == [_api_item(stac_site, "source")]
    assert dialog.use("secondary").name() == "source (nir)"
    dialog.choose("reference")
    assert dialog.use("reference").name() == "reference (nir)"
    assert panel.reference_item.url.text() == _api_item(stac_site, "reference")
    assert panel.secondary_combo.currentLayer().name() == "source (nir)"


@pytest.mark.parametrize(("edit", "found"), [
    ({"max_cloud": 2.0}, 0),  # the items are 3 % cloudy
    ({"dates": ((2017, 1, 1), (2017, 12, 31))}, 0),
    ({"extent": (50.0, 51.0, 10.0, 11.0)}, 0),  # elsewhere
    ({"collections": "other"}, 0),
])
def test_each_search_filter_leaves_the_items_out(stac_site, panel, qgis_iface, edit, found):
    from qgis.core import QgsCoordinateReferenceSystem, QgsRectangle
    from qgis.PyQt.QtCore import QDate

    _show_items_area(qgis_iface, stac_site)
    dialog = panel.open_search_dialog()
    dialog.api.setText(stac_site["api"])
    dialog.collections.setText(edit.get("collections", COLLECTION))
    dialog.max_cloud.setValue(edit.get("max_cloud", 25.0))
    if "dates" in edit:
        dialog.use_dates.setChecked(True)
        dialog.start.setDate(QDate(*edit["dates"][0]))
        dialog.end.setDate(QDate(*edit["dates"][1]))
    if "extent" in edit:
        canvas = qgis_iface.mapCanvas()
        canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
        west, east, south, north = edit["extent"]
        canvas.setExtent(QgsRectangle(west, south, east, north))
    assert searched(dialog) == found
    assert dialog.table.rowCount() == found
    assert dialog.status.text() == "No item found."


def test_a_search_beyond_the_map_extent_is_over_the_world(stac_site, panel, qgis_iface):
    from qgis.core import QgsCoordinateReferenceSystem, QgsRectangle

    canvas = qgis_iface.mapCanvas()
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
    canvas.setExtent(QgsRectangle(10.0, 10.0, 11.0, 11.0))  # not over the items
    dialog = panel.open_search_dialog()
    dialog.api.setText(stac_site["api"])
    dialog.collections.setText(COLLECTION)
    assert searched(dialog) == 0
    dialog.over_map.setChecked(False)
    assert dialog.parameters()["EXTENT"] == "-180,180,-90,90 [EPSG:4326]"
    assert searched(dialog) == 2


def test_a_search_of_an_api_that_is_down_says_so(panel):
    dialog = panel.open_search_dialog()
    dialog.over_map.setChecked(False)
    dialog.api.setText(f"http://127.0.0.1:{stac_fixture.free_port()}")
    assert searched(dialog) == -1
    assert "cannot be reached" in dialog.status.text()
    assert dialog.layer is None and dialog.table.rowCount() == 0


def test_the_stac_screenshots_script_drives_the_panel(stac_site, qgis_iface, coreg_provider,
                                                     qgis_new_project, repo_root, tmp_path):
    import importlib.util

    from qgis.PyQt.QtGui import QColor, QImage

    spec = importlib.util.spec_from_file_location(
        "make_stac_screenshots", repo_root / "scripts" / "make_stac_screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bbox = json.loads((stac_site["data"].root / "reference" / "item.json").read_text())["bbox"]
    shots = module.make(tmp_path, {"api": stac_site["api"], "collection": COLLECTION,
                                   "bbox": bbox}, qgis_iface)
    dialog, map_image = (QImage(str(shots[k])) for k in ("stac_search", "stac_map"))
    assert (dialog.width(), dialog.height()) == module.DIALOG_SIZE
    outline = QColor("#e65100")
    orange = sum(map_image.pixelColor(x, y) == outline
                 for y in range(0, map_image.height(), 2) for x in range(0, 60))
    assert orange > 50  # the reference's footprint's left edge is drawn
