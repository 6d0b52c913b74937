"""Interpolation for making test truth with another kernel than Coreg's.

Coreg resamples with the cubic B-spline (scipy's map_coordinates order 3, GDAL's
cubicspline): a secondary warped with that kernel would reward it (the "inverse crime").
Truth is interpolated here with the Lanczos kernel (3 lobes, as GDAL's lanczos): an
interpolating windowed sinc whose pass band is flat enough that a shifted image is
shifted by what was asked. (Keys' cubic convolution was tried first: its attenuation,
which depends on the sub-pixel phase, moved the phase-correlation shift of real scenes
by 0.02 px, a truth inexact by more than the estimators' errors.)
"""

from __future__ import annotations

import numpy as np


def lanczos_weights(distance: np.ndarray, lobes: int = 3) -> np.ndarray:
    """The Lanczos kernel with ``lobes`` lobes at ``distance`` (samples)."""
    d = np.abs(distance)
    return np.where(d < lobes, np.sinc(d) * np.sinc(d / lobes), 0.0)


def lanczos_sample(image: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                   lobes: int = 3) -> np.ndarray:
    """``image`` at the fractional positions (rows, cols), by 2 lobes x 2 lobes Lanczos
    taps normalised to sum 1; edge values repeated outside."""
    image = np.asarray(image, np.float64)
    base_r, base_c = np.floor(rows).astype(int), np.floor(cols).astype(int)
    out, total = np.zeros(np.shape(rows)), np.zeros(np.shape(rows))
    for i in range(1 - lobes, lobes + 1):
        weight_r = lanczos_weights(rows - (base_r + i), lobes)
        tap_r = np.clip(base_r + i, 0, image.shape[0] - 1)
        for j in range(1 - lobes, lobes + 1):
            weight = weight_r * lanczos_weights(cols - (base_c + j), lobes)
            tap_c = np.clip(base_c + j, 0, image.shape[1] - 1)
            out += weight * image[tap_r, tap_c]
            total += weight
    return out / total
