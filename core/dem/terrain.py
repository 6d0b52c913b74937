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


def sorted_median_and_nmad(parts: list[np.ndarray]) -> tuple[float, float]:
    """:func:`median_and_nmad` of the union of ascending arrays of finite values (the
    parts of a blockwise fit, sorted where they were computed): a few binary searches
    here, where the medians of millions of values took a fifth of a second."""
    n = sum(p.size for p in parts)
    if n == 0:
        return float("nan"), float("nan")
    median = _sorted_median(parts, n)
    deviations = [a for p in parts for a in (median - p[:np.searchsorted(p, median)][::-1],
                                             p[np.searchsorted(p, median):] - median)]
    return float(median), float(1.4826 * _sorted_median(deviations, n))


def _sorted_median(parts: list[np.ndarray], n: int) -> float:
    if n % 2:
        return _kth_smallest(parts, n // 2)
    return 0.5 * (_kth_smallest(parts, n // 2 - 1) + _kth_smallest(parts, n // 2))


def _kth_smallest(parts: list[np.ndarray], k: int) -> float:
    """The ``k``-th smallest (from 0) of the union of ascending arrays: the middle of the
    widest range still open is counted against all, and every range is cut by it."""
    low = np.zeros(len(parts), int)
    high = np.array([p.size for p in parts])
    while True:
        i = int(np.argmax(high - low))
        value = parts[i][(low[i] + high[i]) // 2]
        below = [np.searchsorted(p, value, "left") for p in parts]
        upto = [np.searchsorted(p, value, "right") for p in parts]
        if sum(below) <= k < sum(upto):
            return float(value)
        if k < sum(below):
            high = np.minimum(high, below)
        else:
            low = np.maximum(low, upto)
