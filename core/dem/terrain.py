"""Terrain attributes and robust statistics of elevation differences."""

from __future__ import annotations

import numpy as np


def gradient(elevation: np.ndarray, res_x: float, res_y: float) -> tuple[np.ndarray, np.ndarray]:
    """Horn (1981) gradient (dz/dx east, dz/dy north) of a north-up grid, NaN-propagating.

    Returns arrays two pixels smaller than ``elevation`` in each axis (the centre).
    """
    z = elevation
    a, b, c = z[:-2, :-2], z[:-2, 1:-1], z[:-2, 2:]
    d, f = z[1:-1, :-2], z[1:-1, 2:]
    g, h, i = z[2:, :-2], z[2:, 1:-1], z[2:, 2:]
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * res_x)
    dzdy = ((a + 2 * b + c) - (g + 2 * h + i)) / (8 * res_y)  # rows go south
    return dzdx, dzdy


def nmad(values: np.ndarray) -> float:
    """Normalised median absolute deviation, 1.4826 median(|v - median(v)|)."""
    return median_and_nmad(values)[1]


def median_and_nmad(values: np.ndarray) -> tuple[float, float]:
    """The median of the finite ``values`` and their :func:`nmad`, the median taken once."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    median = np.median(values)
    return float(median), float(1.4826 * np.median(np.abs(values - median)))
