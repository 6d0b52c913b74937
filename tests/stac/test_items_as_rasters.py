"""A STAC item wherever an algorithm takes a raster: ``<item file or URL>[#asset]`` in
qgis_process and processing.run, read by range requests from the tests' nginx and STAC
API (the source is the reference block-averaged with a whole-pixel offset: exact truth)."""

from __future__ import annotations

import json

import pytest
import stac_fixture

TOLERANCE_PX = 0.05


def _urls(site) -> tuple[str, str]:
    return (f"{site['api']}/collections/{stac_fixture.COLLECTION}/items/reference",
            f"{site['files']}/source/item.json")


def test_align_image__qgis_process_takes_item_urls(stac_site, qgis_process_runner, tmp_path):
    reference, source = _urls(stac_site)
    code, stdout, stderr = qgis_process_runner(
        "run", "coreg:align_image", "--json", "--", f"REFERENCE={reference}#nir",
        f"SECONDARY={source}#nir", f"OUTPUT={tmp_path / 'aligned.tif'}",
        f"REPORT={tmp_path / 'report.json'}")
    assert code == 0, stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["shift_x_px"] == pytest.approx(stac_fixture.TRUTH_PX[0], abs=TOLERANCE_PX)
    assert report["shift_y_px"] == pytest.approx(stac_fixture.TRUTH_PX[1], abs=TOLERANCE_PX)
    assert json.loads(stdout)["results"]["SHIFT_X_PX"] == report["shift_x_px"]


def test_processing_run_takes_an_item_without_asset_and_measures_its_nir(
        stac_site, coreg_provider, tmp_path):
    import processing

    reference, source = _urls(stac_site)
    nir = processing.run("coreg:align_image", {
        "REFERENCE": f"{reference}#nir", "SECONDARY": f"{source}#B08",  # key, band name
        "OUTPUT_MODE": 1, "OUTPUT": str(tmp_path / "a.tif")})
    default = processing.run("coreg:align_image", {
        "REFERENCE": reference, "SECONDARY": source,
        "OUTPUT_MODE": 1, "OUTPUT": str(tmp_path / "b.tif")})
    assert default["SHIFT_X_PX"] == nir["SHIFT_X_PX"]
    assert default["SHIFT_Y_PX"] == nir["SHIFT_Y_PX"]


def test_an_unknown_asset_is_refused_with_the_item_assets(stac_site, coreg_provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    reference, source = _urls(stac_site)
    with pytest.raises(QgsProcessingException, match=r"no asset or band 'swir'.*nir"):
        processing.run("coreg:align_image", {
            "REFERENCE": f"{reference}#swir", "SECONDARY": source,
            "OUTPUT": str(tmp_path / "c.tif")})
    assert not (tmp_path / "c.tif").exists()


def test_item_reference_syntax():
    from coreg.core.stac.views import is_item_reference, split_reference

    assert split_reference("https://x/items/a#nir") == ("https://x/items/a", "nir")
    assert split_reference(" scene/item.json ") == ("scene/item.json", "")
    assert is_item_reference("https://x/collections/c/items/a#B08")
    assert is_item_reference("item.json#red")
    assert not is_item_reference("scene.tif") and not is_item_reference(None)
