"""The UNCERTAINTY raster of align_local: per pixel of the reference grid, the radius
(reference pixels) that holds the true displacement of the field with 95 % probability;
NaN where the field is unknown. One Float32 band, written strip by strip.

Tie points: the field at a pixel carries the error of the points it comes from (their
calibrated 95 % radius, :mod:`.uncertainty`, taken from the nearest kept point) plus the
error of interpolating between them, which grows with the distance d to the nearest
kept point as the field's curvature allows:

    radius = hypot(point_radius, MODEL_GAIN * curvature * (d / spacing)^2)

``curvature`` is measured from the points themselves: how far a point lies from the mean
of its two grid neighbours (along rows or columns, the larger; pixels), taken from the
nearest point where it is known and never below the median over the points. Beyond the
outermost points d keeps growing, and so does the radius. MODEL_GAIN was fitted on half of
the sensor-simulated local corpus and checked on the other half
(benchmarks/calibration_local.py, ``field_uncertainty`` in
benchmarks/results/calibration_local.json).

Dense flow: the calibrated per-pixel 95 % radius of :func:`.uncertainty.flow_sigmas` (the
local matching quality over the flow's window), computed again tile by tile on the two
images and the written field.
"""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.windows import Window
from scipy.spatial import cKDTree

from ..errors import check_canceled
from ..grid import Grid
from ..io.raster_io import BLOCK, output_profile
from .points import NodeField, TiePoints, node_count
from .reader import RasterTiles
from .uncertainty import flow_sigmas, radius95

#: Gain of the interpolation term (fitted: benchmarks/calibration_local.py; rerun it when
#: the field fit changes, and update this).
MODEL_GAIN = 2.0
#: Tag and band name by which the raster says what it is.
UNCERTAINTY_TAG, UNCERTAINTY_KIND = "COREG_FIELD", "uncertainty"
UNCERTAINTY_BAND = "95 % radius of the field's error (reference pixels)"


def point_curvature(points: TiePoints) -> np.ndarray:
    """Per point: the length (pixels) of its departure from the mean of its two grid
    neighbours, along rows or columns (the larger); NaN where no pair of kept neighbours."""
    kept = points.kept
    rows, cols = np.unique(points.row), np.unique(points.col)
    i, j = np.searchsorted(rows, points.row), np.searchsorted(cols, points.col)
    grid = np.full((len(rows) + 2, len(cols) + 2, 2), np.nan)
    grid[i[kept] + 1, j[kept] + 1] = np.column_stack([points.dx[kept], points.dy[kept]])
    centre = grid[1:-1, 1:-1]
    along_rows = centre - (grid[:-2, 1:-1] + grid[2:, 1:-1]) / 2
    along_cols = centre - (grid[1:-1, :-2] + grid[1:-1, 2:]) / 2
    squared = np.stack([(along_rows ** 2).sum(-1), (along_cols ** 2).sum(-1)])
    known = np.isfinite(squared).any(axis=0)
    size = np.full(known.shape, np.nan)
    size[known] = np.sqrt(np.nanmax(squared[:, known], axis=0))
    return size[i, j]


def tie_point_radius(points: TiePoints, shape: tuple[int, int], step: float,
                     spacing: float, gain: float = MODEL_GAIN) -> NodeField:
    """The 95 % radius on nodes every ``step`` over ``shape`` (the points' grid), as the
    ``dx`` of a :class:`NodeField` (bilinear in between); ``gain``: of the interpolation
    term (another than MODEL_GAIN to fit it)."""
    kept = points.kept & np.isfinite(points.dx) & np.isfinite(points.dy)
    sigma_x, sigma_y = points.sigmas()
    point_radius = radius95(sigma_x, sigma_y)
    known = kept & np.isfinite(point_radius)  # a kept point without a bound: the median's
    point_radius = np.where(np.isfinite(point_radius), point_radius,
                            np.median(point_radius[known]) if known.any() else np.inf)
    curvature = point_curvature(points)
    with_curvature = kept & np.isfinite(curvature)
    floor = float(np.median(curvature[with_curvature])) if with_curvature.any() else 0.0
    ny, nx = node_count(shape[0], step), node_count(shape[1], step)
    nodes = np.column_stack([g.ravel() for g in np.mgrid[:ny, :nx]]) * step
    positions = np.column_stack([points.row, points.col]).astype(float)
    distance, nearest = cKDTree(positions[kept]).query(nodes)
    local = np.full(len(nodes), floor)
    if with_curvature.any():
        local = np.maximum(curvature[with_curvature][
            cKDTree(positions[with_curvature]).query(nodes)[1]], floor)
    radius = np.hypot(point_radius[kept][nearest],
                      gain * local * (distance / spacing) ** 2)
    radius = radius.reshape(ny, nx).astype(np.float32)
    return NodeField(radius, np.zeros_like(radius), step)


def _profile(grid: Grid) -> dict:
    return output_profile(grid, count=1, dtype="float32", nodata=float("nan"))


def _label(dst) -> None:
    dst.set_band_description(1, UNCERTAINTY_BAND)
    dst.update_tags(**{UNCERTAINTY_TAG: UNCERTAINTY_KIND})


def write_tie_point_uncertainty(path: str, grid: Grid, radius: NodeField,
                                offset: tuple[int, int], overlap: Grid) -> None:
    """:func:`tie_point_radius` over the overlap (``offset``: its row, col in ``grid``)."""
    row0, col0 = offset
    with rasterio.open(path, "w", **_profile(grid)) as dst:
        _label(dst)
        for start in range(0, grid.height, BLOCK):
            height = min(BLOCK, grid.height - start)
            block = np.full((height, grid.width), np.nan, np.float32)
            rows = np.arange(start, start + height) - row0
            inside = (rows >= 0) & (rows < overlap.height)
            if inside.any():
                block[inside, col0:col0 + overlap.width] = radius.on_grid(
                    int(rows[inside][0]), 0, int(inside.sum()), overlap.width)[0]
            dst.write(block, 1, window=Window(0, start, grid.width, height))


def write_flow_uncertainty(path: str, grid: Grid, reader: RasterTiles, field_path: str,
                           offset: tuple[int, int], radius: int, pixel_ratio: float,
                           max_shift: float, is_canceled=None) -> None:
    """The dense flow's calibrated 95 % radius, tile by tile (the images as the flow read
    them, the field as written to ``field_path``), NaN outside the overlap. Tiles are
    read with a margin of the window and ``max_shift``: a pixel near a tile's edge samples
    the secondary up to that far away."""
    row0, col0 = offset
    margin = radius + 2 + int(np.ceil(max_shift))
    with rasterio.open(path, "w", **_profile(grid)) as dst, \
            rasterio.open(field_path) as field:
        _label(dst)
        nan_rows(dst, grid, 0, row0)
        strips: dict = {}
        for r0, r1, c0, c1 in reader.cores():  # row by row of tiles
            check_canceled(is_canceled)
            tile = reader.read(r0, r1, c0, c1, margin, clip=True)
            h, w = tile.reference.shape
            dx, dy = field.read([1, 2], window=Window(col0 + tile.col, row0 + tile.row, w, h),
                                boundless=True, fill_value=np.nan)
            value = radius95(*flow_sigmas(tile.reference, tile.secondary, dx, dy, radius,
                                          pixel_ratio))
            value[~(np.isfinite(dx) & np.isfinite(dy))] = np.nan
            strip = strips.setdefault(r0, np.full((r1 - r0, grid.width), np.nan, np.float32))
            strip[:, col0 + c0:col0 + c1] = value[r0 - tile.row:r1 - tile.row,
                                                  c0 - tile.col:c1 - tile.col]
            if c1 == reader.overlap.width:
                dst.write(strips.pop(r0), 1, window=Window(0, row0 + r0, grid.width, r1 - r0))
        nan_rows(dst, grid, row0 + reader.overlap.height, grid.height)


def nan_rows(dst, grid: Grid, start: int, stop: int) -> None:
    for row in range(start, stop, BLOCK):
        height = min(BLOCK, stop - row)
        dst.write(np.full((height, grid.width), np.nan, np.float32), 1,
                  window=Window(0, row, grid.width, height))
