"""The anchor of a time series when none is given: the scene with the largest clear
overlap with the others, from the pixels.

Every scene's band is read block-averaged onto one coarse grid over all of them (the
first scene's CRS, at most :data:`COARSE_SIDE` pixels a side). A pixel is clear where it
has data and does not look like cloud (:func:`..matching.patch_screening.cloud_like`:
bright flat plateaus, no texture). With every other scene, a scene shares a part of that
scene's clear area, and content there: the correlation of the two high-passed images over
the pixels clear in both (haze and thin cloud, which no plateau test sees, lower it; so
does change). A scene's score is the product of the two, averaged over the others: a
hazy, cut or odd scene scores low, a clear central one high. The best score wins (the
first scene on a tie); the reason names every scene's score.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from scipy import ndimage

from ..errors import CoregInputError
from ..grid import Grid, footprint_bounds, pixel_size_in
from ..io.raster_io import read_info, read_on_grid
from ..matching.modality import HIGHPASS_SIGMA
from ..matching.patch_screening import cloud_like

#: Largest side (pixels) of the coarse grid the scenes are compared on.
COARSE_SIDE = 256


def choose_anchor(inputs: Sequence[str | os.PathLike], band: int = 1
                  ) -> tuple[str, str, dict[str, float]]:
    """The anchor among ``inputs``, why in words, and every scene's score (0 to 1)."""
    if len(inputs) < 2:
        raise CoregInputError("A time series needs two scenes at least.")
    infos = [read_info(p, "Scene") for p in inputs]
    grid = _coarse_grid([info.grid for info in infos])
    clear, detail = [], []
    for path, info in zip(inputs, infos):
        info.check_band(band, "Scene")
        with rasterio.open(path) as ds:
            image = read_on_grid(ds, band, grid, nodata=info.nodata)
        clear.append(np.isfinite(image) & ~cloud_like(image))
        detail.append(_high_passed(image))
    areas = np.array([c.sum() for c in clear], float)
    scores = {}
    for i, path in enumerate(inputs):
        shares = [(clear[i] & clear[j]).sum() / areas[j]
                  * _correlation(detail[i], detail[j], clear[i] & clear[j])
                  for j in range(len(inputs)) if j != i and areas[j] > 0]
        scores[os.fspath(path)] = float(np.mean(shares)) if shares else 0.0
    anchor = max(scores, key=lambda p: scores[p])  # the first of equals
    listed = ", ".join(f"{Path(p).name} {s:.2f}" for p, s in scores.items())
    return anchor, (f"chosen as the anchor: the largest clear overlap with the others "
                    f"(shared clear area times the correlation of its detail, on average: "
                    f"{listed})"), scores


def _high_passed(image: np.ndarray) -> np.ndarray:
    """The image less its Gaussian blur (NaN kept): detail, not illumination."""
    valid = np.isfinite(image)
    filled = np.where(valid, image, np.nanmean(image) if valid.any() else 0.0)
    return np.where(valid, filled - ndimage.gaussian_filter(filled, HIGHPASS_SIGMA), np.nan)


def _correlation(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """Pearson correlation of a and b over ``where`` (0 below 16 pixels, or negative)."""
    if where.sum() < 16:
        return 0.0
    x, y = a[where] - a[where].mean(), b[where] - b[where].mean()
    norm = np.sqrt(np.sum(x * x) * np.sum(y * y))
    return max(float(np.sum(x * y) / norm), 0.0) if norm > 0 else 0.0


def _coarse_grid(grids: Sequence[Grid]) -> Grid:
    """A grid over every scene's footprint in the first one's CRS, square pixels, its
    larger side :data:`COARSE_SIDE` pixels at most and its pixels no finer than the
    coarsest scene's (nothing is interpolated finer than it was measured)."""
    crs = grids[0].crs
    boxes = np.array([footprint_bounds(g, crs) for g in grids])
    left, bottom = boxes[:, 0].min(), boxes[:, 1].min()
    right, top = boxes[:, 2].max(), boxes[:, 3].max()
    size = max(max(right - left, top - bottom) / COARSE_SIDE,
               *(max(pixel_size_in(g, crs)) for g in grids))
    width = max(1, int(np.ceil((right - left) / size)))
    height = max(1, int(np.ceil((top - bottom) / size)))
    return Grid(crs, Affine(size, 0, left, 0, -size, top), width, height)
