"""Where a swath goes: the target CRS (chosen for polar, antimeridian or ordinary swaths),
coordinates transformed to it, the source spacing and the target grid."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from ..errors import CoregInputError
from ..grid import Grid, crs_transformer
from ..parallel import THREADS, in_threads

#: Latitude beyond which a swath counts as reaching the pole (polar stereographic target).
POLAR_LATITUDE = 85.0



#: Widest longitude span (degrees) of an antimeridian-crossing swath put on a UTM zone.
UTM_MAX_SPAN = 12.0



#: About this many neighbour distances give the median pixel spacing.
SPACING_SAMPLE = 1 << 20



def choose_target_crs(x: np.ndarray, y: np.ndarray, source_crs: CRS) -> tuple[CRS, str]:
    """The default target CRS and why: the source CRS, or, for geographic coordinates,
    polar stereographic when the swath reaches a pole, UTM when a narrow swath crosses the
    antimeridian (a wide one stays geographic, its longitudes unwrapped to 0..360)."""
    if not source_crs.is_geographic:
        return source_crs, "target CRS = source CRS"
    lat_max, lat_min = np.nanmax(y), np.nanmin(y)
    if max(lat_max, -lat_min) >= POLAR_LATITUDE:
        north = lat_max >= -lat_min
        code = 3413 if north else 3976
        pole = "North" if north else "South"
        return CRS.from_epsg(code), (
            f"the swath reaches {max(lat_max, -lat_min):.1f}° near the {pole} Pole: target CRS "
            f"EPSG:{code} (polar stereographic)")
    if crosses_antimeridian(x):
        lon = unwrap_longitudes(x)
        lo, hi = np.nanmin(lon), np.nanmax(lon)
        if hi - lo <= UTM_MAX_SPAN:
            centre = (lo + hi) / 2 - 360 * ((lo + hi) / 2 > 180)
            zone = min(int((centre + 180) // 6) + 1, 60)
            code = (32600 if np.nanmean(y) >= 0 else 32700) + zone
            return CRS.from_epsg(code), (
                f"the swath crosses the antimeridian: target CRS EPSG:{code} (UTM zone {zone})")
        return source_crs, ("the swath crosses the antimeridian: target CRS = source CRS with "
                            "longitudes unwrapped to 0..360°")
    return source_crs, "target CRS = source CRS"



def crosses_antimeridian(lon: np.ndarray) -> bool:
    """Whether neighbouring pixels jump by more than 180° of longitude."""
    with np.errstate(invalid="ignore"):
        return bool((np.abs(np.diff(lon, axis=1)) > 180).any()
                    or (np.abs(np.diff(lon, axis=0)) > 180).any())



def unwrap_longitudes(lon: np.ndarray) -> np.ndarray:
    """Longitudes in 0..360 (west of Greenwich + 360), continuous across the antimeridian."""
    return np.where(lon < 0, lon + 360.0, lon)



def to_target_coordinates(x: np.ndarray, y: np.ndarray, source_crs: CRS, target_crs: CRS,
                          notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in ``target_crs``; NaN where they cannot be expressed.

    Raises ValueError when no coordinate is valid (wrong CRS, swapped or out-of-range bands).
    """
    if source_crs.is_geographic:
        with np.errstate(invalid="ignore"):
            bad = (np.abs(y) > 90) | (x < -180) | (x > 360)
        if bad.all():
            hint = (" X and Y look swapped (X_BAND/Y_BAND)." if np.nanmax(np.abs(x)) <= 90
                    else "")
            raise CoregInputError("No coordinate lies within the valid range of the geographic "
                                  f"source CRS (latitude -90..90°, longitude -180..360°).{hint}")
        if bad.any():
            notes.append(f"{int(bad.sum())} coordinates outside the valid latitude/longitude "
                         "range were ignored.")
            x, y = np.where(bad, np.nan, x), np.where(bad, np.nan, y)
    if source_crs != target_crs:
        tx, ty = transform_points(crs_transformer(source_crs, target_crs), x, y)
        bad = ~(np.isfinite(tx) & np.isfinite(ty))
        if bad.all():
            raise CoregInputError("None of the swath coordinates can be transformed into the "
                                  f"target CRS ({target_crs.to_string()}): outside its valid area?")
        tx[bad] = np.nan
        ty[bad] = np.nan
        newly = int(bad.sum() - np.isnan(x).sum())
        if newly > 0:
            notes.append(f"{newly} coordinates outside the target CRS's valid area were "
                         "ignored.")
        x, y = tx, ty
    if target_crs.is_geographic and crosses_antimeridian(x):
        x = unwrap_longitudes(x)
        notes.append("Longitudes unwrapped to 0..360° (the swath crosses the antimeridian).")
    return x, y



def transform_points(transformer, x: np.ndarray, y: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``transformer`` (pyproj, thread-safe) applied to every point, blocks of rows in
    parallel threads: PROJ costs about a microsecond a point and releases the GIL."""
    tx, ty = np.empty(x.shape, np.float64), np.empty(y.shape, np.float64)
    step = max(1, -(-x.shape[0] // (4 * THREADS))) if x.size >= 1 << 20 else x.shape[0]

    def transform(r0: int) -> None:
        rows = slice(r0, r0 + step)
        tx[rows], ty[rows] = transformer.transform(x[rows], y[rows])

    in_threads(transform, range(0, x.shape[0], step))
    return tx, ty



def median_spacing(x: np.ndarray, y: np.ndarray) -> float:
    """The finer of the median distances between neighbours along rows and along columns."""
    spacings = []
    stride = max(1, x.size // SPACING_SAMPLE)  # a median needs no 25 million differences
    for axis in (0, 1):
        rows = (slice(None), slice(None, None, stride)) if axis == 0 else \
            (slice(None, None, stride), slice(None))
        step = np.hypot(np.diff(x[rows], axis=axis), np.diff(y[rows], axis=axis))
        step = step[np.isfinite(step) & (step > 0)]
        if step.size:
            spacings.append(float(np.median(step)))
    if not spacings:
        raise CoregInputError("The coordinate images hold fewer than two valid neighbouring "
                              "pixels.")
    return min(spacings)



def swath_grid(x: np.ndarray, y: np.ndarray, crs: CRS, *, pixel_size: float,
               extent: Sequence[float] | None) -> Grid:
    """North-up grid of square ``pixel_size`` pixels over ``extent`` (xmin, xmax, ymin,
    ymax), or over the footprint (snapped outward to multiples of the pixel size)."""
    if extent is None:
        xmin, xmax = np.nanmin(x), np.nanmax(x)
        ymin, ymax = np.nanmin(y), np.nanmax(y)
        half = pixel_size / 2  # pixel centres of the footprint's edge pixels stay inside
        xmin = math.floor((xmin - half) / pixel_size) * pixel_size
        ymax = math.ceil((ymax + half) / pixel_size) * pixel_size
        width = math.ceil((xmax + half - xmin) / pixel_size - 1e-9)
        height = math.ceil((ymax - (ymin - half)) / pixel_size - 1e-9)
    else:
        xmin, xmax, ymin, ymax = extent
        if not (xmax > xmin and ymax > ymin):
            raise CoregInputError(f"EXTENT {tuple(extent)} is empty (need xmin < xmax, "
                                  "ymin < ymax).")
        width = max(1, round((xmax - xmin) / pixel_size))
        height = max(1, round((ymax - ymin) / pixel_size))
    return Grid(crs, Affine(pixel_size, 0, xmin, 0, -pixel_size, ymax), int(width), int(height))



def on_target_grid(x, y, src_crs: CRS, dst_crs: CRS | None, pixel_size: float, extent,
                    notes: list[str]) -> tuple[np.ndarray, np.ndarray, Grid, float]:
    """Coordinates in the target CRS (given, or chosen and noted), the target grid and the
    median source spacing."""
    if dst_crs is None:
        valid = np.isfinite(x) & np.isfinite(y)
        if not valid.any():
            raise CoregInputError("The coordinate images hold no valid coordinate.")
        dst_crs, reason = choose_target_crs(np.where(valid, x, np.nan), y, src_crs)
        notes.append(reason[0].upper() + reason[1:] + ".")
    hemisphere = _polar_hemisphere(dst_crs, y) if src_crs.is_geographic else None
    x, y = to_target_coordinates(x, y, src_crs, dst_crs, notes)
    spacing = median_spacing(x, y)
    size = pixel_size if pixel_size > 0 else spacing
    footprint = (np.where(hemisphere, x, np.nan), np.where(hemisphere, y, np.nan)) \
        if hemisphere is not None and extent is None else (x, y)
    grid = swath_grid(*footprint, dst_crs, pixel_size=size, extent=extent)
    notes.append(f"Target grid: {grid.width} x {grid.height} pixels of {size:g} "
                 f"{units(dst_crs)} in {dst_crs.to_string()} (median source spacing "
                 f"{spacing:g}).")
    return x, y, grid, spacing



def parse_crs(value, which: str) -> CRS:
    """``value`` as a CRS, or CoregInputError naming it (never a silent default)."""
    if isinstance(value, CRS):
        return value
    try:
        crs = CRS.from_user_input(value)
    except Exception as exc:  # rasterio raises CRSError for anything unparseable
        raise CoregInputError(
            f"The {which} CRS '{value}' is not a CRS that PROJ knows (an unknown EPSG code, "
            "or not a WKT or PROJ string): give it as e.g. EPSG:4326.") from exc
    if not crs.is_valid:
        raise CoregInputError(f"The {which} CRS '{value}' is not a valid CRS: give it as e.g. "
                              "EPSG:4326.")
    return crs



def _polar_hemisphere(crs: CRS, lat: np.ndarray) -> np.ndarray | None:
    """For the automatic polar CRSs, the pixels of their hemisphere (the default footprint:
    the far hemisphere projects towards infinity)."""
    epsg = crs.to_epsg()
    if epsg == 3413:
        return lat >= 0
    if epsg == 3976:
        return lat <= 0
    return None



def units(crs: CRS) -> str:
    return "degrees" if crs.is_geographic else "m" if crs.linear_units in ("metre", "m") \
        else crs.linear_units or "units"
