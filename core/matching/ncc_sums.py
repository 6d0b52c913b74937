"""Helpers of :func:`.coarse_search.masked_ncc`: the shifts its surface keeps, and its
sums over the shared pixels when both images are valid everywhere."""

from __future__ import annotations

import numpy as np


def kept_shifts(length: int, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Indices into a transform of ``length`` (FFT order) of the shifts within ``limit``
    pixels (all of them for None), in ascending order of shift, and those shifts."""
    shifts = np.fft.fftfreq(length, 1 / length).round().astype(int)
    order = np.argsort(shifts, kind="stable")
    if limit is not None:
        order = order[np.abs(shifts[order]) <= limit]
    return order, shifts[order]


def rectangle_sums(f: np.ndarray, g: np.ndarray, row_shifts: np.ndarray,
                   col_shifts: np.ndarray):
    """The pixel count of the shared part and the sums over it of f and g (per channel,
    (C, rows, cols)) and of their squares (channels pooled) at every (row, col) shift,
    for images (C, M, N) valid everywhere: the shared part of f(x) and g(x - s) is then a
    rectangle, so integral images give what would take eight transforms (the same
    numbers, to rounding)."""
    bounds = []
    for shifts, n in ((row_shifts, f.shape[1]), (col_shifts, f.shape[2])):
        f_lo, f_hi = np.clip(shifts, 0, n), np.clip(n + np.minimum(shifts, 0), 0, n)
        g_lo, g_hi = np.clip(-shifts, 0, n), np.clip(n - np.maximum(shifts, 0), 0, n)
        bounds.append((f_lo, np.maximum(f_hi, f_lo), g_lo, np.maximum(g_hi, g_lo)))
    (fr0, fr1, gr0, gr1), (fc0, fc1, gc0, gc1) = bounds
    count = ((fr1 - fr0)[:, None] * (fc1 - fc0)[None, :]).astype(np.float64)
    sums_f, sums_g = _boxed(f, fr0, fr1, fc0, fc1), _boxed(g, gr0, gr1, gc0, gc1)
    var_f = _boxed(f * f, fr0, fr1, fc0, fc1).sum(axis=0)
    var_g = _boxed(g * g, gr0, gr1, gc0, gc1).sum(axis=0)
    return count, sums_f, sums_g, var_f, var_g


def _boxed(image: np.ndarray, r0, r1, c0, c1) -> np.ndarray:
    """Sums of ``image`` (C, M, N) over [r0, r1) x [c0, c1) for every pair of row and
    column bounds: (C, rows, cols)."""
    total = np.zeros((image.shape[0], image.shape[1] + 1, image.shape[2] + 1))
    np.cumsum(np.cumsum(image, axis=1, dtype=np.float64), axis=2, out=total[:, 1:, 1:])
    return (total[:, r1][:, :, c1] - total[:, r0][:, :, c1] - total[:, r1][:, :, c0]
            + total[:, r0][:, :, c0])
