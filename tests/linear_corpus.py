"""Pairs with a scale error or a shear, made as a sensor would see them (no inverse crime).

The fine 10 m band is warped by an affine map at the fine scale with the Lanczos kernel
(tests/kernels.py, not Coreg's cubic B-spline), then block-averaged: the secondary's
pixel at map point X shows the content the reference shows at T(X), so the exact
correction is T (X = secondary map point, T(X) where it belongs). A scale of 1.005 is a
secondary whose georeferenced pixel size is 0.5 % too small (a GSD error). Shared by
tests/core/test_align_models.py and benchmarks/crossmodal.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from corpus import BEIRUT, Source, _write, block_average, read_fine
from kernels import lanczos_sample


@dataclass(frozen=True)
class LinearCase:
    """``matrix`` (a, b, d, e: 2 x 2, map coordinates x east, y north) about the band's
    centre, then ``offset`` (x, y) in fine pixels (x right, y down)."""

    name: str
    matrix: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 1.0)
    offset: tuple[float, float] = (0.0, 0.0)
    source: Source = BEIRUT
    ref_block: int = 2
    sec_block: int = 2
    noise: float = 0.01
    seed: int = 0


@dataclass(frozen=True)
class LinearPair:
    reference: Path
    secondary: Path
    truth: Affine  # the correction: secondary map point -> where it belongs
    reference_transform: Affine
    secondary_transform: Affine
    secondary_shape: tuple[int, int]


#: Fine pixels left out around the secondary (room for the map's reach and the kernel).
MARGIN = 24


def build_linear(case: LinearCase, folder: Path) -> LinearPair:
    """Write ``case``'s reference and secondary in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    fine, profile = read_fine(case.source)
    t: Affine = profile["transform"]
    height, width = fine.shape
    a, b = case.ref_block, case.sec_block
    reference = block_average(fine, a, 0, 0, height // a, width // a)
    cx, cy = t * (width / 2, height / 2)
    truth = (Affine.translation(cx + case.offset[0] * t.a, cy + case.offset[1] * t.e)
             * Affine(case.matrix[0], case.matrix[1], 0, case.matrix[2], case.matrix[3], 0)
             * Affine.translation(-cx, -cy))
    rows, cols = (height - 2 * MARGIN) // b, (width - 2 * MARGIN) // b
    # The warped fine band on the secondary's footprint: fine pixel (r, c) of it shows
    # the band at T(its map point).
    sec_t = t * Affine.translation(MARGIN, MARGIN) * Affine.scale(b)
    cc, rr = np.meshgrid(np.arange(cols * b) + 0.5, np.arange(rows * b) + 0.5)
    x, y = (t * Affine.translation(MARGIN, MARGIN)) * (cc, rr)
    src_c, src_r = ~t * (truth * (x, y))
    assert src_c.min() > 3 and src_r.min() > 3 and src_c.max() < width - 3 \
        and src_r.max() < height - 3, "the warp leaves the fine band"
    warped = lanczos_sample(fine, src_r - 0.5, src_c - 0.5)
    secondary = block_average(warped, b, 0, 0, rows, cols)
    rng = np.random.default_rng(case.seed)
    secondary = 0.8 * secondary + 50 + rng.normal(0, case.noise * secondary.std(),
                                                  secondary.shape)
    ref_t = t * Affine.scale(a)
    return LinearPair(_write(folder / "reference.tif", reference, profile, ref_t),
                      _write(folder / "secondary.tif", secondary, profile, sec_t),
                      truth, ref_t, sec_t, (rows, cols))


def scene_error_px(estimated: Affine, pair: LinearPair, n: int = 50) -> float:
    """RMS over the secondary's footprint of the distance between where the estimated and
    the true correction send its points, reference pixels."""
    rows, cols = pair.secondary_shape
    cc, rr = np.meshgrid(np.linspace(0.5, cols - 0.5, n), np.linspace(0.5, rows - 0.5, n))
    x, y = pair.secondary_transform * (cc, rr)
    ex, ey = estimated * (x, y)
    tx, ty = pair.truth * (x, y)
    t = pair.reference_transform
    return float(np.sqrt(np.mean(((ex - tx) / t.a) ** 2 + ((ey - ty) / t.e) ** 2)))
