"""Interpolation for making test truth with another kernel than Coreg's.

Coreg resamples with the cubic B-spline (scipy's map_coordinates order 3, GDAL's
cubicspline): a secondary warped with that kernel would reward it (the "inverse crime").
Truth is interpolated here with Keys' (1981) cubic convolution, a = -0.5: an
interpolating kernel with a different frequency response, as a sensor's or another
processor's resampling would be.
"""

from __future__ import annotations

import numpy as np

A = -0.5


def keys_weights(distance: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel at ``distance`` (samples)."""
    d = np.abs(distance)
    near = (A + 2) * d**3 - (A + 3) * d**2 + 1
    far = A * d**3 - 5 * A * d**2 + 8 * A * d - 4 * A
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def keys_sample(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``image`` at the fractional positions (rows, cols), by 4 x 4 Keys taps; positions
    outside take the nearest edge values (as map_coordinates' mode 'nearest')."""
    image = np.asarray(image, np.float64)
    base_r, base_c = np.floor(rows).astype(int), np.floor(cols).astype(int)
    out = np.zeros(np.shape(rows))
    for i in range(-1, 3):
        weight_r = keys_weights(rows - (base_r + i))
        tap_r = np.clip(base_r + i, 0, image.shape[0] - 1)
        for j in range(-1, 3):
            weight_c = keys_weights(cols - (base_c + j))
            tap_c = np.clip(base_c + j, 0, image.shape[1] - 1)
            out += weight_r * weight_c * image[tap_r, tap_c]
    return out
