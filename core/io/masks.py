"""Masks of areas to leave out of matching (clouds, changed areas, bad data)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.warp import reproject, transform_geom

from ..grid import Grid


@dataclass(frozen=True)
class PolygonMask:
    """Polygons (GeoJSON-like geometry dicts) in ``crs`` marking areas to ignore."""

    geometries: Sequence[dict] = field(default_factory=tuple)
    crs: str = "EPSG:4326"




def masked_on_grid(masks: Sequence[str | os.PathLike | PolygonMask], grid: Grid) -> np.ndarray:
    """Boolean array on ``grid``: True where any mask marks the pixel as bad.

    Raster masks mark bad pixels with any non-zero value (their nodata counts as
    good); a coarser mask pixel touching the grid pixel is enough to mask it.
    """
    bad = np.zeros((grid.height, grid.width), bool)
    for mask in masks:
        if isinstance(mask, PolygonMask):
            bad |= _rasterize(mask, grid)
        else:
            bad |= _raster_mask(mask, grid)
    return bad


def _rasterize(mask: PolygonMask, grid: Grid) -> np.ndarray:
    if not mask.geometries:
        return np.zeros((grid.height, grid.width), bool)
    # One call for all polygons: per polygon, GDAL's environment setup cost more than the
    # transformation (47 glacier outlines: 0.16 s against 0.04 s).
    shapes = transform_geom(mask.crs, grid.crs, list(mask.geometries))
    if not shapes:
        return np.zeros((grid.height, grid.width), bool)
    return rasterize(((s, 1) for s in shapes), out_shape=(grid.height, grid.width),
                     transform=grid.transform, all_touched=True, dtype="uint8").astype(bool)


def _raster_mask(path: str | os.PathLike, grid: Grid) -> np.ndarray:
    values = np.zeros((grid.height, grid.width), np.float32)
    with rasterio.open(path) as ds:
        reproject(rasterio.band(ds, 1), values, src_nodata=ds.nodata, dst_nodata=0,
                  dst_transform=grid.transform, dst_crs=grid.crs, resampling=Resampling.max)
    return values != 0
