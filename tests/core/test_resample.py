"""Where target pixels take their values from: coordinates across CRSs, reads on a grid."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from coreg.core.grid import Grid
from coreg.core.io.raster_io import BLOCK, output_profile, read_on_grid
from coreg.core.transforms.model import identity
from coreg.core.transforms.resample import SourceMapping

UTM = Affine(20, 0, 500_000, 0, -20, 8_700_000)


@pytest.mark.parametrize("width, height", [(1000, 700), (17, 300), (5, 5)])
def test_indices_across_crs_match_the_exact_transform_up_to_the_edges(width, height):
    """The coarse-node interpolation must not clamp the pixels before the first node or
    after the last one (every strip of an output starts there)."""
    grid = Grid("EPSG:4326", Affine(0.0003, 0, 15.0, 0, -0.0001, 78.2), width, height)
    mapping = SourceMapping(identity(grid.crs), "EPSG:32633", UTM)
    rows, cols = mapping.indices(grid)
    exact_rows, exact_cols = mapping._exact(grid)
    assert np.abs(rows - exact_rows).max() < 1e-3
    assert np.abs(cols - exact_cols).max() < 1e-3


@pytest.fixture(scope="module")
def ramp(tmp_path_factory):
    """A 200 x 300 raster holding 0.3 x + 0.2 y (map units), which any interpolation
    of a grid offset by a fraction of a pixel must reproduce exactly."""
    path = tmp_path_factory.mktemp("ramp") / "ramp.tif"
    rows, cols = np.mgrid[0:200, 0:300] + 0.5
    x, y = UTM * (cols, rows)
    with rasterio.open(path, "w", driver="GTiff", width=300, height=200, count=1,
                       dtype="float64", crs="EPSG:32633", transform=UTM) as ds:
        ds.write(0.3 * (x - 500_000) + 0.2 * (y - 8_700_000), 1)
    return path


def test_read_on_a_subpixel_offset_grid_is_unbiased(ramp):
    """GDAL 3.6's cubic warp displaces such offsets by ~0.04 px (0.18 m of bias in a
    30 m DEM fit); the engine's own spline must not."""
    grid = Grid("EPSG:32633", UTM * Affine.translation(20.417, 30.25), 150, 100)
    with rasterio.open(ramp) as ds:
        values = read_on_grid(ds, 1, grid, nodata=None)
    x, y = grid.centres_xy()
    truth = 0.3 * (x - 500_000) + 0.2 * (y - 8_700_000)
    assert np.abs(values - truth).max() < 1e-3 * 0.3 * 20  # < 0.001 px of the x slope


def test_read_on_a_grid_renamed_in_another_datum_is_a_plain_read(ramp):
    """ETRS89 / UTM 33N and WGS 84 / UTM 33N differ by 0.1 mm here: same pixels."""
    with rasterio.open(ramp) as ds:
        grid = Grid("EPSG:25833", UTM * Affine.translation(7, 9), 40, 30)
        values = read_on_grid(ds, 1, grid, nodata=None)
        assert np.array_equal(values, ds.read(1, window=((9, 39), (7, 47))).astype(np.float32))


def test_prefilter_of_wide_rows_is_scipys():
    """The numpy recursion down the columns of wide windows (a resampled output's strips)
    gives scipy's cubic spline coefficients, mirrored ends included, to float32 sums."""
    from scipy import ndimage

    from coreg.core.transforms.resample import WIDE_ROWS, prepare
    rng = np.random.default_rng(3)
    data = (ndimage.gaussian_filter(rng.random((90, WIDE_ROWS + 7)), 1.0) * 4000)
    data = data.astype(np.float32)
    before = data.copy()
    ours = prepare(data, None, 3)
    scipys = ndimage.spline_filter(data, 3, mode="nearest", output=np.float32)
    assert np.abs(ours - scipys).max() <= 1e-6 * np.abs(scipys).max()
    assert np.array_equal(data, before)  # the input is left alone (prepare copies it)


def test_coarser_nested_grid_reads_gdals_block_average(tmp_path):
    """A grid of whole blocks of the raster's pixels (averaged in numpy) reads what GDAL's
    average warp gives: the mean of the valid pixels, NaN where a block has none."""
    from coreg.core.io.raster_io import _averaged_on_grid
    rng = np.random.default_rng(4)
    data = rng.integers(1, 3000, (120, 150)).astype(np.uint16)
    data[:9, :9] = 0  # a whole 3 x 3 block of nodata, and partial ones
    data[50:52, 60:70] = 0
    path = tmp_path / "blocks.tif"
    with rasterio.open(path, "w", driver="GTiff", width=150, height=120, count=1,
                       dtype="uint16", crs="EPSG:32633", transform=UTM) as ds:
        ds.write(data, 1)
    grid = Grid("EPSG:32633", UTM * Affine.translation(0, 0) * Affine.scale(3), 50, 40)
    with rasterio.open(path) as ds:
        ours = read_on_grid(ds, 1, grid, nodata=0)
        gdals = _averaged_on_grid(ds, 1, grid, 0)
    assert np.isnan(ours[0, 0]) and np.array_equal(np.isnan(ours), np.isnan(gdals))
    assert np.nanmax(np.abs(ours - gdals)) < 1e-3


@pytest.mark.parametrize("size, offset, shape", [
    ((90, 1100), (8.37, 8.23), (70, 1080)),   # wide: the numpy recursion down the columns
    ((60, 300), (3.5, -0.7), (50, 290)),      # taps before the first column (its pad)
    ((300, 80), (1.0, -15.0), (290, 60)),     # reaching the pad's far end
    ((40, 500), (2.99, 3.01), (30, 480)),     # fractions next to whole pixels
])
def test_fast_shift_gives_the_general_paths_values(size, offset, shape):
    """A pure sub-pixel shift (shift_resample) samples the same cubic spline as
    map_coordinates on scipy's coefficients (mode nearest), to float32 sums; and with
    nodata inside, the same pixels become NaN as in the separable path."""
    from scipy import ndimage

    from coreg.core.transforms.resample import interpolate_affine, prepare
    from coreg.core.transforms.shift_resample import resample_affine, shift_fits
    rng = np.random.default_rng(5)
    data = (ndimage.gaussian_filter(rng.random(size), 1.0) * 4000).astype(np.float32)
    offset = np.array(offset)
    assert shift_fits(data.shape, offset, shape)
    rows, cols = np.meshgrid(np.arange(shape[0]) + offset[0], np.arange(shape[1]) + offset[1],
                             indexing="ij")
    coefficients = ndimage.spline_filter(data.astype(np.float64), 3, mode="nearest")
    general = ndimage.map_coordinates(coefficients, [rows, cols], order=3, mode="nearest",
                                      prefilter=False)
    fast = resample_affine(data.copy(), None, np.eye(2), offset, shape, 3)
    assert np.abs(fast - general).max() <= 1e-5 * np.abs(general).max()

    valid = np.ones(size, bool)
    valid[size[0] // 2, size[1] // 3:size[1] // 3 + 5] = False
    fast = resample_affine(data.copy(), valid, np.eye(2), offset, shape, 3)
    separable = interpolate_affine(prepare(data, valid, 3), valid, np.eye(2), offset, shape, 3)
    assert np.isnan(fast).any() and np.array_equal(np.isnan(fast), np.isnan(separable))
    both = ~np.isnan(fast)
    assert np.abs(fast - separable)[both].max() <= 1e-5 * np.abs(separable[both]).max()


@pytest.mark.parametrize(("width", "height", "tiles"), [
    (256, 300, (256, 304)), (5000, 200, (BLOCK, 208)), (7, 5000, (16, BLOCK))])
def test_output_tiles__no_larger_than_the_raster_needs(width, height, tiles):
    """A small output is not stored in tiles padded to BLOCK (a 256 px raster in a
    512 px tile compressed four times its pixels); tiles stay multiples of 16."""
    grid = Grid("EPSG:32633", Affine(10, 0, 0, 0, -10, 0), width, height)
    profile = output_profile(grid, count=1, dtype="float32", nodata=None)
    assert (profile["blockxsize"], profile["blockysize"]) == tiles
