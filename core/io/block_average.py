"""Reading a raster onto a coarser grid nested in its own (the same CRS and axes, a whole
number of its pixels per pixel, starting on a pixel corner, inside the raster) by
averaging blocks of pixels in numpy: what GDAL's "average" warp gives there (the mean of
the valid pixels, NaN where none is: the same numbers), in two thirds of its time (the
coarse search reads whole scenes this way)."""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.windows import Window

from ..grid import Grid

#: Largest block side averaged in numpy (its loop is over the block's pixels).
MAX_FACTOR = 16
#: Largest window averaged in numpy (held whole, in double precision as GDAL sums);
#: larger ones go through GDAL's warp, which works in chunks.
MAX_PIXELS = 2**22


def nested_block_window(ds: rasterio.DatasetReader, grid: Grid) -> tuple[int, Window] | None:
    """(pixels per ``grid`` pixel along each axis, the window of ``ds`` that ``grid``
    covers) if ``grid`` is nested in ``ds``'s grid at a whole factor from 2 to
    :data:`MAX_FACTOR` and lies inside the raster (a window of at most
    :data:`MAX_PIXELS`), else None."""
    src, dst = ds.transform, grid.transform
    if src.b or src.d or dst.b or dst.d or not src.a or not src.e or ds.crs != grid.crs:
        return None
    factor = round(dst.a / src.a)
    if not 2 <= factor <= MAX_FACTOR or abs(dst.a - factor * src.a) > 1e-9 * abs(dst.a) \
            or abs(dst.e - factor * src.e) > 1e-9 * abs(dst.e):
        return None
    col, row = ~src * (dst.c, dst.f)
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    window = Window(round(col), round(row), grid.width * factor, grid.height * factor)
    inside = (window.col_off >= 0 and window.row_off >= 0
              and window.col_off + window.width <= ds.width
              and window.row_off + window.height <= ds.height
              and window.width * window.height <= MAX_PIXELS)
    return (factor, window) if inside else None


def block_mean(data: np.ndarray, valid: np.ndarray, factor: int) -> np.ndarray:
    """Mean of the valid pixels of each ``factor`` x ``factor`` block of ``data`` (whose
    sides are multiples of ``factor``), float32, NaN where a block has none."""
    values = np.where(valid, data, 0).astype(np.float64)
    height, width = data.shape[0] // factor, data.shape[1] // factor
    total = np.zeros((height, width))
    for i in range(factor):
        for j in range(factor):
            total += values[i::factor, j::factor]
    if valid.all():
        return (total / (factor * factor)).astype(np.float32)
    count = np.zeros((height, width), np.int32)
    for i in range(factor):
        for j in range(factor):
            count += valid[i::factor, j::factor]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).astype(np.float32)
