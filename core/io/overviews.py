"""Coarse reads of a remote raster from its overviews: only the level a read needs travels.

The coarse search (:mod:`..matching.coarse_search`) compares both images block-averaged on
a grid several times coarser than their pixels. GDAL's warper, asked for that average,
reads the full-resolution pixels under the grid (rasterio's ``reproject`` does not pick
an overview as the ``gdalwarp`` program does): over ``/vsicurl`` every full-resolution
tile of the overlap travels, most of a file. A Cloud-Optimized GeoTIFF carries its own
averages, its overviews, stored first in the file: the overview level whose pixels are the
largest still no larger than the grid's is read instead (a quarter of the bytes per level
skipped), and averaged onto the grid from there. Local files are read at full resolution
as before (a local read costs little, and their results stay the same to the last digit).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import rasterio

from ..grid import Grid, pixel_size_in
from .paths import is_remote

#: Overview pixels may be this much larger than the target's (rounding of sizes: a
#: 1127 px band's 2x overview has 564 px, each 1.998 pixels wide).
TOLERANCE = 1.01


def overview_level(ds, band: int, grid: Grid) -> int | None:
    """The index (GDAL's ``OVERVIEW_LEVEL``) of the coarsest overview of ``ds``'s
    ``band`` whose pixels are no larger than ``grid``'s; None for a local raster, one
    without overviews, a grid not coarser than its first overview, or another format
    than GeoTIFF (a VRT's implicit overviews of a ``/vsicurl`` source read as zeros with
    GDAL 3.6)."""
    if not is_remote(str(ds.name)) or ds.driver != "GTiff":
        return None
    factors = list(ds.overviews(band))
    if not factors:
        return None
    target = pixel_size_in(grid, ds.crs) if ds.crs != grid.crs else grid.res
    ratio = math.sqrt(target[0] * target[1] / abs(ds.transform.determinant))
    fitting = [k for k, factor in enumerate(factors) if _actual(ds, factor) <= ratio * TOLERANCE]
    return max(fitting, key=lambda k: factors[k]) if fitting else None


def _actual(ds, factor: int) -> float:
    """The pixel of the overview of nominal ``factor``, in pixels of ``ds`` (GDAL
    rounds the overview's size up: a little less than ``factor``)."""
    width, height = math.ceil(ds.width / factor), math.ceil(ds.height / factor)
    return math.sqrt(ds.width / width * ds.height / height)


@contextlib.contextmanager
def coarse_source(ds, band: int, grid: Grid) -> Iterator:
    """``ds``, or the overview level :func:`overview_level` chooses, opened as a
    dataset of its own (its geotransform scaled) for the block."""
    level = overview_level(ds, band, grid)
    if level is None:
        yield ds
        return
    with rasterio.open(ds.name, overview_level=level) as overview:
        yield overview
