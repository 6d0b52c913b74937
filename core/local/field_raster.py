"""The DISPLACEMENT raster of align_local: two Float32 bands (dx, dy in reference pixels,
NaN where unknown) on the reference grid, tagged so that Coreg recognises it, written
strip by strip from the tie-point field or the dense flow."""

from __future__ import annotations

import numpy as np
from rasterio.windows import Window

from ..grid import Grid
from ..io.flushed_writer import FlushedWriter
from ..io.raster_io import (
    BLOCK,
    output_profile,
)
from ..transforms.saved import DISPLACEMENT_BANDS, FIELD_KIND, FIELD_TAG
from .points import NodeField
from .polling import Poll
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
                      overlap: Grid, progress=None, is_canceled=None) -> None:
    """The tie-point field, evaluated block by block over the overlap, NaN elsewhere
    (``progress``, ``is_canceled``: polled between blocks of at most BLOCK rows and
    4 BLOCK columns, which take 0.1 s; flushed to disk as it goes,
    :mod:`..io.flushed_writer`)."""
    poll = Poll(progress, is_canceled, "Canceled while writing the displacement field.")
    windows = [Window(col, row, min(4 * BLOCK, grid.width - col), min(BLOCK, grid.height - row))
               for row in range(0, grid.height, BLOCK) for col in range(0, grid.width, 4 * BLOCK)]
    with FlushedWriter(path, field_profile(grid)) as dst:
        label_field(dst.dataset)
        for k, window in enumerate(windows):
            poll(100.0 * k / len(windows))
            dst.write(_node_block(node_field, window, offset, overlap), window=window)


def _node_block(node_field: NodeField, window: Window, offset: tuple[int, int],
                overlap: Grid) -> np.ndarray:
    """(dx, dy) over ``window`` of the reference grid, NaN outside the overlap."""
    block = np.full((2, window.height, window.width), np.nan, np.float32)
    (r0, r1), (c0, c1) = ((max(start, 0), min(start + size, limit)) for start, size, limit in (
        (window.row_off - offset[0], window.height, overlap.height),
        (window.col_off - offset[1], window.width, overlap.width)))
    if r1 > r0 and c1 > c0:
        inside = (slice(r0 + offset[0] - window.row_off, r1 + offset[0] - window.row_off),
                  slice(c0 + offset[1] - window.col_off, c1 + offset[1] - window.col_off))
        block[(0, *inside)], block[(1, *inside)] = node_field.on_grid(r0, c0, r1 - r0, c1 - c0)
    return block


def write_dense_field(path: str, grid: Grid, reader: RasterTiles, offset: tuple[int, int],
                       options: dict, max_shift: float, progress, is_canceled, client=None,
                       sources=None) -> None:
    """Dense flow per tile (with the margins :func:`flow_tiles.flow_margin` gives, inside
    the overlap), on threads or, with a Dask ``client``, on its workers (reading
    ``sources``, a :class:`.flow_tasks.TileSources`), written tile by tile as their rows
    are done, polling cancel and relaying progress between tiles (a row of tiles across
    a whole Sentinel-2 tile took 1.4 s to write); flushed to disk as it goes
    (:mod:`..io.flushed_writer`)."""
    from .flow_tasks import cluster_flow_rows
    from .flow_tiles import flow_tiles  # the optical-flow engine

    row0, col0 = offset
    cores = list(reader.cores())
    poll = Poll(progress, is_canceled, "Canceled while computing the optical flow.")
    with FlushedWriter(path, field_profile(grid)) as dst:
        label_field(dst.dataset)
        write_nan_rows(dst, grid, 0, row0)
        tile_rows = (flow_tiles(reader, cores, options, max_shift, poll.report, is_canceled)
                     if client is None else
                     cluster_flow_rows(client, sources, cores, options, max_shift, poll.report,
                                       is_canceled))
        for r0, r1, tiles in tile_rows:
            for (_, _, c0, c1), dx, dy in tiles:
                poll()
                dst.write(np.stack([dx, dy]), window=Window(col0 + c0, row0 + r0, c1 - c0,
                                                            r1 - r0))
            for left, right in ((0, col0), (col0 + reader.overlap.width, grid.width)):
                if right > left:  # the columns outside the overlap
                    dst.write(np.full((2, r1 - r0, right - left), np.nan, np.float32),
                              window=Window(left, row0 + r0, right - left, r1 - r0))
        write_nan_rows(dst, grid, row0 + reader.overlap.height, grid.height)


def write_nan_rows(dst, grid: Grid, start: int, stop: int) -> None:
    for row in range(start, stop, BLOCK):
        height = min(BLOCK, stop - row)
        dst.write(np.full((2, height, grid.width), np.nan, np.float32),
                  window=Window(0, row, grid.width, height))
