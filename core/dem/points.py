"""Point clouds as the reference of a DEM alignment (ICESat-2 / lidar / GNSS points).

The points' elevations play the reference DEM's part: dh = z - DEM at the point, the
DEM interpolated at each point's exact position (cubic spline), and the slopes are the
DEM's own. Any pipeline of :mod:`.dem_pipeline` then runs unchanged. Points are read
from CSV (columns x, y, z; a header names them) or from a GeoPackage point layer
(z from the geometry, or from an attribute) with the standard library only, from
LAS/LAZ lidar files with laspy (an optional package; LAZ also needs its lazrs backend),
and from GeoParquet / Parquet and ICESat-2 ATL06 HDF5 files (:mod:`.point_sources`,
which also selects the points by time and quality; :mod:`.datum` puts ellipsoidal
heights on the DEM's geoid).
"""

from __future__ import annotations

import csv
import math
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
from .point_sources import PointOptions, cloud_from_columns, select_points, wkb_point
from .samples import MIN_STABLE_PIXELS, READ_BLOCK, DemSampler, Samples, metres_per_unit_at
from .terrain import gradient

#: Point files by suffix (GeoPackages may also hold rasters: see is_point_file).
POINT_SUFFIXES = (".csv", ".las", ".laz", ".parquet", ".geoparquet", ".h5", ".hdf5")


@dataclass(frozen=True)
class PointCloud:
    """Reference points: map coordinates and elevations in ``crs`` ("" = the DEM's);
    optionally each point's time (datetime64) and quality value (the field named
    ``quality_field``); ``ellipsoidal``: heights known to be above the WGS 84 ellipsoid
    (ICESat-2's h_li)."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    crs: str
    time: np.ndarray | None = None
    quality: np.ndarray | None = None
    quality_field: str = ""
    ellipsoidal: bool = False

    def __post_init__(self) -> None:
        lengths = {len(v) for v in (self.x, self.y, self.z, self.time, self.quality)
                   if v is not None}
        if len(lengths) > 1:
            raise CoregInputError("The points' x, y and z differ in length.")


def is_point_file(path) -> bool:
    """A CSV file, or a GeoPackage with a feature table (GeoPackages may hold rasters)."""
    if isinstance(path, PointCloud):
        return True
    suffix = Path(str(path)).suffix.lower()
    if suffix in POINT_SUFFIXES:
        return True
    if suffix == ".gpkg" and Path(path).is_file():
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return bool(db.execute("SELECT 1 FROM gpkg_contents WHERE data_type = 'features'")
                        .fetchone())
    return False


def read_points(path: str | os.PathLike, *, crs: str | None = None,
                z_field: str | None = None,
                options: PointOptions | None = None) -> PointCloud:
    """Points of a CSV (a CSV does not say its CRS: lon/lat columns mean EPSG:4326,
    x/y columns the DEM's CRS unless ``crs`` is given), of a GeoPackage's first point
    layer (z: the geometry's Z, or the attribute ``z_field``), of a LAS/LAZ file, of a
    GeoParquet / Parquet file or of an ICESat-2 ATL06 HDF5 granule; with the time and
    quality fields ``options`` name (or ATL06's)."""
    options = replace(options or PointOptions(), **{k: v for k, v in (
        ("crs", crs), ("z_field", z_field)) if v is not None})
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return _read_csv(Path(path), options)
    if suffix == ".gpkg":
        return _read_gpkg(Path(path), options)
    if suffix in (".las", ".laz"):
        from .las import read_las

        return read_las(Path(path), options.crs)
    if suffix in (".parquet", ".geoparquet"):
        from .point_sources import read_parquet

        return read_parquet(Path(path), options)
    if suffix in (".h5", ".hdf5"):
        from .point_sources import read_atl06

        return read_atl06(Path(path), options)
    raise CoregInputError(f"Reference points must be a {', '.join(POINT_SUFFIXES)} or "
                          f".gpkg file, not '{path}'.")


def _read_csv(path: Path, options: PointOptions) -> PointCloud:
    try:
        with open(path, newline="") as f:
            reader = csv.reader(f)
            names = [n.strip() for n in next(reader, [])]
            rows = [r for r in reader if r]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CoregInputError(f"Cannot read the points of '{path}': {exc}") from exc
    if not names or any(len(r) != len(names) for r in rows):
        raise CoregInputError(f"'{path}': every row must have the header's {len(names)} "
                              "fields.")
    table = np.array(rows, dtype=object).reshape(-1, len(names))
    columns = {name: table[:, k] for k, name in enumerate(names)}
    return cloud_from_columns(columns, options.crs or "", options, str(path))


def _read_gpkg(path: Path, options: PointOptions) -> PointCloud:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            table, column, srs = db.execute(
                "SELECT c.table_name, g.column_name, c.srs_id FROM gpkg_contents c JOIN "
                "gpkg_geometry_columns g ON g.table_name = c.table_name "
                "WHERE c.data_type = 'features' LIMIT 1").fetchone()
            org, code = db.execute("SELECT organization, organization_coordsys_id FROM "
                                   "gpkg_spatial_ref_sys WHERE srs_id = ?", (srs,)).fetchone()
            fields = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')
                      if r[1] != column]
            quoted = "".join(f', "{f}"' for f in fields)
            rows = db.execute(f'SELECT "{column}"{quoted} FROM "{table}" WHERE "{column}" '
                              "IS NOT NULL").fetchall()
    except (sqlite3.Error, TypeError) as exc:
        raise CoregInputError(f"'{path}' has no readable point layer: {exc}") from exc
    if not rows:
        raise CoregInputError(f"'{path}' holds no points.")
    xyz = np.array([_gpkg_point(r[0]) for r in rows], float)
    columns = {name: np.array([r[k + 1] for r in rows], dtype=object)
               for k, name in enumerate(fields)}
    columns.update(x=xyz[:, 0], y=xyz[:, 1])
    if options.z_field is None:
        if np.isnan(xyz[:, 2]).all():
            raise CoregInputError(f"The points of '{path}' have no Z: name the elevation "
                                  "field.")
        columns["z"] = xyz[:, 2]
    return cloud_from_columns(columns, options.crs or f"{org}:{code}", options, str(path),
                              has_xy=True)


def _gpkg_point(blob: bytes) -> tuple[float, float, float]:
    """(x, y, z or NaN) of a GeoPackage geometry blob holding a WKB point."""
    flags = blob[3]
    envelope = (0, 32, 48, 48, 64)[(flags >> 1) & 7]
    return wkb_point(blob[8 + envelope:])


def estimate_dem_to_points(
    points: PointCloud | str | os.PathLike,
    dem: str | os.PathLike,
    *,
    pipeline: str = "nuth_kaab",
    exclude: Sequence[str | os.PathLike | PolygonMask] = (),
    max_iterations: int = 10,
    tolerance: float = 0.01,
    bootstrap: int = 0,
    point_options: PointOptions | None = None,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
    **_ignored,
) -> DemAlignment:
    """Fit ``pipeline`` to put ``dem`` on reference ``points`` (a :class:`PointCloud`
    or a file for :func:`read_points`), selected and converted by ``point_options``
    (time range, quality, geoid); the result is applied like any DEM alignment, its
    ``points`` says how many points each step kept."""
    options = point_options or PointOptions()
    steps = parse_pipeline(pipeline)
    info = read_info(dem, "DEM")
    grid = info.grid
    points, counts, warnings = prepared_points(points, options, grid.crs)
    x, y = points.x, points.y
    if points.crs and CRS.from_user_input(points.crs) != grid.crs:
        x, y = Transformer.from_crs(CRS.from_user_input(points.crs), grid.crs,
                                    always_xy=True).transform(x, y)
    cols, rows = ~grid.transform * (np.asarray(x), np.asarray(y))
    cols, rows = np.asarray(cols) - 0.5, np.asarray(rows) - 0.5
    inside = ((cols >= 1) & (cols <= grid.width - 2) & (rows >= 1) & (rows <= grid.height - 2)
              & np.isfinite(points.z))
    window = Window(0, 0, grid.width, grid.height)
    scale = metres_per_unit_at(grid, window)
    with rasterio.open(dem) as ds:
        samples = _point_samples(ds, info.nodata, grid, window, scale, rows[inside],
                                 cols[inside], points.z[inside], exclude)
        sampler = DemSampler(ds, info.nodata, grid, window)
        alignment = fit_samples(steps, pipeline, samples, sampler, window, scale,
                                max_iterations=max_iterations, tolerance=tolerance,
                                progress=progress, is_canceled=is_canceled,
                                bootstrap=bootstrap)
    counts.update(outside_dem=int((~inside).sum()),
                  not_stable=int(inside.sum()) - samples.n_stable, used=samples.n_stable)
    return replace(alignment, points=counts, warnings=alignment.warnings + warnings)


def prepared_points(points, options: PointOptions, dem_crs) -> tuple[PointCloud, dict, tuple]:
    """The points read, selected by time and quality, their heights on the DEM's geoid;
    the counts of each selection and the warnings."""
    if not isinstance(points, PointCloud):
        points = read_points(points, options=options)
    points, counts = select_points(points, options)
    warnings = ()
    if options.geoid:
        from .datum import points_on_geoid

        unknown = int(np.isnan(points.z).sum())
        points = points_on_geoid(points, options.geoid, dem_crs)
        counts["no_geoid_height"] = int(np.isnan(points.z).sum()) - unknown
    elif points.ellipsoidal:
        warnings = ("The points' heights (ICESat-2 h_li) are above the WGS 84 ellipsoid: "
                    "if the DEM's are above a geoid (EGM96, EGM2008), give it, or the "
                    "geoid height passes for a vertical shift and tilt.",)
    if points.z.size == 0:
        raise CoregInputError(f"No reference point is left after the selection ({counts}).")
    return points, counts, warnings


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
