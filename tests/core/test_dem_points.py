"""Point clouds as the DEM reference: altimeter-like tracks (fine-DEM elevations at fine
pixel centres along sparse lines, noise and blunders) against a block-averaged DEM with
a known whole-fine-pixel shift (tests/dem_sensor.py)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from dem_sensor import SensorCase, make_pair, make_points

from coreg.core.dem.dem import align_dem
from coreg.core.dem.points import PointCloud, estimate_dem_to_points, read_points
from coreg.core.errors import CoregInputError


def _error_px(alignment, pair) -> float:
    return max(abs(alignment.shift_x - pair["shift"][0]),
               abs(alignment.shift_y - pair["shift"][1])) / pair["res"]


@pytest.mark.parametrize("pipeline", ["nuth_kaab", "dhminimize"])
def test_points__sparse_noisy_tracks_recover_the_shift(pipeline, tmp_path):
    pair = make_pair(SensorCase(), tmp_path)
    path, count = make_points(SensorCase(), tmp_path)  # 33 tracks, 1 % blunders
    alignment = estimate_dem_to_points(path, pair["dem"], pipeline=pipeline)
    assert _error_px(alignment, pair) <= 0.05
    assert alignment.shift_z == pytest.approx(pair["dz"], abs=0.1)
    assert alignment.n_stable_pixels > 0.9 * count


def test_points__tilt_with_deramp(tmp_path):
    pair = make_pair(SensorCase(tilt=(2e-4, -1e-4)), tmp_path)
    path, _ = make_points(SensorCase(), tmp_path)
    alignment = estimate_dem_to_points(path, pair["dem"], pipeline="nuth_kaab+deramp1")
    assert _error_px(alignment, pair) <= 0.05
    (deramp,) = alignment.corrections
    assert deramp["tilt_x"] == pytest.approx(-2e-4, rel=0.02)
    assert deramp["tilt_y"] == pytest.approx(1e-4, rel=0.02)


def test_points__geopackage_in_another_crs_and_align_dem(tmp_path):
    """A GeoPackage of 3-D points in WGS 84 reads back as the CSV's points, and
    align_dem takes it as REFERENCE (no elevation difference raster then)."""
    import fiona
    from pyproj import Transformer

    pair = make_pair(SensorCase(), tmp_path)
    path, _ = make_points(SensorCase(), tmp_path)
    x, y, z = np.loadtxt(path, delimiter=",", skiprows=1).T
    lon, lat = Transformer.from_crs("EPSG:25833", "EPSG:4326", always_xy=True).transform(x, y)
    gpkg = tmp_path / "points.gpkg"
    schema = {"geometry": "3D Point", "properties": {"quality": "int"}}
    with fiona.open(gpkg, "w", driver="GPKG", crs="EPSG:4326", schema=schema) as dst:
        dst.writerecords({"geometry": {"type": "Point", "coordinates": (a, b, c)},
                          "properties": {"quality": 0}} for a, b, c in zip(lon, lat, z))
    points = read_points(gpkg)
    assert points.crs == "EPSG:4326" and points.z == pytest.approx(z)
    alignment = align_dem(gpkg, pair["dem"], tmp_path / "out.tif")
    assert _error_px(alignment, pair) <= 0.05
    with rasterio.open(tmp_path / "out.tif") as out, rasterio.open(pair["dem"]) as dem:
        assert out.transform == dem.transform
    with pytest.raises(CoregInputError, match="elevation difference"):
        align_dem(gpkg, pair["dem"], tmp_path / "b.tif", dh_output=tmp_path / "dh.tif")


def test_points__clear_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(CoregInputError, match="x, y and z columns"):
        read_points(bad)
    with pytest.raises(CoregInputError, match="differ in length"):
        PointCloud(np.zeros(2), np.zeros(3), np.zeros(2), "")


@pytest.mark.parametrize("suffix", [".las", ".laz"])
def test_points__lidar_file_ground_class(suffix, tmp_path):
    """The altimeter tracks written as a LAS/LAZ lidar file in the DEM's CRS: ground
    (class 2) kept; the same points 30 m higher as vegetation (class 5), which a ground
    filter must drop, else the vertical shift would be off by metres."""
    laspy = pytest.importorskip("laspy")
    if suffix == ".laz":
        pytest.importorskip("lazrs")
    pair = make_pair(SensorCase(), tmp_path)
    csv_path, count = make_points(SensorCase(), tmp_path)
    x, y, z = np.loadtxt(csv_path, delimiter=",", skiprows=1).T
    with rasterio.open(pair["dem"]) as ds:
        crs = ds.crs
    header = laspy.LasHeader(point_format=3, version="1.4")
    header.scales, header.offsets = [0.001] * 3, [x.min(), y.min(), 0.0]
    header.add_crs(__import__("pyproj").CRS.from_user_input(crs.to_wkt()))
    las = laspy.LasData(header)
    las.x, las.y = np.concatenate([x, x]), np.concatenate([y, y])
    las.z = np.concatenate([z, z + 30.0])
    las.classification = np.concatenate([np.full(count, 2), np.full(count, 5)]).astype(np.uint8)
    path = tmp_path / f"points{suffix}"
    las.write(path)
    points = read_points(path)
    assert points.z.size == count and points.crs
    alignment = align_dem(path, pair["dem"], tmp_path / "out.tif")
    assert _error_px(alignment, pair) <= 0.05
    assert alignment.shift_z == pytest.approx(pair["dz"], abs=0.1)
