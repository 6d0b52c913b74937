"""coreg:rectify_swath through Processing and headless qgis_process."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from qgis.core import QgsProcessingException

OLCI = "swath/O_L2_0001_SNS_2017104102450_v1.0.nc"
SSMIS = "swath/ssmis_tb37v_swath.tif"


def test_rectify_swath__processing_olci_netcdf(shared_data, tmp_path, coreg_provider):
    """A NetCDF subdataset with its own geolocation (lat/lon variables), default grid."""
    import processing

    nc = shared_data / OLCI
    result = processing.run("coreg:rectify_swath", {
        "INPUT": f'NETCDF:"{nc}":rtoa_8', "INTERPOLATION": 1,
        "OUTPUT": str(tmp_path / "olci.tif"), "LOOKUP_OUTPUT": str(tmp_path / "lookup.tif")})
    with rasterio.open(result["OUTPUT"]) as ds:
        assert ds.crs.to_epsg() == 4326
        values = ds.read(1)
        left, bottom, right, top = ds.bounds
    assert 1.14 < left < 1.16 and 1.63 < right < 1.65 and 52.32 < bottom < 52.33
    assert 0.04 < np.nanmin(values) and np.nanmax(values) < 0.79
    with rasterio.open(result["LOOKUP_OUTPUT"]) as ds:
        lookup = ds.read()
        assert ds.count == 2
    ok = np.isfinite(lookup[0])
    assert np.array_equal(ok, np.isfinite(values))
    assert 0 <= lookup[0][ok].min() and lookup[0][ok].max() <= 100  # pixel-corner columns


def test_rectify_swath__errors(shared_data, tmp_path, coreg_provider):
    import processing

    path = str(shared_data / SSMIS)
    with pytest.raises(QgsProcessingException, match="both X and Y"):
        processing.run("coreg:rectify_swath", {"INPUT": path, "X_COORDS": path,
                                               "OUTPUT": str(tmp_path / "o.tif")})
    with pytest.raises(QgsProcessingException, match="band numbers"):
        processing.run("coreg:rectify_swath", {"INPUT": path, "BANDS": "one",
                                               "OUTPUT": str(tmp_path / "o.tif")})
    with pytest.raises(QgsProcessingException, match="does not cover"):
        processing.run("coreg:rectify_swath", {
            "INPUT": path, "BANDS": "1", "X_COORDS": path, "Y_COORDS": path, "X_BAND": 3,
            "Y_BAND": 2, "TARGET_CRS": "EPSG:3413", "EXTENT": "0,100,0,100 [EPSG:3413]",
            "PIXEL_SIZE": 10, "OUTPUT": str(tmp_path / "o.tif")})


def test_rectify_swath__qgis_process_ssmis_polar(shared_data, tmp_path, qgis_process_runner):
    """Headless: the SSMIS orbit onto the NSIDC polar stereographic 25 km grid given as an
    EXTENT with its CRS (which becomes the target CRS)."""
    path = shared_data / SSMIS
    code, stdout, stderr = qgis_process_runner(
        "run", "coreg:rectify_swath", "--json", "--", f"INPUT={path}", "BANDS=1",
        f"X_COORDS={path}", "X_BAND=3", f"Y_COORDS={path}", "Y_BAND=2", "PIXEL_SIZE=25000",
        "EXTENT=-3850000,3750000,-5350000,5850000 [EPSG:3413]", "INTERPOLATION=0",
        f"OUTPUT={tmp_path / 'ssmis.tif'}")
    assert code == 0, stderr
    assert json.loads(stdout)["results"]["OUTPUT"] == str(tmp_path / "ssmis.tif")
    with rasterio.open(tmp_path / "ssmis.tif") as ds:
        assert ds.crs.to_epsg() == 3413 and ds.shape == (448, 304)
        values = ds.read(1)
    assert np.isfinite(values).mean() == pytest.approx(0.166, abs=0.01)
    assert 168 < np.nanmin(values) and np.nanmax(values) < 287


@pytest.mark.parametrize("key", ["SOURCE_CRS", "TARGET_CRS"])
@pytest.mark.parametrize("value", ["EPSG:999999", "garbage"])
def test_rectify_swath__invalid_crs_is_refused(tmp_path, coreg_provider, key, value):
    """A CRS QGIS cannot read used to become EPSG:4326 (source) or automatic (target)."""
    import processing

    lon, lat = np.meshgrid(10 + 0.01 * np.arange(12), 45 + 0.01 * np.arange(10))
    swath = tmp_path / "swath.tif"
    with rasterio.open(swath, "w", driver="GTiff", width=12, height=10, count=3,
                       dtype="float64") as dst:
        dst.write(np.stack([lon, lat, lon * lat]))
    before = swath.read_bytes()
    output = tmp_path / "out.tif"
    with pytest.raises(QgsProcessingException, match=f"CRS '{value}' is not a CRS"):
        processing.run("coreg:rectify_swath", {
            "INPUT": str(swath), "BANDS": "3", "X_COORDS": str(swath), "Y_COORDS": str(swath),
            "X_BAND": 1, "Y_BAND": 2, key: value, "OUTPUT": str(output)})
    assert not output.exists()
    assert swath.read_bytes() == before
