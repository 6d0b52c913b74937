"""Secondary images with a known misregistration, made from real scenes.

The secondary shows the reference scene displaced by the inverse of a known rigid
model, so the model is exactly the correction an aligner must find. Optional 2x
coarser pixels (area-averaged), radiometric change, noise and cloud-like blobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import rasterio.windows
from affine import Affine
from kernels import lanczos_sample
from scipy import ndimage

from coreg.core.matching.fit import RigidModel


@dataclass(frozen=True)
class Case:
    """A synthetic misregistration: the correction in reference pixels (x right, y down)."""

    dx_px: float
    dy_px: float
    rotation_deg: float = 0.0
    factor: int = 1
    cloud_fraction: float = 0.0
    noise: float = 0.01
    seed: int = 0


def crop(path: str | Path, out: str | Path, col: int, row: int, size: int,
         bands: tuple[int, ...] | None = None) -> Path:
    """Write a ``size``-square window of ``path`` (all bands, or ``bands``) to ``out``."""
    window = rasterio.windows.Window(col, row, size, size)
    with rasterio.open(path) as src:
        bands = bands or tuple(range(1, src.count + 1))
        profile = src.profile | {"width": size, "height": size, "count": len(bands),
                                 "transform": src.window_transform(window)}
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(src.read(list(bands), window=window))
    return Path(out)


def read_band(path: str | Path, band: int) -> tuple[np.ndarray, rasterio.profiles.Profile]:
    with rasterio.open(path) as ds:
        return ds.read(band).astype(np.float64), ds.profile


def truth_model(profile, case: Case) -> RigidModel:
    """The correction model in map units, pivoting about the reference centre."""
    t: Affine = profile["transform"]
    cx, cy = t * (profile["width"] / 2, profile["height"] / 2)
    return RigidModel(case.dx_px * t.a, case.dy_px * t.e, case.rotation_deg, cx, cy)


def make_secondary(reference: str | Path, band: int, out: str | Path, case: Case,
                   *, extra_bands: tuple[int, ...] = ()) -> RigidModel:
    """Write the misregistered secondary for ``case`` to ``out``; return the truth.

    ``band`` is written as band 1, then ``extra_bands`` with the same geometry.
    """
    image, profile = read_band(reference, band)
    truth = truth_model(profile, case)
    t: Affine = profile["transform"]
    margin = int(abs(case.dx_px) + abs(case.dy_px)
                 + np.radians(abs(case.rotation_deg)) * max(image.shape) + 8)
    f = case.factor
    height, width = (image.shape[0] - 2 * margin) // f, (image.shape[1] - 2 * margin) // f
    sec_t = t * Affine.translation(margin, margin) * Affine.scale(f)
    sub = (np.arange(f) + 0.5) / f
    rows = (np.arange(height)[:, None] + sub[None, :]).ravel()
    cols = (np.arange(width)[:, None] + sub[None, :]).ravel()
    cc, rr = np.meshgrid(cols, rows)
    x, y = sec_t * (cc, rr)
    tx, ty = truth.forward(x, y)
    src_c, src_r = ~t * (tx, ty)
    info = np.iinfo(profile["dtype"]) if np.dtype(profile["dtype"]).kind in "ui" else None
    layers = []
    for k, b in enumerate((band, *extra_bands)):
        data = image if k == 0 else read_band(reference, b)[0]
        fine = lanczos_sample(data, src_r - 0.5, src_c - 0.5)  # not Coreg's kernel
        secondary = fine.reshape(height, f, width, f).mean(axis=(1, 3))
        secondary = _radiometry(secondary, case, np.random.default_rng(case.seed))
        if info is not None:
            secondary = np.clip(np.round(secondary), info.min, info.max)
        layers.append(secondary.astype(profile["dtype"]))
    profile.update(width=width, height=height, transform=sec_t, count=len(layers),
                   compress="deflate", tiled=False)
    profile.pop("blockxsize", None), profile.pop("blockysize", None)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(np.stack(layers))
    return truth


def _radiometry(image: np.ndarray, case: Case, rng: np.random.Generator) -> np.ndarray:
    lo, hi = np.percentile(image, [1, 99.9])
    out = 0.8 * image + 0.05 * (hi - lo) + rng.normal(0, case.noise * image.std(), image.shape)
    if case.cloud_fraction:
        field = ndimage.gaussian_filter(rng.normal(size=image.shape), 12)
        level = np.quantile(field, 1 - case.cloud_fraction)
        alpha = np.clip((field - level) / (0.3 * field.std()) + 0.5, 0, 1)
        out = out * (1 - alpha) + alpha * (hi * 1.6)
    return out


def scene_rms_error_px(estimated: RigidModel, truth: RigidModel, path: str | Path) -> float:
    """RMS distance (pixels of ``path``) between where both models send its pixels."""
    with rasterio.open(path) as ds:
        t, h, w = ds.transform, ds.height, ds.width
    cc, rr = np.meshgrid(np.linspace(0.5, w - 0.5, 50), np.linspace(0.5, h - 0.5, 50))
    x, y = t * (cc, rr)
    ex, ey = estimated.forward(x, y)
    tx, ty = truth.forward(x, y)
    return float(np.sqrt(np.mean(((ex - tx) / t.a) ** 2 + ((ey - ty) / t.e) ** 2)))
