"""Patch matches across modalities (SAR against optical): gradient-orientation structure
compared by masked normalised cross-correlation (whole pixels), then one Lucas-Kanade step
on the same features for the sub-pixel rest.

Phase correlation of intensities fails there: bright in one image is often dark in the
other, and speckle whitens into noise. The orientation channels of :mod:`.modality` keep
where edges are and which way they run, not their sign; their correlation peak stands out
where an intensity one does not, and the features are smooth enough for a gradient step.
The estimator's iterations re-sample the secondary through the updated model, so the step
only has to be right near the answer.
"""

from __future__ import annotations

import math

import numpy as np

from .coarse_search import masked_ncc
from .match import FULL_RELIABILITY_PEAK, MIN_PEAK, MIN_VALID_FRACTION, Measurement, Patch
from .modality import search_features

#: Structure correlation of unrelated patches (at most 0.04 on GeFolki's Sentinel-1 /
#: Sentinel-2 patches, 128 px) and of a clearly matched one (0.09-0.22 there, related ones).
STRUCTURE_NOISE_NCC = 0.05
STRUCTURE_FULL_NCC = 0.2
#: Whole-pixel search radius (patch pixels) around the current model.
SEARCH_RADIUS_PX = 6
#: Largest sub-pixel rest accepted from the gradient steps (pixels).
MAX_STEP_PX = 1.0
#: Gauss-Newton steps at most, the step (pixels) that ends them, and the border (pixels)
#: left out of them (one-sided gradients, spline edges).
STEPS = 4
STEP_TOLERANCE_PX = 0.005
STEP_BORDER = 3


def measure_structure(patch: Patch, moving: np.ndarray, *,
                      wide: bool = False) -> Measurement | None:
    """Displacement (map units) that ``moving`` still needs to match the patch, and the
    structure correlation as its peak; None when too few pixels are valid in both.
    ``wide``: search a quarter of the patch side (no coarse offset to start from), not
    :data:`SEARCH_RADIUS_PX`."""
    radius = min(moving.shape) / 4 if wide else SEARCH_RADIUS_PX
    found = structure_shift(patch.reference, moving, radius)
    if found is None:
        return None
    drow, dcol, peak = found
    t = patch.grid.transform
    return Measurement(t.a * dcol + t.b * drow, t.d * dcol + t.e * drow, peak)


def structure_shift(reference: np.ndarray, moving: np.ndarray,
                    radius: float) -> tuple[float, float, float] | None:
    """The (row, col) shift (pixels) to apply to ``moving`` so that its structure matches
    the co-located ``reference``'s (the convention of :func:`.match.match_batch`), searched
    within ``radius`` pixels, and the correlation on the phase-correlation peak scale
    (:func:`on_phase_scale`); None when too few pixels are valid in both (NaN = no data)."""
    if min(np.isfinite(reference).mean(), np.isfinite(moving).mean()) < MIN_VALID_FRACTION:
        return None
    f, f_ok = search_features(reference, "structure")
    g, g_ok = search_features(moving, "structure")
    ncc, rows, cols = masked_ncc(f, f_ok, g, g_ok, reach=math.ceil(radius))
    near = np.hypot(rows, cols) <= radius
    surface = np.where(near & np.isfinite(ncc), ncc, -np.inf)
    best = np.unravel_index(np.argmax(surface), surface.shape)
    if not np.isfinite(surface[best]):
        return None
    whole = (int(rows[best]), int(cols[best]))
    drow, dcol = _sub_pixel(f, f_ok, _shifted(g, whole, 0.0), _shifted(g_ok, whole, False))
    return whole[0] + drow, whole[1] + dcol, on_phase_scale(float(surface[best]))


def structure_batch(reference: np.ndarray, moving: np.ndarray,
                    radius: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`structure_shift` of K window pairs (K, M, N): (row, col) shifts (K, 2) and
    peaks (K,), NaN where too few pixels are valid in both."""
    shifts, peaks = np.full((len(reference), 2), np.nan), np.full(len(reference), np.nan)
    for k, (f, g) in enumerate(zip(reference, moving)):
        found = structure_shift(f, g, radius)
        if found is not None:
            shifts[k], peaks[k] = found[:2], found[2]
    return shifts, peaks


def on_phase_scale(ncc: float) -> float:
    """A structure correlation as the phase-correlation peak of the same standing: the
    noise floor at :data:`.match.MIN_PEAK`, a clear match at :data:`.match.FULL_RELIABILITY_PEAK`,
    so that the weak-peak test and the reliability read alike for both."""
    fraction = (ncc - STRUCTURE_NOISE_NCC) / (STRUCTURE_FULL_NCC - STRUCTURE_NOISE_NCC)
    return MIN_PEAK + fraction * (FULL_RELIABILITY_PEAK - MIN_PEAK)


def _shifted(image: np.ndarray, shift: tuple[int, int], fill) -> np.ndarray:
    """``image`` moved by whole pixels: out(x) = image(x - shift), ``fill`` outside."""
    out = np.full_like(image, fill)
    dr, dc = shift
    h, w = image.shape[-2:]
    src = image[..., max(0, -dr):h - max(0, dr), max(0, -dc):w - max(0, dc)]
    out[..., max(0, dr):max(0, dr) + src.shape[-2], max(0, dc):max(0, dc) + src.shape[-1]] = src
    return out


def _sub_pixel(f, f_ok, g0, g0_ok) -> tuple[float, float]:
    """The sub-pixel (row, col) rest δ minimising Σ (g0(x - δ) - f(x))² over channels and
    the pixels valid in both: Gauss-Newton steps, g0 moved by cubic convolution between
    them."""
    ok = f_ok & g0_ok
    ok[:STEP_BORDER] = ok[-STEP_BORDER:] = False
    ok[:, :STEP_BORDER] = ok[:, -STEP_BORDER:] = False
    if ok.sum() < 16:
        return 0.0, 0.0
    grad_f = np.gradient(f, axis=(-2, -1))
    total = np.zeros(2)
    moved = g0
    for _ in range(STEPS):
        grad_g = np.gradient(moved, axis=(-2, -1))
        # Linearised with the mean of both gradients: symmetric, less bias than either.
        grad = [0.5 * (a[:, ok] + b[:, ok]) for a, b in zip(grad_f, grad_g)]
        diff = (moved - f)[:, ok]
        normal = np.array([[np.sum(a * b) for b in grad] for a in grad])
        if np.linalg.det(normal) <= 1e-12 * max(normal[0, 0] * normal[1, 1], 1e-300):
            break
        step = np.linalg.solve(normal, [np.sum(a * diff) for a in grad])
        total = np.clip(total + step, -MAX_STEP_PX, MAX_STEP_PX)
        if np.hypot(*step) < STEP_TOLERANCE_PX:
            break
        moved = _cubic_shift(_cubic_shift(g0, total[0], -2), total[1], -1)
    return float(total[0]), float(total[1])


def _cubic_shift(image: np.ndarray, shift: float, axis: int) -> np.ndarray:
    """out(x) = image(x - shift) along ``axis`` by Keys' cubic convolution (a = -1/2),
    edges repeated: four shifted sums, ten times faster than a spline shift here."""
    n = int(np.floor(shift))
    u = 1.0 - (shift - n)  # x - shift = (x - n - 1) + u
    size = image.shape[axis]
    index = np.arange(size) - n - 1
    out = np.zeros_like(image)
    for m in (-1, 0, 1, 2):
        taken = np.take(image, np.clip(index + m, 0, size - 1), axis=axis)
        out += _keys(u - m) * taken
    return out


def _keys(d: float) -> float:
    d = abs(d)
    if d <= 1:
        return 1.5 * d**3 - 2.5 * d**2 + 1
    if d < 2:
        return -0.5 * d**3 + 2.5 * d**2 - 4 * d + 2
    return 0.0
