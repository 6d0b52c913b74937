"""Vertical datum of reference points: ellipsoidal heights onto the DEM's geoid.

ICESat-2 and GNSS give heights above the WGS 84 ellipsoid; most DEMs (SRTM, Copernicus,
national DEMs) are above a geoid, tens of metres away (EGM96 / EGM2008 geoid heights
range -107 to +86 m), and smoothly varying: left alone, the difference would pass for a
vertical shift and a tilt. H = h - N, with N the geoid height at the point, from PROJ's
grid of the named geoid (pyproj, when the grid is installed: Debian's proj-data has
EGM96; EGM2008 needs its grid from cdn.proj.org) or from a geoid grid file the user gives
(any raster GDAL reads, geoid height in metres, bilinear).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from pyproj import CRS, Transformer
from pyproj.transformer import TransformerGroup

from ..errors import CoregInputError, CoregResourceError

#: Named geoids: the EPSG code of their heights and PROJ's grid of them.
GEOIDS = {"egm96": ("5773", "us_nga_egm96_15.tif"), "egm2008": ("3855", "us_nga_egm08_25.tif")}


def geoid_height(lon: np.ndarray, lat: np.ndarray, geoid: str | os.PathLike) -> np.ndarray:
    """N, the geoid's height above the WGS 84 ellipsoid at (lon, lat) in degrees."""
    name = str(geoid).strip().lower()
    if name in GEOIDS:
        return _named_geoid_height(lon, lat, name)
    path = Path(geoid)
    if not path.is_file():
        raise CoregInputError(f"Unknown geoid '{geoid}': give egm96, egm2008 or a geoid grid "
                              "file (geoid height above the WGS 84 ellipsoid, metres).")
    return _grid_geoid_height(lon, lat, path)


def _named_geoid_height(lon, lat, name: str) -> np.ndarray:
    code, grid = GEOIDS[name]
    with warnings.catch_warnings():  # pyproj warns of a missing grid: said below
        warnings.simplefilter("ignore", UserWarning)
        group = TransformerGroup(CRS.from_epsg(4979),
                                 CRS.from_user_input(f"EPSG:4326+{code}"), always_xy=True)
    if not group.best_available:
        missing = sorted({g.short_name for op in group.unavailable_operations
                          for g in op.grids if not g.available}) or [grid]
        raise CoregResourceError(
            f"Converting ellipsoidal heights to {name.upper()} needs the PROJ grid "
            f"{', '.join(missing)}, which is not installed (PROJ data folder: "
            f"{_proj_data()}). Install it (projsync --file {missing[0]}, or download it "
            f"from https://cdn.proj.org/{missing[0]} into that folder), or give a geoid "
            "grid file instead.")
    transformer = group.transformers[0]
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    _, _, height = transformer.transform(lon, lat, np.zeros_like(lon))
    return -np.asarray(height, float)  # H = h - N with h = 0


def _proj_data() -> str:
    from pyproj.datadir import get_data_dir

    return get_data_dir()


def _grid_geoid_height(lon, lat, path: Path) -> np.ndarray:
    import rasterio
    from scipy import ndimage

    try:
        with rasterio.open(path) as ds:
            grid = ds.read(1, masked=True).astype(float).filled(np.nan)
            transform, crs = ds.transform, ds.crs
    except rasterio.errors.RasterioIOError as exc:
        raise CoregInputError(f"Cannot read the geoid grid '{path}': {exc}") from exc
    x, y = np.asarray(lon, float), np.asarray(lat, float)
    if crs is not None and not CRS.from_user_input(crs.to_wkt()).is_geographic:
        x, y = Transformer.from_crs("EPSG:4326", crs.to_wkt(), always_xy=True).transform(x, y)
    else:  # a grid in longitudes 0-360 (or -180-180): the point's turn that falls in it
        west = transform.c
        x = np.where(x < west, x + 360.0, np.where(x >= west + 360.0, x - 360.0, x))
    cols, rows = ~transform * (x, y)
    height = ndimage.map_coordinates(grid, [np.asarray(rows) - 0.5, np.asarray(cols) - 0.5],
                                     order=1, mode="nearest")
    outside = ((cols < 0) | (cols > grid.shape[1]) | (rows < 0) | (rows > grid.shape[0]))
    height[outside] = np.nan
    if np.isnan(height).all():
        raise CoregInputError(f"The geoid grid '{path}' does not cover the points.")
    return height


def points_on_geoid(cloud, geoid: str | os.PathLike, dem_crs):
    """The points with their ellipsoidal heights made heights above ``geoid`` (points
    where the geoid is unknown get NaN and are left out)."""
    from dataclasses import replace

    source = CRS.from_user_input(cloud.crs) if cloud.crs else dem_crs
    lon, lat = Transformer.from_crs(source, CRS.from_epsg(4326),
                                    always_xy=True).transform(cloud.x, cloud.y)
    return replace(cloud, z=cloud.z - geoid_height(lon, lat, geoid), ellipsoidal=False)
