"""Swath rectification (core/swath/swath.py): synthetic analytic swaths, real OLCI and SSMIS."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.features import rasterize

from coreg.core.errors import CanceledError
from coreg.core.grid import Grid
from coreg.core.swath.geometry import choose_target_crs, median_spacing, swath_grid
from coreg.core.swath.painting import paint_lookup
from coreg.core.swath.sampling import rectify_arrays, sample_band
from coreg.core.swath.swath import rectify_swath

UTM = CRS.from_epsg(32633)
#: Length scales (m) of the smooth test function f = sin(x / LX) + cos(y / LY).
LX, LY = 900.0, 700.0


def analytic_swath(rows: int = 90, cols: int = 110, step: float = 30.0):
    """Pixel-centre coordinates of a rotated, curved, stretched swath with a bumpy terrain
    offset (like a push-broom scanner over hills), in metres."""
    j, i = np.mgrid[0:rows, 0:cols].astype(np.float64)
    angle = np.radians(23.0)
    along, across = j * step * 1.2, i * step * (1 + 0.004 * i)  # stretched towards the edge
    x = 500_000 + across * np.cos(angle) - along * np.sin(angle) + 3e-5 * along ** 2
    y = 5_000_000 - across * np.sin(angle) - along * np.cos(angle) + 2e-5 * across ** 2
    terrain = 6.0 * np.sin(i / 7.0) * np.cos(j / 5.0)  # relief displacement, metres
    return x + terrain * np.cos(angle), y - terrain * np.sin(angle)


def smooth(x, y):
    return np.sin(x / LX) + np.cos(y / LY)


def footprint_mask(x: np.ndarray, y: np.ndarray, grid: Grid) -> np.ndarray:
    """Target pixels whose centre lies inside the outline of the source pixel centres."""
    ring = np.concatenate([np.stack([x[0], y[0]], 1), np.stack([x[:, -1], y[:, -1]], 1),
                           np.stack([x[-1, ::-1], y[-1, ::-1]], 1),
                           np.stack([x[::-1, 0], y[::-1, 0]], 1)])
    shape = {"type": "Polygon", "coordinates": [ring.tolist()]}
    return rasterize([(shape, 1)], out_shape=(grid.height, grid.width),
                     transform=grid.transform, fill=0).astype(bool)


def longest_diagonal(x, y) -> float:
    """The longest quad diagonal: every triangle's diameter is at most this."""
    d1 = np.hypot(x[1:, 1:] - x[:-1, :-1], y[1:, 1:] - y[:-1, :-1])
    d2 = np.hypot(x[1:, :-1] - x[:-1, 1:], y[1:, :-1] - y[:-1, 1:])
    return float(max(d1.max(), d2.max(), np.hypot(np.diff(x, axis=1), np.diff(y, axis=1)).max(),
                     np.hypot(np.diff(x, axis=0), np.diff(y, axis=0)).max()))


@pytest.mark.parametrize("factor", [1.0, 0.3])  # same pixel size; 3x finer target (big quads)
def test_rectify__synthetic_reproduces_smooth_function(factor):
    x, y = analytic_swath()
    grid = swath_grid(x, y, UTM, pixel_size=factor * median_spacing(x, y), extent=None)
    values = smooth(x, y)[None].astype(np.float32)
    cx, cy = grid.centres_xy()
    truth = smooth(cx, cy)
    d = longest_diagonal(x, y)
    curvature = max(1 / LX ** 2, 1 / LY ** 2)  # bound of every second directional derivative
    slope = np.hypot(1 / LX, 1 / LY)
    # Linear interpolation on a triangle of diameter d: |f - If| <= M d^2 / 2 (Taylor from
    # each vertex, weights summing to 1); bilinear adds the quad's non-affinity: M d^2;
    # nearest neighbour is within d of the pixel: |grad f| d.
    bounds = {"triangular": curvature * d ** 2 / 2, "bilinear": curvature * d ** 2,
              "nearest": slope * d}
    inside = footprint_mask(x, y, grid)
    for method, bound in bounds.items():
        out, lookup = rectify_arrays(values, x, y, grid, interpolation=method)
        painted = np.isfinite(out[0])
        error = np.abs(out[0] - truth)[painted]
        assert error.max() <= bound + 1e-5, (method, error.max(), bound)
        assert np.array_equal(painted, np.isfinite(lookup[0]))
    # No holes along triangle edges and nothing outside: painted == footprint (pixel
    # centres on the outline itself may go either way).
    assert (inside & ~painted).sum() == 0
    assert (painted & ~inside).sum() <= 2
    assert painted.sum() > 0.9 * inside.sum() > 0


def test_lookup__maps_target_centres_back_exactly():
    """Sampling the coordinate images through the lookup (triangular) returns each target
    pixel centre: the painted fractional positions invert the piecewise-linear mapping."""
    x, y = analytic_swath()
    grid = swath_grid(x, y, UTM, pixel_size=median_spacing(x, y), extent=None)
    col, row = paint_lookup(x, y, grid)
    cx, cy = grid.centres_xy()
    # float32 lookups and values: a few mm on ~35 m pixels
    for coordinate, centre in ((x, cx), (y, cy)):
        back = sample_band(coordinate - coordinate.min(), col, row, "triangular")
        ok = np.isfinite(back)
        assert np.abs(back[ok] - (centre[ok] - coordinate.min())).max() < 0.01


def test_paint__threads_and_blocks_agree(monkeypatch):
    """Blocks of 7 rows painted by 3 threads give the lookup of one block on one thread
    (shared block edges may differ in the last float32 bits only)."""
    from coreg.core import parallel
    from coreg.core.swath import painting

    x, y = analytic_swath()
    grid = swath_grid(x, y, UTM, pixel_size=0.7 * median_spacing(x, y), extent=None)
    monkeypatch.setattr(parallel, "THREADS", 1)
    monkeypatch.setattr(painting, "ROW_BLOCK", 1000)
    one = np.stack(paint_lookup(x, y, grid))
    monkeypatch.setattr(parallel, "THREADS", 3)
    monkeypatch.setattr(painting, "ROW_BLOCK", 7)
    many = np.stack(paint_lookup(x, y, grid))
    assert np.array_equal(np.isnan(one), np.isnan(many))
    assert np.nanmax(np.abs(one - many)) < 1e-3
    with pytest.raises(CanceledError):
        paint_lookup(x, y, grid, is_canceled=lambda: True)


def test_paint__strips_and_chunks_leave_the_lookup_as_one_pass(monkeypatch):
    """On a grid five times finer than the swath every quad covers dozens of target
    pixels: painted by strips of 5 rows, 97 candidates at a time, on 3 threads, the lookup
    is bit for bit that of one pass (edges shared by two quads keep the same owner)."""
    from coreg.core import parallel
    from coreg.core.swath import painting

    x, y = analytic_swath()
    grid = swath_grid(x, y, UTM, pixel_size=0.2 * median_spacing(x, y), extent=None)
    monkeypatch.setattr(parallel, "THREADS", 1)
    monkeypatch.setattr(painting, "STRIP_ROWS", 10 ** 6)
    monkeypatch.setattr(painting, "CANDIDATE_CHUNK", 1 << 40)
    one = np.stack(paint_lookup(x, y, grid))
    monkeypatch.setattr(parallel, "THREADS", 3)
    monkeypatch.setattr(painting, "STRIP_ROWS", 5)
    monkeypatch.setattr(painting, "CANDIDATE_CHUNK", 97)
    many = np.stack(paint_lookup(x, y, grid))
    assert np.isfinite(one).mean() > 0.5
    assert np.array_equal(one, many, equal_nan=True)


def test_sample__formulas_at_chosen_pixels():
    rng = np.random.default_rng(3)
    values = rng.uniform(0, 100, (6, 7)).astype(np.float32)
    # (col, row) with u + v < 1, u + v > 1, and on a pixel centre
    col = np.array([[2.25, 4.7, 3.0]], np.float32)
    row = np.array([[1.5, 2.6, 4.0]], np.float32)
    near = sample_band(values, col, row, "nearest")[0]
    tri = sample_band(values, col, row, "triangular")[0]
    bil = sample_band(values, col, row, "bilinear")[0]
    v = values.astype(np.float64)
    assert near[0] == values[2, 2] and near[1] == values[3, 5] and near[2] == values[4, 3]
    # first point: triangle (P1, P2, P3), u = 0.25, v = 0.5
    assert tri[0] == pytest.approx(v[1, 2] + 0.25 * (v[1, 3] - v[1, 2]) + 0.5 * (v[2, 2] - v[1, 2]),
                                   rel=1e-5)
    # second point: u = 0.7, v = 0.6 > 1 - u: triangle (P2, P4, P3), counted from P4
    p1, p2, p3, p4 = v[2, 4], v[2, 5], v[3, 4], v[3, 5]
    assert tri[1] == pytest.approx(p4 + 0.3 * (p3 - p4) + 0.4 * (p2 - p4), rel=1e-5)
    assert bil[1] == pytest.approx(0.3 * 0.4 * p1 + 0.7 * 0.4 * p2 + 0.3 * 0.6 * p3
                                   + 0.7 * 0.6 * p4, rel=1e-5)
    assert tri[2] == pytest.approx(v[4, 3]) and bil[2] == pytest.approx(v[4, 3])


def test_rectify__nan_coordinates_skip_their_quads():
    x, y = analytic_swath()
    x[40:43, 50:53] = np.nan
    grid = swath_grid(x, y, UTM, pixel_size=median_spacing(x, y), extent=None)
    out, _ = rectify_arrays(smooth(x, y)[None].astype(np.float32), x, y, grid)
    painted = np.isfinite(out[0])
    # the hole: every target pixel near the NaN coordinates' ground position is empty
    x_ok, y_ok = analytic_swath()
    col, row = ~grid.transform * (x_ok[41, 51], y_ok[41, 51])
    assert not painted[int(row), int(col)]
    # everywhere else it stays gap-free: the unpainted pixels inside the outline are few
    inside = footprint_mask(x_ok, y_ok, grid)
    assert 0 < (inside & ~painted).sum() < 40


def test_rectify__errors(tmp_path):
    x, y = analytic_swath()
    grid = swath_grid(x, y, UTM, pixel_size=30.0, extent=None)
    with pytest.raises(ValueError, match="differ in size"):
        rectify_arrays(np.zeros((1, 10, 10), np.float32), x, y, grid)
    with pytest.raises(ValueError, match="differ in shape"):
        paint_lookup(x, y[:-1], grid)
    with pytest.raises(ValueError, match="EXTENT"):
        swath_grid(x, y, UTM, pixel_size=30.0, extent=(10, 0, 0, 10))
    # geographic coordinates out of range (latitude 95..99), and longitude/latitude swapped
    lon, lat = np.meshgrid(np.linspace(100, 120, 20), np.linspace(95, 99, 15))
    path = tmp_path / "bad.tif"
    with rasterio.open(path, "w", driver="GTiff", width=20, height=15, count=3,
                       dtype="float32") as dst:
        dst.write(np.stack([lon, lat, lat - 55]).astype(np.float32))
    with pytest.raises(ValueError, match="valid range"):
        rectify_swath(str(path), str(tmp_path / "o.tif"), x_band=1, y_band=2)
    with pytest.raises(ValueError, match="swapped"):
        rectify_swath(str(path), str(tmp_path / "o.tif"), x_band=3, y_band=1)
    with pytest.raises(ValueError, match="band 4 does not exist"):
        rectify_swath(str(path), str(tmp_path / "o.tif"), x_band=4, y_band=2)
    assert not (tmp_path / "o.tif").exists()


def test_rectify__coordinates_outside_target_crs_area_are_ignored(tmp_path):
    """A geographic swath partly beyond 90° from a UTM zone's meridian: the invalid part is
    left out, the rest rectified; wholly outside raises."""
    lon, lat = np.meshgrid(np.linspace(-10, 10, 30), np.linspace(40, 41, 12))
    path = tmp_path / "geo.tif"
    with rasterio.open(path, "w", driver="GTiff", width=30, height=12, count=3,
                       dtype="float64") as dst:
        dst.write(np.stack([lat, lon, lat]))
    result = rectify_swath(str(path), str(tmp_path / "o.tif"), x_band=2, y_band=3,
                           target_crs="EPSG:3035", pixel_size=5000)
    assert result.painted_pixels > 1000
    with pytest.raises(ValueError, match="target CRS"):
        rectify_swath(str(path), str(tmp_path / "o2.tif"), x_band=2, y_band=3,
                      target_crs="+proj=ortho +lat_0=-40 +lon_0=180", pixel_size=5000)


def test_choose_target_crs():
    lon, lat = np.meshgrid(np.linspace(-180, 180, 50), np.linspace(60, 89.5, 20))
    assert choose_target_crs(lon, lat, CRS.from_epsg(4326))[0].to_epsg() == 3413
    assert choose_target_crs(lon, -lat, CRS.from_epsg(4326))[0].to_epsg() == 3976
    lon, lat = np.meshgrid(np.linspace(177, 183, 30), np.linspace(-20, -15, 10))
    crs, reason = choose_target_crs(np.where(lon > 180, lon - 360, lon), lat,
                                    CRS.from_epsg(4326))
    assert crs.to_epsg() == 32760 and "antimeridian" in reason  # UTM zone 60 south
    lon, lat = np.meshgrid(np.linspace(1, 2, 5), np.linspace(50, 51, 5))
    assert choose_target_crs(lon, lat, CRS.from_epsg(4326))[0].to_epsg() == 4326


def test_rectify__antimeridian_geographic_unwrapped(tmp_path):
    """A geographic swath crossing the antimeridian, kept geographic: longitudes unwrap to
    0..360 and the output is seamless."""
    lon, lat = np.meshgrid(np.linspace(170, 190, 80), np.linspace(-30, -10, 60))
    values = smooth(lon * 5000, lat * 5000)
    path = tmp_path / "am.tif"
    with rasterio.open(path, "w", driver="GTiff", width=80, height=60, count=3,
                       dtype="float64") as dst:
        dst.write(np.stack([values, (lon + 180) % 360 - 180, lat]))
    result = rectify_swath(str(path), str(tmp_path / "o.tif"), bands=[1], x_band=2, y_band=3,
                           target_crs="EPSG:4326")
    with rasterio.open(tmp_path / "o.tif") as ds:
        out = ds.read(1)
        assert 169.5 < ds.bounds.left < 170 and 190 < ds.bounds.right < 190.5
    assert np.isfinite(out).all()
    assert any("unwrapped" in note for note in result.notes)


def test_rectify__prefilter_against_aliasing(tmp_path):
    """A one-pixel checkerboard sampled onto 4x coarser pixels aliases (values 0 or 1); the
    Gaussian prefilter brings every output pixel near the local mean 0.5."""
    x, y = analytic_swath(rows=120, cols=120)
    checker = ((np.indices(x.shape).sum(axis=0) // 1) % 2).astype(np.float32)
    path = tmp_path / "checker.tif"
    with rasterio.open(path, "w", driver="GTiff", width=120, height=120, count=3,
                       dtype="float64") as dst:
        dst.write(np.stack([checker, x, y]))
    size = 4 * median_spacing(x, y)
    plain = rectify_swath(str(path), str(tmp_path / "a.tif"), bands=[1], x_band=2, y_band=3,
                          source_crs=UTM, pixel_size=size, interpolation="nearest")
    smooth_ = rectify_swath(str(path), str(tmp_path / "b.tif"), bands=[1], x_band=2, y_band=3,
                            source_crs=UTM, pixel_size=size, prefilter=True,
                            interpolation="nearest")
    assert any("PREFILTER" in w for w in plain.warnings) and not smooth_.warnings
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        aliased, filtered = a.read(1), b.read(1)
    assert np.nanstd(aliased) > 0.45  # point samples of 0 and 1
    # away from the swath edge (where NaN-aware normalisation sees one side only)
    inner = filtered[3:-3, 3:-3]
    assert np.nanmax(np.abs(inner - 0.5)) < 0.05


def test_rectify__integer_nearest_keeps_dtype(shared_data, tmp_path):
    nc = shared_data / "swath" / "O_L2_0001_SNS_2017105100139_v1.0.nc"
    out = tmp_path / "flags.tif"
    rectify_swath(f'NETCDF:"{nc}":quality_flags', str(out), interpolation="nearest",
                  x_coords=f'NETCDF:"{nc}":lon', y_coords=f'NETCDF:"{nc}":lat')
    with rasterio.Env(GDAL_NETCDF_BOTTOMUP="NO"), \
            rasterio.open(f'NETCDF:"{nc}":quality_flags') as src:
        source, nodata = src.read(1), src.nodata
    with rasterio.open(out) as ds:  # netCDF flags: Int32 with the netCDF default fill
        flags = ds.read(1)
        assert ds.dtypes[0] == source.dtype == "int32" and ds.nodata == nodata
    painted = flags[flags != ds.nodata]
    assert set(np.unique(painted)) <= set(np.unique(source))


def test_rectify__nearest_keeps_large_integers_exact(tmp_path):
    """Integer flags above 2**24 (not representable in float32) come out bit-exact."""
    x, y = analytic_swath()
    flags = np.random.default_rng(5).integers(2**24, 2**31 - 2, x.shape, dtype=np.int32)
    path = tmp_path / "flags.tif"
    with rasterio.open(path, "w", driver="GTiff", width=x.shape[1], height=x.shape[0],
                       count=1, dtype="int32") as dst:
        dst.write(flags, 1)
    coords = tmp_path / "xy.tif"
    with rasterio.open(coords, "w", driver="GTiff", width=x.shape[1], height=x.shape[0],
                       count=2, dtype="float64") as dst:
        dst.write(np.stack([x, y]))
    rectify_swath(str(path), str(tmp_path / "o.tif"), x_coords=str(coords), y_coords=str(coords),
                  y_band=2, source_crs=UTM, interpolation="nearest",
                  lookup_output=str(tmp_path / "lookup.tif"))
    with rasterio.open(tmp_path / "o.tif") as ds, rasterio.open(tmp_path / "lookup.tif") as lk:
        out, lookup = ds.read(1), lk.read()
        assert ds.dtypes[0] == "int32" and ds.nodata == 2**31 - 1
    painted = np.isfinite(lookup[0])
    i, j = np.floor(lookup[0][painted]).astype(int), np.floor(lookup[1][painted]).astype(int)
    assert np.array_equal(out[painted], flags[j, i])
    assert (out[~painted] == 2**31 - 1).all()


def test_modis__hdf5_bow_tie_swath(shared_data, tmp_path):
    """MODIS 1 km geolocation (HDF5 subdatasets; scans overlap at the swath edges, the
    bow-tie): rectifying latitude itself (triangular) returns each target pixel's latitude,
    also where later scans overpaint earlier ones."""
    h5 = shared_data / "swath" / "modis_test_data.h5"
    lat, lon = (f'HDF5:"{h5}"://{v}_1km' for v in ("lat", "lon"))
    out = tmp_path / "lat.tif"
    result = rectify_swath(lat, str(out), x_coords=lon, y_coords=lat,
                           interpolation="triangular", target_crs="EPSG:4326")
    with rasterio.open(out) as ds:
        values = ds.read(1)
        grid = Grid(ds.crs, ds.transform, ds.width, ds.height)
    _, centre_lat = grid.centres_xy()
    ok = np.isfinite(values)
    assert result.painted_pixels == ok.sum() > 10000
    assert np.abs(values[ok] - centre_lat[ok]).max() < 1e-4  # float32 lookups: ~10 m


# ------------------------------------------------------------------------- real data


def test_olci__xcube_published_grid(shared_data, tmp_path):
    """OLCI C2RCC subset onto the grid of xcube's old reprojection tests (834 x 535,
    0.0005832°): 301623 valid pixels published; nearest keeps the input min/max."""
    nc = shared_data / "swath" / "O_L2_0001_SNS_2017104102450_v1.0.nc"
    res, x0, y0 = 0.0005832, 1.152138, 52.32967
    out = tmp_path / "olci.tif"
    result = rectify_swath(f'NETCDF:"{nc}":rtoa_8', str(out), interpolation="nearest",
                           target_crs="EPSG:4326", pixel_size=res,
                           extent=(x0, x0 + 834 * res, y0, y0 + 535 * res),
                           lookup_output=str(tmp_path / "lookup.tif"))
    with rasterio.open(out) as ds:
        assert (ds.width, ds.height) == (834, 535) and ds.crs.to_epsg() == 4326
        assert ds.transform.c == pytest.approx(x0) and ds.transform.a == pytest.approx(res)
        rect = ds.read(1)
    with rasterio.Env(GDAL_NETCDF_BOTTOMUP="NO"), rasterio.open(f'NETCDF:"{nc}":rtoa_8') as ds:
        source = ds.read(1)
    valid = np.isfinite(rect)
    assert valid.sum() == pytest.approx(301623, rel=1e-3)
    assert result.painted_pixels == valid.sum()
    assert np.nanmin(rect) == pytest.approx(np.nanmin(source), abs=1e-7)
    assert np.nanmax(rect) == pytest.approx(np.nanmax(source), abs=1e-7)
    assert np.nanmean(rect) == pytest.approx(np.nanmean(source), abs=1e-2)
    with rasterio.open(tmp_path / "lookup.tif") as ds:
        lookup = ds.read()
    # nearest neighbour = the source pixel the lookup points into (pixel-corner convention)
    r, c = np.nonzero(valid)
    pick = slice(None, None, 997)
    i = np.floor(lookup[0][r[pick], c[pick]]).astype(int)
    j = np.floor(lookup[1][r[pick], c[pick]]).astype(int)
    assert np.array_equal(source[j, i], rect[r[pick], c[pick]])


def test_olci__default_grid(shared_data, tmp_path):
    nc = shared_data / "swath" / "O_L2_0001_SNS_2017105095839_v1.0.nc"
    result = rectify_swath(f'NETCDF:"{nc}":rtoa_8', str(tmp_path / "o.tif"))
    assert result.grid.crs.to_epsg() == 4326
    assert result.grid.res[0] == pytest.approx(result.source_spacing)
    # the footprint is covered exactly: painted = target pixel centres inside the outline
    with rasterio.Env(GDAL_NETCDF_BOTTOMUP="NO"):
        lon, lat = (rasterio.open(f'NETCDF:"{nc}":{v}').read(1) for v in ("lon", "lat"))
    inside = footprint_mask(lon, lat, result.grid)
    assert result.painted_pixels == pytest.approx(inside.sum(), abs=3)


def test_ssmis__polar_stereographic_vs_gdalwarp(shared_data, tmp_path):
    """Full SSMIS orbit (89.2° N, crosses the antimeridian) on the NSIDC 25 km grid:
    matches gdalwarp -geoloc and has no seam."""
    folder = shared_data / "swath"
    target = ("-t_srs", "EPSG:3413", "-tr", "25000", "25000",
              "-te", "-3850000", "-5350000", "3750000", "5850000")
    warped = tmp_path / "gdal.tif"
    subprocess.run(["gdalwarp", "-q", "-geoloc", "-r", "bilinear", *target, "-dstnodata", "nan",
                    "ssmis_tb37v_swath.vrt", str(warped)], cwd=folder, check=True,
                   env={**os.environ, "GDAL_PAM_ENABLED": "NO"}, capture_output=True)
    out = tmp_path / "coreg.tif"
    result = rectify_swath(str(folder / "ssmis_tb37v_swath.vrt"), str(out),
                           target_crs="EPSG:3413", pixel_size=25000,
                           extent=(-3850000, 3750000, -5350000, 5850000))
    with rasterio.open(out) as ds, rasterio.open(warped) as ref:
        ours, theirs = ds.read(1), ref.read(1)
        assert ds.transform == ref.transform and ds.shape == ref.shape == (448, 304)
    both = np.isfinite(ours) & np.isfinite(theirs)
    diff = np.abs(ours - theirs)[both]
    assert both.sum() > 0.9 * np.isfinite(ours).sum()
    assert np.median(diff) < 0.1 and np.percentile(diff, 95) < 1.0  # kelvin
    assert result.painted_pixels / ours.size == pytest.approx(0.166, abs=0.01)
    # No seam: no unpainted pixel has all four neighbours painted (a 1-pixel seam or crack
    # would), and the antimeridian (x > 0 half-line from the pole at 135° E/W) is covered.
    v = np.isfinite(ours)
    cracks = ~v[1:-1, 1:-1] & v[:-2, 1:-1] & v[2:, 1:-1] & v[1:-1, :-2] & v[1:-1, 2:]
    assert cracks.sum() == 0
    lon = _longitudes(ds.transform, ds.shape)
    near_180 = (np.abs(np.abs(lon) - 180) < 2) & v
    assert near_180.sum() > 20


def _longitudes(transform: Affine, shape) -> np.ndarray:
    from pyproj import Transformer

    grid = Grid(CRS.from_epsg(3413), transform, shape[1], shape[0])
    x, y = grid.centres_xy()
    return Transformer.from_crs(3413, 4326, always_xy=True).transform(x, y)[0]


def test_ssmis__automatic_polar_target(shared_data, tmp_path):
    """No TARGET_CRS: the orbit reaching 89.2° N goes to EPSG:3413, its default footprint
    limited to the northern hemisphere (the southern part projects towards infinity)."""
    result = rectify_swath(str(shared_data / "swath" / "ssmis_tb37v_swath.vrt"),
                           str(tmp_path / "auto.tif"), interpolation="nearest")
    assert result.grid.crs.to_epsg() == 3413
    assert any("EPSG:3413" in note and "North Pole" in note for note in result.notes)
    left, bottom, right, top = result.grid.bounds
    assert max(abs(left), abs(right), abs(bottom), abs(top)) < 13_000_000  # equator ~ 12,700 km
    assert result.grid.res[0] == pytest.approx(result.source_spacing)


def test_the_cluster_tasks_are_runs_of_whole_strips_one_per_worker_or_a_multiple():
    from coreg.core.swath.swath_tasks import TASK_STRIPS, _runs

    assert _runs(6, 1) == [range(0, 6)]
    assert _runs(6, 2) == [range(0, 3), range(3, 6)]
    assert _runs(3, 8) == [range(0, 1), range(1, 2), range(2, 3)]
    runs = _runs(2 * TASK_STRIPS + 4, 2)  # too many strips for one task a worker
    assert len(runs) == 4 and max(len(r) for r in runs) <= TASK_STRIPS
    assert [k for r in runs for k in r] == list(range(2 * TASK_STRIPS + 4))
