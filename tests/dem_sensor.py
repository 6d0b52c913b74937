"""DEM pairs simulated like two sensors over one real terrain, with known biases.

Both DEMs are block averages of one real fine DEM (no interpolation, so no "inverse
crime" with Coreg's cubic spline): the reference averages ``block`` x ``block`` fine
pixels from the fine grid's origin, the DEM the blocks starting ``offset`` (kx, ky) fine
pixels further right and down, while its georeferencing says they do not. Its content is
therefore misplaced by exactly (kx, ky) fine pixels, and the shift to apply to it is
(+kx, -ky) fine pixels in map x, y. Biases are added to the DEM analytically at its pixel
centres: a vertical offset, a tilt (plane through the scene centre) and an along-track
sine undulation; then Gaussian noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

DEM = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dem"
LYB_FINE = DEM / "longyearbyen" / "DEM_1995.tif"


@dataclass(frozen=True)
class SensorCase:
    block: int = 4
    offset: tuple[int, int] = (1, 3)
    dz: float = 2.0
    #: Tilt added to the DEM, elevation units per map unit in x (east) and y (north).
    tilt: tuple[float, float] = (0.0, 0.0)
    #: Undulation added to the DEM: amplitude, wavelength (map units), track azimuth (deg).
    undulation: tuple[float, float, float] = (0.0, 1.0, 0.0)
    noise: float = 0.3
    seed: int = 7


def block_average(fine: np.ndarray, block: int, row: int, col: int, rows: int,
                  cols: int) -> np.ndarray:
    part = fine[row:row + rows * block, col:col + cols * block]
    return part.reshape(rows, block, cols, block).mean(axis=(1, 3))


def make_pair(case: SensorCase, folder: Path, fine_path: Path = LYB_FINE) -> dict:
    """Write ``ref.tif`` and ``dem.tif`` in ``folder``; return their paths and the truth:
    the shift to apply to the DEM (map units) and the biases that were added."""
    with rasterio.open(fine_path) as src:
        fine = src.read(1).astype(float)
        t, crs = src.transform, src.crs
    k, (kx, ky) = case.block, case.offset
    rows, cols = (fine.shape[0] - ky) // k, (fine.shape[1] - kx) // k
    coarse_t = t * Affine.scale(k)
    ref = block_average(fine, k, 0, 0, rows, cols)
    dem = block_average(fine, k, ky, kx, rows, cols)
    cc, rr = np.meshgrid(np.arange(cols) + 0.5, np.arange(rows) + 0.5)
    x, y = coarse_t * (cc, rr)
    xc, yc = coarse_t * (cols / 2, rows / 2)
    amplitude, wavelength, azimuth = case.undulation
    along = x * math.sin(math.radians(azimuth)) + y * math.cos(math.radians(azimuth))
    dem = (dem + case.dz + case.tilt[0] * (x - xc) + case.tilt[1] * (y - yc)
           + amplitude * np.sin(2 * np.pi * along / wavelength)
           + np.random.default_rng(case.seed).normal(0.0, case.noise, dem.shape))
    paths = {}
    for name, data in (("ref", ref), ("dem", dem)):
        paths[name] = folder / f"{name}.tif"
        with rasterio.open(paths[name], "w", driver="GTiff", width=cols, height=rows, count=1,
                           dtype="float32", crs=crs, transform=coarse_t, nodata=-9999) as dst:
            dst.write(data.astype(np.float32), 1)
    return {**paths, "res": abs(coarse_t.a),
            "shift": (kx * abs(t.a), -ky * abs(t.e)), "dz": -case.dz}


def make_points(case: SensorCase, folder: Path, *, track_step: int = 40, along_step: int = 2,
                noise: float = 0.3, outliers: float = 0.01,
                fine_path: Path = LYB_FINE) -> tuple[Path, int]:
    """Reference points as a laser altimeter measures them: along north-south tracks
    every ``track_step`` fine pixels, one every ``along_step`` fine pixels, each the
    fine DEM's elevation at a fine pixel centre (no interpolation), with Gaussian noise
    and a share of blunders (+-20 to 50 m, clouds and multipath). Written as
    ``points.csv`` (x, y, z in the fine DEM's CRS); returns its path and the count."""
    with rasterio.open(fine_path) as src:
        fine = src.read(1).astype(float)
        t = src.transform
    rows, cols = np.mgrid[0:fine.shape[0]:along_step, track_step // 2:fine.shape[1]:track_step]
    rows, cols = rows.ravel(), cols.ravel()
    rng = np.random.default_rng(case.seed + 1)
    z = fine[rows, cols] + rng.normal(0.0, noise, rows.size)
    blunders = rng.random(rows.size) < outliers
    z[blunders] += rng.choice([-1, 1], blunders.sum()) * rng.uniform(20, 50, blunders.sum())
    x, y = t * (cols + 0.5, rows + 0.5)
    path = folder / "points.csv"
    np.savetxt(path, np.column_stack([x, y, z]), delimiter=",", header="x,y,z", comments="",
               fmt="%.3f")
    return path, rows.size
