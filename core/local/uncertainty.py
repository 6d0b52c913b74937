"""Uncertainty of local fields: a 1-sigma per axis for every tie point and every pixel of
a dense flow, and the radius that holds the true displacement with 95 % probability.

Both come from the data the same way, as the Cramér-Rao bound of a shift measured by
least squares over a window: the reference window is fitted by the secondary window
sampled through the field (gain, offset and a residual shift along its gradient, jointly),
and the covariance of the shift is the residual variance times the inverse of the normal
matrix. That bound knows the noise, the texture and the radiometric change of the window,
but not what the matcher adds (phase correlation is not least squares, the dense flow
smooths, both see aliasing on area-averaged pixels), so it is scaled and given a floor:

    sigma = sqrt((SCALE * sigma_bound)^2 + FLOOR^2)

in pixels of the coarser of the two images (a 20 m secondary on a 10 m reference: twice
the sigma in reference pixels; ``TiePoints.pixel_ratio``), with SCALE and FLOOR per method
fitted on half of the sensor-simulated local corpus
(tests/local_corpus.py: block averages of real bands, whole-pixel offsets, smooth fields
and rotations applied at the fine scale with Lanczos-3, one grid) and checked on the
other half, and on pairs of mixed resolutions run through align_local:
benchmarks/calibration_local.py, results in benchmarks/results/calibration_local.json.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

#: Tie points: scale of the window bound, and floor per axis (pixels of the coarser image),
#: as fitted by benchmarks/calibration_local.py (2.748, 0.0300; rerun it when the matcher
#: or the flow changes, and update these).
TIE_POINT_SCALE = 2.75
TIE_POINT_FLOOR_PX = 0.03
#: Dense flow: the same, per pixel, over windows of the flow's finest radius (1.041, 0.0225;
#: 1.356 before the flow's final adaptive smoothing, :mod:`.flow_smoothing`).
FLOW_SCALE = 1.04
FLOW_FLOOR_PX = 0.0225
#: Radius of a 2-D normal distribution of unit sigma per axis holding 95 % of it.
R95_PER_SIGMA = math.sqrt(-2.0 * math.log(0.05))


def calibrated(sigma_bound: np.ndarray, scale: float, floor: float) -> np.ndarray:
    """The reported 1-sigma from the window bound (NaN stays NaN)."""
    return np.hypot(scale * sigma_bound, floor)


def radius95(sigma_x: np.ndarray, sigma_y: np.ndarray) -> np.ndarray:
    """Radius holding the true displacement with 95 % probability (the axes' mean
    variance taken as isotropic)."""
    return R95_PER_SIGMA * np.sqrt((sigma_x ** 2 + sigma_y ** 2) / 2)


def window_bounds(reference: np.ndarray, moving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares bound (sigma_x, sigma_y, pixels) of the shift between every pair of
    windows (K, h, w): reference ~ gain * moving + offset + shift . grad(moving), fitted
    over the pixels valid in both; NaN where fewer than 16 are. (A robust residual scale
    was tried: it spreads the bound's ratio to the error over the corpus, and a cloud
    still lowers the gain, so a cloudy window's bound stays wide: conservative.)"""
    reference, moving = np.asarray(reference, np.float64), np.asarray(moving, np.float64)
    k = len(moving)
    gy, gx = np.gradient(moving, axis=(1, 2))
    design = np.stack([moving, np.ones_like(moving), gx, gy], axis=-1).reshape(k, -1, 4)
    target = reference.reshape(k, -1)
    ok = np.isfinite(target) & np.isfinite(design).all(axis=-1)
    design, target = np.where(ok[..., None], design, 0.0), np.where(ok, target, 0.0)
    n = ok.sum(axis=1)
    normal = np.einsum("kpi,kpj->kij", design, design)
    normal += np.eye(4) * 1e-9 * np.trace(normal, axis1=1, axis2=2)[:, None, None]
    normal[n < 16] = np.eye(4)  # no data (NaN bound below): any invertible matrix
    inverse = np.linalg.inv(normal)  # regularised: a flat window's bound is huge, not 0
    coef = np.einsum("kij,kj->ki", inverse, np.einsum("kpi,kp->ki", design, target))
    residual = np.where(ok, target - np.einsum("kpi,ki->kp", design, coef), 0.0)
    variance = (residual ** 2).sum(axis=1) / np.maximum(n - 4, 1)
    gain = np.abs(coef[:, 0]) + 1e-12
    sx = np.sqrt(variance * inverse[:, 2, 2]) / gain
    sy = np.sqrt(variance * inverse[:, 3, 3]) / gain
    bad = n < 16
    sx[bad] = sy[bad] = np.nan
    return sx, sy


def flow_bounds(reference: np.ndarray, secondary: np.ndarray, dx: np.ndarray, dy: np.ndarray,
                radius: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pixel_bounds` of a dense flow (GeFolki convention, reference pixels): the
    secondary sampled through it as the flow samples it (cubic spline; NaN outside)."""
    rows, cols = np.mgrid[:dx.shape[0], :dx.shape[1]].astype(np.float32)
    valid = np.isfinite(secondary)
    coords = [rows + dy, cols + dx]
    aligned = ndimage.map_coordinates(np.where(valid, secondary, 0.0).astype(np.float64),
                                      coords, order=3, mode="constant", cval=np.nan)
    if not valid.all():
        aligned[ndimage.map_coordinates(valid.astype(np.float32), coords, order=1,
                                        mode="constant") < 0.999] = np.nan
    return pixel_bounds(np.asarray(reference, np.float64), aligned, radius)


def flow_sigmas(reference: np.ndarray, secondary: np.ndarray, dx: np.ndarray, dy: np.ndarray,
                radius: int, pixel_ratio: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated 1-sigma per pixel and axis of a dense flow (reference pixels);
    ``pixel_ratio``: the coarser image's pixel over the reference's (1: one resolution)."""
    bx, by = flow_bounds(reference, secondary, dx, dy, radius)
    return ((pixel_ratio * calibrated(bx, FLOW_SCALE, FLOW_FLOOR_PX)).astype(np.float32),
            (pixel_ratio * calibrated(by, FLOW_SCALE, FLOW_FLOOR_PX)).astype(np.float32))


def pixel_bounds(reference: np.ndarray, aligned: np.ndarray, radius: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`window_bounds` for the window of ``radius`` around every pixel (the flow's
    finest window); ``aligned`` is the secondary sampled through the field. The gain and
    offset are fitted first per window, then the shift (the joint fit, per pixel, would
    need a 4 x 4 solve everywhere)."""
    ok = np.isfinite(reference) & np.isfinite(aligned)
    w = ok.astype(np.float64)
    ref, mov = np.where(ok, reference, 0.0), np.where(ok, aligned, 0.0)

    def box(a):
        return ndimage.uniform_filter(a, 2 * radius + 1, mode="constant")

    n = box(w) + 1e-12
    mr, mm = box(ref) / n, box(mov) / n
    cov = box(ref * mov) / n - mr * mm
    var_m = np.maximum(box(mov * mov) / n - mm * mm, 1e-12)
    gain = cov / var_m
    gy, gx = np.gradient(np.where(ok, aligned, mm))
    gx, gy = gx * w, gy * w
    # Window sums are area * box means: the shift's normal matrix, right-hand side, RSS.
    area = float((2 * radius + 1) ** 2)
    res = (ref - (mr + gain * (mov - mm))) * w
    sxx, syy, sxy = box(gx * gx), box(gy * gy), box(gx * gy)
    bx, by = box(gx * res), box(gy * res)
    det = np.maximum(sxx * syy - sxy * sxy, 1e-12 * (sxx + syy) ** 2 + 1e-30)
    ux, uy = (syy * bx - sxy * by) / det, (sxx * by - sxy * bx) / det
    count = area * n
    variance = np.maximum(area * (box(res * res) - ux * bx - uy * by), 0) / np.maximum(
        count - 4, 1)
    g2 = np.maximum(np.abs(gain), 1e-6) ** 2
    with np.errstate(invalid="ignore"):  # NaN where the window has no valid pixel
        sx = np.sqrt(variance * np.maximum(syy, 0) / (area * det) / g2)
        sy = np.sqrt(variance * np.maximum(sxx, 0) / (area * det) / g2)
    sparse = count < 16
    sx[sparse] = sy[sparse] = np.nan
    return sx.astype(np.float32), sy.astype(np.float32)
