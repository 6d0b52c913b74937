"""COGs assembled from strips compressed elsewhere (core/io/cog_tiles.py): GDAL must read
them back exactly, as COGs, with the georeferencing and metadata GDAL would write, and
their layout must be the one GDAL's COG driver promises in the file's header."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.windows import Window

from coreg.core.grid import Grid
from coreg.core.io import cog_tiles
from coreg.core.io.cog_tiles import CogAssembler, TileSpec, encode_strip

GRID = Grid(CRS.from_epsg(32632), from_origin(500000, 5000000, 10, 10), 1300, 1200)


def _values(count: int, dtype: str, nodata, seed: int = 0) -> np.ndarray:
    """Smooth values with noise (as a band compresses), nodata in one corner."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:GRID.height, 0:GRID.width]
    bands = [np.sin(cols / (30 + 7 * b)) * np.cos(rows / 23) * 1000
             + rng.normal(0, 20, rows.shape) for b in range(count)]
    values = np.stack(bands).astype(dtype)
    values[:, :700, :600] = nodata if nodata is not None else np.nan if \
        np.dtype(dtype).kind == "f" else 0
    return values


def _write(path, values: np.ndarray, nodata, order=None, overviews=True) -> TileSpec:
    spec = TileSpec.for_grid(GRID, count=values.shape[0], dtype=str(values.dtype),
                             nodata=nodata, strip_rows=512, tile_width=512,
                             overviews=overviews)

    def decorate(dataset):
        dataset.set_band_description(1, "ndvi")
        dataset.update_tags(1, EXPRESSION="(norm_diff 1.b2 1.b1)")
        dataset.update_tags(SOURCE="test")

    with CogAssembler(path, GRID, spec, decorate) as cog:
        for k in order or range(spec.strips):
            rows = spec.strip_rows(k)
            strip = values[:, 512 * k:512 * k + rows]
            cog.add(k, encode_strip(spec, k, (Window(0, 0, GRID.width, rows), strip)))
        cog.finish()
    return spec


def _halve(values: np.ndarray) -> np.ndarray:
    """NaN-aware mean of 2 x 2 pixels (odd edges padded with NaN), in float64."""
    count, rows, cols = values.shape
    even = np.full((count, rows + rows % 2, cols + cols % 2), np.nan)
    even[:, :rows, :cols] = values
    groups = even.reshape(count, even.shape[1] // 2, 2, even.shape[2] // 2, 2)
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        return np.nanmean(groups, axis=(2, 4))


@pytest.mark.parametrize("count, dtype, nodata", [(1, "float32", float("nan")),
                                                  (3, "int16", -9999),
                                                  (1, "uint16", None),
                                                  (2, "float64", None)])
def test_gdal_reads_back_every_pixel_and_the_metadata(tmp_path, count, dtype, nodata):
    values = _values(count, dtype, nodata)
    _write(tmp_path / "out.tif", values, nodata)
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert np.array_equal(ds.read(), values, equal_nan=True)
        assert ds.crs == GRID.crs and ds.transform == GRID.transform
        assert (ds.nodata is None) if nodata is None else \
            ds.nodata == pytest.approx(nodata, nan_ok=True)
        assert ds.descriptions[0] == "ndvi"
        assert ds.tags(1)["EXPRESSION"] == "(norm_diff 1.b2 1.b1)"
        assert ds.tags()["SOURCE"] == "test"
        structure = ds.tags(ns="IMAGE_STRUCTURE")
        assert structure["LAYOUT"] == "COG" and structure["COMPRESSION"] == "DEFLATE"
        assert structure["PREDICTOR"] == ("3" if dtype.startswith("float") else "2")
        assert ds.block_shapes[0] == (512, 512) and ds.overviews(1) == [2, 4]
        if nodata is None and dtype.startswith("float"):  # NaN, not nodata, stays NaN
            assert np.isnan(ds.read(1, out_shape=(600, 650))[:350, :300]).all()


def test_the_tiles_are_as_large_as_gdals_own_cog(tmp_path):
    """Same codec, level and predictor: within a few percent of GDAL's file size."""
    values = _values(1, "float32", float("nan"))
    _write(tmp_path / "ours.tif", values, float("nan"))
    with rasterio.open(tmp_path / "ours.tif") as ours:
        rasterio.shutil.copy(ours, tmp_path / "gdal.tif", driver="COG", compress="deflate",
                             level=1, predictor=3)
    ours, gdal = (_tiff_levels(tmp_path / name) for name in ("ours.tif", "gdal.tif"))
    assert sum(ours[0][1]) == pytest.approx(sum(gdal[0][1]), rel=0.05)


def test_overviews_average_the_level_below_leaving_nodata_out(tmp_path):
    values = _values(1, "float32", float("nan"))
    _write(tmp_path / "out.tif", values, float("nan"))
    first = _halve(values.astype(np.float64))
    second = _halve(first)
    with rasterio.open(tmp_path / "out.tif") as ds:
        for expected in (first, second):
            read = ds.read(out_shape=expected.shape, resampling=Resampling.nearest)
            assert np.isnan(read).sum() == np.isnan(expected).sum()
            assert np.nanmax(np.abs(read - expected)) < 1e-3  # float32 sums of 4


def test_the_file_does_not_depend_on_the_order_strips_arrive_in(tmp_path):
    values = _values(1, "float32", float("nan"))
    _write(tmp_path / "in_order.tif", values, float("nan"))
    _write(tmp_path / "reversed.tif", values, float("nan"), order=[2, 1, 0])
    assert (tmp_path / "in_order.tif").read_bytes() == (tmp_path / "reversed.tif").read_bytes()


@pytest.mark.parametrize("big", [False, True])
def test_the_layout_is_the_one_its_header_announces(tmp_path, monkeypatch, big):
    """IFDs first, then the smallest overview's tiles up to the full resolution's, row
    by row, each between its size and a copy of its last 4 bytes; BigTIFF past 4 GiB
    (forced here)."""
    if big:
        monkeypatch.setattr(cog_tiles, "BIGTIFF_FROM", 0)
    values = _values(3, "int16", -9999)
    _write(tmp_path / "out.tif", values, -9999)
    content = (tmp_path / "out.tif").read_bytes()
    assert content[:4] == (b"II+\x00" if big else b"II*\x00")
    assert b"LAYOUT=IFDS_BEFORE_DATA" in content[:200]
    levels = _tiff_levels(tmp_path / "out.tif")
    assert [len(offsets) for offsets, _ in levels] == [3 * 3, 2 * 2, 1]
    ifds_end = min(min(offsets) for offsets, _ in levels)
    assert all(ifd < ifds_end for ifd in _ifd_offsets(content))
    position = ifds_end
    for offsets, sizes in reversed(levels):
        for offset, size in zip(offsets, sizes):
            assert offset == position  # one after the other, nothing between
            assert struct.unpack_from("<I", content, offset - 4)[0] == size
            end = offset + size
            assert content[end:end + 4] == content[end - 4:end]
            position = offset + size + 8
    assert position - 4 == len(content)
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert np.array_equal(ds.read(), values)


def test_a_strip_never_added_is_an_error_and_leaves_no_scratch(tmp_path):
    spec = TileSpec.for_grid(GRID, count=1, dtype="float32", nodata=float("nan"),
                             strip_rows=512, tile_width=512)
    with pytest.raises(ValueError, match="1 strips of 3 were never added"), \
            CogAssembler(tmp_path / "out.tif", GRID, spec) as cog:
        cog.add(0, encode_strip(spec, 0, None))
        cog.add(2, encode_strip(spec, 2, None))
        cog.finish()
    assert list(tmp_path.iterdir()) == []


def test_a_strip_with_no_data_reads_as_nodata(tmp_path):
    spec = TileSpec.for_grid(GRID, count=1, dtype="float32", nodata=float("nan"),
                             strip_rows=512, tile_width=512)
    with CogAssembler(tmp_path / "out.tif", GRID, spec) as cog:
        for k in range(spec.strips):
            covered = (Window(10, 20, 5, 4), np.ones((1, 4, 5), np.float32)) if k == 1 else None
            cog.add(k, encode_strip(spec, k, covered))
        cog.finish()
    with rasterio.open(tmp_path / "out.tif") as ds:
        values = ds.read(1)
        overview = ds.read(1, out_shape=(600, 650))
    assert values[532, 10] == 1 and np.isfinite(values).sum() == 20 and np.nansum(values) == 20
    # Rows 532-535 and columns 10-14 fall in 2 x 3 overview pixels, each of ones.
    assert np.isfinite(overview).sum() == 6 and np.nansum(overview) == 6


# ------------------------------------------------------------------ TIFF reading


def _tiff_levels(path) -> list[tuple[list[int], list[int]]]:
    """(tile offsets, tile byte counts) of every IFD, in file order."""
    content = path.read_bytes()
    levels = []
    for where in _ifd_offsets(content):
        tags = _ifd_tags(content, where)
        levels.append((tags[324], tags[325]))
    return levels


def _ifd_offsets(content: bytes) -> list[int]:
    big = content[2] == 43
    where = struct.unpack_from("<Q" if big else "<I", content, 8 if big else 4)[0]
    found = []
    while where:
        found.append(where)
        count = struct.unpack_from("<Q" if big else "<H", content, where)[0]
        entry, head = (20, 8) if big else (12, 2)
        next_at = where + head + entry * count
        where = struct.unpack_from("<Q" if big else "<I", content, next_at)[0]
    return found


def _ifd_tags(content: bytes, where: int) -> dict[int, list[int]]:
    """The integer tags of the IFD at ``where`` (classic or BigTIFF)."""
    big = content[2] == 43
    formats = {3: "H", 4: "I", 16: "Q"}
    count = struct.unpack_from("<Q" if big else "<H", content, where)[0]
    entry, head, inline = (20, 8, 8) if big else (12, 2, 4)
    tags = {}
    for k in range(count):
        at = where + head + entry * k
        tag, kind = struct.unpack_from("<HH", content, at)
        if kind not in formats:
            continue
        n = struct.unpack_from("<Q" if big else "<I", content, at + 4)[0]
        size = struct.calcsize(formats[kind]) * n
        value_at = at + (12 if big else 8)
        if size > inline:
            value_at = struct.unpack_from("<Q" if big else "<I", content, value_at)[0]
        tags[tag] = list(struct.unpack_from(f"<{n}{formats[kind]}", content, value_at))
    return tags


def test_gdals_own_cog_validator_accepts_the_file(tmp_path):
    """GDAL's validator (python3-gdal's osgeo_utils, not on every machine: the layout
    test above checks the same rules without it), its full check of leaders and
    trailers included."""
    validator = pytest.importorskip("osgeo_utils.samples.validate_cloud_optimized_geotiff")
    _write(tmp_path / "out.tif", _values(1, "float32", float("nan")), float("nan"))
    warnings, errors, _ = validator.validate(str(tmp_path / "out.tif"), full_check=True)
    assert errors == [] and warnings == []


def test_without_overviews_the_file_is_a_tiled_compressed_geotiff(tmp_path):
    """``overviews=False`` (a plain GeoTIFF output): the same tiles and no overview, a
    file GDAL reads back exactly (and its COG validator accepts, but for the overviews
    it recommends, where it is installed)."""
    values = _values(2, "int16", -9999)
    spec = _write(tmp_path / "out.tif", values, -9999, overviews=False)
    assert spec.levels == 0
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert np.array_equal(ds.read(), values) and ds.nodata == -9999
        assert ds.crs == GRID.crs and ds.transform == GRID.transform
        assert ds.overviews(1) == [] and ds.block_shapes[0] == (512, 512)
        assert ds.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
    validator = pytest.importorskip(
        "osgeo_utils.samples.validate_cloud_optimized_geotiff")
    warnings, errors, _ = validator.validate(str(tmp_path / "out.tif"), full_check=True)
    assert errors == [] and warnings == [
        "The file is greater than 512xH or Wx512, it is recommended to include internal "
        "overviews"]
