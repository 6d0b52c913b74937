"""Rejecting wrong tie points: by reliability, by a least-median polynomial model of the
whole field (gross mismatches), by the normalised median test against their neighbours
(local ones), and by the matching score after the correction."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..matching.match import MIN_RELATIVE_TEXTURE
from .points import UNMATCHABLE, TiePoints

#: Least-median polynomial fit: the threshold is this many robust sigmas of the
#: residuals, never below MIN_MODEL_RESIDUAL_PX. A smooth non-rigid field departs from
#: a global polynomial far from normally (a +-3 px sinusoidal field on a real scene:
#: 99th percentile at 5.7 sigma), so the model only catches gross mismatches; local
#: ones are the median test's.
MODEL_SIGMAS = 8.0


MIN_MODEL_RESIDUAL_PX = 1.0


MODEL_SAMPLES = 300


#: Normalised median test (Westerweel & Scarano 2005, Exp. Fluids 39, 1096-1100,
#: :DOI:`10.1007/s00348-005-0016-6`): threshold and noise floor (pixels).
MEDIAN_TEST_THRESHOLD = 3.0


MEDIAN_TEST_EPSILON_PX = 0.1


#: A point fails the score check when its matching score drops by more than this.
SCORE_SLACK = 0.01


def reject_outliers(points: TiePoints, *, level: int, max_shift: float,
                    min_reliability: float, spacing: float,
                    consistency: bool = True) -> list[str]:
    """The reason each point is rejected ("" if kept), tests in order of ``level``
    (``consistency`` False skips the model and neighbour tests of level 2)."""
    reason = ["" if np.isfinite(d) else UNMATCHABLE for d in points.dx]
    measured = np.isfinite(points.dx)
    if measured.any():
        floor = MIN_RELATIVE_TEXTURE * float(np.median(points.texture[measured]))
        _flag(reason, measured & (points.texture <= floor), "low texture")
    _flag(reason, np.hypot(points.dx, points.dy) > max_shift, "beyond MAX_SHIFT")
    if level >= 1:
        for k in np.flatnonzero(points.reliability < min_reliability):
            if not reason[k]:
                reason[k] = f"reliability {points.reliability[k]:.0f} % < {min_reliability:g} %"
    if level >= 2 and consistency:
        _model_test(points, reason)
        _median_test(points, reason, spacing)
    if level >= 3:
        score_test(points, reason)
    return reason


def score_test(points: TiePoints, reason: list[str]) -> None:
    """Flag the points whose matching score drops through the field (level 3)."""
    worse = points.score_after < points.score_before - SCORE_SLACK
    _flag(reason, worse, "matching score does not improve")


def _flag(reason: list[str], mask: np.ndarray, text: str) -> None:
    for k in np.flatnonzero(mask):
        if not reason[k]:
            reason[k] = text


def _model_test(points: TiePoints, reason: list[str]) -> None:
    """Least-median-of-squares fit of a 2nd-order polynomial to the kept shifts."""
    kept = np.flatnonzero([not r for r in reason])
    if kept.size < 12:
        return
    design = _polynomial_design(points.row[kept], points.col[kept])
    values = np.column_stack([points.dx[kept], points.dy[kept]])
    rng = np.random.default_rng(0)
    # MODEL_SAMPLES minimal sets, each without repeats: the smallest keys of random rows.
    samples = np.argpartition(rng.random((MODEL_SAMPLES, kept.size)), design.shape[1],
                              axis=1)[:, :design.shape[1]]
    # All minimal fits at once; degenerate samples (collinear points) drop out as NaN.
    systems = design[samples]
    solvable = np.abs(np.linalg.det(systems)) > 1e-12
    coefs = np.linalg.solve(systems[solvable], values[samples[solvable]])
    residuals = np.hypot(*np.moveaxis(values[None] - design[None] @ coefs, -1, 0))
    medians = np.median(residuals, axis=1)
    best, best_median = coefs[np.argmin(medians)], float(medians.min())
    residual = np.hypot(*(values - design @ best).T)
    limit = max(MODEL_SIGMAS * 1.4826 * best_median, MIN_MODEL_RESIDUAL_PX)
    inliers = residual <= limit
    coef = np.linalg.lstsq(design[inliers], values[inliers], rcond=None)[0]
    residual = np.hypot(*(values - design @ coef).T)
    for k, res in zip(kept, residual):
        if res > limit:
            reason[k] = f"off the global polynomial model (residual {res:.2f} px)"


def _polynomial_design(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    r = (rows - rows.mean()) / max(np.ptp(rows), 1)
    c = (cols - cols.mean()) / max(np.ptp(cols), 1)
    return np.column_stack([np.ones_like(r), r, c, r * r, r * c, c * c])


def _median_test(points: TiePoints, reason: list[str], spacing: float) -> None:
    """Normalised median test against the kept neighbours within 1.5 grid spacings."""
    kept = np.flatnonzero([not r for r in reason])
    if kept.size < 5:
        return
    xy = np.column_stack([points.row[kept], points.col[kept]]).astype(float)
    distances, neighbours = cKDTree(xy).query(xy, k=9, distance_upper_bound=1.5 * spacing * 1.42)
    neighbours = neighbours[:, 1:]  # missing ones are kept.size: NaN below
    enough = np.isfinite(distances[:, 1:]).sum(axis=1) >= 3
    norm = np.zeros(kept.size)
    for values in (points.dx[kept], points.dy[kept]):
        around = np.append(values, np.nan)[neighbours]
        median = np.nanmedian(np.where(enough[:, None], around, 0.0), axis=1)
        spread = np.nanmedian(np.abs(around - median[:, None]), axis=1) if enough.any() else 0
        norm = np.maximum(norm, np.abs(values - median) / (spread + MEDIAN_TEST_EPSILON_PX))
    for i in np.flatnonzero(enough & (norm > MEDIAN_TEST_THRESHOLD)):
        reason[kept[i]] = f"differs from its neighbours (normalised residual {norm[i]:.1f})"
