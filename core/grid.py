"""Raster grids and the common grid on which reference and secondary are compared."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from .errors import CoregInputError

if TYPE_CHECKING:
    from pyproj import Transformer

#: Resolution ratio above which the secondary counts as coarser than the reference.
COARSER_RATIO = 1.05


@dataclass(frozen=True)
class Grid:
    """A georeferenced pixel grid: CRS, affine transform (pixel corner) and size."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def res(self) -> tuple[float, float]:
        """Pixel size (x, y) in CRS units, both positive."""
        a, b, _, d, e, _ = self.transform[:6]
        return math.hypot(a, d), math.hypot(b, e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) of the grid's corners, in CRS units."""
        xs, ys = self.corner_xy()
        return min(xs), min(ys), max(xs), max(ys)

    def corner_xy(self) -> tuple[list[float], list[float]]:
        corners = [(0, 0), (self.width, 0), (self.width, self.height), (0, self.height)]
        pts = [self.transform * c for c in corners]
        return [p[0] for p in pts], [p[1] for p in pts]

    def subgrid(self, row: int, col: int, height: int, width: int) -> Grid:
        """The grid of a window starting at (row, col), same CRS and pixel size."""
        return Grid(self.crs, self.transform * Affine.translation(col, row), width, height)

    def centres_xy(self) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates (x, y) of every pixel centre, each shape (height, width)."""
        cols, rows = np.meshgrid(np.arange(self.width) + 0.5, np.arange(self.height) + 0.5)
        a, b, c, d, e, f = self.transform[:6]
        return a * cols + b * rows + c, d * cols + e * rows + f


def crs_transformer(src: CRS, dst: CRS) -> Transformer:
    """An always-xy transformer from ``src`` to ``dst``, or ValueError if none exists."""
    return _transformer(CRS.from_user_input(src).to_wkt(), CRS.from_user_input(dst).to_wkt())


@functools.lru_cache(maxsize=32)
def _transformer(src_wkt: str, dst_wkt: str) -> Transformer:
    # pyproj is imported when first needed: a same-CRS pair never needs it, and a
    # command-line run then skips its import (about 40 ms).
    from pyproj import Transformer
    from pyproj.exceptions import ProjError

    try:
        return Transformer.from_crs(src_wkt, dst_wkt, always_xy=True)
    except ProjError as exc:
        raise CoregInputError(f"No coordinate transformation between the two CRSs: {exc}") from exc


#: WGS 84's semi-major axis (metres) and flattening.
WGS84_AXIS_M, WGS84_FLATTENING = 6378137.0, 1 / 298.257223563


def metres_per_degree(latitude: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at ``latitude`` on WGS 84: its radii
    of curvature (prime vertical, meridian), which the geodesic over a short step tends
    to (over a pixel: within 1e-8). Other datums' ellipsoids change them by < 0.01 %."""
    e2 = WGS84_FLATTENING * (2 - WGS84_FLATTENING)
    phi = math.radians(latitude)
    w = 1 - e2 * math.sin(phi) ** 2
    prime_vertical = WGS84_AXIS_M / math.sqrt(w)
    meridian = WGS84_AXIS_M * (1 - e2) / w ** 1.5
    return (math.radians(prime_vertical * math.cos(phi)), math.radians(meridian))


def metres_per_unit(crs: CRS, latitude: float) -> tuple[float, float] | None:
    """Metres per CRS unit along x and y at ``latitude`` (degrees; a projected CRS's
    unit does not depend on it): WGS 84's for a geographic CRS
    (:func:`metres_per_degree`; parsing the CRS with pyproj in a worker thread
    crashed QGIS 3.40), the linear unit's factor otherwise; None when the CRS has no
    known unit."""
    try:
        if crs.is_geographic:
            return metres_per_degree(latitude)
        factor = crs.linear_units_factor[1]
        return float(factor), float(factor)
    except Exception:  # a local CRS without units
        return None


def footprint_bounds(grid: Grid, crs: CRS) -> tuple[float, float, float, float]:
    """Bounds of ``grid`` expressed in ``crs`` (densified edges)."""
    if grid.crs == crs:
        return grid.bounds
    # PROJ's bounds transformation (GDAL's algorithm) on the cached transformer: GDAL's
    # transform_bounds builds a new one on every call (10-50 ms each).
    from pyproj.exceptions import ProjError

    try:
        return crs_transformer(grid.crs, crs).transform_bounds(*grid.bounds, densify_pts=21)
    except ProjError as exc:
        raise CoregInputError(f"The grid's bounds cannot be expressed in {crs}: {exc}") from exc


Bounds = tuple[float, float, float, float]


def intersection(a: Bounds, b: Bounds) -> Bounds | None:
    """The intersection of two (left, bottom, right, top) boxes of one CRS; None if it
    has no area or is not finite. The one overlap rule of the engine."""
    left, bottom = max(a[0], b[0]), max(a[1], b[1])
    right, top = min(a[2], b[2]), min(a[3], b[3])
    if not (np.isfinite([left, bottom, right, top]).all() and left < right and bottom < top):
        return None
    return left, bottom, right, top


def footprint_overlap(grid: Grid, other: Grid) -> Bounds | None:
    """Where ``grid``'s footprint meets ``other``'s, in ``other``'s CRS (bounding boxes,
    densified edges); None if nowhere."""
    return intersection(footprint_bounds(grid, other.crs), other.bounds)


def pixel_size_in(grid: Grid, crs: CRS) -> tuple[float, float]:
    """Local pixel size (x, y) of ``grid`` measured in ``crs`` units at the grid centre."""
    if grid.crs == crs:
        return grid.res
    tr = crs_transformer(grid.crs, crs)
    col, row = grid.width / 2, grid.height / 2
    pts = [grid.transform * p for p in ((col, row), (col + 1, row), (col, row + 1))]
    xs, ys = tr.transform([p[0] for p in pts], [p[1] for p in pts])
    return math.hypot(xs[1] - xs[0], ys[1] - ys[0]), math.hypot(xs[2] - xs[0], ys[2] - ys[0])


def common_grid(reference: Grid, secondary: Grid) -> Grid:
    """The grid on which both images are compared: reference CRS, over their overlap.

    The coarser resolution wins, so neither image is compared with detail the other
    lacks. The grid is snapped to the reference grid's origin, so that when the
    secondary is not coarser the common grid is a window of the reference grid.

    Raises
    ------
    ValueError
        If the footprints do not overlap or the CRSs cannot be transformed.
    """
    left, bottom, right, top = _overlap(reference, secondary)
    ref_x, ref_y = reference.res
    sec_x, sec_y = pixel_size_in(secondary, reference.crs)
    ratio = math.sqrt((sec_x * sec_y) / (ref_x * ref_y))
    res_x, res_y = (sec_x, sec_y) if ratio > COARSER_RATIO else (ref_x, ref_y)
    if reference.transform.b or reference.transform.d:
        raise CoregInputError("Rotated reference geotransforms are not supported; warp it "
                              "north-up.")
    origin_x, origin_y = reference.transform.c, reference.transform.f
    col0 = math.ceil((left - origin_x) / res_x - 1e-6)
    col1 = math.floor((right - origin_x) / res_x + 1e-6)
    row0 = math.ceil((origin_y - top) / res_y - 1e-6)
    row1 = math.floor((origin_y - bottom) / res_y + 1e-6)
    if col1 - col0 < 8 or row1 - row0 < 8:
        raise CoregInputError("The reference and secondary rasters overlap by less than 8 pixels.")
    transform = Affine(res_x, 0, origin_x + col0 * res_x, 0, -res_y, origin_y - row0 * res_y)
    return Grid(reference.crs, transform, col1 - col0, row1 - row0)


def _overlap(reference: Grid, secondary: Grid) -> tuple[float, float, float, float]:
    if reference.crs is None or secondary.crs is None:
        which = "reference" if reference.crs is None else "secondary"
        raise CoregInputError(
            f"The {which} raster has no coordinate reference system; assign one "
            "(Raster > Projections > Assign Projection) before aligning."
        )
    if secondary.crs != reference.crs:  # a transformation between them exists, or say so
        crs_transformer(secondary.crs, reference.crs)
    r = reference.bounds
    try:
        s = footprint_bounds(secondary, reference.crs)
    except Exception as exc:  # PROJ/GDAL errors for disjoint or invalid domains
        raise CoregInputError(f"Cannot transform the secondary footprint: {exc}") from exc
    box = intersection(r, s)
    if box is None:
        raise CoregInputError("The reference and secondary rasters do not overlap.")
    return box


def snapped_grid(template: Grid, bounds: tuple[float, float, float, float]) -> Grid:
    """The grid with ``template``'s CRS, pixel size and pixel phase that covers
    ``bounds`` (given in that CRS): stack-ready, every pixel on the template's."""
    res_x, res_y = template.res
    ox, oy = template.transform.c, template.transform.f
    col0 = math.floor((bounds[0] - ox) / res_x + 1e-9)
    col1 = math.ceil((bounds[2] - ox) / res_x - 1e-9)
    row0 = math.floor((oy - bounds[3]) / res_y + 1e-9)
    row1 = math.ceil((oy - bounds[1]) / res_y - 1e-9)
    return template.subgrid(row0, col0, row1 - row0, col1 - col0)
