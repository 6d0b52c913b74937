"""A local displacement field (coreg:align_local) applied to rasters of another
resolution: solved once on a 10 m band, applied to a 20 m raster of the same
acquisition, it moves every pixel by the true field."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine
from local_synthetic import SCENE, true_field, write_pair

from coreg.core.local.local import align_local
from coreg.core.transforms.apply import apply_alignment
from coreg.core.transforms.saved import read_alignment

#: Output pixels (20 m) this far from the edges are scored: the field is extrapolated
#: beyond the outermost tie points.
INSIDE_20M = 24


@pytest.fixture(scope="module")
def solved(shared_data, tmp_path_factory):
    """A 480 x 480 real 10 m band warped by the known field, aligned by tie points;
    the report and the DISPLACEMENT raster are saved."""
    folder = tmp_path_factory.mktemp("apply_local")
    reference, secondary = write_pair(shared_data / SCENE, folder, size=480)
    result = align_local(reference, secondary, None, folder / "field.tif", grid_spacing=48,
                         window_size=64, max_shift=10)
    (folder / "report.json").write_text(json.dumps(result.report()))
    return folder, secondary


def coordinate_raster(path, like, scale: int) -> Affine:
    """A raster ``scale`` times coarser than ``like`` whose two bands hold the map x and
    y of each pixel centre: what it shows after warping is where each pixel came from."""
    with rasterio.open(like) as src:
        transform = src.transform * Affine.scale(scale)
        width, height, crs = src.width // scale, src.height // scale, src.crs
    rows, cols = np.mgrid[0:height, 0:width] + 0.5
    x, y = transform * (cols, rows)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=2,
                       dtype="float64", crs=crs, transform=transform) as dst:
        dst.write(np.stack([x, y]))
    return transform


@pytest.mark.parametrize("alignment_file", ["report.json", "field.tif"])
def test_local_field_applied_at_20m_moves_pixels_by_the_true_field(solved, alignment_file,
                                                                    tmp_path):
    folder, secondary = solved
    transform = coordinate_raster(tmp_path / "coords_20m.tif", secondary, 2)
    alignment = read_alignment(folder / alignment_file)
    apply_alignment(alignment, tmp_path / "coords_20m.tif", tmp_path / "moved.tif")
    with rasterio.open(tmp_path / "moved.tif") as out:
        assert out.transform == transform  # the input's own grid
        x, y = out.read().astype(float)
    rows, cols = np.mgrid[0:x.shape[0], 0:x.shape[1]] + 0.5
    px, py = transform * (cols, rows)
    # The secondary at 10 m grid position (c + dx, r + dy) shows the reference at (c, r).
    ten = 0.5 * transform.a
    dx_true, dy_true = true_field((py - transform.f) / -ten - 0.5, (px - transform.c) / ten - 0.5)
    inner = (slice(INSIDE_20M, -INSIDE_20M), slice(INSIDE_20M, -INSIDE_20M))
    error_x = (x - px) / ten - dx_true
    error_y = (y - py) / -ten - dy_true
    rms = float(np.sqrt(np.mean(error_x[inner] ** 2 + error_y[inner] ** 2)))
    assert rms <= 0.1, f"RMS error {rms:.3f} px of the 10 m grid"
    assert np.isfinite(x[inner]).all()


def test_local_field_cannot_be_inverted(solved):
    folder, _ = solved
    with pytest.raises(ValueError, match="cannot be inverted"):
        read_alignment(folder / "report.json").inverted()


def test_displacement_raster_carries_the_coreg_tag(solved):
    """apply_alignment knows a DISPLACEMENT raster by this tag (any other 2-band raster is
    refused)."""
    from coreg.core.transforms.saved import DISPLACEMENT_BANDS, FIELD_KIND, FIELD_TAG

    folder, _ = solved
    with rasterio.open(folder / "field.tif") as ds:
        assert ds.tags()[FIELD_TAG] == FIELD_KIND
        assert ds.descriptions == DISPLACEMENT_BANDS
