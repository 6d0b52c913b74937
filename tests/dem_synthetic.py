"""DEMs with a known shift, made from real DEMs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from scipy import ndimage


def shift_dem(path: str | Path, out: str | Path, dx_px: float, dy_px: float,
              dz: float) -> tuple[float, float, float]:
    """Write ``path`` with its content moved by (dx_px right, dy_px down) pixels and
    raised by ``dz``; return the correction an aligner must find (map x, y, z)."""
    with rasterio.open(path) as src:
        z = src.read(1).astype(float)
        profile, nodata, t = src.profile, src.nodata, src.transform
    valid = np.isfinite(z) & ((z != nodata) if nodata is not None else True)
    filled = np.where(valid, z, z[valid].mean())
    rows, cols = np.mgrid[0:z.shape[0], 0:z.shape[1]].astype(float)
    moved = ndimage.map_coordinates(filled, [rows - dy_px, cols - dx_px], order=3,
                                    mode="nearest") + dz
    support = ndimage.map_coordinates(valid.astype(float), [rows - dy_px, cols - dx_px],
                                      order=1, mode="constant")
    moved[support < 0.999] = nodata if nodata is not None else np.nan
    profile.update(dtype="float32")
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(moved.astype(np.float32), 1)
    return -dx_px * t.a, -dy_px * t.e, -dz
