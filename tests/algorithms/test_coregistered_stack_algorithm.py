"""coreg:coregistered_stack headless through qgis_process: a raster and a STAC item."""

from __future__ import annotations

import json

import pytest
import rasterio
from synthetic import Case, crop, make_secondary


def test_coregistered_stack__qgis_process(shared_data, tmp_path, qgis_process_runner):
    beirut = shared_data / "optical" / "oscd_s2" / "beirut_S2_20171003_B02-B03-B04-B08.tif"
    first = crop(beirut, tmp_path / "first.tif", 400, 300, 300)
    with rasterio.open(first, "r+") as ds:
        ds.descriptions = ("B02", "B03", "B04", "B08")
    truth = make_secondary(first, 4, tmp_path / "second.tif", Case(1.8, 2.2, seed=4),
                           extra_bands=(3,))
    item = tmp_path / "second.json"
    item.write_text(json.dumps({
        "type": "Feature", "stac_version": "1.0.0", "id": "second", "geometry": None,
        "properties": {"datetime": "2018-01-01T10:00:00Z", "eo:cloud_cover": 40},
        "links": [], "assets": {"nir": {"href": "second.tif"}}}))
    out = tmp_path / "stack"
    code, stdout, stderr = qgis_process_runner(
        "run", "coreg:coregistered_stack", "--json", "--", f"INPUTS={first}", f"INPUTS={item}",
        "ASSETS=1.B08,1.b3,2.nir", "REFERENCE_ASSET=1.B08",
        "EXPRESSIONS=ndvi:(norm_diff 1.B08 1.b3);change:(- 2.nir 1.B08)", "RESAMPLING=1",
        "TITLE=Headless stack", f"OUTPUT_FOLDER={out}")
    assert code == 0, stderr
    results = json.loads(stdout)["results"]
    assert sorted(p.rsplit("/", 1)[-1] for p in results["OUTPUTS"]) == [
        "1.B08.tif", "1.b3.tif", "2.nir.tif", "change.tif", "ndvi.tif"]
    stac = json.loads(open(results["STAC_ITEM"]).read())
    shift = stac["assets"]["2.nir"]["coreg:shift"]
    assert shift["x_map"] == pytest.approx(truth.shift_x, abs=1e-5)  # 0.1 px of ~1e-4 deg
    assert shift["y_map"] == pytest.approx(truth.shift_y, abs=1e-5)
    assert "40 % cloudy" in stdout + stderr


def test_coregistered_stack__project_layer_input_and_fatal_precondition(shared_data, tmp_path,
                                                                        coreg_provider):
    """A loaded raster layer counts as an input; footprints that do not overlap stop the
    run with the precondition's message."""
    import processing
    from qgis.core import QgsProcessingException, QgsProject, QgsRasterLayer

    beirut = shared_data / "optical" / "oscd_s2" / "beirut_S2_20171003_B02-B03-B04-B08.tif"
    layer = QgsRasterLayer(str(beirut), "beirut")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    taizhou = shared_data / "optical" / "landsat_pairs" / "taizhou_LE07_20000317_B1-5_7.tif"
    try:
        with pytest.raises(QgsProcessingException, match="overlaps the reference 1.B04 by 0 %"):
            processing.run("coreg:coregistered_stack", {
                "INPUTS": [layer.id(), str(taizhou)], "ASSETS": "1.B04,2.b3",
                "REFERENCE_ASSET": "1.B04", "OUTPUT_FOLDER": str(tmp_path / "out")})
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
