"""Patches of a small, densely covered overlap sampled as one grid (patch_union): the
same samples as one chunk per patch, and the union only where it is dense."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from local_synthetic import SCENE
from rasterio.crs import CRS

from coreg.core.grid import Grid
from coreg.core.matching.fit import RigidModel
from coreg.core.matching.match import SecondarySampler, layout_patches, sparse_layout
from coreg.core.matching.patch_union import patch_union

CRS_UTM = CRS.from_epsg(32636)


@pytest.fixture(scope="module")
def secondary(shared_data, tmp_path_factory):
    """A 300-pixel window of a real Sentinel-2 band as a GeoTIFF, and its grid."""
    with rasterio.open(shared_data / SCENE) as ds:
        band = ds.read(4, window=rasterio.windows.Window(200, 200, 300, 300))
    path = tmp_path_factory.mktemp("union") / "secondary.tif"
    transform = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)
    with rasterio.open(path, "w", driver="GTiff", width=300, height=300, count=1,
                       dtype=band.dtype, crs=CRS_UTM, transform=transform) as out:
        out.write(band, 1)
    return path, Grid(CRS_UTM, transform, 300, 300)


def test_patch_union__dense_layouts_only():
    common = Grid(CRS_UTM, Affine(10.0, 0.0, 0.0, 0.0, -10.0, 0.0), 256, 256)
    grids = layout_patches(common, 64)
    union, offsets = patch_union(grids)
    assert (union.width, union.height) == (256, 256)
    assert offsets[0] == (0, 0) and offsets[-1] == (192, 192)
    sparse = [grids[i] for i in sparse_layout(grids)]
    assert patch_union(sparse) is not None  # 4 x 4 patches of 64 tile the 256 px
    assert patch_union([grids[0], grids[-1]]) is None  # two corners: mostly unused
    shifted = Grid(CRS_UTM, grids[1].transform * Affine.translation(0.5, 0), 64, 64)
    assert patch_union([grids[0], shifted]) is None  # not whole pixels apart


@pytest.mark.parametrize("rotation", [0.0, 0.3])
def test_sample_all__one_grid_equals_one_chunk_per_patch(secondary, rotation):
    path, grid = secondary
    common = grid.subgrid(20, 20, 256, 256)
    grids = layout_patches(common, 64)
    left, bottom, right, top = common.bounds
    model = RigidModel(3.7, -12.2, rotation, (left + right) / 2, (bottom + top) / 2)
    with rasterio.open(path) as ds:
        together = SecondarySampler(ds, 1, None, common).sample_all(grids, model)
        one_by_one = SecondarySampler(ds, 1, None, common)
        apart = [one_by_one.sample(g, model) for g in grids]
    scale = float(np.nanstd(np.stack(apart)))
    for a, b in zip(together, apart):
        assert np.array_equal(np.isnan(a), np.isnan(b))
        assert np.nanmax(np.abs(a - b)) < 1e-4 * scale


def test_load__prepares_the_chunks_that_sample_all_then_reads_from_its_cache(secondary):
    """load() (run beside the reference's screening) reads what sample_all will need,
    one chunk per patch or one for their union: afterwards the samples come from its
    cache, the same numbers as without it."""
    path, grid = secondary
    common = grid.subgrid(20, 20, 256, 256)
    grids = [g for k, g in enumerate(layout_patches(common, 64)) if k % 3]
    left, bottom, right, top = common.bounds
    model = RigidModel(3.7, -12.2, 0.0, (left + right) / 2, (bottom + top) / 2)
    with rasterio.open(path) as ds:
        for subset in (grids, [grids[i] for i in sparse_layout(grids)]):
            plain = SecondarySampler(ds, 1, None, common).sample_all(subset, model)
            loaded = SecondarySampler(ds, 1, None, common)
            assert not loaded.cached(subset, model)
            assert (loaded.load(subset, model) is None) == (patch_union(subset) is None)
            assert loaded.cached(subset, model)
            for a, b in zip(loaded.sample_all(subset, model), plain):
                assert np.array_equal(a, b, equal_nan=True)
