"""Point clouds as the reference of a DEM alignment (ICESat-2 / lidar / GNSS points).

The points' elevations play the reference DEM's part: dh = z - DEM at the point, the
DEM interpolated at each point's exact position (cubic spline), and the slopes are the
DEM's own. Any pipeline of :mod:`.dem_pipeline` then runs unchanged. Points are read
from CSV (columns x, y, z; a header names them) or from a GeoPackage point layer
(z from the geometry, or from an attribute) with the standard library only, and from
LAS/LAZ lidar files with laspy (an optional package; LAZ also needs its lazrs backend).
"""

from __future__ import annotations

import csv
import math
import os
import sqlite3
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from pyproj import CRS, Transformer
from rasterio.windows import Window

from ..errors import CoregInputError, CoregistrationError
from ..io.masks import PolygonMask, masked_on_grid
from ..io.raster_io import IsCanceled, Progress, read_info, read_window
from .bias import curvature
from .dem import DemAlignment
from .pipeline import fit_samples, parse_pipeline
from .samples import MIN_STABLE_PIXELS, READ_BLOCK, DemSampler, Samples, metres_per_unit
from .terrain import gradient

#: Names a CSV header may give the coordinates and the elevation (case-insensitive).
X_NAMES, Y_NAMES = ("x", "easting", "lon", "longitude"), ("y", "northing", "lat", "latitude")
Z_NAMES = ("z", "h", "height", "elevation", "h_li", "h_te_mean")


@dataclass(frozen=True)
class PointCloud:
    """Reference points: map coordinates and elevations in ``crs`` ("" = the DEM's)."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    crs: str

    def __post_init__(self) -> None:
        if not (len(self.x) == len(self.y) == len(self.z)):
            raise CoregInputError("The points' x, y and z differ in length.")


def is_point_file(path) -> bool:
    """A CSV file, or a GeoPackage with a feature table (GeoPackages may hold rasters)."""
    if isinstance(path, PointCloud):
        return True
    suffix = Path(str(path)).suffix.lower()
    if suffix in (".csv", ".las", ".laz"):
        return True
    if suffix == ".gpkg" and Path(path).is_file():
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return bool(db.execute("SELECT 1 FROM gpkg_contents WHERE data_type = 'features'")
                        .fetchone())
    return False


def read_points(path: str | os.PathLike, *, crs: str | None = None,
                z_field: str | None = None) -> PointCloud:
    """Points of a CSV (a CSV does not say its CRS: lon/lat columns mean EPSG:4326,
    x/y columns the DEM's CRS unless ``crs`` is given) or of a GeoPackage's first point
    layer (z: the geometry's Z, or the attribute ``z_field``)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return _read_csv(Path(path), crs, z_field)
    if suffix == ".gpkg":
        return _read_gpkg(Path(path), crs, z_field)
    if suffix in (".las", ".laz"):
        from .las import read_las

        return read_las(Path(path), crs)
    raise CoregInputError(f"Reference points must be a .csv, .gpkg, .las or .laz file, not "
                          f"'{path}'.")


def _read_csv(path: Path, crs: str | None, z_field: str | None) -> PointCloud:
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            names = {n.strip().lower(): n for n in reader.fieldnames or ()}
            columns = [_column(names, X_NAMES), _column(names, Y_NAMES),
                       names.get(z_field.lower()) if z_field else _column(names, Z_NAMES)]
            if None in columns:
                raise CoregInputError(f"'{path}' needs x, y and z columns (a header naming "
                                      f"them); it has {list(names)}.")
            rows = [[float(r[c]) for c in columns] for r in reader]
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        raise CoregInputError(f"Cannot read the points of '{path}': {exc}") from exc
    if crs is None:
        crs = "EPSG:4326" if columns[0].strip().lower() in ("lon", "longitude") else ""
    x, y, z = np.array(rows, float).reshape(-1, 3).T
    return PointCloud(x, y, z, crs)


def _column(names: dict, candidates: Sequence[str]) -> str | None:
    return next((names[c] for c in candidates if c in names), None)


def _read_gpkg(path: Path, crs: str | None, z_field: str | None) -> PointCloud:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            table, column, srs = db.execute(
                "SELECT c.table_name, g.column_name, c.srs_id FROM gpkg_contents c JOIN "
                "gpkg_geometry_columns g ON g.table_name = c.table_name "
                "WHERE c.data_type = 'features' LIMIT 1").fetchone()
            org, code = db.execute("SELECT organization, organization_coordsys_id FROM "
                                   "gpkg_spatial_ref_sys WHERE srs_id = ?", (srs,)).fetchone()
            fields = f', "{z_field}"' if z_field else ""
            rows = db.execute(f'SELECT "{column}"{fields} FROM "{table}"').fetchall()
    except (sqlite3.Error, TypeError) as exc:
        raise CoregInputError(f"'{path}' has no readable point layer: {exc}") from exc
    points = np.array([_gpkg_point(r[0]) + ((float(r[1]),) if z_field else ())
                       for r in rows if r[0] is not None], float)
    if points.size == 0:
        raise CoregInputError(f"'{path}' holds no points.")
    z = points[:, -1] if z_field else points[:, 2]
    if np.isnan(z).all():
        raise CoregInputError(f"The points of '{path}' have no Z: name the elevation field.")
    return PointCloud(points[:, 0], points[:, 1], z, crs or f"{org}:{code}")


def _gpkg_point(blob: bytes) -> tuple[float, float, float]:
    """(x, y, z or NaN) of a GeoPackage geometry blob holding a WKB point."""
    flags = blob[3]
    envelope = (0, 32, 48, 48, 64)[(flags >> 1) & 7]
    wkb = blob[8 + envelope:]
    order = "<" if wkb[0] == 1 else ">"
    kind = struct.unpack(order + "I", wkb[1:5])[0]
    if kind not in (1, 1001, 3001, 0x80000001):
        raise CoregInputError("The GeoPackage layer must hold points (2-D or with Z).")
    has_z = kind != 1
    values = struct.unpack(order + ("ddd" if has_z else "dd"), wkb[5:5 + (24 if has_z else 16)])
    return (values[0], values[1], values[2] if has_z else math.nan)


def estimate_dem_to_points(
    points: PointCloud | str | os.PathLike,
    dem: str | os.PathLike,
    *,
    pipeline: str = "nuth_kaab",
    exclude: Sequence[str | os.PathLike | PolygonMask] = (),
    max_iterations: int = 10,
    tolerance: float = 0.01,
    bootstrap: int = 0,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
    **_ignored,
) -> DemAlignment:
    """Fit ``pipeline`` to put ``dem`` on reference ``points`` (a :class:`PointCloud`
    or a file for :func:`read_points`); the result is applied like any DEM alignment."""
    if not isinstance(points, PointCloud):
        points = read_points(points)
    steps = parse_pipeline(pipeline)
    info = read_info(dem, "DEM")
    grid = info.grid
    x, y = points.x, points.y
    if points.crs and CRS.from_user_input(points.crs) != grid.crs:
        x, y = Transformer.from_crs(CRS.from_user_input(points.crs), grid.crs,
                                    always_xy=True).transform(x, y)
    cols, rows = ~grid.transform * (np.asarray(x), np.asarray(y))
    cols, rows = np.asarray(cols) - 0.5, np.asarray(rows) - 0.5
    inside = ((cols >= 1) & (cols <= grid.width - 2) & (rows >= 1) & (rows <= grid.height - 2)
              & np.isfinite(points.z))
    window = Window(0, 0, grid.width, grid.height)
    scale = metres_per_unit(grid, window)
    with rasterio.open(dem) as ds:
        samples = _point_samples(ds, info.nodata, grid, window, scale, rows[inside],
                                 cols[inside], points.z[inside], exclude)
        sampler = DemSampler(ds, info.nodata, grid, window)
        return fit_samples(steps, pipeline, samples, sampler, window, scale,
                           max_iterations=max_iterations, tolerance=tolerance,
                           progress=progress, is_canceled=is_canceled, bootstrap=bootstrap)


def _point_samples(ds, nodata, grid, window: Window, scale, rows, cols, z,
                   exclude) -> Samples:
    """Points as samples of the DEM grid: fractional pixel positions, the DEM's slope
    and curvature at the nearest pixel, and the read block each falls in."""
    data, valid = read_window(ds, [1], Window(-1, -1, grid.width + 2, grid.height + 2), nodata)
    z_grid = np.where(valid, data[0], np.nan)
    res_x, res_y = grid.res[0] * scale[0], grid.res[1] * scale[1]
    gx, gy = gradient(z_grid, res_x, res_y)
    curv = curvature(z_grid, res_x, res_y)
    r, c = np.rint(rows).astype(int), np.rint(cols).astype(int)
    keep = np.isfinite(gx[r, c]) & np.isfinite(gy[r, c])
    if exclude:
        keep &= ~masked_on_grid(exclude, grid)[r, c]
    if keep.sum() < MIN_STABLE_PIXELS:
        raise CoregistrationError(
            f"Only {int(keep.sum())} reference points fall on valid, stable DEM pixels; at "
            f"least {MIN_STABLE_PIXELS} are needed. Check the points' CRS and the overlap.")
    r, c, rows, cols, z = r[keep], c[keep], rows[keep], cols[keep], z[keep]
    per_row = math.ceil(window.width / READ_BLOCK)
    chunk = (r // READ_BLOCK) * per_row + c // READ_BLOCK
    return Samples(rows, cols, z.astype(float), gx[r, c], gy[r, c], chunk, int(keep.sum()),
                    curv[r, c])
