"""Nuth & Kääb's horizontal fit (dh / tan(slope) against aspect, on the medians of aspect
bins, iterated with the DEM resampled), for the whole overlap or one fit per block, and
the smooth field of the blockwise method."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window
from scipy import ndimage

from ..errors import CanceledError, CoregistrationError
from ..grid import Grid
from .samples import MIN_STABLE_PIXELS, Samples

#: Slopes (degrees) used by the horizontal fit: flat ground says nothing about a
#: horizontal shift and cliffs are dominated by interpolation error and shadows.
SLOPE_RANGE_DEG = (2.0, 70.0)




#: Blocks with fewer fitted pixels take their neighbours' shift (blockwise method).
MIN_BLOCK_PIXELS = 200


#: Share of the block residuals' variance that must be spatially coherent for the
#: blockwise field to keep them on top of its plane (else: the plane alone).
MIN_COHERENT_SHARE = 0.5


#: Up to this many labels, :func:`segment_medians` partitions label by label (a Python
#: loop: beyond, one sort of every value is cheaper).
FEW_LABELS = 2048
#: Aspect bins of the Nuth & Kääb fit, and the pixels a bin needs to count.
ASPECT_BINS = 72


MIN_BIN_PIXELS = 10


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


class Fitter:
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
                   tolerance: float, start: np.ndarray | None = None,
                   dem_at_start: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """Shift (x, y) of each of ``n`` groups, map units, applied to the DEM (from
        ``start``, else zero); and the iterations used. ``tolerance`` is in metres on the
        ground. ``dem_at_start``: the DEM already sampled at ``start`` (not sampled again)."""
        shifts = np.zeros((n, 2)) if start is None else np.array(start, float).reshape(n, 2)
        for iteration in range(1, max_iterations + 1):
            if self.is_canceled and self.is_canceled():
                raise CanceledError("Canceled while fitting the DEM shift.")
            if iteration == 1 and dem_at_start is not None:
                dem = dem_at_start
            else:
                dem = self.sampler.at(self.samples, shifts[groups, 0], shifts[groups, 1])
            dh = self.samples.ref - dem
            # A vertical offset would leak into the fit (dz / tan(slope) varies with
            # aspect on real terrain): remove each group's median first.
            dh -= group_medians(dh, groups, n)[groups]
            update = -self._fit(dh, groups, n)  # metres
            shifts += update / self.scale
            if self.progress:
                self.progress(100.0 * iteration / max_iterations)
            if np.nanmax(np.hypot(*update.T)) < tolerance:
                return shifts, iteration
        self.warnings.append(f"Not converged to {tolerance} after {max_iterations} iterations.")
        self.converged = False
        return shifts, max_iterations

    def each(self, groups: np.ndarray, n: int, max_iterations: int,
             tolerance: float) -> tuple[np.ndarray, int]:
        """Shift (x, y) of each of ``n`` blocks, map units, each iterated until its own
        update is below ``tolerance`` (metres), so that no block waits for the others
        and a part of the blocks can be fitted alone; NaN for a block short of pixels
        (at any iteration). Also the iterations the slowest block took."""
        shifts, active, iterations = np.zeros((n, 2)), np.ones(n, bool), 0
        for iteration in range(1, max_iterations + 1):
            index = np.nonzero(active[groups])[0]
            if index.size == 0:
                break
            if self.is_canceled and self.is_canceled():
                raise CanceledError("Canceled while fitting the DEM shift.")
            iterations, moving = iteration, groups[index]
            dh = np.full(groups.size, np.nan)
            part = self.samples.take(index)
            dh[index] = part.ref - self.sampler.at(part, shifts[moving, 0], shifts[moving, 1])
            dh -= segment_medians(dh, groups, n)[groups]
            update = -self._fits(dh, groups, n, MIN_BLOCK_PIXELS)
            short = active & np.isnan(update).any(axis=1)
            shifts[short], active = np.nan, active & ~short
            shifts[active] += update[active] / self.scale
            active &= ~(np.hypot(*update.T) < tolerance)
        if active.any():
            self.warnings.append(f"Not converged to {tolerance} after {max_iterations} "
                                 "iterations.")
            self.converged = False
        return shifts, iterations

    def _fit(self, dh: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
        """Displacement (x, y) of the DEM content per group by Nuth & Kääb's fit:
        dh / tan(slope) = a cos(b - aspect) + c, on the medians of aspect bins."""
        result = self._fits(dh, groups, n, MIN_BLOCK_PIXELS if n > 1 else MIN_STABLE_PIXELS)
        if n > 1:
            return fill_missing(result)
        if np.isnan(result).any():
            raise CoregistrationError("Too few sloped stable pixels to fit a horizontal shift; "
                                      "use the vertical method.")
        return result

    def _fits(self, dh: np.ndarray, groups: np.ndarray, n: int, min_pixels: int) -> np.ndarray:
        """:meth:`_fit` per group, NaN for groups with fewer than ``min_pixels``."""
        use = self.sloped & np.isfinite(dh)
        y = dh[use] / self.tan[use]
        medians = segment_medians(y, groups[use] * ASPECT_BINS + self.bins[use],
                                  n * ASPECT_BINS, MIN_BIN_PIXELS).reshape(n, ASPECT_BINS)
        enough = np.bincount(groups[use], minlength=n) >= min_pixels
        result = np.full((n, 2), np.nan)
        for group in np.nonzero(enough)[0]:
            result[group] = _cosine_fit(medians[group])
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


def block_shape_of(window: Window, block_size: int) -> tuple[int, int]:
    return math.ceil(window.height / block_size), math.ceil(window.width / block_size)


def block_groups(samples: Samples, window: Window, block_size: int,
            shape: tuple[int, int]) -> np.ndarray:
    """Row-major block index of every sample (0 for all when ``block_size`` is 0)."""
    if not block_size:
        return np.zeros(samples.rows.size, int)
    by = ((samples.rows - window.row_off) // block_size).astype(int)
    bx = ((samples.cols - window.col_off) // block_size).astype(int)
    return by * shape[1] + bx


def group_medians(values: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """Median of the finite ``values`` of each group; empty groups take the others'."""
    medians = segment_medians(values, groups, n)
    return fill_missing(medians[:, None])[:, 0] if np.isnan(medians).any() else medians


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
    if n <= FEW_LABELS:
        return _few_segment_medians(values, labels, n, min_count, medians)
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


def _few_segment_medians(values: np.ndarray, labels: np.ndarray, n: int, min_count: int,
                         medians: np.ndarray) -> np.ndarray:
    """:func:`segment_medians` for few labels (72 aspect bins): the values grouped by a
    radix sort of 16-bit labels, then one partition per label, four times faster than
    sorting every value (the same medians)."""
    ordered = values[np.argsort(labels.astype(np.int16), kind="stable")]
    counts = np.bincount(labels, minlength=n)[:n]
    ends = np.cumsum(counts)
    for label in np.nonzero(counts >= max(min_count, 1))[0]:
        part, half = ordered[ends[label] - counts[label]:ends[label]], counts[label] // 2
        if counts[label] % 2:
            medians[label] = np.partition(part, half)[half]
        else:
            low, high = np.partition(part, (half - 1, half))[half - 1:half + 1]
            medians[label] = 0.5 * (low + high)
    return medians


def fill_missing(values: np.ndarray) -> np.ndarray:
    """Rows that are NaN take the median of the others (blocks with too few pixels)."""
    bad = np.isnan(values).any(axis=1)
    if bad.all():
        raise CoregistrationError("No block has enough sloped stable pixels to fit.")
    values = values.copy()
    values[bad] = np.median(values[~bad], axis=0)
    return values


def smoothed_field(values: np.ndarray, counts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
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


def at_samples(values: np.ndarray, samples: Samples, window: Window, block_size: int,
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


def block_records(applied: np.ndarray, fitted: np.ndarray, counts, grid: Grid, window: Window,
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
