"""Rectification of swath data (per-pixel coordinate images) onto a regular grid.

Level-1b/L2 swath products come in the viewing geometry with two coordinate images (x/lon,
y/lat of every pixel centre) instead of a geotransform. The triangle-painting method turns them
into a regular grid:

1. every source pixel quad (P1 = (i, j), P2 = (i+1, j), P3 = (i, j+1), P4 = (i+1, j+1)) is split
   into the triangles (P1, P2, P3) and (P2, P4, P3);
2. each target pixel centre inside a triangle gets its fractional source position from
   P = P1 + u (P2 - P1) + v (P3 - P1) (the second triangle counts from P4), painted into two
   lookup images (source column, source row);
3. every measurement image is sampled through the lookup images: nearest neighbour, triangular
   V = V1 + u (V2 - V1) + v (V3 - V1), or bilinear over the four neighbours.

Painting is vectorised over blocks of source rows: each quad's bounding box of target pixel
centres is enumerated with array arithmetic and tested against both triangles with a small
barycentric tolerance, so shared edges leave no holes.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings as pywarnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from scipy import ndimage

from ..errors import CanceledError, CoregInputError
from ..grid import Grid, crs_transformer
from ..io.outputs import guards
from ..io.raster_io import IsCanceled, Progress, atomic_path, output_profile, to_cog
from ..parallel import THREADS, in_threads
from ..resources import memory_guard, require_memory

LOG = logging.getLogger(__name__)

INTERPOLATIONS = ("nearest", "triangular", "bilinear")
#: Barycentric tolerance: target pixels on a shared triangle edge belong to both triangles.
EDGE_TOLERANCE = 1e-4
#: Source rows painted per block (bounds the temporaries of the vectorised painting).
ROW_BLOCK = 256
#: Target pixels sampled per chunk (bounds the temporaries of the sampling).
SAMPLE_CHUNK = 1 << 20
#: GDAL block cache (MB) while reading swath bands.
READ_CACHE_MB = 64
#: Margin (target pixels) of the lookup images while painting.
PAD = 2
#: Latitude beyond which a swath counts as reaching the pole (polar stereographic target).
POLAR_LATITUDE = 85.0
#: Widest longitude span (degrees) of an antimeridian-crossing swath put on a UTM zone.
UTM_MAX_SPAN = 12.0
#: Target pixel / source pixel ratio above which sampling without PREFILTER aliases.
ALIASING_RATIO = 2.0
#: About this many neighbour distances give the median pixel spacing.
SPACING_SAMPLE = 1 << 20
#: A quad this many times wider than the median quad is a wrap-around seam, not data.
SEAM_FACTOR = 20.0
#: What to do when the target grid does not fit in memory.
GRID_ADVICE = "give a larger PIXEL_SIZE or a smaller EXTENT"


@dataclass(frozen=True)
class SwathResult:
    """What a rectification produced: the target grid, painted pixels and log notes."""

    grid: Grid
    painted_pixels: int
    source_spacing: float
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    outputs: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- reading


@contextlib.contextmanager
def open_swath(path: str):
    """``rasterio.open`` for swath rasters: netCDF rows in their native order (as the
    coordinate variables), and no warning that there is no geotransform (there never is)."""
    with pywarnings.catch_warnings():
        pywarnings.simplefilter("ignore", NotGeoreferencedWarning)
        # Whole bands are read once: GDAL's block cache would only hold a second copy.
        with rasterio.Env(GDAL_NETCDF_BOTTOMUP="NO", GDAL_CACHEMAX=READ_CACHE_MB), \
                rasterio.open(path) as ds:
            yield ds


def read_band_array(path: str, band: int, label: str) -> np.ndarray:
    """Band ``band`` of ``path`` as float64, NaN where nodata or not finite."""
    try:
        with open_swath(path) as ds:
            if not 1 <= band <= ds.count:
                raise CoregInputError(f"{label} band {band} does not exist: '{path}' has "
                                      f"{ds.count} band(s).")
            values = ds.read(band).astype(np.float64, copy=False)
            nodata = ds.nodata
    except (RasterioError, RasterioIOError) as exc:
        raise CoregInputError(f"{label} '{path}' cannot be read: {exc}") from exc
    if nodata is not None:
        values[values == nodata] = np.nan
    values[~np.isfinite(values)] = np.nan
    return values


def geolocation_of(source: str, x_band: int, y_band: int) -> tuple[str, int, str, int]:
    """(x raster, x band, y raster, y band) named by the GDAL GEOLOCATION metadata of
    ``source`` (netCDF ``coordinates``, HDF, VRT), else ``source`` itself with the bands
    given."""
    try:
        with open_swath(source) as ds:
            geo = ds.tags(ns="GEOLOCATION")
    except (RasterioError, RasterioIOError) as exc:
        raise CoregInputError(f"Input '{source}' cannot be read: {exc}") from exc
    if not geo.get("X_DATASET") or not geo.get("Y_DATASET"):
        return source, x_band, source, y_band
    folder = Path(source).parent if Path(source).is_file() else None
    return (_beside(geo["X_DATASET"], folder), int(geo.get("X_BAND", 1)),
            _beside(geo["Y_DATASET"], folder), int(geo.get("Y_BAND", 1)))


def _beside(dataset: str, folder: Path | None) -> str:
    """A relative geolocation file name resolved next to the input (as GDAL does)."""
    if folder is None or ":" in dataset or Path(dataset).is_absolute():
        return dataset
    return str(folder / dataset)


def _read_measurements(path: str, bands: Sequence[int] | None):
    """(float32 stack with NaN nodata, dtype, nodata, band descriptions) of ``path``."""
    try:
        with open_swath(path) as ds:
            bands = list(bands) if bands else list(range(1, ds.count + 1))
            for band in bands:
                if not 1 <= band <= ds.count:
                    raise CoregInputError(f"Input band {band} does not exist: '{path}' has "
                                          f"{ds.count} band(s).")
            data = ds.read(bands)
            descriptions = [ds.descriptions[b - 1] for b in bands]
            return data, ds.nodata, descriptions
    except (RasterioError, RasterioIOError) as exc:
        raise CoregInputError(f"Input '{path}' cannot be read: {exc}") from exc


# ------------------------------------------------------------------- target CRS and grid


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


# ------------------------------------------------------------------------------ painting


def paint_lookup(x: np.ndarray, y: np.ndarray, grid: Grid, *,
                 progress: Progress | None = None,
                 is_canceled: IsCanceled | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fractional source (column, row) of every target pixel centre, NaN where unpainted.

    ``x``, ``y``: shape (rows, cols), pixel-centre coordinates in ``grid.crs``; source pixel
    (i, j) has its centre at column i, row j. Quads touching a NaN coordinate are skipped.
    """
    if x.shape != y.shape:
        raise CoregInputError(f"The X and Y coordinate images differ in shape: {x.shape} vs "
                              f"{y.shape}.")
    if x.shape[0] < 2 or x.shape[1] < 2:
        raise CoregInputError("A swath needs at least 2 x 2 pixels to be rectified.")
    inverse = ~grid.transform
    # A margin of PAD pixels takes the candidates of quads straddling the grid's edge.
    lookup = np.full((2, grid.height + 2 * PAD, grid.width + 2 * PAD), np.nan, np.float32)
    seam = _seam_limit(x, y, inverse)
    rows = x.shape[0]

    def paint(r0: int) -> None:
        if is_canceled and is_canceled():
            raise CanceledError("Canceled while painting the lookup images.")
        r1 = min(r0 + ROW_BLOCK, rows - 1)
        px, py = inverse * (x[r0:r1 + 1], y[r0:r1 + 1])
        _paint_block(_BlockQuads(px + PAD, py + PAD, r0, lookup.shape[1:], seam),
                     lookup.reshape(2, -1))

    # Blocks meet on shared quad edges only, where both paint the same positions.
    in_threads(paint, range(0, rows - 1, ROW_BLOCK), progress, 60.0)
    inner = (slice(PAD, PAD + grid.height), slice(PAD, PAD + grid.width))
    return lookup[0][inner], lookup[1][inner]


def _seam_limit(x: np.ndarray, y: np.ndarray, inverse: Affine) -> float:
    """Largest quad extent (target pixels) accepted: wider quads bridge a wrap-around seam."""
    step = max(1, x.shape[0] // 64)
    px, py = inverse * (x[::step], y[::step])
    extent = np.fmax(np.abs(np.diff(px, axis=1)), np.abs(np.diff(py, axis=1)))
    extent = extent[np.isfinite(extent)]
    typical = float(np.median(extent)) if extent.size else 1.0
    return max(64.0, SEAM_FACTOR * typical)


class _BlockQuads:
    """The quads of a block of source rows, flattened.

    Each quad's box of candidate target pixels starts at column/row (c0, r0) and holds
    nx x ny pixels; its triangles (P1, P2, P3) and (P4, P3, P2) are kept as the inverse
    affine maps (a, b, c, d) and the barycentric coordinates (s00, t00) of candidate (c0, r0):
    candidate (c0 + dx, r0 + dy) has s = s00 + a dx + b dy, t = t00 + c dx + d dy. Quads
    touching NaN, degenerate, seam-bridging or off-grid ones have s00 = NaN: never painted.
    """

    def __init__(self, px: np.ndarray, py: np.ndarray, row0: int, shape: tuple[int, int],
                 seam: float) -> None:
        self.row0, self.ncols = row0, px.shape[1] - 1
        self.height, self.width = shape
        cx = (px[:-1, :-1], px[:-1, 1:], px[1:, :-1], px[1:, 1:])
        cy = (py[:-1, :-1], py[:-1, 1:], py[1:, :-1], py[1:, 1:])
        with np.errstate(invalid="ignore"):
            c0, c1 = _candidate_range(cx)
            r0, r1 = _candidate_range(cy)
            nx, ny = c1 - c0 + 1, r1 - r0 + 1
            usable = ((nx <= seam) & (ny <= seam) & (c1 >= PAD - 1) & (r1 >= PAD - 1)
                      & (c0 <= shape[1] - PAD) & (r0 <= shape[0] - PAD))
        self.small = (usable & (nx <= 2) & (ny <= 2)).ravel()
        self.big = (usable & ((nx > 2) | (ny > 2))).ravel()
        self.c0, self.r0 = c0.ravel(), r0.ravel()
        self.nx, self.ny = np.nan_to_num(nx).ravel(), np.nan_to_num(ny).ravel()
        rx = [(c - c0).astype(np.float32).ravel() for c in cx]  # (c0, r0) centre = 0.5
        ry = [(c - r0).astype(np.float32).ravel() for c in cy]
        self.first = _triangle(rx[0], ry[0], rx[1] - rx[0], ry[1] - ry[0],
                               rx[2] - rx[0], ry[2] - ry[0])
        self.second = _triangle(rx[3], ry[3], rx[2] - rx[3], ry[2] - ry[3],
                                rx[1] - rx[3], ry[1] - ry[3])

    def source_position(self, quads: np.ndarray, s, t, second: bool):
        """Fractional source (column, row) of barycentric (s, t) in a quad's triangle."""
        i, j = quads % self.ncols, quads // self.ncols + self.row0
        s, t = np.clip(s, 0, 1), np.clip(t, 0, 1)
        return (i + 1 - s, j + 1 - t) if second else (i + s, j + t)

    def target_index(self, quads: np.ndarray, dx, dy) -> np.ndarray:
        """Flat (padded) target pixel index of candidate (c0 + dx, r0 + dy) of each quad."""
        rows = self.r0[quads].astype(np.int64) + dy
        return rows * self.width + self.c0[quads].astype(np.int64) + dx


def _candidate_range(corners) -> tuple[np.ndarray, np.ndarray]:
    """First and last target pixel index whose centre lies within the corners' range
    (NaN if a corner is NaN)."""
    low = np.minimum(np.minimum(corners[0], corners[1]), np.minimum(corners[2], corners[3]))
    high = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3]))
    return np.ceil(low - 0.5 - EDGE_TOLERANCE), np.floor(high - 0.5 + EDGE_TOLERANCE)


def _triangle(ax, ay, e1x, e1y, e2x, e2y) -> tuple:
    """(s00, t00, a, b, c, d): barycentric coordinates of the point (0.5, 0.5) relative to
    corner A and edges e1, e2, and the inverse map s = a dx + b dy, t = c dx + d dy."""
    with np.errstate(divide="ignore", invalid="ignore"):
        det = e1x * e2y - e2x * e1y
        inv = np.where(det != 0, 1 / det, np.float32(np.nan)).astype(np.float32)
        a, b, c, d = e2y * inv, -e2x * inv, -e1y * inv, e1x * inv
        qx, qy = np.float32(0.5) - ax, np.float32(0.5) - ay
        return a * qx + b * qy, c * qx + d * qy, a, b, c, d


def _paint_block(block: _BlockQuads, lookup: np.ndarray) -> None:
    """Paint a block: quads whose box holds at most 2 x 2 target pixels (nearly all when the
    target pixel is not finer than the source) in four whole-array passes; the others by
    enumerating their candidates."""
    for second, tri in ((False, block.first), (True, block.second)):
        s00, t00 = (np.where(block.small, v, np.float32(np.nan)) for v in tri[:2])
        a, b, c, d = tri[2:]
        for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
            s = s00 + a if dx else s00
            s = s + b if dy else s
            t = t00 + c if dx else t00
            t = t + d if dy else t
            _paint_hits(block, None, s, t, dx, dy, second, lookup)
    big = np.flatnonzero(block.big)
    if big.size:
        counts = (block.nx[big] * block.ny[big]).astype(np.int64)
        quads = np.repeat(big, counts)
        offset = np.arange(quads.size) - np.repeat(np.cumsum(counts) - counts, counts)
        width = block.nx[quads].astype(np.int64)
        dx, dy = offset % width, offset // width
        col, row = block.c0[quads] + dx, block.r0[quads] + dy
        on_grid = (col >= 0) & (col < block.width) & (row >= 0) & (row < block.height)
        quads, dx, dy = quads[on_grid], dx[on_grid], dy[on_grid]
        fx, fy = dx.astype(np.float32), dy.astype(np.float32)
        for second, tri in ((False, block.first), (True, block.second)):
            s00, t00, a, b, c, d = (v[quads] for v in tri)
            s = s00 + a * fx + b * fy
            t = t00 + c * fx + d * fy
            _paint_hits(block, quads, s, t, dx, dy, second, lookup)


def _paint_hits(block: _BlockQuads, quads, s, t, dx, dy, second: bool,
                lookup: np.ndarray) -> None:
    """Write the candidates (c0 + dx, r0 + dy) whose barycentric (s, t) are inside the
    triangle. ``quads``: the quad of each candidate (None: one candidate per quad)."""
    with np.errstate(invalid="ignore"):
        inside = (s >= -EDGE_TOLERANCE) & (t >= -EDGE_TOLERANCE) & (s + t <= 1 + EDGE_TOLERANCE)
    hits = np.flatnonzero(inside)
    if not hits.size:
        return
    owner = hits if quads is None else quads[hits]
    if quads is not None:
        dx, dy = dx[hits], dy[hits]
    target = block.target_index(owner, dx, dy)
    col, row = block.source_position(owner, s[hits], t[hits], second)
    lookup[0, target] = col
    lookup[1, target] = row


# ------------------------------------------------------------------------------ sampling


def sample_band(values: np.ndarray, col: np.ndarray, row: np.ndarray, method: str, *,
                fill: float = np.nan) -> np.ndarray:
    """``values`` (source rows, cols) sampled at the fractional source positions (col, row).

    nearest: the closest source pixel; triangular: V1 + u (V2 - V1) + v (V3 - V1) in the
    triangle (P1, P2, P3) when u + v <= 1, else from P4 in (P2, P4, P3); bilinear: the four
    neighbours weighted (1-u)(1-v), u(1-v), (1-u)v, uv. ``fill`` where (col, row) is NaN;
    an interpolation touching a NaN value gives NaN. Nearest keeps the dtype of ``values``
    (integer flags stay exact), the interpolations give float32.
    """
    if method not in INTERPOLATIONS:
        raise CoregInputError(f"Unknown interpolation '{method}': use one of {INTERPOLATIONS}.")
    height, width = values.shape
    if height < 2 or width < 2:
        raise CoregInputError("A swath needs at least 2 x 2 pixels to be interpolated.")
    dtype = values.dtype if method == "nearest" else np.dtype(np.float32)
    flat = np.ascontiguousarray(values, dtype).ravel()
    out = np.full(col.shape, fill, dtype)
    step = max(1, SAMPLE_CHUNK // max(1, col.shape[-1]))  # target rows: no copy of col/row

    def sample(r0: int) -> None:
        rows = slice(r0, r0 + step)
        painted = np.isfinite(col[rows])
        out[rows][painted] = _sample(flat, width, height, col[rows][painted],
                                     row[rows][painted], method)

    in_threads(sample, range(0, col.shape[0], step))
    return out


def _sample(flat, width, height, c, r, method):
    if method == "nearest":
        i = np.clip(np.rint(c), 0, width - 1).astype(np.int64)
        j = np.clip(np.rint(r), 0, height - 1).astype(np.int64)
        return flat[j * width + i]
    i = np.clip(np.floor(c), 0, width - 2).astype(np.int64)
    j = np.clip(np.floor(r), 0, height - 2).astype(np.int64)
    u, v = c - i, r - j
    base = j * width + i
    v1, v2, v3, v4 = flat[base], flat[base + 1], flat[base + width], flat[base + width + 1]
    if method == "triangular":
        return np.where(u + v <= 1, v1 + u * (v2 - v1) + v * (v3 - v1),
                        v4 + (1 - u) * (v3 - v4) + (1 - v) * (v2 - v4))
    return (1 - v) * (v1 + u * (v2 - v1)) + v * (v3 + u * (v4 - v3))


def gaussian_prefilter(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian low-pass of ``values`` (sigma in source pixels) that ignores NaN pixels."""
    valid = np.isfinite(values)
    filled = np.where(valid, values, 0).astype(np.float64)
    weight = ndimage.gaussian_filter(valid.astype(np.float64), sigma, mode="nearest")
    smooth = ndimage.gaussian_filter(filled, sigma, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = smooth / weight
    out[~valid] = np.nan
    return out.astype(np.float32)


# ---------------------------------------------------------------------------- top level


def rectify_arrays(values: np.ndarray, x: np.ndarray, y: np.ndarray, grid: Grid, *,
                   interpolation: str = "bilinear", prefilter_sigma: float = 0.0,
                   fill: float = np.nan, progress: Progress | None = None,
                   is_canceled: IsCanceled | None = None,
                   ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Rectify ``values`` (bands, rows, cols) with coordinates ``x``, ``y`` (in grid.crs)
    onto ``grid``: returns (bands on the grid, ``fill`` outside: float32, or the dtype of
    ``values`` for nearest; lookup (col, row) of fractional source column/row, pixel
    centre = integer). Integer bands are not prefiltered."""
    if values.shape[1:] != x.shape:
        raise CoregInputError(f"The measurement raster ({values.shape[2]} x {values.shape[1]} px) "
                              f"and the coordinate images ({x.shape[1]} x {x.shape[0]} px) differ "
                              "in size: they must cover the same swath pixels.")
    exact = interpolation == "nearest" and np.issubdtype(values.dtype, np.integer)
    dtype = values.dtype if exact else np.dtype(np.float32)
    require_memory(grid_memory(grid, values.shape[0], dtype.itemsize),
                   f"Rectifying onto a target grid of {grid.width} x {grid.height} pixels",
                   GRID_ADVICE)
    with memory_guard(f"a target grid of {grid.width} x {grid.height} pixels", GRID_ADVICE):
        col, row = paint_lookup(x, y, grid, progress=progress, is_canceled=is_canceled)
        out = np.empty((values.shape[0], grid.height, grid.width), dtype)
    for k, band in enumerate(values):
        if is_canceled and is_canceled():
            raise CanceledError("Canceled while sampling the measurement bands.")
        if not exact:
            band = band.astype(np.float32, copy=False)
            if prefilter_sigma > 0:
                band = gaussian_prefilter(band, prefilter_sigma)
        out[k] = sample_band(band, col, row, interpolation, fill=fill)
        if progress:
            progress(60.0 + 30.0 * (k + 1) / values.shape[0])
    return out, (col, row)


def grid_memory(grid: Grid, bands: int, itemsize: int, lookup_output: bool = False) -> float:
    """Peak bytes of rectifying onto ``grid``: the two float32 lookup images (with their
    margin), the output bands plus the one being sampled, the painted mask and, when it
    is written, the lookup output (stacked, then + 0.5)."""
    pixels = float(grid.width + 2 * PAD) * float(grid.height + 2 * PAD)
    return pixels * (8 + (bands + 1) * itemsize + 1 + (16 if lookup_output else 0))


@guards(outputs={"output": "Output", "lookup_output": "Lookup output"},
        inputs={"source": "Input", "x_coords": "X coordinates", "y_coords": "Y coordinates"})
def rectify_swath(
    source: str,
    output: str,
    *,
    x_coords: str | None = None,
    y_coords: str | None = None,
    x_band: int = 1,
    y_band: int = 1,
    bands: Sequence[int] | None = None,
    source_crs: str | CRS = "EPSG:4326",
    target_crs: str | CRS | None = None,
    pixel_size: float = 0.0,
    extent: Sequence[float] | None = None,
    interpolation: str = "bilinear",
    prefilter: bool = False,
    lookup_output: str | None = None,
    cog: bool = False,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> SwathResult:
    """Rectify the swath raster ``source`` onto a regular grid and write it to ``output``.

    Parameters
    ----------
    source : str
        GDAL-readable path, also a subdataset (``NETCDF:"file.nc":var``, ``HDF5:...``).
    output : str
        The rectified raster (all the chosen bands), GeoTIFF or COG.
    x_coords, y_coords : str, optional
        Rasters holding the x/longitude and y/latitude of every pixel centre (same size
        as ``source``); default: the input's own geolocation (netCDF ``coordinates``,
        a geolocation VRT).
    x_band, y_band : int
        Their 1-based bands.
    bands : sequence of int, optional
        Bands of ``source`` to rectify; default all.
    source_crs : str or CRS
        CRS of the coordinates.
    target_crs : str or CRS, optional
        CRS of the grid; None: automatic (see :func:`choose_target_crs`).
    pixel_size : float
        Target pixel size in target CRS units; 0: the median source spacing.
    extent : sequence of float, optional
        (xmin, xmax, ymin, ymax) in the target CRS; None: the swath footprint.
    interpolation : {"bilinear", "triangular", "nearest"}
        How the bands are sampled at each target pixel's source position.
    prefilter : bool
        Gaussian low-pass (sigma = (ratio - 1) / 2 source pixels) before sampling when
        the target pixel is coarser than the source spacing.
    lookup_output : str, optional
        A 2-band Float32 raster of fractional source column and row (pixel-corner
        convention: i + 0.5 + u, j + 0.5 + v).
    cog : bool
        Write Cloud-Optimized GeoTIFFs.
    progress : callable, optional
        Called with the percentage done (0 to 100).
    is_canceled : callable, optional
        Polled during the run; returning True stops it with :class:`CanceledError`.

    Returns
    -------
    SwathResult
        The target grid, the number of painted pixels, the source spacing, notes
        and warnings.

    Raises
    ------
    CoregInputError
        Unreadable inputs, mismatched shapes, coordinates outside the CRS, a CRS that
        is not one, an empty grid.
    CoregOutputError
        An output would replace an input, or cannot be written.
    CoregResourceError
        If the target grid does not fit in memory.
    """
    if interpolation not in INTERPOLATIONS:
        raise CoregInputError(f"Unknown interpolation '{interpolation}': use one of "
                              f"{INTERPOLATIONS}.")
    src_crs = _parse_crs(source_crs, "source")  # before any work: never a silent default
    automatic = target_crs is None or (isinstance(target_crs, str) and not target_crs.strip())
    dst_crs = None if automatic else _parse_crs(target_crs, "target")
    notes: list[str] = []
    warnings: list[str] = []
    if not x_coords and not y_coords:
        x_coords, x_band, y_coords, y_band = geolocation_of(source, x_band, y_band)
    x = read_band_array(x_coords or source, x_band, "X coordinates")
    y = read_band_array(y_coords or source, y_band, "Y coordinates")
    if x.shape != y.shape:
        raise CoregInputError(f"The X and Y coordinate images differ in size: {x.shape[::-1]} vs "
                              f"{y.shape[::-1]} (columns, rows).")
    x, y, grid, spacing = _on_target_grid(x, y, src_crs, dst_crs, pixel_size, extent, notes)
    ratio = grid.res[0] / spacing
    sigma = max(0.0, (ratio - 1) / 2) if prefilter else 0.0
    if ratio > ALIASING_RATIO and not prefilter:
        warnings.append(f"The target pixel is {ratio:.1f} times the source pixel spacing: "
                        "values are point samples and may alias; set PREFILTER to smooth "
                        "first.")
    data, nodata, descriptions = _read_measurements(source, bands)
    if data.shape[1:] != x.shape:
        raise CoregInputError(f"The input raster ({data.shape[2]} x {data.shape[1]} px) and the "
                              f"coordinate images ({x.shape[1]} x {x.shape[0]} px) differ in size: "
                              "they must cover the same swath pixels.")
    values, fill = _as_sampled(data, nodata, interpolation)
    del data
    exact = interpolation == "nearest" and np.issubdtype(values.dtype, np.integer)
    require_memory(grid_memory(grid, values.shape[0], values.dtype.itemsize if exact else 4,
                               bool(lookup_output)),
                   f"Rectifying onto a target grid of {grid.width} x {grid.height} pixels",
                   GRID_ADVICE)
    rectified, lookup = rectify_arrays(values, x, y, grid, interpolation=interpolation,
                                       prefilter_sigma=sigma, fill=fill, progress=progress,
                                       is_canceled=is_canceled)
    painted = int(np.isfinite(lookup[0]).sum())
    if painted == 0:
        raise CoregInputError("The swath does not cover any pixel of the target grid (check "
                              "EXTENT and TARGET_CRS).")
    _write(output, rectified, grid, fill, descriptions, cog)
    outputs = {"output": output}
    if lookup_output:
        with memory_guard("the lookup output", GRID_ADVICE):
            _write(lookup_output, np.stack(lookup) + 0.5, grid, np.nan,
                   ["source column (pixel corner = 0)", "source row (pixel corner = 0)"], cog)
        outputs["lookup_output"] = lookup_output
    if progress:
        progress(100.0)
    for note in notes:
        LOG.debug(note)
    for warning in warnings:
        LOG.debug(warning)
    return SwathResult(grid, painted, spacing, tuple(notes), tuple(warnings), outputs)


def _on_target_grid(x, y, src_crs: CRS, dst_crs: CRS | None, pixel_size: float, extent,
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
                 f"{_units(dst_crs)} in {dst_crs.to_string()} (median source spacing "
                 f"{spacing:g}).")
    return x, y, grid, spacing


def _parse_crs(value, which: str) -> CRS:
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


def _units(crs: CRS) -> str:
    return "degrees" if crs.is_geographic else "m" if crs.linear_units in ("metre", "m") \
        else crs.linear_units or "units"


def _as_sampled(data: np.ndarray, nodata, interpolation: str) -> tuple[np.ndarray, float]:
    """The bands as they are sampled and the value outside the swath: integer bands by
    nearest neighbour as they are (flags stay exact; outside: their nodata, else the
    dtype's maximum), anything else as float32 with NaN for nodata and outside."""
    if interpolation == "nearest" and np.issubdtype(data.dtype, np.integer):
        return data, nodata if nodata is not None else np.iinfo(data.dtype).max
    values = data.astype(np.float32, copy=False)
    if nodata is not None:
        values[data == nodata] = np.nan
    return values, np.nan


def _write(path: str, bands: np.ndarray, grid: Grid, nodata: float, descriptions,
           cog: bool) -> None:
    """Write ``bands`` (their dtype, ``nodata`` outside) as a GeoTIFF or COG."""
    profile = output_profile(grid, count=bands.shape[0], dtype=str(bands.dtype), nodata=nodata,
                             scratch=cog)
    with atomic_path(path) as tmp:
        target = tmp + ".gtiff.tmp" if cog else tmp
        with rasterio.open(target, "w", **profile) as dst:
            dst.write(bands)
            for k, text in enumerate(descriptions, start=1):
                if text:
                    dst.set_band_description(k, text)
        if cog:
            to_cog(target, tmp)
    LOG.debug("wrote %s", Path(path).name)
