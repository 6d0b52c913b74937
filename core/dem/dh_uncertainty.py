"""Uncertainty of elevation change: the error model of the stable-terrain dh after
alignment (NMAD by slope class, variogram of the standardised dh, fitted model) and
the standard error of the mean dh over areas such as glacier outlines (see
:mod:`.variogram` for the method).

The areas are left out of the stable terrain themselves (their dh is the change being
measured). The standard error of an area's mean assumes the whole area is measured by
the DEMs; it does not count the error of filling voids.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from ..errors import CoregistrationError
from ..grid import Grid
from ..io.masks import PolygonMask, masked_on_grid
from ..io.raster_io import BLOCK, read_info, read_on_grid, read_window
from . import variogram
from .samples import metres_per_unit_at
from .terrain import gradient
from .uncertainty import Z95

#: Pixels the variogram works on at most; larger DEMs are thinned by a whole step (and
#: a full-resolution central window of this many pixels gives the short lags).
MAX_PIXELS = 1_500_000
#: Standardised dh further than this many NMADs from the median is left out of the
#: variogram (blunders, unmasked change), as xdem does.
CLIP_NMAD = 4.0
#: Fewest stable pixels the error model needs.
MIN_STABLE = 1000

AreaSource = str | os.PathLike | PolygonMask


def area_name(source: AreaSource, k: int) -> str:
    return Path(source).stem if isinstance(source, (str, os.PathLike)) else f"area {k + 1}"


def _thinned(grid: Grid, step: int) -> Grid:
    return Grid(grid.crs, grid.transform * Affine.scale(step), math.ceil(grid.width / step),
                math.ceil(grid.height / step))


def read_dh(reference, aligned, grid: Grid, step: int,
            window: Window | None = None) -> tuple[np.ndarray, np.ndarray]:
    """dh = reference - aligned and the aligned DEM's slope (degrees) on ``grid``
    (every ``step``-th pixel; or a full-resolution ``window``), read by strips."""
    if window is None:
        window = Window(0, 0, grid.width, grid.height)
    scale = metres_per_unit_at(grid, window)
    res = (grid.res[0] * scale[0], grid.res[1] * scale[1])
    dh_rows, slope_rows = [], []
    info = read_info(aligned)
    with rasterio.open(reference) as ref_ds, rasterio.open(aligned) as dem_ds:
        top, bottom = window.row_off, window.row_off + window.height
        for row in range(top, bottom, BLOCK * step):
            height = min(BLOCK * step, bottom - row)
            strip = grid.subgrid(row, window.col_off, height, window.width)
            ref = read_on_grid(ref_ds, 1, strip, nodata=ref_ds.nodata)
            data, valid = read_window(dem_ds, [1], Window(window.col_off - 1, row - 1,
                                                          window.width + 2, height + 2),
                                      info.nodata)
            dem = np.where(valid, data[0], np.nan)
            gx, gy = gradient(dem, *res)
            slope = np.degrees(np.arctan(np.hypot(gx, gy)))
            dh_rows.append((ref - dem[1:-1, 1:-1])[::step, ::step])
            slope_rows.append(slope[::step, ::step])
    return np.vstack(dh_rows), np.vstack(slope_rows)


def sampled_mask(sources: Sequence[AreaSource], grid: Grid, step: int) -> np.ndarray:
    """Whether any of ``sources`` covers each pixel dh is sampled at (every ``step``-th
    row and column of ``grid``, as :func:`read_dh`), by strips at full resolution: the
    thinned grid's own cells would take in every cell an area's edge touches (5 % too
    many pixels on a 100 x 140 pixel area at step 3)."""
    rows = []
    for row in range(0, grid.height, BLOCK * step):
        strip = grid.subgrid(row, 0, min(BLOCK * step, grid.height - row), grid.width)
        rows.append(masked_on_grid(list(sources), strip)[::step, ::step])
    return np.vstack(rows)


def elevation_change_uncertainty(
    reference: str | os.PathLike,
    aligned: str | os.PathLike,
    *,
    exclude: Sequence[AreaSource] = (),
    areas: Sequence[AreaSource] = (),
) -> dict:
    """The error model of dh = ``reference`` - ``aligned`` on stable terrain and the
    standard error of the mean dh over each of ``areas``, on the aligned DEM's grid
    (what ``align_dem(..., variogram=True, areas=...)`` puts in the report's
    ``dh_uncertainty``; usable on any pair already aligned).

    Parameters
    ----------
    reference, aligned : path
        The reference DEM (any grid; read onto the aligned DEM's) and the aligned DEM.
    exclude : sequence of path or PolygonMask
        Unstable terrain left out of the error model (rasters: non-zero pixels).
    areas : sequence of path or PolygonMask
        Areas such as glacier outlines; all the polygons of one source form one area.
        They are left out of the stable terrain too.

    Returns
    -------
    dict
        ``error_by_slope`` (NMAD of dh per slope class), ``variogram`` (``lag``,
        ``gamma``, ``pairs`` of the standardised dh), ``model`` (``nugget``,
        ``structures``, ``sill``), ``areas`` (per area ``pixels``, ``area_m2``,
        ``mean_dh``, ``standard_error_mean_dh``, ``interval_95_mean_dh``,
        ``standard_error_volume_m3``, ``standard_error_if_uncorrelated``,
        ``n_effective``).

    Raises
    ------
    CoregistrationError
        Fewer than :data:`MIN_STABLE` stable pixels.
    """
    grid = read_info(aligned, "Aligned DEM").grid
    step = max(1, math.ceil(math.sqrt(grid.width * grid.height / MAX_PIXELS)))
    coarse = _thinned(grid, step)
    dh, slope = read_dh(reference, aligned, grid, step)
    scale = metres_per_unit_at(grid, Window(0, 0, grid.width, grid.height))
    res = (coarse.res[0] * scale[0], coarse.res[1] * scale[1])
    area_masks = [sampled_mask([a], grid, step) for a in areas]
    unstable = sampled_mask(list(exclude), grid, step)
    for mask in area_masks:
        unstable |= mask
    stable = np.isfinite(dh) & np.isfinite(slope) & ~unstable
    if stable.sum() < MIN_STABLE:
        raise CoregistrationError(
            f"Only {int(stable.sum())} stable pixels for the error model of elevation "
            f"change; at least {MIN_STABLE} are needed.")
    table = variogram.error_by_slope(dh[stable], slope[stable])
    z = _standardised(dh, slope, stable, table)
    empirical = variogram.empirical_variogram(z, *res)
    if step > 1:
        empirical = _with_short_lags(reference, aligned, grid, exclude, areas, table,
                                     empirical, scale)
    model = variogram.fit_variogram(empirical)
    sigma = variogram.sigma_at(table, slope)
    return {
        "method": "variogram of the standardised stable dh (Rolstad et al. 2009, "
                  "Hugonnet et al. 2022)",
        "stable_pixels": int(stable.sum()) * step * step,
        "grid_step": step,
        "error_by_slope": table,
        "variogram": empirical,
        "model": model,
        "areas": [_area(area_name(source, k), mask, dh, sigma, model, res, step)
                  for k, (source, mask) in enumerate(zip(areas, area_masks))],
    }


def _standardised(dh, slope, stable, table) -> np.ndarray:
    z = np.where(stable, dh / variogram.sigma_at(table, slope), np.nan)
    centre = np.nanmedian(z)
    spread = 1.4826 * np.nanmedian(np.abs(z - centre))
    z[np.abs(z - centre) > CLIP_NMAD * spread] = np.nan
    return z - centre


def _with_short_lags(reference, aligned, grid: Grid, exclude, areas, table, coarse: dict,
                     scale) -> dict:
    """The thinned grid's variogram with its short lags from a full-resolution central
    window of :data:`MAX_PIXELS` pixels."""
    side = int(math.sqrt(MAX_PIXELS))
    width, height = min(side, grid.width), min(side, grid.height)
    window = Window((grid.width - width) // 2, (grid.height - height) // 2, width, height)
    dh, slope = read_dh(reference, aligned, grid, 1, window)
    sub = grid.subgrid(window.row_off, window.col_off, height, width)
    unstable = masked_on_grid(list(exclude) + list(areas), sub)
    stable = np.isfinite(dh) & np.isfinite(slope) & ~unstable
    res = (grid.res[0] * scale[0], grid.res[1] * scale[1])
    fine = variogram.empirical_variogram(_standardised(dh, slope, stable, table), *res,
                                         max_lag=0.25 * min(width * res[0], height * res[1]))
    return variogram.merged_variogram(fine, coarse, 0.25 * min(width * res[0],
                                                               height * res[1]))


def _area(name: str, mask, dh, sigma, model: dict, res, step: int) -> dict:
    """An area's mean dh (over its measured pixels) and the standard error of the mean
    over the whole area."""
    inside = mask & np.isfinite(sigma)
    if not inside.any():
        return {"name": name, "pixels": 0, "error": "the area holds no pixel of the DEM"}
    measured = inside & np.isfinite(dh)
    figures = variogram.mean_standard_error(np.where(inside, sigma, np.nan), model, *res,
                                            pixel_area_factor=step * step)
    area_m2 = figures["pixels"] * res[0] * res[1] / (step * step)
    return {"name": name, "pixels": figures["pixels"], "area_m2": area_m2,
            "measured_pixels": int(measured.sum()) * step * step,
            "mean_dh": float(np.mean(dh[measured])) if measured.any() else None,
            "standard_error_mean_dh": figures["standard_error"],
            "interval_95_mean_dh": Z95 * figures["standard_error"],
            "standard_error_volume_m3": figures["standard_error"] * area_m2,
            "standard_error_if_uncorrelated": figures["standard_error_uncorrelated"],
            "n_effective": figures["n_effective"]}
