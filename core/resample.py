"""Sampling the secondary's native pixels at aligned positions (one interpolation).

Used both to match patches and to write the aligned output, so the output is
resampled by exactly the kernel the shift was measured with. GDAL's warper was not
used for this: its cubic kernel displaced sub-pixel shifts by ~0.04 px in tests.
"""

from __future__ import annotations

import numpy as np
from affine import Affine
from pyproj import Transformer
from scipy import ndimage

from .fit import RigidModel
from .grid import Grid

#: Spline order of each resampling name.
ORDERS = {"nearest": 0, "bilinear": 1, "cubic": 3}
#: Coordinates across CRSs are computed exactly every this many pixels and
#: interpolated bilinearly in between (error far below 0.001 px for map projections).
COORDINATE_STEP = 16


def secondary_pixels(grid: Grid, model: RigidModel, secondary_transform: Affine,
                     to_secondary: Transformer | None) -> tuple[np.ndarray, np.ndarray]:
    """Fractional (row, col) array indices in the secondary (pixel centres at integers)
    of the content that lands on each pixel centre of ``grid`` once aligned."""
    if to_secondary is None or grid.width * grid.height <= COORDINATE_STEP**2:
        return _exact_pixels(grid, model, secondary_transform, to_secondary)
    coarse = Grid(grid.crs, grid.transform * Affine.scale(COORDINATE_STEP),
                  grid.width // COORDINATE_STEP + 2, grid.height // COORDINATE_STEP + 2)
    rows, cols = _exact_pixels(coarse, model, secondary_transform, to_secondary)
    # Coarse pixel centres sit at fine index (k + 0.5) * step - 0.5.
    fine_r = (np.arange(grid.height) + 0.5) / COORDINATE_STEP - 0.5
    fine_c = (np.arange(grid.width) + 0.5) / COORDINATE_STEP - 0.5
    rr, cc = np.meshgrid(fine_r, fine_c, indexing="ij")
    return (ndimage.map_coordinates(rows, [rr, cc], order=1, mode="nearest"),
            ndimage.map_coordinates(cols, [rr, cc], order=1, mode="nearest"))


def _exact_pixels(grid, model, secondary_transform, to_secondary):
    x, y = model.inverse(*grid.centres_xy())
    if to_secondary is not None:
        x, y = to_secondary.transform(x, y)
    cols, rows = ~secondary_transform * (x, y)
    return rows - 0.5, cols - 0.5


def prepare(data: np.ndarray, valid: np.ndarray, order: int, blur: float = 0.0) -> np.ndarray:
    """Interpolation coefficients of ``data``: invalid pixels replaced by the valid mean
    (limits ringing), an optional anti-alias blur, then the spline prefilter."""
    data = data.astype(np.float64)
    if not valid.all():
        data = np.where(valid, data, data[valid].mean() if valid.any() else 0.0)
    if blur > 0:
        data = ndimage.gaussian_filter(data, blur)
    return ndimage.spline_filter(data, order=order, mode="nearest") if order > 1 else data


def interpolate(coefficients: np.ndarray, valid: np.ndarray | None, rows: np.ndarray,
                cols: np.ndarray, order: int) -> np.ndarray:
    """Values at (rows, cols) from :func:`prepare` d coefficients; NaN where any
    contributing pixel is invalid or outside."""
    coords = np.stack([rows, cols])
    values = ndimage.map_coordinates(coefficients, coords, order=order, mode="nearest",
                                     prefilter=False)
    if valid is not None:
        support = ndimage.map_coordinates(valid.astype(np.float32), coords,
                                          order=min(order, 1), mode="constant", cval=0.0)
        values[support < 0.999] = np.nan
    return values
