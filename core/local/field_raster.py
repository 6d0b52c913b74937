"""The DISPLACEMENT raster of align_local: two Float32 bands (dx, dy in reference pixels,
NaN where unknown) on the reference grid, tagged so that Coreg recognises it, written
strip by strip from the tie-point field or the dense flow."""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.windows import Window

from ..grid import Grid
from ..io.raster_io import (
    BLOCK,
    output_profile,
)
from ..transforms.saved import DISPLACEMENT_BANDS, FIELD_KIND, FIELD_TAG
from .points import NodeField
from .reader import RasterTiles


def field_profile(grid: Grid) -> dict:
    return output_profile(grid, count=2, dtype="float32", nodata=float("nan"))


def label_field(dst) -> None:
    """The band names and the tag by which apply_alignment knows a DISPLACEMENT raster
    (and refuses any other two-band raster)."""
    for band, name in enumerate(DISPLACEMENT_BANDS, start=1):
        dst.set_band_description(band, name)
    dst.update_tags(**{FIELD_TAG: FIELD_KIND})


def write_node_field(path: str, grid: Grid, node_field: NodeField, offset: tuple[int, int],
                      overlap: Grid) -> None:
    """The tie-point field, evaluated strip by strip over the overlap, NaN elsewhere."""
    row0, col0 = offset
    with rasterio.open(path, "w", **field_profile(grid)) as dst:
        label_field(dst)
        for start in range(0, grid.height, BLOCK):
            height = min(BLOCK, grid.height - start)
            block = np.full((2, height, grid.width), np.nan, np.float32)
            rows = np.arange(start, start + height) - row0
            inside = (rows >= 0) & (rows < overlap.height)
            if inside.any():
                dx, dy = node_field.on_grid(int(rows[inside][0]), 0, int(inside.sum()),
                                            overlap.width)
                block[0, inside, col0:col0 + overlap.width] = dx
                block[1, inside, col0:col0 + overlap.width] = dy
            dst.write(block, window=Window(0, start, grid.width, height))


def write_dense_field(path: str, grid: Grid, reader: RasterTiles, offset: tuple[int, int],
                       options: dict, max_shift: float, progress, is_canceled, client=None,
                       sources=None) -> None:
    """Dense flow per tile (with the margins :func:`flow_tiles.flow_margin` gives, inside
    the overlap), on threads or, with a Dask ``client``, on its workers (reading
    ``sources``, a :class:`.flow_tasks.TileSources`), stitched and written by tile rows."""
    from .flow_tasks import cluster_flow_rows
    from .flow_tiles import flow_tiles  # the optical-flow engine

    row0, col0 = offset
    cores = list(reader.cores())
    with rasterio.open(path, "w", **field_profile(grid)) as dst:
        label_field(dst)
        write_nan_rows(dst, grid, 0, row0)
        tile_rows = (flow_tiles(reader, cores, options, max_shift, progress, is_canceled)
                     if client is None else
                     cluster_flow_rows(client, sources, cores, options, max_shift, progress,
                                       is_canceled))
        for r0, r1, tiles in tile_rows:
            strip = np.full((2, r1 - r0, grid.width), np.nan, np.float32)
            for (_, _, c0, c1), dx, dy in tiles:
                strip[0, :, col0 + c0:col0 + c1] = dx
                strip[1, :, col0 + c0:col0 + c1] = dy
            dst.write(strip, window=Window(0, row0 + r0, grid.width, r1 - r0))
        write_nan_rows(dst, grid, row0 + reader.overlap.height, grid.height)


def write_nan_rows(dst, grid: Grid, start: int, stop: int) -> None:
    for row in range(start, stop, BLOCK):
        height = min(BLOCK, stop - row)
        dst.write(np.full((2, height, grid.width), np.nan, np.float32),
                  window=Window(0, row, grid.width, height))
