"""core/io/tiff_index.py: a written TIFF's blocks found from its directories, against
what GDAL says of the same files (its BLOCK_OFFSET / BLOCK_SIZE tags)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.shutil import copy as gdal_copy

from coreg.core.errors import CoregOutputError
from coreg.core.io.outputs import missing_tiles
from coreg.core.io.tiff_index import TiffLayoutError, missing_blocks

LAYOUTS = {
    "tiled": dict(tiled=True, blockxsize=64, blockysize=64, compress="deflate"),
    "bands apart": dict(tiled=True, blockxsize=64, blockysize=64, interleave="band"),
    "strips": dict(tiled=False, blockysize=16),
    "bigtiff": dict(tiled=True, blockxsize=64, blockysize=64, BIGTIFF="YES"),
    "big-endian": dict(tiled=True, blockxsize=64, blockysize=64, ENDIANNESS="BIG"),
    "one block": dict(tiled=True, blockxsize=256, blockysize=256, compress="deflate"),
}


def _write(path, count=3, side=200, **layout):
    data = np.random.default_rng(0).integers(0, 4000, (count, side, side)).astype(np.uint16)
    with rasterio.open(path, "w", driver="GTiff", width=side, height=side, count=count,
                       dtype="uint16", crs="EPSG:32633",
                       transform=Affine(10, 0, 500000, 0, -10, 5000000), **layout) as dst:
        dst.write(data)


def _block_ends(path) -> list[int]:
    """Where GDAL says each block of the full-resolution image ends (0: absent)."""
    ends = []
    with rasterio.open(path) as ds:
        (block_rows, block_cols), = set(ds.block_shapes)
        planes = ds.count if ds.interleaving and ds.interleaving.name == "band" else 1
        for band in range(1, planes + 1):
            for row in range(-(-ds.height // block_rows)):
                for col in range(-(-ds.width // block_cols)):
                    offset = ds.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=band)
                    length = ds.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=band)
                    ends.append(int(offset) + int(length) if offset and length else 0)
    return ends


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_whole_file_misses_nothing_and_a_cut_one_what_gdal_says(tmp_path, layout):
    path = tmp_path / "a.tif"
    _write(path, **LAYOUTS[layout])
    ends = _block_ends(path)
    assert len(ends) > 1 or layout == "one block"
    assert missing_blocks(str(path)) == 0
    cut = sorted(ends)[len(ends) // 2]  # the file cut within its blocks: half are lost
    data = path.read_bytes()
    path.write_bytes(data[:cut - 1])
    assert missing_blocks(str(path)) == sum(end > cut - 1 for end in ends) > 0


def test_a_sparse_file_misses_its_empty_blocks(tmp_path):
    path = tmp_path / "sparse.tif"
    with rasterio.open(path, "w", driver="GTiff", width=256, height=256, count=1,
                       dtype="uint8", tiled=True, blockxsize=64, blockysize=64,
                       SPARSE_OK="TRUE", nodata=0) as dst:
        dst.write(np.full((1, 64, 64), 7, np.uint8), window=((0, 64), (0, 64)))
    assert missing_blocks(str(path)) == 15 == sum(end == 0 for end in _block_ends(path))


def test_the_overviews_of_a_cog_count_too(tmp_path):
    """A COG holds its overviews' tiles before the full resolution's: cut within the
    first full-resolution tile, it misses those only; cut within an overview's first
    tile, that one too."""
    plain, cog = tmp_path / "plain.tif", tmp_path / "cog.tif"
    _write(plain, count=1, side=900, tiled=True, blockxsize=256, blockysize=256)
    gdal_copy(str(plain), str(cog), driver="COG", BLOCKSIZE=256, OVERVIEW_COUNT=2)
    with rasterio.open(cog) as ds:
        assert len(ds.overviews(1)) == 2
        first_overview_tile = min(int(ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1,
                                                      ovr=k)) for k in (0, 1))
    ends = _block_ends(cog)
    assert missing_blocks(str(cog)) == 0
    data = cog.read_bytes()
    cog.write_bytes(data[:min(ends) - 1])
    assert missing_blocks(str(cog)) == len(ends)
    cog.write_bytes(data[:first_overview_tile + 1])
    assert missing_blocks(str(cog)) > len(ends)


@pytest.mark.parametrize("content", [b"", b"not a tiff at all", b"II*\x00\x08\x00\x00\x00\x05"])
def test_what_is_not_a_readable_tiff_is_said_so(tmp_path, content):
    path = tmp_path / "bad.tif"
    path.write_bytes(content)
    with pytest.raises(TiffLayoutError):
        missing_blocks(str(path))
    with pytest.raises(CoregOutputError, match="cannot be read back"):
        missing_tiles(str(path))
