"""coreg:align_image through processing.run and qgis_process, on a real band with a
known synthetic shift (small crops so that each run takes about a second)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from synthetic import Case, crop, make_secondary

from coreg.core.matching.phase_correlation import phase_correlation

ALG = "coreg:align_image"
BEIRUT = "optical/oscd_s2/beirut_S2_20150820_B02-B03-B04-B08.tif"


@pytest.fixture(scope="module")
def pair(shared_data, tmp_path_factory):
    """A 400 x 400 crop of a real Sentinel-2 scene and a copy misregistered by
    (+2.3, -1.6) px; the secondary keeps all four bands, band 4 is matched."""
    folder = tmp_path_factory.mktemp("pair")
    reference = crop(shared_data / BEIRUT, folder / "reference.tif", 300, 300, 400)
    secondary = folder / "secondary.tif"
    truth = make_secondary(reference, 4, secondary, Case(2.3, -1.6))
    return reference, secondary, truth


def _params(pair, tmp_path, **extra):
    reference, secondary, _ = pair
    params = {"REFERENCE": str(reference), "REFERENCE_BAND": 4, "SECONDARY": str(secondary),
              "SECONDARY_BAND": 1, "TRANSFORM": 0, "MAX_SHIFT": 10, "OUTPUT_MODE": 1,
              "RESAMPLING": 2, "OUTPUT": str(tmp_path / "aligned.tif"),
              "SHIFT_VECTORS": str(tmp_path / "vectors.gpkg"),
              "REPORT": str(tmp_path / "report.json")}
    params.update(extra)
    return params


def test_align_image__resample_matches_reference_grid(pair, tmp_path, coreg_provider):
    import processing

    result = processing.run(ALG, _params(pair, tmp_path))
    report = json.loads(Path(result["REPORT"]).read_text())
    assert report["shift_x_px"] == pytest.approx(2.3, abs=0.05)
    assert report["shift_y_px"] == pytest.approx(-1.6, abs=0.05)
    assert result["SHIFT_X_PX"] == report["shift_x_px"]
    reference, _, _ = pair
    with rasterio.open(reference) as ref, rasterio.open(result["OUTPUT"]) as out:
        assert out.crs == ref.crs and out.transform.almost_equals(ref.transform)
        assert (out.width, out.height, out.dtypes[0]) == (ref.width, ref.height, "uint16")
        inner = (slice(40, -40), slice(40, -40))
        aligned = out.read(1)[inner].astype(float)
        truth = ref.read(4)[inner].astype(float)
    # The secondary went through two interpolations (Keys' cubic convolution to make it,
    # the cubic B-spline to align it: they do not undo each other) and 0.8 x + offset.
    assert np.corrcoef(aligned.ravel(), truth.ravel())[0, 1] > 0.98
    residual = phase_correlation(truth, aligned).shift
    assert np.hypot(*residual) < 0.02


def test_align_image__geotransform_moved_by_reported_shift(pair, tmp_path, coreg_provider):
    import processing

    result = processing.run(ALG, _params(pair, tmp_path, OUTPUT_MODE=0))
    report = json.loads(Path(result["REPORT"]).read_text())
    _, secondary, _ = pair
    with rasterio.open(secondary) as sec, rasterio.open(result["OUTPUT"]) as out:
        assert np.array_equal(sec.read(), out.read())
        assert out.transform.c == pytest.approx(sec.transform.c + report["shift_x_map"], abs=1e-6)
        assert out.transform.f == pytest.approx(sec.transform.f + report["shift_y_map"], abs=1e-6)
    assert report["shift_x_map"] == pytest.approx(2.3 * sec.transform.a, abs=0.05 * sec.transform.a)


def test_align_image__scale_model_reports_its_terms(pair, tmp_path, coreg_provider):
    """TRANSFORM=scale on a pure translation: the shift as the translation model's, the
    scale within 3 standard errors of 1 (written in the log line and the report)."""
    import processing

    result = processing.run(ALG, _params(pair, tmp_path, TRANSFORM=2))
    report = json.loads(Path(result["REPORT"]).read_text())
    terms = report["model_terms"]
    assert terms["model"] == "scale"
    assert abs(terms["scale"] - 1.0) <= 3 * terms["scale_se"]
    assert report["shift_x_px"] == pytest.approx(2.3, abs=0.05)
    assert report["shift_y_px"] == pytest.approx(-1.6, abs=0.05)
    assert report["transform"]["type"] == "affine"


def test_align_image__shift_vectors_layer(pair, tmp_path, coreg_provider):
    import processing
    from qgis.core import QgsVectorLayer

    result = processing.run(ALG, _params(pair, tmp_path))
    layer = QgsVectorLayer(result["SHIFT_VECTORS"], "v", "ogr")
    report = json.loads(Path(result["REPORT"]).read_text())
    assert layer.featureCount() == report["n_patches"]
    names = {f.name() for f in layer.fields()}
    assert {"dx_px", "dy_px", "dx_map", "dy_map", "reliability", "used", "reason"} <= names
    used = [f for f in layer.getFeatures() if f["used"] == 1]
    assert len(used) == report["n_patches_used"] > 0
    assert np.median([f["dx_px"] for f in used]) == pytest.approx(2.3, abs=0.1)


@pytest.mark.parametrize("change, message", [
    ({"REFERENCE_BAND": 9}, "band 9 does not exist"),
    ({"OUTPUT_MODE": 0, "TRANSFORM": 1}, "Translation"),
    ({"MAX_SHIFT": 1}, "larger than \"Maximum expected shift \\(reference pixels\\)\""),
])
def test_align_image__errors(pair, tmp_path, coreg_provider, change, message):
    import processing
    from qgis.core import QgsProcessingException

    params = _params(pair, tmp_path, **change)
    with pytest.raises(QgsProcessingException, match=message):
        processing.run(ALG, params)
    assert not Path(params["OUTPUT"]).exists()


def test_align_image__output_equal_to_input_is_refused(pair, tmp_path, coreg_provider):
    import processing
    from qgis.core import QgsProcessingException

    _, secondary, _ = pair
    before = secondary.read_bytes()
    with pytest.raises(QgsProcessingException, match="would replace the input"):
        processing.run(ALG, _params(pair, tmp_path, OUTPUT=str(secondary)))
    assert secondary.read_bytes() == before


def test_align_image__qgis_process_json(pair, tmp_path, qgis_process_runner):
    params = _params(pair, tmp_path)
    args = [f"{key}={value}" for key, value in params.items()]
    code, stdout, stderr = qgis_process_runner("run", ALG, "--json", "--", *args)
    assert code == 0, stderr
    results = json.loads(stdout)["results"]
    assert results["SHIFT_X_PX"] == pytest.approx(2.3, abs=0.05)
    assert Path(results["OUTPUT"]).is_file()


def test_align_image__polygon_and_raster_masks(pair, tmp_path, coreg_provider):
    import processing

    reference, _, _ = pair
    with rasterio.open(reference) as ref:
        left, bottom, right, top = ref.bounds
        crs = ref.crs.to_epsg()
        values = np.zeros((ref.height, ref.width), np.uint8)
        values[-100:] = 1  # bottom quarter: raster mask
        raster_mask = tmp_path / "mask.tif"
        with rasterio.open(raster_mask, "w", **(ref.profile | {"count": 1, "dtype": "uint8"})) as m:
            m.write(values, 1)
    middle = (left + right) / 2
    polygon = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {
        "name": f"urn:ogc:def:crs:EPSG::{crs}"}}, "features": [{"type": "Feature", "properties": {},
        "geometry": {"type": "Polygon", "coordinates": [[[left, bottom], [middle, bottom],
                                                         [middle, top], [left, top],
                                                         [left, bottom]]]}}]}
    polygon_mask = tmp_path / "left.geojson"
    polygon_mask.write_text(json.dumps(polygon))
    masks = [str(polygon_mask), str(raster_mask)]
    result = processing.run(ALG, _params(pair, tmp_path, MASK=masks))
    report = json.loads(Path(result["REPORT"]).read_text())
    masked = [p for p in report["patches"] if p["reason"] == "nodata or masked"]
    used = [p for p in report["patches"] if p["used"]]
    assert masked and used
    assert all(p["x"] > middle for p in used)
    assert report["shift_x_px"] == pytest.approx(2.3, abs=0.05)
