"""A real scene and a copy warped by a known smooth non-rigid field (for align_local).

The truth follows the GeFolki convention: the secondary at reference-grid position
(col + dx, row + dy) shows the reference at (col, row). Both rasters share one grid,
so the secondary pixels are never interpolated twice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import rasterio.windows
from kernels import lanczos_sample

#: Band 4 (B08) of a real Sentinel-2 scene, 1070 x 1180.
SCENE = "optical/oscd_s2/beirut_S2_20150820_B02-B03-B04-B08.tif"
#: Pixels read around the crop so that the warped copy never samples outside the scene.
BORDER = 16


def true_field(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dx, dy), reference pixels: a sum of low-frequency sinusoids within +-3 px."""
    dx = 1.8 * np.sin(2 * np.pi * rows / 520 + 0.4) + 1.1 * np.cos(2 * np.pi * cols / 430 - 0.3)
    dy = 1.6 * np.cos(2 * np.pi * (rows + cols) / 610) + 1.3 * np.sin(2 * np.pi * cols / 470 + 1)
    return dx, dy


def write_pair(scene: Path, folder: Path, *, col: int = 300, row: int = 300, size: int = 600,
               band: int = 4, noise: float = 0.01, seed: int = 0) -> tuple[Path, Path]:
    """Reference crop and its warped copy (Float32, same grid), with a gain, an offset
    and ``noise`` (fraction of the image std) on the copy."""
    window = rasterio.windows.Window(col - BORDER, row - BORDER, size + 2 * BORDER,
                                     size + 2 * BORDER)
    with rasterio.open(scene) as src:
        big = src.read(band, window=window).astype(np.float64)
        transform = src.window_transform(rasterio.windows.Window(col, row, size, size))
        crs = src.crs
    rr, cc = np.meshgrid(np.arange(size, dtype=float), np.arange(size, dtype=float),
                         indexing="ij")
    qr, qc = rr.copy(), cc.copy()
    for _ in range(8):  # solve q + d(q) = p for the reference position q of pixel p
        dx, dy = true_field(qr, qc)
        qr, qc = rr - dy, cc - dx
    warped = lanczos_sample(big, qr + BORDER, qc + BORDER)  # not Coreg's kernel
    rng = np.random.default_rng(seed)
    warped = 0.8 * warped + 50 + rng.normal(0, noise * warped.std(), warped.shape)
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="float32", crs=crs,
                   transform=transform, nodata=None)
    paths = folder / "reference.tif", folder / "secondary.tif"
    for path, data in zip(paths, (big[BORDER:-BORDER, BORDER:-BORDER], warped)):
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data.astype(np.float32), 1)
    return paths


def paste(path: Path, out: Path, *, cloud: tuple[int, int, int], change: tuple[int, int, int],
          ) -> None:
    """Copy ``path`` with a flat bright cloud (row, col, size) and a changed square
    (row, col, size: the content of another place of the image) pasted in."""
    with rasterio.open(path) as src:
        data, profile = src.read(1), src.profile
    r, c, s = cloud
    data[r:r + s, c:c + s] = data.max() * 1.5
    r, c, s = change
    data[r:r + s, c:c + s] = np.rot90(data[-s:, -s:]).copy()
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data, 1)


def field_error(displacement: Path, border: int) -> float:
    """RMS length of (estimated - true) field over the raster minus ``border`` pixels."""
    with rasterio.open(displacement) as ds:
        dx, dy = ds.read(1), ds.read(2)
    rr, cc = np.meshgrid(np.arange(dx.shape[0]), np.arange(dx.shape[1]), indexing="ij")
    tx, ty = true_field(rr, cc)
    inner = (slice(border, -border), slice(border, -border))
    return float(np.sqrt(np.mean((dx - tx)[inner] ** 2 + (dy - ty)[inner] ** 2)))
