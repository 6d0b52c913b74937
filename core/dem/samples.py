"""The stable pixels of a DEM pair (reference elevation and slope on the DEM grid, read
block by block) and the DEM sampled at shifted positions, its interpolation coefficients
cached per block while they fit in CACHE_PIXELS."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from ..errors import CoregInputError, CoregistrationError
from ..grid import Grid, footprint_bounds, metres_per_unit
from ..io.masks import masked_on_grid
from ..io.raster_io import (
    read_on_grid,
    read_window,
)
from ..transforms.resample import interpolate, prepare
from .bias import curvature
from .terrain import gradient

#: Fewest stable pixels a DEM pair must share.
MIN_STABLE_PIXELS = 500
#: Stable pixels used for the statistics at most (a fixed random subset beyond).
MAX_SAMPLES = 3_000_000


#: Side of the square blocks the DEM is read in, pixels.
READ_BLOCK = 1024


#: DEMs up to this many pixels keep their interpolation coefficients between iterations
#: (float32: 256 MB at most); larger ones recompute them, so memory stays bounded.
CACHE_PIXELS = 64_000_000


@dataclass
class Samples:
    """Stable pixels of the DEM grid: indices, reference elevation, slope components."""

    rows: np.ndarray
    cols: np.ndarray
    ref: np.ndarray
    gx: np.ndarray
    gy: np.ndarray
    chunk: np.ndarray  # id of the read block holding each pixel
    n_stable: int
    curvature: np.ndarray | None = None  # of the reference (see dem_bias.curvature)

    def subset(self, size: int) -> Samples:
        """A fixed random subset of ``size`` samples at most, in the same order."""
        if self.rows.size <= size:
            return self
        return self.take(np.sort(np.random.default_rng(1).choice(self.rows.size, size,
                                                                 replace=False)))

    def take(self, index: np.ndarray) -> Samples:
        """The samples at ``index``."""
        return Samples(self.rows[index], self.cols[index], self.ref[index], self.gx[index],
                        self.gy[index], self.chunk[index], self.n_stable,
                        None if self.curvature is None else self.curvature[index])


def metres_per_unit_at(grid: Grid, window: Window) -> np.ndarray:
    """Ground metres per map unit in x and y at the window's centre
    (:func:`..grid.metres_per_unit`), so that slopes and tolerances are metric in any
    CRS; a CRS without a known unit is taken as metres (1, 1)."""
    _, lat = grid.transform * (window.col_off + window.width / 2,
                               window.row_off + window.height / 2)
    return np.array(metres_per_unit(grid.crs, lat) or (1.0, 1.0))


def overlap_window(reference: Grid, dem: Grid) -> Window:
    """The window of the DEM grid covered by the reference."""
    left, bottom, right, top = footprint_bounds(reference, dem.crs)
    inv = ~dem.transform
    cols, rows = zip(*(inv * (x, y) for x in (left, right) for y in (bottom, top)))
    c0, r0 = max(0, math.floor(min(cols))), max(0, math.floor(min(rows)))
    c1, r1 = min(dem.width, math.ceil(max(cols))), min(dem.height, math.ceil(max(rows)))
    if c1 - c0 < 8 or r1 - r0 < 8:
        raise CoregInputError("The reference DEM and the DEM do not overlap.")
    return Window(c0, r0, c1 - c0, r1 - r0)


def _chunks(window: Window):
    """Read blocks (row, col, height, width) tiling ``window``, with their ids."""
    k = 0
    for r in range(window.row_off, window.row_off + window.height, READ_BLOCK):
        for c in range(window.col_off, window.col_off + window.width, READ_BLOCK):
            h = min(READ_BLOCK, window.row_off + window.height - r)
            w = min(READ_BLOCK, window.col_off + window.width - c)
            yield k, r, c, h, w
            k += 1


def sample_share(window: Window) -> float:
    """Share of the stable pixels of ``window`` kept as samples (:data:`MAX_SAMPLES`)."""
    return min(1.0, MAX_SAMPLES / (window.width * window.height))


def require_stable(n_stable: int) -> None:
    if n_stable < MIN_STABLE_PIXELS:
        raise CoregistrationError(
            f"Only {n_stable} stable pixels (valid in both DEMs and not excluded); at least "
            f"{MIN_STABLE_PIXELS} are needed. Check the overlap, nodata and exclusion mask.")


def collect_samples(ref_ds, ref_nodata, dem_ds, dem_nodata, grid: Grid, window: Window,
                     exclude, scale: np.ndarray, slopes: bool = True, keep: float | None = None,
                     seed: int = 0, required: bool = True) -> Samples:
    """Stable pixels (valid in both, not excluded) with the reference's slope there
    (``slopes``; otherwise zero slopes, for the vertical shift). ``keep``: the share kept
    (default :func:`sample_share` of the window), drawn with ``seed``; ``required``: raise
    if too few (a part of the overlap may have none)."""
    keep = sample_share(window) if keep is None else keep
    rng = np.random.default_rng(seed)
    parts, n_stable = [], 0
    for k, r, c, h, w in _chunks(window):
        ref = read_on_grid(ref_ds, 1, grid.subgrid(r - 1, c - 1, h + 2, w + 2), nodata=ref_nodata)
        _, dem_valid = read_window(dem_ds, [1], Window(c, r, w, h), dem_nodata)
        if slopes:
            gx, gy = gradient(ref, grid.res[0] * scale[0], grid.res[1] * scale[1])
            stable = np.isfinite(gx) & np.isfinite(gy) & dem_valid
            curv = curvature(ref, grid.res[0] * scale[0], grid.res[1] * scale[1])
        else:
            stable = np.isfinite(ref[1:-1, 1:-1]) & dem_valid
        if exclude:
            stable &= ~masked_on_grid(exclude, grid.subgrid(r, c, h, w))
        n_stable += int(stable.sum())
        if keep < 1:
            stable &= rng.random(stable.shape) < keep
        ii, jj = np.nonzero(stable)
        zeros = np.zeros(ii.size)
        parts.append((ii + r, jj + c, ref[1:-1, 1:-1][stable],
                      gx[stable] if slopes else zeros, gy[stable] if slopes else zeros,
                      np.full(ii.size, k), curv[stable] if slopes else zeros))
    if required:
        require_stable(n_stable)
    rows, cols, ref, gx, gy, chunk, curv = (np.concatenate(a) for a in zip(*parts))
    return Samples(rows.astype(float), cols.astype(float), ref.astype(float), gx, gy, chunk,
                    n_stable, curv)


class DemSampler:
    """DEM values at stable pixels once the DEM is shifted (cubic spline, by blocks)."""

    def __init__(self, ds, nodata, grid: Grid, window: Window) -> None:
        self.ds, self.nodata, self.grid, self.window = ds, nodata, grid, window
        self.cache = {} if window.width * window.height <= CACHE_PIXELS else None

    def at(self, samples: Samples, shift_x, shift_y) -> np.ndarray:
        """DEM at the samples after moving its content by (shift_x, shift_y) map units
        (scalars or one value per sample); NaN where the DEM has no data."""
        t = self.grid.transform
        d_col = np.broadcast_to(np.asarray(shift_x, float) / t.a, samples.rows.shape)
        d_row = np.broadcast_to(np.asarray(shift_y, float) / t.e, samples.rows.shape)
        values = np.full(samples.rows.shape, np.nan)
        if not d_col.any() and not d_row.any() and on_pixels(samples):
            return self._unshifted(samples, values)
        margin = 4 + int(np.ceil(max(np.abs(d_col).max(initial=0), np.abs(d_row).max(initial=0))))
        for k, r, c, h, w in _chunks(self.window):
            index = np.nonzero(samples.chunk == k)[0]
            if index.size == 0:
                continue
            row0, col0, coefficients, valid = self._chunk(k, r, c, h, w, margin)
            values[index] = interpolate(coefficients, valid,
                                        samples.rows[index] - d_row[index] - row0,
                                        samples.cols[index] - d_col[index] - col0, 3)
        return values

    def _unshifted(self, samples: Samples, values: np.ndarray) -> np.ndarray:
        """The DEM's own values at the samples (no interpolation needed)."""
        for k, r, c, h, w in _chunks(self.window):
            index = np.nonzero(samples.chunk == k)[0]
            if index.size:
                data, valid = read_window(self.ds, [1], Window(c, r, w, h), self.nodata)
                rows = samples.rows[index].astype(int) - r
                cols = samples.cols[index].astype(int) - c
                values[index] = np.where(valid[rows, cols], data[0][rows, cols], np.nan)
        return values

    def _chunk(self, k, r, c, h, w, margin):
        cached = self.cache.get(k) if self.cache is not None else None
        if cached is not None and cached[4] >= margin:
            return cached[:4]
        margin = margin + 4  # slack, so that small updates reuse the chunk
        data, valid = read_window(self.ds, [1], Window(c - margin, r - margin, w + 2 * margin,
                                                       h + 2 * margin), self.nodata)
        entry = (r - margin, c - margin, prepare(data[0], valid, 3),
                 None if valid.all() else valid, margin)
        if self.cache is not None:
            self.cache[k] = entry
        return entry[:4]


def on_pixels(samples: Samples) -> bool:
    """Whether every sample sits on a pixel centre (a reference DEM's pixels; points
    of a point-cloud reference do not)."""
    return bool(np.all(samples.rows == np.floor(samples.rows))
                and np.all(samples.cols == np.floor(samples.cols)))
