"""DEMs with a known shift, made from real DEMs.

The sub-pixel shift is interpolated with the Lanczos kernel (3 lobes, tests/kernels.py),
not with the cubic B-spline Coreg resamples with: truth made with the estimator's own
kernel would flatter it (the "inverse crime").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from kernels import lanczos_weights


def shift_along(values: np.ndarray, shift: float, axis: int, lobes: int = 3) -> np.ndarray:
    """``values`` moved by ``shift`` samples along ``axis`` (content goes towards higher
    indices): out[i] is the value at i - shift, from the 2 x ``lobes`` samples around it
    (Lanczos weights summing to 1); NaN where they leave the array (NaN spreads)."""
    base = int(np.floor(-shift))  # out[i] interpolates between samples i + base, + 1
    taps = np.arange(1 - lobes, lobes + 1)
    weights = lanczos_weights(taps - (-shift - base), lobes)
    weights = weights / weights.sum()
    moved = np.moveaxis(values, axis, 0)
    n = moved.shape[0]
    out = np.full(moved.shape, np.nan)
    first, last = max(0, lobes - 1 - base), min(n, n - lobes - base)  # all taps inside
    if first < last:
        out[first:last] = sum(w * moved[first + base + t:last + base + t]
                              for t, w in zip(taps, weights))
    return np.moveaxis(out, 0, axis)


def shift_dem(path: str | Path, out: str | Path, dx_px: float, dy_px: float,
              dz: float) -> tuple[float, float, float]:
    """Write ``path`` with its content moved by (dx_px right, dy_px down) pixels and
    raised by ``dz``; return the correction an aligner must find (map x, y, z)."""
    with rasterio.open(path) as src:
        z = src.read(1).astype(float)
        profile, nodata, t = src.profile, src.nodata, src.transform
    if nodata is not None:
        z[z == nodata] = np.nan
    moved = shift_along(shift_along(z, dx_px, axis=1), dy_px, axis=0) + dz
    moved[~np.isfinite(moved)] = nodata if nodata is not None else np.nan
    profile.update(dtype="float32")
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(moved.astype(np.float32), 1)
    return -dx_px * t.a, -dy_px * t.e, -dz
