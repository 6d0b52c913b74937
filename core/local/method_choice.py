"""METHOD auto of align_local: a global (affine) field unless the tie points show local
distortion, with the reason.

The kept tie points are fitted by one affine model (shift, scale, rotation, shear: a
GSD error or a rotated scene are global). What the model leaves is then tested for
structure: a local distortion leaves residuals that vary smoothly, so neighbouring points
share them, while matching noise differs from point to point. The statistic is the
semivariance of the residuals between neighbouring points (half their mean squared
difference) over their variance: about 1 for noise, well below 1 for a smooth field.
The field goes local only when the residuals are both large enough to matter and
structured; otherwise the affine model, evaluated on the nodes, is the field.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial import cKDTree

from .points import NodeField, TiePoints

#: Residual RMS (reference pixels) below which a global model is enough whatever its
#: structure: below what co-registration requirements ask (0.2-0.3 px) and above the
#: tie points' own noise on one sensor (0.02-0.05 px in the tests).
LOCAL_MIN_RMS_PX = 0.2
#: Neighbour semivariance over variance below which the residuals are structured: at
#: least a third of their variance is shared by neighbours. Measured: 0.83-1.05 on rigid
#: pairs of mixed resolutions (noise), 0.24-0.25 on smooth fields matched on one sensor,
#: 0.51 on Sentinel-2 against Sentinel-1 through GeFolki's flow (noisier points).
STRUCTURE_RATIO = 0.65
#: Fewer kept points than this cannot show structure: global.
MIN_POINTS = 12


def affine_fit(points: TiePoints) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares affine model of the kept displacements, (3, 2) coefficients on
    (1, col, row), and the kept points' residuals (K, 2)."""
    kept = points.kept
    design = np.column_stack([np.ones(kept.sum()), points.col[kept], points.row[kept]])
    values = np.column_stack([points.dx[kept], points.dy[kept]])
    coef = np.linalg.lstsq(design, values, rcond=None)[0]
    return coef, values - design @ coef


def structure_ratio(points: TiePoints, residuals: np.ndarray, spacing: float) -> float:
    """Semivariance of the residuals between neighbouring kept points (within 1.5 grid
    spacings) over their variance; NaN without neighbours."""
    kept = points.kept
    xy = np.column_stack([points.row[kept], points.col[kept]]).astype(float)
    pairs = cKDTree(xy).query_pairs(1.5 * spacing, output_type="ndarray")
    variance = float(np.mean(np.sum((residuals - residuals.mean(axis=0)) ** 2, axis=1)))
    if len(pairs) == 0 or variance <= 0:
        return float("nan")
    difference = residuals[pairs[:, 0]] - residuals[pairs[:, 1]]
    return float(0.5 * np.mean(np.sum(difference**2, axis=1)) / variance)


def choose_method(points: TiePoints, spacing: float) -> tuple[str, dict]:
    """"global" or "local", and the record for the report (figures and reason)."""
    kept = int(points.kept.sum())
    if kept < MIN_POINTS:
        return "global", {"chosen": "global", "reason": f"only {kept} kept points: too few "
                          "to show local distortion", "n_kept": kept}
    coef, residuals = affine_fit(points)
    rms = float(np.sqrt(np.mean(np.sum(residuals**2, axis=1))))
    ratio = structure_ratio(points, residuals, spacing)
    local = rms > LOCAL_MIN_RMS_PX and ratio < STRUCTURE_RATIO
    if local:
        reason = (f"the points depart from one affine model by {rms:.2f} px RMS, smoothly "
                  f"(neighbour semivariance / variance {ratio:.2f} < {STRUCTURE_RATIO}): "
                  "local distortion")
    elif rms <= LOCAL_MIN_RMS_PX:
        reason = (f"one affine model fits the points to {rms:.2f} px RMS "
                  f"(<= {LOCAL_MIN_RMS_PX} px): global")
    else:
        reason = (f"the points depart from one affine model by {rms:.2f} px RMS, but like "
                  f"noise (neighbour semivariance / variance {ratio:.2f} >= "
                  f"{STRUCTURE_RATIO}): global")
    return ("local" if local else "global"), {
        "chosen": "local" if local else "global", "reason": reason,
        "affine_rms_px": rms, "structure_ratio": ratio, "n_kept": kept,
        "affine": coef.T.tolist()}


def residuals_after_affine(points: TiePoints, coef: np.ndarray) -> None:
    """Make the points' residuals what they still show once the affine model (the field
    written when the choice is global) is applied: their displacement less the model,
    so that the report's ``*_shift_after_px`` describe the field written, not the tie-
    point field measured on the way."""
    model = coef[0] + np.outer(points.col, coef[1]) + np.outer(points.row, coef[2])
    points.residual_dx = points.dx - model[:, 0]
    points.residual_dy = points.dy - model[:, 1]


def affine_field(coef: np.ndarray, like: NodeField) -> NodeField:
    """The affine model on the nodes of ``like``."""
    rows = like.row0 + np.arange(like.dx.shape[0]) * like.step
    cols = like.col0 + np.arange(like.dx.shape[1]) * like.step
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    dx = coef[0, 0] + coef[1, 0] * cc + coef[2, 0] * rr
    dy = coef[0, 1] + coef[1, 1] * cc + coef[2, 1] * rr
    return NodeField(dx.astype(np.float32), dy.astype(np.float32), like.step, like.row0,
                     like.col0)


def score_through_written(points: TiePoints, field: NodeField,
                          measure: Callable[[NodeField], dict]) -> None:
    """Make the points' scores after (the report's ``matching_score_after``) what the
    field written when the choice is global (the affine model) gives, measured through
    it by ``measure(field)`` (:func:`.tie_points.measure_points`), not what the tie-point
    field measured on the way gave."""
    measured = measure(field)
    points.score_after, points.ssim_after = measured["score"], measured["ssim"]
