"""DEM coregistration: Nuth & Kääb (2011) shifts, vertical shift, blockwise warp.

Elevation differences dh = reference - DEM on stable terrain relate to a horizontal
misregistration s through the terrain slope: dh = tan(a) |s| cos(b - aspect) + c
(Nuth & Kääb 2011, :DOI:`10.5194/tc-5-271-2011`). Written with the slope components,
dh = g . s + c, it is solved by robust least squares and iterated, resampling the
DEM by the shift found so far, until the update is below the tolerance; the
vertical shift is then the median of dh.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np
import rasterio
from affine import Affine
from pyproj import Geod
from rasterio.crs import CRS
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds
from scipy import ndimage

from ..errors import CanceledError, CoregInputError, CoregistrationError
from ..grid import Grid, footprint_bounds
from ..io.masks import PolygonMask, masked_on_grid
from ..io.outputs import file_paths, guarded_outputs
from ..io.raster_io import (
    BLOCK,
    IsCanceled,
    Progress,
    atomic_path,
    output_profile,
    raster_bytes,
    read_info,
    read_on_grid,
    read_window,
)
from ..matching.fit import RigidModel
from ..results import AlignmentResult
from ..transforms.apply import scaled_progress
from ..transforms.model import BlockField, Rigid
from ..transforms.resample import interpolate, prepare
from ..transforms.saved import DEM_REPORT_KIND, DEM_REPORT_VERSION
from ..transforms.warp import write_resampled
from .bias import curvature
from .terrain import gradient, nmad

METHODS = ("nuth_kaab", "vertical", "blockwise")
#: Stable pixels used for the statistics at most (a fixed random subset beyond).
MAX_SAMPLES = 3_000_000
#: Of those, pixels each iteration of the horizontal fit resamples: the fit uses medians
#: of 72 aspect bins, which more pixels no longer move; and per block at least.
FIT_SAMPLES = 500_000
FIT_SAMPLES_PER_BLOCK = 2_000
#: Slopes (degrees) used by the horizontal fit: flat ground says nothing about a
#: horizontal shift and cliffs are dominated by interpolation error and shadows.
SLOPE_RANGE_DEG = (2.0, 70.0)
MIN_STABLE_PIXELS = 500
#: Blocks with fewer fitted pixels take their neighbours' shift (blockwise method).
MIN_BLOCK_PIXELS = 200
#: Share of the block residuals' variance that must be spatially coherent for the
#: blockwise field to keep them on top of its plane (else: the plane alone).
MIN_COHERENT_SHARE = 0.5
#: Aspect bins of the Nuth & Kääb fit, and the pixels a bin needs to count.
ASPECT_BINS = 72
MIN_BIN_PIXELS = 10
#: Side of the square blocks the DEM is read in, pixels.
READ_BLOCK = 1024
#: DEMs up to this many pixels keep their interpolation coefficients between iterations
#: (float32: 256 MB at most); larger ones recompute them, so memory stays bounded.
CACHE_PIXELS = 64_000_000


@dataclass(frozen=True)
class BlockShift:
    """One block of the blockwise method: centre (map units), the shift applied there
    (the smoothed field) and the shift fitted on the block alone."""

    x: float
    y: float
    shift_x: float
    shift_y: float
    shift_z: float
    n_pixels: int
    fitted_x: float = math.nan
    fitted_y: float = math.nan
    fitted_z: float = math.nan


@dataclass(frozen=True)
class DemAlignment(AlignmentResult):
    """Result of :func:`estimate_dem_alignment`.

    ``shift_x``, ``shift_y``, ``shift_z`` are the translation applied to the DEM
    (map units of its CRS, x east, y north, z up); for the blockwise method they are
    the median of the block shifts. Statistics are of dh = reference - DEM over the
    stable pixels, before and after.
    """

    method: str
    crs: str
    shift_x: float
    shift_y: float
    shift_z: float
    iterations: int
    nmad_before: float
    nmad_after: float
    median_before: float
    median_after: float
    n_stable_pixels: int
    blocks: tuple[BlockShift, ...] = ()
    block_size: int = 0
    block_shape: tuple[int, int] = (0, 0)
    warnings: tuple[str, ...] = ()
    #: The DEM area the shift was measured on (left, bottom, right, top; DEM CRS).
    alignment_bounds: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    #: Blockwise: the affine map of node (col, row) + 0.5 to map coordinates.
    block_nodes: tuple[float, ...] = ()
    #: Whether the horizontal fit settled below its tolerance (flat or noisy DEMs do not:
    #: their shift means nothing, and :func:`align_dem` refuses to apply it).
    converged: bool = True
    #: Pipelines (method "pipeline"): the steps as written, and every fitted bias
    #: correction (see core/dem/bias.py), added to the DEM after its shift.
    pipeline: str = ""
    corrections: tuple[dict, ...] = ()
    #: LZD: the rotation about the vertical (degrees, counter-clockwise) about this
    #: centre (map units), applied with the shift.
    rotation_deg: float = 0.0
    rotation_centre: tuple[float, float] = (0.0, 0.0)
    #: Standard errors and 95 % half-widths of every term (bootstrap; see
    #: core/dem/uncertainty.py); empty unless asked for.
    uncertainty: dict = field(default_factory=dict)

    def report(self) -> dict:
        report = asdict(self)
        report["kind"], report["version"] = DEM_REPORT_KIND, DEM_REPORT_VERSION
        report["warnings"] = list(self.warnings)
        report["corrections"] = list(self.corrections)
        report["blocks"] = [asdict(b) for b in self.blocks]
        report["transform"] = self.transform.to_record()
        return report

    @property
    def transform(self) -> Rigid | BlockField:
        """The alignment as :func:`.apply.apply_alignment` applies it to any raster: a
        translation (and LZD's rotation about the vertical) with its vertical shift, or
        the blockwise field. Bias corrections of a pipeline are not part of it: they are
        written into the aligned DEM only."""
        crs = CRS.from_user_input(self.crs)
        if self.method != "blockwise":
            model = RigidModel(self.shift_x, self.shift_y, self.rotation_deg,
                               *self.rotation_centre)
            return Rigid(model, crs, self.alignment_bounds, self.shift_z)
        x, y, z = (np.array([getattr(b, key) for b in self.blocks], float)
                   .reshape(self.block_shape) for key in ("shift_x", "shift_y", "shift_z"))
        return BlockField(Affine(*self.block_nodes), x, y, z, crs, self.alignment_bounds)


@dataclass
class _Samples:
    """Stable pixels of the DEM grid: indices, reference elevation, slope components."""

    rows: np.ndarray
    cols: np.ndarray
    ref: np.ndarray
    gx: np.ndarray
    gy: np.ndarray
    chunk: np.ndarray  # id of the read block holding each pixel
    n_stable: int
    curvature: np.ndarray | None = None  # of the reference (see dem_bias.curvature)

    def subset(self, size: int) -> _Samples:
        """A fixed random subset of ``size`` samples at most, in the same order."""
        if self.rows.size <= size:
            return self
        keep = np.sort(np.random.default_rng(1).choice(self.rows.size, size, replace=False))
        return _Samples(self.rows[keep], self.cols[keep], self.ref[keep], self.gx[keep],
                        self.gy[keep], self.chunk[keep], self.n_stable,
                        None if self.curvature is None else self.curvature[keep])


def estimate_dem_alignment(
    reference: str | os.PathLike,
    dem: str | os.PathLike,
    *,
    exclude: Sequence[str | os.PathLike | PolygonMask] = (),
    method: str = "nuth_kaab",
    max_iterations: int = 10,
    tolerance: float = 0.01,
    block_size: int = 256,
    block_step: str = "nuth_kaab",
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> DemAlignment:
    """Estimate the shift that puts ``dem`` on ``reference``.

    Parameters
    ----------
    reference, dem : path
        DEMs (any CRS and grid; the reference is resampled onto the DEM's grid).
    exclude : sequence of path or PolygonMask
        Unstable terrain to leave out (glaciers, landslides, vegetation change).
    method : {"nuth_kaab", "vertical", "blockwise"}
        Horizontal and vertical shift; vertical (median) shift only; or Nuth & Kääb
        per block of ``block_size`` pixels.
    max_iterations : int
        Iterations of the horizontal fit at most.
    tolerance : float
        Stop when the horizontal update is below this (map units).
    block_step : {"nuth_kaab", "dhminimize", "lzd"}
        Blockwise method: the shift step fitted on each block (see
        :mod:`.dem_pipeline`); LZD blocks give their translation at the block centre.

    Raises
    ------
    ValueError
        No overlap, unreadable input, unknown method.
    CoregistrationError
        Fewer than :data:`MIN_STABLE_PIXELS` stable pixels.
    """
    if method not in METHODS:
        raise CoregInputError(f"method must be one of {METHODS}, not {method!r}.")
    ref_info, dem_info = read_info(reference, "Reference DEM"), read_info(dem, "DEM")
    grid = dem_info.grid
    window = _overlap_window(ref_info.grid, grid)
    scale = metres_per_unit(grid, window)
    with rasterio.open(reference) as ref_ds, rasterio.open(dem) as dem_ds:
        samples = _collect_samples(ref_ds, ref_info.nodata, dem_ds, dem_info.nodata, grid,
                                   window, exclude, scale, slopes=method != "vertical")
        sampler = _DemSampler(dem_ds, dem_info.nodata, grid, window)
        dh_before = samples.ref - sampler.at(samples, 0.0, 0.0)
        shape = _block_shape(window, block_size) if method == "blockwise" else (1, 1)
        size = block_size if method == "blockwise" else 0
        groups = _groups(samples, window, size, shape)
        if method == "vertical":
            shifts, iterations, warnings, converged = np.zeros((1, 2)), 0, [], True
        else:
            n = shape[0] * shape[1]
            fit = samples.subset(max(FIT_SAMPLES, FIT_SAMPLES_PER_BLOCK * n))
            fit_groups = _groups(fit, window, size, shape)
            if method == "blockwise" and block_step != "nuth_kaab":
                from .pipeline import block_shifts

                shifts, iterations, warnings, converged = block_shifts(
                    block_step, fit, fit_groups, n, sampler, scale, grid, max_iterations,
                    tolerance, MIN_BLOCK_PIXELS, is_canceled)
            else:
                fitter = _Fitter(fit, sampler, scale, progress, is_canceled)
                shifts, iterations = fitter.horizontal(fit_groups, n, max_iterations,
                                                       tolerance)
                warnings, converged = fitter.warnings, fitter.converged
        counts = np.bincount(groups, minlength=len(shifts))
        fitted = shifts
        if method == "blockwise":
            shifts = np.column_stack([_smoothed(shifts[:, k], counts, shape) for k in (0, 1)])
        moved = _at_samples(shifts, samples, window, size, shape, groups)
        dh = samples.ref - sampler.at(samples, moved[:, 0], moved[:, 1])
    fitted_dz = _group_medians(dh, groups, len(shifts))
    dz = _smoothed(fitted_dz, counts, shape) if method == "blockwise" else fitted_dz
    after = dh - _at_samples(dz[:, None], samples, window, size, shape, groups)[:, 0]
    blocks = (_blocks(np.column_stack([shifts, dz]), np.column_stack([fitted, fitted_dz]),
                      counts, grid, window, block_size, shape)
              if method == "blockwise" else ())
    return DemAlignment(
        method, grid.crs.to_string(), float(np.median(shifts[:, 0])),
        float(np.median(shifts[:, 1])), float(np.median(dz)), iterations, nmad(dh_before),
        nmad(after), float(np.nanmedian(dh_before)), float(np.nanmedian(after)),
        samples.n_stable, tuple(blocks), block_size if method == "blockwise" else 0,
        shape if method == "blockwise" else (0, 0), tuple(warnings),
        tuple(float(v) for v in window_bounds(window, grid.transform)),
        tuple((grid.transform * Affine.translation(window.col_off, window.row_off)
               * Affine.scale(block_size))[:6]) if method == "blockwise" else (),
        converged)


def metres_per_unit(grid: Grid, window: Window) -> np.ndarray:
    """Ground metres per map unit in x and y at the window's centre (1, 1 when the
    CRS is in metres), so that slopes and tolerances are metric in any CRS."""
    if not grid.crs.is_geographic:
        factor = grid.crs.linear_units_factor[1] if grid.crs.linear_units_factor else 1.0
        return np.array([factor, factor])
    lon, lat = grid.transform * (window.col_off + window.width / 2,
                                 window.row_off + window.height / 2)
    geod = Geod(ellps="WGS84")
    step = 1e-3
    return np.array([geod.inv(lon, lat, lon + step, lat)[2] / step,
                     geod.inv(lon, lat, lon, lat + step)[2] / step])


def _overlap_window(reference: Grid, dem: Grid) -> Window:
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


def _collect_samples(ref_ds, ref_nodata, dem_ds, dem_nodata, grid: Grid, window: Window,
                     exclude, scale: np.ndarray, slopes: bool = True) -> _Samples:
    """Stable pixels (valid in both, not excluded) with the reference's slope there
    (``slopes``; otherwise zero slopes, for the vertical shift)."""
    keep = min(1.0, MAX_SAMPLES / (window.width * window.height))
    rng = np.random.default_rng(0)
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
    if n_stable < MIN_STABLE_PIXELS:
        raise CoregistrationError(
            f"Only {n_stable} stable pixels (valid in both DEMs and not excluded); at least "
            f"{MIN_STABLE_PIXELS} are needed. Check the overlap, nodata and exclusion mask.")
    rows, cols, ref, gx, gy, chunk, curv = (np.concatenate(a) for a in zip(*parts))
    return _Samples(rows.astype(float), cols.astype(float), ref.astype(float), gx, gy, chunk,
                    n_stable, curv)


class _DemSampler:
    """DEM values at stable pixels once the DEM is shifted (cubic spline, by blocks)."""

    def __init__(self, ds, nodata, grid: Grid, window: Window) -> None:
        self.ds, self.nodata, self.grid, self.window = ds, nodata, grid, window
        self.cache = {} if window.width * window.height <= CACHE_PIXELS else None

    def at(self, samples: _Samples, shift_x, shift_y) -> np.ndarray:
        """DEM at the samples after moving its content by (shift_x, shift_y) map units
        (scalars or one value per sample); NaN where the DEM has no data."""
        t = self.grid.transform
        d_col = np.broadcast_to(np.asarray(shift_x, float) / t.a, samples.rows.shape)
        d_row = np.broadcast_to(np.asarray(shift_y, float) / t.e, samples.rows.shape)
        values = np.full(samples.rows.shape, np.nan)
        if not d_col.any() and not d_row.any() and _on_pixels(samples):
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

    def _unshifted(self, samples: _Samples, values: np.ndarray) -> np.ndarray:
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


def _on_pixels(samples: _Samples) -> bool:
    """Whether every sample sits on a pixel centre (a reference DEM's pixels; points
    of a point-cloud reference do not)."""
    return bool(np.all(samples.rows == np.floor(samples.rows))
                and np.all(samples.cols == np.floor(samples.cols)))


class _Fitter:
    """The iterative horizontal fit, for one group (global) or one per block."""

    def __init__(self, samples, sampler, scale, progress, is_canceled):
        self.samples, self.sampler, self.scale = samples, sampler, scale
        self.progress, self.is_canceled = progress, is_canceled
        self.tan = np.hypot(samples.gx, samples.gy)
        low, high = np.tan(np.radians(SLOPE_RANGE_DEG))
        self.sloped = (self.tan >= low) & (self.tan <= high)
        self.bins = _aspect_bins(samples.gx, samples.gy)
        self.warnings: list[str] = []
        self.converged = True

    def horizontal(self, groups: np.ndarray, n: int, max_iterations: int,
                   tolerance: float, start: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """Shift (x, y) of each of ``n`` groups, map units, applied to the DEM (from
        ``start``, else zero); and the iterations used. ``tolerance`` is in metres on the
        ground."""
        shifts = np.zeros((n, 2)) if start is None else np.array(start, float).reshape(n, 2)
        for iteration in range(1, max_iterations + 1):
            if self.is_canceled and self.is_canceled():
                raise CanceledError("Canceled while fitting the DEM shift.")
            dem = self.sampler.at(self.samples, shifts[groups, 0], shifts[groups, 1])
            dh = self.samples.ref - dem
            # A vertical offset would leak into the fit (dz / tan(slope) varies with
            # aspect on real terrain): remove each group's median first.
            dh -= _group_medians(dh, groups, n)[groups]
            update = -self._fit(dh, groups, n)  # metres
            shifts += update / self.scale
            if self.progress:
                self.progress(100.0 * iteration / max_iterations)
            if np.nanmax(np.hypot(*update.T)) < tolerance:
                return shifts, iteration
        self.warnings.append(f"Not converged to {tolerance} after {max_iterations} iterations.")
        self.converged = False
        return shifts, max_iterations

    def _fit(self, dh: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
        """Displacement (x, y) of the DEM content per group by Nuth & Kääb's fit:
        dh / tan(slope) = a cos(b - aspect) + c, on the medians of aspect bins."""
        use = self.sloped & np.isfinite(dh)
        y = dh[use] / self.tan[use]
        medians = segment_medians(y, groups[use] * ASPECT_BINS + self.bins[use],
                                  n * ASPECT_BINS, MIN_BIN_PIXELS).reshape(n, ASPECT_BINS)
        enough = np.bincount(groups[use], minlength=n) >= (
            MIN_BLOCK_PIXELS if n > 1 else MIN_STABLE_PIXELS)
        result = np.full((n, 2), np.nan)
        for group in np.nonzero(enough)[0]:
            result[group] = _cosine_fit(medians[group])
        if n > 1:
            return _fill_missing(result)
        if np.isnan(result).any():
            raise CoregistrationError("Too few sloped stable pixels to fit a horizontal shift; "
                                      "use the vertical method.")
        return result


def _aspect_bins(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Aspect bin of each pixel; aspect = azimuth of the downslope direction, clockwise
    from north."""
    aspect = np.arctan2(-gx, -gy) % (2 * np.pi)
    return np.floor(aspect / (2 * np.pi) * ASPECT_BINS).astype(int) % ASPECT_BINS


def _cosine_fit(medians: np.ndarray) -> np.ndarray:
    """Fit m = A cos(aspect) + B sin(aspect) + c to the medians of dh / tan(slope) per
    aspect bin (NaN = bin with too few pixels); return the displacement (x, y) = (-B, -A)
    it implies."""
    used = np.isfinite(medians)
    if used.sum() < 3:
        return np.full(2, np.nan)
    centres = (np.nonzero(used)[0] + 0.5) * 2 * np.pi / ASPECT_BINS
    design = np.column_stack([np.cos(centres), np.sin(centres), np.ones_like(centres)])
    a, b, _ = np.linalg.lstsq(design, medians[used], rcond=None)[0]
    return np.array([-b, -a])


def _block_shape(window: Window, block_size: int) -> tuple[int, int]:
    return math.ceil(window.height / block_size), math.ceil(window.width / block_size)


def _groups(samples: _Samples, window: Window, block_size: int,
            shape: tuple[int, int]) -> np.ndarray:
    """Row-major block index of every sample (0 for all when ``block_size`` is 0)."""
    if not block_size:
        return np.zeros(samples.rows.size, int)
    by = ((samples.rows - window.row_off) // block_size).astype(int)
    bx = ((samples.cols - window.col_off) // block_size).astype(int)
    return by * shape[1] + bx


def _group_medians(values: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """Median of the finite ``values`` of each group; empty groups take the others'."""
    medians = segment_medians(values, groups, n)
    return _fill_missing(medians[:, None])[:, 0] if np.isnan(medians).any() else medians


def segment_medians(values: np.ndarray, labels: np.ndarray, n: int,
                    min_count: int = 1) -> np.ndarray:
    """Median of the finite ``values`` of each label 0..n-1 (NaN for labels with fewer
    than ``min_count`` values), in one sort: a loop of masks would cost a pass each."""
    finite = np.isfinite(values)
    values, labels = values[finite], labels[finite]
    medians = np.full(n, np.nan)
    if n == 1:
        if values.size >= max(min_count, 1):
            medians[0] = np.median(values)
        return medians
    low_value, span = (values.min(), np.ptp(values)) if values.size else (0.0, 0.0)
    # Sort by label, then value: the value scaled into [0, 0.5) is a fraction of the key.
    order = np.argsort(labels + (values - low_value) / (2 * span or 1.0))
    ordered = values[order]
    counts = np.bincount(labels, minlength=n)[:n]
    starts = np.cumsum(counts) - counts
    ok = counts >= max(min_count, 1)
    low, high = starts[ok] + (counts[ok] - 1) // 2, starts[ok] + counts[ok] // 2
    medians[ok] = 0.5 * (ordered[low] + ordered[high])
    return medians


def _fill_missing(values: np.ndarray) -> np.ndarray:
    """Rows that are NaN take the median of the others (blocks with too few pixels)."""
    bad = np.isnan(values).any(axis=1)
    if bad.all():
        raise CoregistrationError("No block has enough sloped stable pixels to fit.")
    values = values.copy()
    values[bad] = np.median(values[~bad], axis=0)
    return values


def _smoothed(values: np.ndarray, counts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A block field as a robust plane plus its residuals shrunk by their share of
    spatially coherent signal (Wiener): block estimates scatter by a few tenths of a
    metre, and a smooth distortion (e.g. a small rotation) is better served by the
    plane than by warping every block's noise into the DEM. Residuals that neighbours
    share (real local distortion) are kept; mostly independent ones (noise: less than
    :data:`MIN_COHERENT_SHARE` of their variance coherent) are dropped.
    Blocks with too few pixels get no say."""
    rows, cols = shape
    field = values.reshape(shape)
    weights = np.sqrt(counts) * (counts >= MIN_BLOCK_PIXELS)
    if rows * cols < 4 or np.count_nonzero(weights) < 3:
        return values
    yy, xx = np.mgrid[0:rows, 0:cols]
    design = np.column_stack([np.ones(rows * cols), xx.ravel(), yy.ravel()])
    w = weights.astype(float)
    for _ in range(10):  # iteratively reweighted least squares, Tukey's biweight
        coefficients = np.linalg.lstsq(design * w[:, None], values * w, rcond=None)[0]
        residual = values - design @ coefficients
        used = weights > 0
        scale = 1.4826 * np.median(np.abs(residual[used])) + 1e-12
        u = residual / (4.685 * scale)
        w = weights * np.clip(1 - u**2, 0, None) ** 2
    plane = (design @ coefficients).reshape(shape)
    residual = field - plane
    steps = np.concatenate([np.diff(residual, axis=0).ravel(), np.diff(residual, axis=1).ravel()])
    variance = float(np.mean(residual**2))
    noise = min(variance, 0.5 * float(np.mean(steps**2))) if steps.size else variance
    keep = (variance - noise) / variance if variance > 0 else 0.0
    if keep < MIN_COHERENT_SHARE:
        keep = 0.0
    return (plane + keep * residual).ravel()


def _at_samples(values: np.ndarray, samples: _Samples, window: Window, block_size: int,
                shape: tuple[int, int], groups: np.ndarray) -> np.ndarray:
    """Per-sample values of a per-group field (n, k): the group's own value, or, for
    blocks, bilinear between block centres as :class:`.transforms.BlockField` applies it."""
    if not block_size:
        return values[groups]
    rows = (samples.rows + 0.5 - window.row_off) / block_size - 0.5
    cols = (samples.cols + 0.5 - window.col_off) / block_size - 0.5
    return np.column_stack([
        ndimage.map_coordinates(values[:, k].reshape(shape), [rows, cols], order=1,
                                mode="nearest") for k in range(values.shape[1])])


def _blocks(applied: np.ndarray, fitted: np.ndarray, counts, grid: Grid, window: Window,
            block_size: int, shape: tuple[int, int]) -> list[BlockShift]:
    """Every block in row-major order, at its centre, with the (x, y, z) shift applied
    there and the one fitted on it alone (blocks without enough pixels: the others'
    median), and its pixel count."""
    blocks = []
    for g in range(shape[0] * shape[1]):
        by, bx = divmod(g, shape[1])
        x, y = grid.transform * (window.col_off + (bx + 0.5) * block_size,
                                 window.row_off + (by + 0.5) * block_size)
        blocks.append(BlockShift(float(x), float(y), *map(float, applied[g]),
                                 int(counts[g]), *map(float, fitted[g])))
    return blocks


def align_dem(
    reference: str | os.PathLike,
    dem: str | os.PathLike,
    output: str | os.PathLike,
    *,
    dh_output: str | os.PathLike | None = None,
    exclude: Sequence[str | os.PathLike | PolygonMask] = (),
    method: str = "nuth_kaab",
    pipeline: str = "",
    bootstrap: int = 0,
    max_iterations: int = 10,
    tolerance: float = 0.01,
    block_size: int = 256,
    block_step: str = "nuth_kaab",
    match_reference: bool = False,
    resampling: str = "cubic",
    keep_unreliable: bool = False,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> DemAlignment:
    """Estimate the DEM's shift (see :func:`estimate_dem_alignment`) and write the
    aligned DEM and, optionally, the elevation difference reference - aligned DEM.

    Parameters
    ----------
    reference, dem : path
        DEMs (any CRS and grid; the reference is resampled onto the DEM's grid). The
        reference may also be points: a .csv / .gpkg file or a
        :class:`.dem_points.PointCloud` (e.g. ICESat-2 or lidar elevations).
    output : path
        The aligned DEM: Float32, on the DEM's own grid (or the reference's, see
        ``match_reference``).
    dh_output : path, optional
        The elevation difference reference - aligned DEM, on the same grid.
    exclude : sequence of path or PolygonMask
        Unstable terrain to leave out (rasters: non-zero pixels; polygons): glaciers,
        landslides, vegetation change.
    method : {"nuth_kaab", "vertical", "blockwise"}
        Horizontal and vertical shift (Nuth & Kääb 2011); vertical (median) shift
        only; or Nuth & Kääb per block of ``block_size`` pixels, applied as smooth
        shift fields.
    pipeline : str, optional
        Steps joined by '+' (e.g. ``nuth_kaab+deramp1+directional``), fitted jointly
        and applied in place of ``method``; see :mod:`.dem_pipeline` for the names.
    bootstrap : int
        Replicates of a spatial block bootstrap giving each term's standard error and
        95 % interval in the report (0: none; about 30 is enough; each replicate costs
        one fit). Global methods and pipelines only.
    max_iterations : int
        Iterations of the horizontal fit at most.
    tolerance : float
        Stop when the horizontal update is below this (metres on the ground).
    block_size : int
        Side of the blocks of the blockwise method, DEM pixels.
    block_step : {"nuth_kaab", "dhminimize", "lzd"}
        The shift step the blockwise method fits on each block.
    match_reference : bool
        Write the outputs on the reference grid instead of the DEM's.
    resampling : {"cubic", "bilinear", "nearest"}
        Resampling of the aligned DEM.
    keep_unreliable : bool
        Write the result even when the fit did not converge (flat or noise-like
        DEMs), instead of raising.
    progress : callable, optional
        Called with the percentage done (0 to 100).
    is_canceled : callable, optional
        Polled during the run; returning True stops it with :class:`CanceledError`.

    Returns
    -------
    DemAlignment
        The shifts (map units of the DEM's CRS), the NMAD and median of the
        differences on stable terrain before and after; ``report()`` gives the JSON
        report and ``transform`` the alignment to apply to other rasters.

    Raises
    ------
    CoregInputError
        Unreadable input, no overlap, an unknown method.
    CoregOutputError
        An output would replace an input or the other output, or cannot be written.
    CoregistrationError
        Too few stable pixels, or a fit that did not converge (unless
        ``keep_unreliable``); nothing is written then.
    """
    from .points import PointCloud, is_point_file

    points = is_point_file(reference)
    if points and (dh_output is not None or match_reference):
        raise CoregInputError("With reference points, the elevation difference and the "
                              "reference grid do not exist: write the aligned DEM only.")
    with guarded_outputs({"Aligned DEM": output, "Elevation difference": dh_output},
                         {"Reference DEM": None if isinstance(reference, PointCloud)
                          else reference, "DEM": dem,
                          "Unstable terrain": file_paths(exclude)}):
        return _align_and_write(reference, dem, output, dh_output=dh_output,
                                match_reference=match_reference, resampling=resampling,
                                keep_unreliable=keep_unreliable, progress=progress,
                                is_canceled=is_canceled, exclude=exclude, method=method,
                                pipeline=pipeline or (method if bootstrap else ""),
                                bootstrap=bootstrap, max_iterations=max_iterations,
                                tolerance=tolerance, block_size=block_size,
                                block_step=block_step, points=points)


def _align_and_write(reference, dem, output, *, dh_output, match_reference: bool,
                     resampling: str, keep_unreliable: bool, progress: Progress | None,
                     is_canceled: IsCanceled | None, pipeline: str, points: bool,
                     **options) -> DemAlignment:
    from .pipeline import apply_corrections, estimate_dem_pipeline
    from .points import estimate_dem_to_points

    bootstrap = options.pop("bootstrap")
    if points:
        estimate = partial(estimate_dem_to_points, pipeline=pipeline or options["method"],
                           bootstrap=bootstrap)
    elif pipeline:
        estimate = partial(estimate_dem_pipeline, pipeline=pipeline, bootstrap=bootstrap)
    else:
        estimate = estimate_dem_alignment
    alignment = estimate(reference, dem, progress=scaled_progress(progress, 0, 50),
                         is_canceled=is_canceled, **options)
    if not alignment.converged and not keep_unreliable:
        raise CoregistrationError(
            f"The DEM fit did not converge after {alignment.iterations} iterations: the DEMs "
            "are too flat or too noisy for a reliable shift, so nothing was written. Mask "
            "unstable terrain, or tick 'Keep unreliable results' to write it anyway.")
    dem_info = read_info(dem, "DEM")
    target = read_info(reference).grid if match_reference else dem_info.grid
    transform = alignment.transform
    if isinstance(transform, BlockField) and target.crs != dem_info.grid.crs:
        raise CoregInputError("A blockwise alignment is written on the DEM's grid or on a "
                              "reference grid in the same CRS; reproject one of the DEMs first.")
    with atomic_path(output, size=raster_bytes(target, 1, "float32")) as tmp:
        write_resampled(dem, tmp, transform, target, vertical=True,
                        dtype="float32", resampling=resampling, cog=False,
                        progress=scaled_progress(progress, 50, 90), is_canceled=is_canceled)
        apply_corrections(tmp, alignment.corrections, dem_info.grid.crs)
    if dh_output is not None:
        with atomic_path(dh_output) as tmp:
            write_difference(reference, output, tmp)
    return alignment


def write_difference(reference: str | os.PathLike, aligned: str | os.PathLike,
                     output: str | os.PathLike) -> None:
    """dh = reference - aligned on the aligned DEM's grid, Float32 with NaN nodata,
    written by strips."""
    info = read_info(aligned)
    with rasterio.open(reference) as ref_ds, rasterio.open(aligned) as dem_ds:
        profile = output_profile(info.grid, count=1, dtype="float32", nodata=float("nan"))
        with rasterio.open(output, "w", **profile) as dst:
            for row in range(0, dem_ds.height, BLOCK):
                strip = info.grid.subgrid(row, 0, min(BLOCK, dem_ds.height - row),
                                          dem_ds.width)
                ref = read_on_grid(ref_ds, 1, strip, nodata=ref_ds.nodata)
                dem = read_on_grid(dem_ds, 1, strip, nodata=dem_ds.nodata)
                dst.write((ref - dem).astype(np.float32), 1,
                          window=Window(0, row, strip.width, strip.height))


def write_shift_fields(alignment: DemAlignment, dem: str | os.PathLike,
                       outputs: dict[str, str | os.PathLike]) -> None:
    """Write the blockwise shift fields on the DEM's grid, Float32, one raster per
    component: ``outputs`` maps "x", "y" or "z" to a path."""
    grid = read_info(dem, "DEM").grid
    field = alignment.transform
    if not isinstance(field, BlockField):
        raise CoregInputError("Shift fields exist for the blockwise method only.")
    nodes = {"x": field.x, "y": field.y, "z": field.z}
    profile = output_profile(grid, count=1, dtype="float32", nodata=None)
    for component, path in outputs.items():
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            for row in range(0, grid.height, BLOCK):
                strip = grid.subgrid(row, 0, min(BLOCK, grid.height - row), grid.width)
                dst.write(field.at(nodes[component], *strip.centres_xy()).astype(np.float32), 1,
                          window=Window(0, row, strip.width, strip.height))
