"""Sampling the bands through the lookup images: nearest, triangular or bilinear, with an
optional anti-alias prefilter."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import CoregInputError, check_canceled
from ..grid import Grid
from ..io.raster_io import IsCanceled, Progress
from ..parallel import in_threads
from ..resources import memory_guard, require_memory
from .painting import PAD, paint_lookup

#: Target pixels sampled per chunk (bounds the temporaries of the sampling).
INTERPOLATIONS = ("nearest", "triangular", "bilinear")
#: What to do when the target grid does not fit in memory.
GRID_ADVICE = "give a larger PIXEL_SIZE or a smaller EXTENT"
SAMPLE_CHUNK = 1 << 20



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
        check_canceled(is_canceled, "Canceled while sampling the measurement bands.")
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



def as_sampled(data: np.ndarray, nodata, interpolation: str) -> tuple[np.ndarray, float]:
    """The bands as they are sampled and the value outside the swath: integer bands by
    nearest neighbour as they are (flags stay exact; outside: their nodata, else the
    dtype's maximum), anything else as float32 with NaN for nodata and outside."""
    if interpolation == "nearest" and np.issubdtype(data.dtype, np.integer):
        return data, nodata if nodata is not None else np.iinfo(data.dtype).max
    values = data.astype(np.float32, copy=False)
    if nodata is not None:
        values[data == nodata] = np.nan
    return values, np.nan
