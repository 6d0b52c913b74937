"""Coarse reads of a remote raster from its overviews: only the level a read needs travels.

The coarse search (:mod:`..matching.coarse_search`) compares both images block-averaged on
a grid several times coarser than their pixels. GDAL's warper, asked for that average,
reads the full-resolution pixels under the grid (rasterio's ``reproject`` does not pick
an overview as the ``gdalwarp`` program does): over ``/vsicurl`` every full-resolution
tile of the overlap travels, most of a file. A Cloud-Optimized GeoTIFF carries its own
averages, its overviews, stored first in the file: the overview level whose pixels are the
largest still no larger than the grid's is read instead (a quarter of the bytes per level
skipped), and averaged onto the grid from there. A local VRT that shows one remote
GeoTIFF whole (the panel's view of a STAC asset) is read the same way, from that GeoTIFF.
Local files are read at full resolution as before (a local read costs little, and their
results stay the same to the last digit).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from xml.etree import ElementTree

import rasterio
from rasterio.errors import RasterioError, RasterioIOError

from ..grid import Grid, pixel_size_in
from .paths import is_remote

#: Largest local VRT read to find the remote GeoTIFF it shows (a view is a few kB).
VRT_BYTES = 2**20
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


def streamed_band(ds, band: int) -> tuple[str, int] | None:
    """(path, band) of the remote GeoTIFF band that ``ds``'s ``band`` reads: ``ds``
    itself when it is one, or the one source of a local VRT that shows it whole (the
    panel's and the item stacks' views of a STAC asset, :func:`..stac.item_stack.
    item_view`); None for anything else."""
    name = str(ds.name)
    if is_remote(name):
        return (name, band) if ds.driver == "GTiff" else None
    if ds.driver != "VRT" or not os.path.isfile(name) or os.path.getsize(name) > VRT_BYTES:
        return None
    try:
        root = ElementTree.parse(name).getroot()
    except (ElementTree.ParseError, OSError):
        return None
    chosen = [b for b in root.findall("VRTRasterBand") if b.get("band") == str(band)]
    sources = [c for c in chosen[0] if c.tag.endswith("Source")] if len(chosen) == 1 else []
    if len(sources) != 1 or sources[0].tag != "SimpleSource":
        return None
    source = sources[0]
    file = source.find("SourceFilename")
    path = (file.text or "").strip() if file is not None else ""
    if file is None or file.get("relativeToVRT", "0") != "0" or not is_remote(path) or any(
            not _whole(source.find(rect), ds) for rect in ("SrcRect", "DstRect")):
        return None
    try:
        source_band = int(source.findtext("SourceBand", "1"))
        with rasterio.open(path) as src:
            same = (src.driver == "GTiff" and (src.width, src.height) == (ds.width, ds.height)
                    and src.crs == ds.crs and src.transform.almost_equals(ds.transform))
    except (ValueError, RasterioError, RasterioIOError):
        return None
    return (path, source_band) if same else None


def _whole(rect, ds) -> bool:
    """Whether a VRT source rectangle (absent: the whole) covers all of ``ds``."""
    if rect is None:
        return True
    values = [rect.get(k) for k in ("xOff", "yOff", "xSize", "ySize")]
    try:
        return [float(v) for v in values] == [0.0, 0.0, float(ds.width), float(ds.height)]
    except (TypeError, ValueError):
        return False


@contextlib.contextmanager
def coarse_source(ds, band: int, grid: Grid) -> Iterator[tuple]:
    """(dataset, band) to read ``grid`` from: ``ds`` and ``band``, or the overview level
    :func:`overview_level` chooses of the remote GeoTIFF they read
    (:func:`streamed_band`), opened as a dataset of its own (its geotransform scaled)
    for the block."""
    streamed = streamed_band(ds, band)
    level = None
    if streamed is not None:
        path, source_band = streamed
        if path == str(ds.name):
            level = overview_level(ds, source_band, grid)
        else:
            with rasterio.open(path) as source:
                level = overview_level(source, source_band, grid)
    if level is None:
        yield ds, band
        return
    with rasterio.open(path, overview_level=level) as overview:
        yield overview, source_band
