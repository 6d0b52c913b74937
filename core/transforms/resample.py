"""Sampling the secondary's native pixels at aligned positions (one interpolation).

Used both to match patches and to write the aligned output, so the output is
resampled by exactly the kernel the shift was measured with. GDAL's warper was not
used for this: its cubic kernel displaced sub-pixel shifts by ~0.04 px in tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from scipy import ndimage

from ..errors import CoregInputError
from ..grid import Grid, crs_transformer

if TYPE_CHECKING:  # transforms.py uses this module's interpolation
    from .model import Transform

#: Spline order of each resampling name.
ORDERS = {"nearest": 0, "bilinear": 1, "cubic": 3}


def spline_order(resampling: str) -> int:
    """The spline order of a resampling name; CoregInputError for an unknown name."""
    if resampling not in ORDERS:
        raise CoregInputError(f"resampling must be one of {tuple(ORDERS)}, not {resampling!r}.")
    return ORDERS[resampling]
#: Coordinates across CRSs are computed exactly every this many pixels and
#: interpolated bilinearly in between (error far below 0.001 px for map projections).
COORDINATE_STEP = 16


@dataclass(frozen=True)
class SourceMapping:
    """Where each pixel of a target grid takes its content from in a source raster:
    target map point q -> (transform CRS) -> transform.inverse -> (source CRS) ->
    source pixel; the value added there is the transform's vertical shift."""

    transform: Transform
    source_crs: CRS
    source_transform: Affine

    def affine(self, grid: Grid) -> tuple[np.ndarray, np.ndarray] | None:
        """(matrix, offset) sending array indices (row, col) of ``grid`` to the source's
        when the transform is affine and one CRS holds everything, else None."""
        matrix = self.transform.affine
        if matrix is None or not grid.crs == self.transform.crs == self.source_crs:
            return None
        t = ~self.source_transform * ~matrix * grid.transform
        matrix = np.array([[t.e, t.d], [t.b, t.a]])
        offset = np.array([0.5 * (t.d + t.e) + t.f - 0.5, 0.5 * (t.a + t.b) + t.c - 0.5])
        return matrix, offset

    @property
    def interpolated(self) -> bool:
        """Whether positions across CRSs are computed at nodes and interpolated between
        (smooth transforms), rather than exactly at every pixel."""
        return self.transform.smooth

    def indices(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        """Fractional (row, col) array indices in the source (pixel centres at integers)
        for every pixel centre of ``grid``; NaN where the transform does not know."""
        if not self.interpolated or grid.crs == self.transform.crs == self.source_crs or (
                grid.width * grid.height <= COORDINATE_STEP**2):
            return self._exact(grid)
        rows, cols = self.node_indices(grid)
        rr, cc = np.meshgrid(np.arange(grid.height) / COORDINATE_STEP,
                             np.arange(grid.width) / COORDINATE_STEP, indexing="ij")
        return (ndimage.map_coordinates(rows, [rr, cc], order=1, mode="nearest"),
                ndimage.map_coordinates(cols, [rr, cc], order=1, mode="nearest"))

    def node_indices(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        """Exact source indices at every COORDINATE_STEP-th pixel centre of ``grid``, the
        last node at or past its end, so that every pixel interpolates between nodes."""
        step = COORDINATE_STEP
        nodes = Grid(grid.crs, grid.transform * Affine.translation(0.5 - step / 2, 0.5 - step / 2)
                     * Affine.scale(step), -(-(grid.width - 1) // step) + 1,
                     -(-(grid.height - 1) // step) + 1)
        return self._exact(nodes)

    def offset(self, grid: Grid) -> np.ndarray | float:
        """The value the transform adds at every pixel centre of ``grid``."""
        if not self.transform.has_vertical:
            return 0.0
        return self.transform.vertical(*self._in_transform_crs(grid))

    def _in_transform_crs(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        x, y = grid.centres_xy()
        if grid.crs != self.transform.crs:
            x, y = crs_transformer(grid.crs, self.transform.crs).transform(x, y)
        return x, y

    def _exact(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.transform.inverse(*self._in_transform_crs(grid))
        if self.transform.crs != self.source_crs:
            x, y = crs_transformer(self.transform.crs, self.source_crs).transform(x, y)
        cols, rows = ~self.source_transform * (x, y)
        return rows - 0.5, cols - 0.5


def prepare(data: np.ndarray, valid: np.ndarray | None, order: int,
            blur: float = 0.0) -> np.ndarray:
    """Interpolation coefficients of ``data``: invalid pixels (``valid`` False; None
    means all valid) replaced by the valid mean, which limits ringing, an optional
    anti-alias blur, then the spline prefilter."""
    data = data.astype(np.float32)
    if valid is not None:
        fill_invalid(data, valid)
    if blur > 0:
        data = ndimage.gaussian_filter(data, blur)
    if order < 2:
        return data
    if order == 3 and data.shape[0] >= MIRROR_TERMS and data.shape[1] >= WIDE_ROWS:
        cubic_prefilter_down(data)  # then along the rows, in place too (this copy's)
        return ndimage.spline_filter1d(data, 3, axis=1, mode="nearest", output=data)
    return ndimage.spline_filter(data, order=order, mode="nearest", output=np.float32)


def fill_invalid(data: np.ndarray, valid: np.ndarray) -> None:
    """Invalid pixels of ``data`` (``valid`` False) set to the valid mean, in place."""
    if not valid.all():
        sample = data[::4, ::4][valid[::4, ::4]]
        data[~valid] = sample.mean() if sample.size else 0.0


#: Rows at least this wide are prefiltered down their columns by :func:`cubic_prefilter_down`.
WIDE_ROWS = 1024
#: Terms of the mirrored sum that starts the causal pass (the pole's power after them is
#: below 1e-22).
MIRROR_TERMS = 40
#: The pole of the cubic B-spline prefilter.
POLE = math.sqrt(3.0) - 2.0


def cubic_prefilter_down(data: np.ndarray) -> None:
    """``ndimage.spline_filter1d(data, 3, axis=0, mode="nearest")`` in place on float32
    rows: the same recursive filter (pole sqrt(3) - 2, scipy's mirrored start and end),
    each step a whole row, three times faster than scipy's column by column walk on the
    wide strips of a resampled output (float32 sums: within 2e-7 of scipy's doubles)."""
    z, n = POLE, data.shape[0]
    powers = z ** np.arange(MIRROR_TERMS, dtype=np.float64)
    first = data[0] + z * (powers[:, None] * data[:MIRROR_TERMS]).sum(axis=0)
    data[0] = first
    row = np.empty(data.shape[1], np.float32)
    for i in range(1, n):  # causal: c[i] = x[i] + z c[i - 1]
        data[i] += np.multiply(data[i - 1], z, out=row)
    data[n - 1] *= z / (z - 1)
    for i in range(n - 2, -1, -1):  # anticausal: c[i] = z (c[i + 1] - c[i])
        np.subtract(data[i + 1], data[i], out=data[i])
        data[i] *= z
    data *= 6.0


def interpolate(coefficients: np.ndarray, valid: np.ndarray | None, rows: np.ndarray,
                cols: np.ndarray, order: int) -> np.ndarray:
    """Values at (rows, cols) from :func:`prepare` d coefficients; NaN where any
    contributing pixel is invalid or outside."""
    coords = np.stack([rows, cols])
    values = ndimage.map_coordinates(coefficients, coords, order=order, mode="nearest",
                                     prefilter=False)
    if valid is not None and not _all_valid_around(valid, rows, cols):
        support = ndimage.map_coordinates(valid.astype(np.float32), coords,
                                          order=min(order, 1), mode="constant", cval=0.0)
        values[support < 0.999] = np.nan
    return values


def _all_valid_around(valid: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> bool:
    """Whether every position lies inside ``valid`` with only valid pixels in the box
    around all of them: then no value needs the support test (often the case for the
    windows of a tie-point grid, whose tile only has no data beyond the raster)."""
    if rows.size == 0:
        return True
    r0, r1, c0, c1 = np.floor(rows.min()), np.ceil(rows.max()), np.floor(cols.min()), \
        np.ceil(cols.max())
    height, width = valid.shape
    if not (0 <= r0 and r1 <= height - 1 and 0 <= c0 and c1 <= width - 1):
        return False  # also False for NaN positions
    return bool(valid[int(r0):int(r1) + 1, int(c0):int(c1) + 1].all())


def interpolate_affine(coefficients: np.ndarray, valid: np.ndarray | None, matrix: np.ndarray,
                       offset: np.ndarray, shape: tuple[int, int], order: int) -> np.ndarray:
    """Like :func:`interpolate` on an affine grid of indices; a pure sub-pixel shift
    (identity matrix, the common case) is done separably, many times faster."""
    if is_identity(matrix):
        values = shift_separable(coefficients, offset, shape, order)
        support = None if valid is None else shift_separable(
            valid.astype(np.float32), offset, shape, min(order, 1))
    else:
        values = ndimage.affine_transform(coefficients, matrix, offset, shape, order=order,
                                          mode="nearest", prefilter=False)
        support = None if valid is None else ndimage.affine_transform(
            valid.astype(np.float32), matrix, offset, shape, order=min(order, 1),
            mode="constant", cval=0.0)
    if support is not None:
        values[support < 0.999] = np.nan
    return values


def is_identity(matrix: np.ndarray, atol: float = 1e-12) -> bool:
    """Whether a 2 x 2 matrix is the identity to ``atol`` (``np.allclose`` costs more
    than the test itself on a small patch)."""
    (a, b), (c, d) = matrix.tolist()
    return abs(a - 1) <= atol and abs(b) <= atol and abs(c) <= atol and abs(d - 1) <= atol


def shift_separable(data: np.ndarray, offset: np.ndarray, shape: tuple[int, int],
                     order: int) -> np.ndarray:
    """Sample ``data`` at (row + offset[0], col + offset[1]) for an output of ``shape``
    with B-spline kernels of ``order`` (0, 1 or 3), applied one axis at a time.
    Indices falling outside ``data`` take the nearest edge value."""
    for axis in (0, 1):
        data = _shift_axis(data, float(offset[axis]), shape[axis], order, axis)
    return data


def _shift_axis(data: np.ndarray, offset: float, size: int, order: int, axis: int) -> np.ndarray:
    if order == 0:
        taps, weights = [int(np.floor(offset + 0.5))], [1.0]
    else:
        base = int(np.floor(offset))
        u = offset - base
        if order == 1:
            taps, weights = [base, base + 1], [1 - u, u]
        else:
            taps, weights = [base - 1, base, base + 1, base + 2], cubic_weights(u)
    n = data.shape[axis]
    pad_before, pad_after = max(0, -taps[0]), max(0, size + taps[-1] - n)
    if pad_before or pad_after:
        widths = [(0, 0), (0, 0)]
        widths[axis] = (pad_before, pad_after)
        data = np.pad(data, widths, mode="edge")
    def term(tap):
        start = tap + pad_before
        return data[start:start + size] if axis == 0 else data[:, start:start + size]

    out = np.multiply(term(taps[0]), weights[0])
    scratch = np.empty_like(out) if len(taps) > 1 else None
    for tap, weight in zip(taps[1:], weights[1:]):  # in place: no array per tap (the same sums)
        out += np.multiply(term(tap), weight, out=scratch)
    return out


def cubic_weights(u: float) -> tuple[float, float, float, float]:
    """Weights of the cubic B-spline coefficients at base - 1 ... base + 2 for a position
    base + u (0 <= u < 1)."""
    return ((1 - u) ** 3 / 6, (3 * u**3 - 6 * u**2 + 4) / 6,
            (-3 * u**3 + 3 * u**2 + 3 * u + 1) / 6, u**3 / 6)
