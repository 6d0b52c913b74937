"""coreg:search_stac and coreg:align_items through processing.run and qgis_process,
against the local STAC API and file server of tests/conftest.py (stac_site)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import stac_fixture

pytestmark = pytest.mark.usefixtures("no_map_canvas")

SOURCE_ID, REFERENCE_ID = "source", "reference"


def _item_url(site, item_id: str) -> str:
    return f"{site['api']}/collections/{stac_fixture.COLLECTION}/items/{item_id}"


def test_search_stac_gives_footprints_and_item_urls(stac_site, tmp_path, coreg_provider):
    import processing
    from qgis.core import QgsVectorLayer

    result = processing.run("coreg:search_stac", {
        "API_URL": stac_site["api"], "COLLECTIONS": stac_fixture.COLLECTION,
        "EXTENT": "54.55,54.60,24.30,24.35 [EPSG:4326]",
        "DATETIME": "2016-01-01T00:00:00Z/2016-02-01T00:00:00Z", "MAX_CLOUD": 25, "LIMIT": 10,
        "OUTPUT": str(tmp_path / "footprints.gpkg"), "URL_LIST": str(tmp_path / "urls.txt")})
    urls = result["ITEM_URLS"].splitlines()
    assert sorted(urls) == sorted(_item_url(stac_site, i) for i in (SOURCE_ID, REFERENCE_ID))
    assert (tmp_path / "urls.txt").read_text().splitlines() == urls
    assert result["COUNT"] == 2
    layer = QgsVectorLayer(result["OUTPUT"], "footprints", "ogr")
    rows = {f["id"]: f for f in layer.getFeatures()}
    assert set(rows) == {SOURCE_ID, REFERENCE_ID}
    assert rows[SOURCE_ID]["cloud_cover"] == 3.0 and rows[SOURCE_ID]["gsd"] == 20.0
    assert rows[SOURCE_ID]["url"] == _item_url(stac_site, SOURCE_ID)
    assert rows[SOURCE_ID]["datetime"] == "2016-01-20T06:50:00Z"
    assert rows[SOURCE_ID].geometry().boundingBox().xMinimum() == pytest.approx(54.544, abs=1e-3)
    assert layer.crs().authid() == "EPSG:4326"
    # Cloud cover and dates filter.
    none = processing.run("coreg:search_stac", {
        "API_URL": stac_site["api"], "COLLECTIONS": stac_fixture.COLLECTION, "MAX_CLOUD": 2,
        "OUTPUT": "memory:"})
    assert none["COUNT"] == 0 and none["ITEM_URLS"] == ""


def test_search_stac_of_an_api_that_is_down_is_a_clear_error(coreg_provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    url = f"http://127.0.0.1:{stac_fixture.free_port()}"
    with pytest.raises(QgsProcessingException, match="cannot be reached"):
        processing.run("coreg:search_stac", {"API_URL": url, "OUTPUT": "memory:"})


def _stored_config(method: str, name: str, **values: str) -> str:
    """The id of a new QGIS authentication configuration (the test profile's database)."""
    from qgis.core import QgsApplication, QgsAuthMethodConfig

    manager = QgsApplication.authManager()
    if not manager.masterPasswordIsSet():
        manager.setMasterPassword("coreg-test", True)
    config = QgsAuthMethodConfig(method)
    config.setName(name)
    for key, value in values.items():
        config.setConfig(key, value)
    assert manager.storeAuthenticationConfig(config)[0]
    return config.id()


def test_an_api_header_token_is_sent_but_never_shown(coreg_provider):
    from coreg.algorithms.search_stac import auth_headers

    token = _stored_config("APIHeader", "stac token", Authorization="Bearer s3cret-token")
    assert auth_headers(token) == {"Authorization": "Bearer s3cret-token"}
    basic = _stored_config("Basic", "stac basic", username="ana", password="pw")
    assert auth_headers(basic) == {"Authorization": "Basic YW5hOnB3"}


def test_align_items_in_processing(stac_site, tmp_path, coreg_provider):
    import processing

    out = tmp_path / "aligned"
    result = processing.run("coreg:align_items", {
        "SOURCE_ITEM": f"{stac_site['files']}/source/item.json",
        "REFERENCE_ITEM": _item_url(stac_site, REFERENCE_ID), "TITLE": "Processing run",
        "ASSETS": "red, nir", "OUTPUT_FOLDER": str(out),
        "REPORT": str(tmp_path / "report.json")})
    report = json.loads((tmp_path / "report.json").read_text())
    truth_x, truth_y = stac_fixture.TRUTH_PX
    assert result["SHIFT_X_PX"] == pytest.approx(truth_x, abs=0.05)
    assert result["SHIFT_Y_PX"] == pytest.approx(truth_y, abs=0.05)
    assert report["shift_x_px"] == result["SHIFT_X_PX"]
    assert sorted(report["assets_written"]) == ["nir", "red"]
    assert report["reference_item"] == _item_url(stac_site, REFERENCE_ID)
    assert sorted(Path(p).name for p in result["OUTPUTS"]) == ["nir.tif", "red.tif"]
    item = json.loads(Path(result["STAC_ITEM"]).read_text())
    assert item["properties"]["title"] == "Processing run"


def test_align_items_refusal_names_the_parameter(stac_site, tmp_path, coreg_provider):
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="has no asset or band 'swir16'"):
        processing.run("coreg:align_items", {
            "SOURCE_ITEM": f"{stac_site['files']}/source/item.json",
            "REFERENCE_ITEM": _item_url(stac_site, REFERENCE_ID), "ASSETS": "swir16",
            "OUTPUT_FOLDER": str(tmp_path / "out")})
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_align_items_headless_with_qgis_process(stac_site, tmp_path, qgis_process_runner):
    code, stdout, stderr = qgis_process_runner(
        "run", "coreg:align_items", "--json", "--",
        f"SOURCE_ITEM={_item_url(stac_site, SOURCE_ID)}",
        f"REFERENCE_ITEM={_item_url(stac_site, REFERENCE_ID)}", "ASSETS=nir",
        "TITLE=Headless", f"OUTPUT_FOLDER={tmp_path / 'out'}")
    assert code == 0, stdout + stderr
    results = json.loads(stdout)["results"]
    assert results["SHIFT_X_PX"] == pytest.approx(stac_fixture.TRUTH_PX[0], abs=0.05)
    assert Path(results["STAC_ITEM"]).is_file()


def test_search_stac_of_a_stalling_api_times_out(coreg_provider):
    import processing
    from qgis.core import QgsProcessingException

    with stac_fixture.stalling_server() as url, \
            pytest.raises(QgsProcessingException, match="did not answer within 1 s"):
        processing.run("coreg:search_stac", {"API_URL": url, "TIMEOUT": 1, "OUTPUT": "memory:"})


def test_coregistered_stack_takes_item_urls(stac_site, tmp_path, coreg_provider):
    import processing

    out = tmp_path / "stack"
    result = processing.run("coreg:coregistered_stack", {
        "INPUTS": [_item_url(stac_site, REFERENCE_ID), _item_url(stac_site, SOURCE_ID)],
        "ASSETS": "1.nir,2.nir,2.red", "REFERENCE_ASSET": "1.nir",
        "EXPRESSIONS": "ndvi:(norm_diff 2.nir 2.red)", "OUTPUT_FOLDER": str(out)})
    item = json.loads(Path(result["STAC_ITEM"]).read_text())
    shift = item["assets"]["2.nir"]["coreg:shift"]
    assert shift["status"] == "aligned"
    assert shift["x_px"] == pytest.approx(stac_fixture.TRUTH_PX[0], abs=0.05)
    assert shift["y_px"] == pytest.approx(stac_fixture.TRUTH_PX[1], abs=0.05)
    assert item["assets"]["2.red"]["coreg:source"]["input"] == _item_url(stac_site, SOURCE_ID)
    assert sorted(Path(p).name for p in result["OUTPUTS"]) == [
        "1.nir.tif", "2.nir.tif", "2.red.tif", "ndvi.tif"]


def test_the_token_reaches_the_api_and_nothing_else(stac_site, tmp_path, coreg_provider):
    """An API-header credential is sent with every request to the API, and appears in
    no log line, output or URL list."""
    import processing

    config = _stored_config("APIHeader", "secret api", Authorization="Bearer t0ken-never-shown")
    root = stac_site["data"].root
    proxy_port, api_port = stac_fixture.free_port(), stac_fixture.free_port()
    with stac_fixture.recording_proxy(api_port, proxy_port) as seen, \
            stac_fixture.serve("api", str(proxy_port), "--bind", f"127.0.0.1:{api_port}",
                               str(root / "collection.json"), str(root / "source" / "item.json"),
                               port=proxy_port) as api:
        stac_fixture.wait_for_port(api_port, api)  # the proxy's port answered already
        feedback = _Recorder()
        result = processing.run("coreg:search_stac", {
            "API_URL": f"http://127.0.0.1:{proxy_port}", "COLLECTIONS": stac_fixture.COLLECTION,
            "AUTH_CONFIG": config, "OUTPUT": str(tmp_path / "found.gpkg"),
            "URL_LIST": str(tmp_path / "urls.txt")}, feedback=feedback)
    assert result["COUNT"] == 1
    assert seen and all(r["headers"].get("Authorization") == "Bearer t0ken-never-shown"
                        for r in seen)
    assert "t0ken" not in feedback.text + json.dumps(result, default=str)
    for path in tmp_path.iterdir():
        assert b"t0ken" not in path.read_bytes(), path


class _Recorder:
    """A QgsProcessingFeedback keeping every message it is given."""

    def __new__(cls):
        from qgis.core import QgsProcessingFeedback

        class Recorder(QgsProcessingFeedback):
            text = ""

            def pushInfo(self, info):  # noqa: N802 - QGIS API
                self.text += info + "\n"
                super().pushInfo(info)

            def pushWarning(self, warning):  # noqa: N802 - QGIS API
                self.text += warning + "\n"
                super().pushWarning(warning)

            def pushDebugInfo(self, info):  # noqa: N802 - QGIS API
                self.text += info + "\n"
                super().pushDebugInfo(info)

            def pushCommandInfo(self, info):  # noqa: N802 - QGIS API
                self.text += info + "\n"
                super().pushCommandInfo(info)

            def reportError(self, error, fatalError=False):  # noqa: N802, N803 - QGIS API
                self.text += error + "\n"
                super().reportError(error, fatalError)

        return Recorder()


def test_align_stack_takes_the_item_urls_a_search_lists(stac_site, tmp_path, coreg_provider):
    """search_stac -> align_stack: the anchor chosen from the metadata, the COGs streamed,
    the outputs named after the items; the known shift recovered."""
    import csv

    import processing

    found = processing.run("coreg:search_stac", {
        "API_URL": stac_site["api"], "COLLECTIONS": stac_fixture.COLLECTION,
        "OUTPUT": "memory:"})
    feedback = _Recorder()
    result = processing.run("coreg:align_stack", {
        "ITEMS": found["ITEM_URLS"], "ASSET": "B08", "WORKERS": 1,
        "OUTPUT_FOLDER": str(tmp_path / "out"), "SUMMARY": str(tmp_path / "summary.csv"),
        "FOOTPRINTS": str(tmp_path / "footprints.gpkg")}, feedback=feedback)
    assert "Anchor: item 'reference' (the largest clear overlap" in feedback.text
    assert sorted(Path(p).name for p in result["OUTPUTS"]) == [
        "reference_anchor.tif", "source_coreg.tif"]
    rows = {r["input"]: r for r in csv.DictReader(open(result["SUMMARY"]))}
    source = rows[_item_url(stac_site, SOURCE_ID)]
    assert source["status"] == "aligned"
    assert float(source["pixel_shift_x"]) == pytest.approx(stac_fixture.TRUTH_PX[0], abs=0.05)
    assert float(source["pixel_shift_y"]) == pytest.approx(stac_fixture.TRUTH_PX[1], abs=0.05)


def test_align_stack_wants_scenes_or_items(stac_site, tmp_path, coreg_provider):
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match=r"scenes of the time series \(and "
                                                     r"their anchor scene, if you wish\), or "
                                                     "STAC items"):
        processing.run("coreg:align_stack", {"OUTPUT_FOLDER": str(tmp_path / "a")})
    scene = str(stac_site["data"].root / "reference" / "nir.tif")
    with pytest.raises(QgsProcessingException, match="not both"):
        processing.run("coreg:align_stack", {
            "INPUTS": [scene], "ANCHOR": scene, "ITEMS": _item_url(stac_site, SOURCE_ID),
            "OUTPUT_FOLDER": str(tmp_path / "b")})


MODEL = Path(__file__).resolve().parents[2] / "resources" / "models" / "search_align_stack.model3"


def test_search_align_stack_model_runs_headless(stac_site, tmp_path, qgis_process_runner):
    """The shipped model: search the local API, align the items found onto the anchor it
    chooses (COGs streamed), stack the aligned scenes."""
    args = [f"api_url={stac_site['api']}", f"collections={stac_fixture.COLLECTION}",
            "asset=nir", "stack_assets=1.b1,2.b1", "stack_reference=1.b1",
            f"search:Footprints={tmp_path / 'footprints.gpkg'}",
            f"align:Aligned scenes={tmp_path / 'aligned'}", f"stack:Stack={tmp_path / 'stack'}"]
    code, stdout, stderr = qgis_process_runner("run", str(MODEL), "--json", "--", *args)
    assert code == 0, stdout + stderr
    assert sorted(p.name for p in (tmp_path / "aligned").glob("*.tif")) == [
        "reference_anchor.tif", "source_coreg.tif"]
    quality = json.loads((tmp_path / "aligned" / "source_quality.json").read_text())
    assert quality["status"] == "aligned"
    assert quality["pixel_shift"]["x"] == pytest.approx(stac_fixture.TRUTH_PX[0], abs=0.05)
    item = json.loads((tmp_path / "stack" / "item.json").read_text())
    shift = item["assets"]["2.b1"]["coreg:shift"]
    # Already aligned by align_stack: what the stack measures is what is left, ~0.
    assert abs(shift.get("x_px", 0.0)) < 0.1 and abs(shift.get("y_px", 0.0)) < 0.1, shift
