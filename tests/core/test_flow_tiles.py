"""Dense flow by tiles (core/local/flow_tiles.py): the tiles' margins are wide enough for
the stitched field to be the whole image's, on a pair with a known field."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from scipy import ndimage

from coreg.core.errors import CanceledError
from coreg.core.local.dense_flow import estimate_flow
from coreg.core.local.flow_tiles import flow_margin, flow_tiles
from coreg.core.local.points import Tile

SCENE = "optical/oscd_s2/beirut_S2_20150820_B02-B03-B04-B08.tif"
SIZE, CORE = 288, 96
OPTIONS = dict(radius=4, levels=2, iterations=3)
#: A whole-pixel part of the field larger than the tiles' slack: the margin must cover it.
OFFSET = (6.0, -5.0)


def field_e(rows, cols):
    """The field the secondary is sampled through (secondary pixels)."""
    return (OFFSET[0] + 1.5 * np.sin(2 * np.pi * rows / 210 + 0.3),
            OFFSET[1] + 1.2 * np.cos(2 * np.pi * cols / 170))


def truth(rows, cols):
    """d(p) = e(p + d(p)): the secondary at p + d(p) shows the reference at p."""
    dx, dy = field_e(rows, cols)
    for _ in range(30):
        dx, dy = field_e(rows + dy, cols + dx)
    return dx, dy


@pytest.fixture(scope="module")
def pair(shared_data):
    """2 x 2 block averages of a real Sentinel-2 band (the fine scale), the secondary's
    sampled bilinearly through ``field_e`` at the fine scale: no cubic-spline truth."""
    pad = 24
    with rasterio.open(shared_data / SCENE) as src:
        fine = src.read(4, window=((200 - pad, 200 + 2 * SIZE + pad),
                                   (200 - pad, 200 + 2 * SIZE + pad))).astype(np.float64)
    inner = fine[pad:-pad, pad:-pad]
    reference = inner.reshape(SIZE, 2, SIZE, 2).mean(axis=(1, 3))
    rr, cc = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    ex, ey = field_e(rr, cc)
    secondary = sum(ndimage.map_coordinates(fine, [2 * (rr - ey) + i + pad,
                                                   2 * (cc - ex) + j + pad], order=1)
                    for i in (0, 1) for j in (0, 1)) / 4
    return reference, 0.9 * secondary + 30


class ArrayTiles:
    """A tile reader over two arrays (what RasterTiles does over two rasters)."""

    def __init__(self, reference, secondary):
        self.reference, self.secondary = reference, secondary

    def read(self, r0, r1, c0, c1, margin, clip=False):
        assert clip
        top, left = max(r0 - margin, 0), max(c0 - margin, 0)
        bottom, right = min(r1 + margin, SIZE), min(c1 + margin, SIZE)
        window = (slice(top, bottom), slice(left, right))
        return Tile(top, left, self.reference[window], self.secondary[window], (r0, r1, c0, c1))


def cores():
    return [(r, min(r + CORE, SIZE), c, min(c + CORE, SIZE))
            for r in range(0, SIZE, CORE) for c in range(0, SIZE, CORE)]


def stitch(rows) -> tuple[np.ndarray, np.ndarray]:
    dx, dy = np.full((SIZE, SIZE), np.nan), np.full((SIZE, SIZE), np.nan)
    for _, _, tiles in rows:
        for (r0, r1, c0, c1), tx, ty in tiles:
            dx[r0:r1, c0:c1], dy[r0:r1, c0:c1] = tx, ty
    return dx, dy


def test_flow_tiles__the_whole_image_field(pair):
    reference, secondary = pair
    progress = []

    dx, dy = stitch(flow_tiles(ArrayTiles(reference, secondary), cores(), OPTIONS, 10.0,
                               progress.append))

    whole_dx, whole_dy = estimate_flow(reference, secondary, **OPTIONS)
    inner = (slice(16, -16),) * 2
    rr, cc = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    tx, ty = truth(rr, cc)
    seams = np.hypot(dx - whole_dx, dy - whole_dy)[inner]
    error = np.sqrt(np.mean(((dx - tx) ** 2 + (dy - ty) ** 2)[inner]))
    assert flow_margin(OPTIONS, 10.0) == 40  # 10 + 12 + 16, rounded up to 4
    assert seams.max() < 0.005, seams.max()  # measured 0.0004
    # measured 0.046; 0.078 without the final adaptive smoothing; doing nothing: 8.2 px
    assert error < 0.06, error
    assert progress and max(progress) <= 100.0


def test_flow_tiles__canceled(pair):
    reference, secondary = pair

    with pytest.raises(CanceledError):
        list(flow_tiles(ArrayTiles(reference, secondary), cores(), OPTIONS, 10.0,
                        is_canceled=lambda: True))
