"""Uncertainty of a global alignment: the covariance of (x, y, rotation) and the radii
that hold the true correction over the scene with 90 % and 95 % probability.

The statistical part comes from the data: the weighted residual scatter of the patches
the robust fit kept (:attr:`.fit.RobustFit.covariance`), inflated by how many patches
see the same pixels (patches overlap by half: each error is shared with its
neighbours in proportion to the overlap of their apodising windows), with Student's t
tails for the few degrees of freedom. A floor per axis adds what the scatter of one
scene cannot show, because every patch shares it: the bias of the sub-pixel phase on
aliased (area-averaged) pixels, measured on the validation corpus (tests/corpus.py).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

#: Systematic error per axis (pixels of the grid the patches are matched on) that no
#: scatter reveals: what the matcher leaves on sensor-like pairs (tests/corpus.py).
SYSTEMATIC_PX = 0.0025
#: Probabilities of the reported radii.
LEVELS = (0.9, 0.95)
#: Draws of the Monte Carlo that turns the covariance into radii (fixed seed).
DRAWS = 20000


@functools.lru_cache(maxsize=8)
def _window_overlap(size: int) -> np.ndarray:
    """h[d]: correlation of two 1-D squared Hann windows of ``size`` offset by d pixels
    (what the phase correlation weighs each pixel by), d = 0 .. size."""
    w2 = np.hanning(size) ** 2
    total = float((w2 * w2).sum())
    return np.array([float((w2[:size - d] * w2[d:]).sum()) / total
                     for d in range(size)] + [0.0])


def overlap_factor(corners: np.ndarray, size: int) -> float:
    """How much the errors of patches of side ``size`` whose corners (col, row, pixels of
    one grid) are ``corners`` (N, 2) share: the mean over patches of the summed window
    correlation with every patch, itself included (1 when none overlap)."""
    if len(corners) < 2:
        return 1.0
    h = _window_overlap(int(size))
    d = np.abs(np.round(corners[:, None, :] - corners[None, :, :])).astype(int)
    d = np.minimum(d, size)
    return float(np.mean((h[d[..., 0]] * h[d[..., 1]]).sum(axis=1)))


def radii(statistical: np.ndarray, systematic: np.ndarray, mean_r2: float, dof: float,
          levels=LEVELS) -> list[float]:
    """Radii (same unit as the shifts) that hold the RMS over the scene of the distance
    between the estimated and the true correction with the probabilities ``levels``.

    ``statistical`` and ``systematic`` are (3, 3) covariances of (x, y, rotation in
    radians scaled to the same unit per radian, i.e. times 1); ``mean_r2`` is the mean
    squared distance of the scene's points from the rotation centre. The statistical
    part has Student's t tails with ``dof`` degrees of freedom.
    """
    t_draws, normal = _draws(max(dof, 1.0))
    draws = t_draws @ _factor(statistical).T
    draws += normal @ _factor(systematic).T
    error = np.sqrt(draws[:, 0] ** 2 + draws[:, 1] ** 2 + mean_r2 * draws[:, 2] ** 2)
    return [float(q) for q in np.quantile(error, levels)]


def linear_radii(statistical: np.ndarray, systematic: np.ndarray, gain: np.ndarray,
                 dof: float, levels=LEVELS) -> list[float]:
    """:func:`radii` for a model of any P parameters: ``gain`` (M, P) sends a parameter
    error to M components whose sum of squares is the mean squared error over the scene
    (see :func:`.linear_model.scene_gain`); the covariances are P x P."""
    t_draws, normal = _draws(max(dof, 1.0), statistical.shape[0])
    draws = t_draws @ _factor(statistical).T + normal @ _factor(systematic).T
    error = np.sqrt(((draws @ gain.T) ** 2).sum(axis=1))
    return [float(q) for q in np.quantile(error, levels)]


def radii_per_unit(radii_of: Callable[[tuple[float, float]], list[float]],
                   scales: dict[str, tuple[float, float] | None],
                   ) -> dict[str, list[float] | None]:
    """``radii_of(scale)`` for each unit's ``scale`` (its units per map unit along x and
    y; None: unknown, no radii). A unit whose scale is one multiple of an earlier unit's
    on both axes (metres beside square pixels of a projected CRS) takes the earlier radii
    times that multiple: the same Monte Carlo, scaled, without a second run."""
    out: dict[str, list[float] | None] = {}
    done: list[tuple[tuple[float, float], list[float]]] = []
    for unit, scale in scales.items():
        if scale is None:
            out[unit] = None
            continue
        for earlier, values in done:
            multiple = abs(scale[0] / earlier[0])
            if math.isclose(multiple, abs(scale[1] / earlier[1]), rel_tol=1e-12):
                out[unit] = [multiple * v for v in values]
                break
        else:
            out[unit] = radii_of(scale)
        done.append((scale, out[unit]))
    return out


@functools.lru_cache(maxsize=16)
def _draws(dof: float, dims: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The Monte Carlo's standard draws (fixed seed): Student's t with ``dof`` degrees of
    freedom and normal, (DRAWS, dims) each; kept, as a run asks for them twice (pixels and
    metres) and a stack or a batch once per item (read only)."""
    rng = np.random.default_rng(12345)
    normal = rng.standard_normal((DRAWS, dims))
    scale = np.sqrt(dof / rng.chisquare(dof, DRAWS))[:, None]
    t_draws, normal = normal * scale, rng.standard_normal((DRAWS, dims))
    t_draws.flags.writeable = normal.flags.writeable = False
    return t_draws, normal


def _factor(covariance: np.ndarray) -> np.ndarray:
    """A matrix L with L L^T = covariance (positive semi-definite, symmetric)."""
    values, vectors = np.linalg.eigh((covariance + covariance.T) / 2)
    return vectors * np.sqrt(np.clip(values, 0, None))
