"""Reference points from GeoParquet / Parquet and ICESat-2 ATL06 files, selected by time
and quality, and put on the DEM's geoid: altimeter-like tracks of the real fine DEM
(tests/dem_sensor.py) against its block average with a known shift. Every selection is
tested by points it must drop carrying a 30 m error, which would move the vertical shift
if they were kept."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from dem_sensor import SensorCase, make_pair, make_points
from pyproj import CRS, Transformer

from coreg.core.dem.dem import align_dem
from coreg.core.dem.point_sources import ATLAS_EPOCH, PointOptions
from coreg.core.dem.points import estimate_dem_to_points, read_points
from coreg.core.errors import CoregInputError

BAD = 30.0  # metres added to the points a selection must remove


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """The sensor pair, and the points (lon, lat, z) with each a time and a quality:
    the first quarter before 2019, the second quarter of quality 1, both 30 m too high."""
    folder = tmp_path_factory.mktemp("points")
    pair = make_pair(SensorCase(), folder)
    path, count = make_points(SensorCase(), folder)
    x, y, z = np.loadtxt(path, delimiter=",", skiprows=1).T
    with rasterio.open(pair["dem"]) as ds:
        crs = ds.crs.to_wkt()
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    part = count // 4
    seconds = np.full(count, 4e7)  # 2019-04-08, ATLAS epoch + 4e7 s
    seconds[:part] = 1e6  # 2018-01-12
    quality = np.zeros(count, np.int8)
    quality[part:2 * part] = 1
    z = z.copy()
    z[:2 * part] += BAD
    return {"pair": pair, "folder": folder, "x": x, "y": y, "lon": lon, "lat": lat, "z": z,
            "delta_time": seconds, "quality": quality, "part": part, "count": count}


def _error_px(alignment, pair) -> float:
    return max(abs(alignment.shift_x - pair["shift"][0]),
               abs(alignment.shift_y - pair["shift"][1])) / pair["res"]


def _write_geoparquet(path, scene, *, extra: dict) -> None:
    import struct

    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    wkb = [struct.pack("<BIddd", 1, 1001, a, b, c)
           for a, b, c in zip(scene["lon"], scene["lat"], scene["z"])]
    geo = {"version": "1.1.0", "primary_column": "geometry",
           "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point Z"],
                                    "crs": CRS.from_epsg(4326).to_json_dict()}}}
    table = pa.table({"geometry": pa.array(wkb, pa.binary()), **extra})
    table = table.replace_schema_metadata({b"geo": json.dumps(geo).encode()})
    pq.write_table(table, path)


def test_geoparquet_time_and_quality_selection(scene):
    """WKB 3-D points in WGS 84 with a timestamp column and a quality field: the range
    and the accepted maximum drop exactly the 30 m points, and the report counts them."""
    times = (np.datetime64("2019-04-08T10:00:00", "us")
             + np.arange(scene["count"]).astype("timedelta64[s]"))
    times[:scene["part"]] = np.datetime64("2018-01-12T00:00:00", "us")
    path = scene["folder"] / "points.parquet"
    _write_geoparquet(path, scene, extra={"acquired": times, "flag": scene["quality"]})
    points = read_points(path)
    assert points.crs and points.z == pytest.approx(scene["z"])
    options = PointOptions(time_field="acquired", start="2019-01-01", end="2019-12-31",
                           quality_field="flag", quality_max=0)
    alignment = estimate_dem_to_points(path, scene["pair"]["dem"], point_options=options)
    assert _error_px(alignment, scene["pair"]) <= 0.05
    assert alignment.shift_z == pytest.approx(scene["pair"]["dz"], abs=0.1)
    counts = alignment.points
    assert counts["read"] == scene["count"]
    assert counts["removed_by_time"] == counts["removed_by_quality"] == scene["part"]
    assert counts["used"] + counts["not_stable"] + counts["outside_dem"] == (
        scene["count"] - 2 * scene["part"])
    kept = estimate_dem_to_points(path, scene["pair"]["dem"])  # no selection: 30 m points in
    assert abs(kept.shift_z - scene["pair"]["dz"]) > 1.0


def test_atl06_fields_in_a_parquet_table(scene):
    """ATL06's names without geometry: h_li, latitude/longitude, delta_time (seconds since
    2018-01-01) as the time, atl06_quality_summary kept at 0 without being asked."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = scene["folder"] / "atl06.parquet"
    pq.write_table(pa.table({"longitude": scene["lon"], "latitude": scene["lat"],
                             "h_li": scene["z"], "delta_time": scene["delta_time"],
                             "atl06_quality_summary": scene["quality"]}), path)
    alignment = estimate_dem_to_points(path, scene["pair"]["dem"],
                                       point_options=PointOptions(start="2019-01-01"))
    assert alignment.points["removed_by_time"] == scene["part"]
    assert alignment.points["removed_by_quality"] == scene["part"]
    assert alignment.shift_z == pytest.approx(scene["pair"]["dz"], abs=0.1)
    assert _error_px(alignment, scene["pair"]) <= 0.05
    assert any("ellipsoid" in w for w in alignment.warnings)  # h_li: say the datum matters


def _geoid_grid(path, scene) -> callable:
    """A geoid grid file (EPSG:4326, 0.05 degrees) of a plane N = 31 + 2 dlon + 3 dlat:
    bilinear interpolation reproduces a plane exactly, so the truth is exact."""
    west, south = scene["lon"].min() - 1, scene["lat"].min() - 0.5
    cols, rows = int((scene["lon"].max() + 1 - west) / 0.05), int(
        (scene["lat"].max() + 0.5 - south) / 0.05)
    transform = Affine(0.05, 0, west, 0, -0.05, south + rows * 0.05)
    cc, rr = np.meshgrid(np.arange(cols) + 0.5, np.arange(rows) + 0.5)
    lon, lat = transform * (cc, rr)

    def geoid(lo, la):
        return 31.0 + 2.0 * (lo - 15.0) + 3.0 * (la - 78.0)

    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1,
                       dtype="float32", crs="EPSG:4326", transform=transform) as dst:
        dst.write(geoid(lon, lat).astype(np.float32), 1)
    return geoid


def _write_atl06(path, scene, heights) -> None:
    """The points as an ATL06 granule: split over three beams' land_ice_segments, with
    ATL06's float fill value on a few heights."""
    h5py = pytest.importorskip("h5py")
    beams = np.array_split(np.arange(scene["count"]), 3)
    with h5py.File(path, "w") as h5:
        for beam, index in zip(("gt1l", "gt2r", "gt3l"), beams):
            group = h5.create_group(f"{beam}/land_ice_segments")
            h = heights[index].astype(np.float32)
            h[:2] = np.float32(3.4028235e38)
            for name, values in (("longitude", scene["lon"][index]),
                                 ("latitude", scene["lat"][index]), ("h_li", h),
                                 ("delta_time", scene["delta_time"][index]),
                                 ("atl06_quality_summary", scene["quality"][index])):
                group.create_dataset(name, data=values)


def test_atl06_hdf5_with_ellipsoidal_heights_on_a_geoid_grid(scene):
    """Heights raised by a known geoid (ellipsoidal h = H + N): given the geoid grid, the
    DEM's vertical shift comes back; without it, the mean geoid height (~31 m) would."""
    geoid = _geoid_grid(scene["folder"] / "geoid.tif", scene)
    path = scene["folder"] / "ATL06_20190408.h5"
    _write_atl06(path, scene, scene["z"] + geoid(scene["lon"], scene["lat"]))
    points = read_points(path, options=PointOptions(start="2018-01-01"))
    assert points.z.size == scene["count"] and np.isnan(points.z).sum() == 6
    assert points.time[0] == ATLAS_EPOCH + np.timedelta64(10**6, "s")  # 2018-01-12
    options = PointOptions(start="2019-01-01", geoid=scene["folder"] / "geoid.tif")
    alignment = estimate_dem_to_points(path, scene["pair"]["dem"], point_options=options,
                                       pipeline="nuth_kaab+deramp1")
    assert alignment.shift_z == pytest.approx(scene["pair"]["dz"], abs=0.1)
    assert _error_px(alignment, scene["pair"]) <= 0.05
    (deramp,) = alignment.corrections  # the geoid's slope (8.6e-5, 2.7e-5) is gone with it
    assert abs(deramp["tilt_x"]) < 1e-5 and abs(deramp["tilt_y"]) < 1e-5
    assert alignment.points["no_geoid_height"] == 0
    assert not any("ellipsoid" in w for w in alignment.warnings)
    raw = estimate_dem_to_points(path, scene["pair"]["dem"], pipeline="nuth_kaab+deramp1",
                                 point_options=PointOptions(start="2019-01-01"))
    assert raw.corrections[0]["tilt_x"] == pytest.approx(2 / (111320 * np.cos(np.radians(
        scene["lat"].mean()))), rel=0.15)
    assert raw.shift_z - scene["pair"]["dz"] == pytest.approx(
        np.mean(geoid(scene["lon"], scene["lat"])), abs=1.0)


def test_align_dem_takes_the_selection_and_writes_it_in_the_report(scene, tmp_path):
    """A CSV with ISO dates (trailing Z) and a named quality field, through align_dem."""
    path = tmp_path / "points.csv"
    dates = np.where(np.arange(scene["count"]) < scene["part"], "2018-01-12T00:00:00Z",
                     "2019-04-08T10:00:00Z")
    with open(path, "w") as f:
        f.write("x,y,z,date,q\n")
        for row in zip(scene["x"], scene["y"], scene["z"], dates, scene["quality"]):
            f.write("{:.3f},{:.3f},{:.3f},{},{}\n".format(*row))
    options = PointOptions(start="2018-06-01T00:00:00", quality_field="q", quality_max=0.5)
    alignment = align_dem(path, scene["pair"]["dem"], tmp_path / "out.tif",
                          point_options=options)
    report = alignment.report()
    assert report["points"]["removed_by_time"] == report["points"]["removed_by_quality"] \
        == scene["part"]
    assert alignment.shift_z == pytest.approx(scene["pair"]["dz"], abs=0.1)


def test_selection_errors_are_clear(scene, tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("x,y,z,t\n1,2,3,5\n")
    with pytest.raises(CoregInputError, match="no time field"):
        estimate_dem_to_points(read_points(path), scene["pair"]["dem"],
                               point_options=PointOptions(end="2020-01-01"))
    with pytest.raises(CoregInputError, match="holds numbers"):
        read_points(path, options=PointOptions(time_field="t", start="2020-01-01"))
    with pytest.raises(CoregInputError, match="largest accepted value"):
        estimate_dem_to_points(path, scene["pair"]["dem"],
                               point_options=PointOptions(quality_field="t"))
    dated = tmp_path / "dated.csv"
    dated.write_text("x,y,z,date\n1,2,3,2020-01-01\n")
    with pytest.raises(CoregInputError, match="no date"):
        estimate_dem_to_points(dated, scene["pair"]["dem"],
                               point_options=PointOptions(start="soon"))


def test_named_geoids_through_proj():
    """EGM96 through PROJ (Debian's proj-data grid) agrees with the same grid read as a
    geoid grid file; EGM2008 without its grid says which file is missing."""
    from pyproj.datadir import get_data_dir
    from pyproj.transformer import TransformerGroup

    from coreg.core.dem.datum import geoid_height
    from coreg.core.errors import CoregResourceError

    lon, lat = np.array([15.6, -70.0, 140.2, 0.1]), np.array([78.2, -45.5, 35.7, 0.1])
    grids = [p for p in (f"{get_data_dir()}/{n}" for n in ("us_nga_egm96_15.tif",
                                                           "egm96_15.gtx"))
             if os.path.isfile(p)]
    if not grids:
        pytest.skip("no EGM96 grid in PROJ's data (Debian: proj-data)")
    named = geoid_height(lon, lat, "egm96")
    assert named == pytest.approx(geoid_height(lon, lat, grids[0]), abs=0.01)
    assert named[0] == pytest.approx(32.19, abs=0.05)  # Longyearbyen
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        installed = TransformerGroup("EPSG:4979", "EPSG:4326+3855").best_available
    if installed:
        pytest.skip("the EGM2008 grid is installed")
    with pytest.raises(CoregResourceError, match="us_nga_egm08_25.tif"):
        geoid_height(lon, lat, "egm2008")
    with pytest.raises(CoregInputError, match="Unknown geoid"):
        geoid_height(lon, lat, "egm84x")
