"""The coarse search reads a remote COG's overview, not its full resolution
(core/io/overviews.py): nginx's access log says which bytes travelled.

The pair: the Beirut 10 m NIR band (OSCD) as a COG (256 px tiles, overviews 2x, 4x, 8x)
and the same band cut ``OFFSET`` whole pixels further right and down with the same
georeferencing (exact truth, no resampling). At ~1100 px the coarse search works at 3x
and 2x the pixel: both levels read from the 2x overview.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import stac_fixture
from affine import Affine
from corpus import OSCD

from coreg.core.grid import common_grid
from coreg.core.io import overviews
from coreg.core.io.paths import remote_reads
from coreg.core.io.raster_io import read_info
from coreg.core.matching.align import estimate_alignment
from coreg.core.matching.coarse_search import coarse_offset, level_grid
from coreg.core.stac.item_stack import item_view
from coreg.core.stac.net import gdal_http, vsicurl
from coreg.core.stac.stac import StacItem

SCENE = OSCD / "beirut_S2_20150820_B02-B03-B04-B08.tif"
OFFSET = (7, 5)  # whole pixels, x right, y down: the correction
MARGIN = 24
FILES = ("reference.tif", "source.tif")
#: GDAL reads a remote file in chunks of 16 kB: a read may overrun its tiles by less.
CHUNK = 16384


@pytest.fixture(scope="module")
def served(tmp_path_factory, shared_data):
    """nginx serving the pair: {"folder", "url", "log"}."""
    folder = tmp_path_factory.mktemp("overviews")
    with rasterio.open(SCENE) as ds:
        fine, crs, t = ds.read(4).astype(np.float32), ds.crs, ds.transform
    height, width = fine.shape
    kx, ky = OFFSET
    origin = t * Affine.translation(MARGIN, MARGIN)
    stac_fixture.write_cog(folder / "reference.tif",
                           fine[MARGIN:height - MARGIN, MARGIN:width - MARGIN], crs, origin)
    stac_fixture.write_cog(folder / "source.tif",
                           fine[MARGIN + ky:height - MARGIN, MARGIN + kx:width - MARGIN], crs,
                           origin)
    with stac_fixture.file_server(folder, folder / "nginx") as (url, log):
        yield {"folder": folder, "url": url, "log": log}


def _full_resolution_start(path) -> int:
    """The file offset of the first full-resolution tile (a COG stores its overviews
    before it)."""
    with rasterio.open(path) as ds:
        return min(int(ds.get_tag_item(f"BLOCK_OFFSET_{c}_{r}", "TIFF", bidx=1))
                   for r in range(-(-ds.height // 256)) for c in range(-(-ds.width // 256)))


def _coarse_search_requests(served, views: Path | None = None,
                            names=FILES) -> tuple[object, list[dict]]:
    """The remote coarse search's result and the requests it made (the files' headers
    read before it); through local VRT views of the COGs in ``views`` if given (as the
    panel shows a STAC asset: :func:`item_view`)."""
    paths = [vsicurl(f"{served['url']}/{name}") for name in names]
    with remote_reads(paths), gdal_http():
        common = common_grid(read_info(paths[0]).grid, read_info(paths[1]).grid)
        if views is not None:
            paths = [item_view(StacItem(name, name), path, 1, views / f"{name}.vrt")
                     for name, path in zip(names, paths)]
        before = len(stac_fixture.access_log(served["log"]))
        with rasterio.open(paths[0]) as ref, rasterio.open(paths[1]) as sec:
            found = coarse_offset(ref, 1, None, sec, 1, None, common, [])
    return found, stac_fixture.access_log(served["log"])[before:]


def test_a_remote_coarse_search_reads_the_overview_only(served):
    with rasterio.open(served["folder"] / "reference.tif") as ds:
        assert ds.overviews(1) == [2, 4, 8]
    found, requests = _coarse_search_requests(served)
    assert found.found and found.factor == 2
    assert requests and all(r["status"] == 206 for r in requests)
    for name in FILES:
        start = _full_resolution_start(served["folder"] / name)
        ranges = [tuple(map(int, r["range"].removeprefix("bytes=").split("-")))
                  for r in requests if r["uri"] == f"/{name}"]
        full_resolution = sum(max(0, end + 1 - max(first, start)) for first, end in ranges)
        assert full_resolution <= CHUNK, name  # a chunk's overrun at most
    # The same search reading the full resolution: 2.5 times the bytes.
    total = sum(r["bytes"] for r in requests)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(overviews, "overview_level", lambda *args: None)
        full, full_requests = _coarse_search_requests(served)
    assert total <= 0.5 * sum(r["bytes"] for r in full_requests)
    pixel = 9.89860463365216e-05  # the scene's degrees per pixel
    for a, b in ((found.shift_x, full.shift_x), (found.shift_y, full.shift_y)):
        assert abs(a - b) <= 0.5 * pixel * found.factor  # the same offset, to half a level px


def test_a_local_view_of_a_remote_cog_reads_its_overview(served, tmp_path):
    import shutil

    names = tuple(f"view_{name}" for name in FILES)  # URLs not in GDAL's cache yet
    for name, copy in zip(FILES, names):
        shutil.copy(served["folder"] / name, served["folder"] / copy)
    through, requests = _coarse_search_requests(served, tmp_path, names)
    direct, _ = _coarse_search_requests(served)
    assert (through.shift_x, through.shift_y, through.peak) == (
        direct.shift_x, direct.shift_y, direct.peak)
    for name in names:
        start = _full_resolution_start(served["folder"] / name)
        ranges = [tuple(map(int, r["range"].removeprefix("bytes=").split("-")))
                  for r in requests if r["uri"] == f"/{name}"]
        assert ranges  # its overview travelled...
        assert sum(max(0, end + 1 - max(first, start)) for first, end in ranges) <= CHUNK


def test_only_a_view_of_one_whole_remote_geotiff_is_followed(served, tmp_path):
    remote = vsicurl(f"{served['url']}/reference.tif")
    local = served["folder"] / "reference.tif"
    with remote_reads([remote]), gdal_http():
        view = item_view(StacItem("r", "r"), remote, 1, tmp_path / "view.vrt")
        with rasterio.open(view) as ds:
            assert overviews.streamed_band(ds, 1) == (remote, 1)
        local_view = item_view(StacItem("l", "l"), str(local), 1, tmp_path / "local.vrt")
        with rasterio.open(local_view) as ds:
            assert overviews.streamed_band(ds, 1) is None  # a local source: full resolution
        cut = tmp_path / "cut.vrt"
        cut.write_text(Path(view).read_text().replace(
            "<SourceBand>1</SourceBand>", '<SourceBand>1</SourceBand><SrcRect xOff="8" '
            'yOff="0" xSize="100" ySize="100"/>'))
        with rasterio.open(cut) as ds:
            assert overviews.streamed_band(ds, 1) is None  # a part of the source only


def test_overview_levels_are_for_remote_rasters_coarser_than_an_overview(served):
    path = served["folder"] / "reference.tif"
    with rasterio.open(path) as local, \
            remote_reads([remote := vsicurl(f"{served['url']}/reference.tif")]), \
            rasterio.open(remote) as ds:
        grid = read_info(path).grid
        coarser = [level_grid(grid, f, None) for f in (1, 2, 3, 4, 9)]
        assert [overviews.overview_level(ds, 1, g) for g in coarser] == [None, 0, 0, 1, 2]
        assert overviews.overview_level(local, 1, coarser[3]) is None


def test_a_remote_vrt_is_read_at_full_resolution(served):
    import rasterio.shutil

    source = vsicurl(f"{served['url']}/reference.tif")
    remote = vsicurl(f"{served['url']}/view.vrt")
    with remote_reads([source, remote]):
        rasterio.shutil.copy(source, served["folder"] / "view.vrt", driver="VRT")
    with remote_reads([remote]), rasterio.open(remote) as ds:
        assert ds.driver == "VRT" and ds.overviews(1)  # GDAL offers its source's overviews
        grid = level_grid(read_info(served["folder"] / "reference.tif").grid, 4, None)
        assert overviews.overview_level(ds, 1, grid) is None


def test_the_alignment_of_remote_cogs_is_the_local_one(served):
    paths = [vsicurl(f"{served['url']}/{name}") for name in FILES]
    with remote_reads(paths), gdal_http():
        remote = estimate_alignment(*paths).report()
    local = estimate_alignment(*(served["folder"] / name for name in FILES)).report()
    for key, truth in (("shift_x_px", OFFSET[0]), ("shift_y_px", OFFSET[1])):
        assert abs(remote[key] - local[key]) <= 0.005, key
        assert abs(remote[key] - truth) <= 0.05, key
