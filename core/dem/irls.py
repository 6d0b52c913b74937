"""Robust least squares by iteratively reweighted least squares (IRLS), one loop for
the DEM fits: the bias terms and LZD reweight with Tukey's biweight, ICP with Huber's
weights and a trim. Columns are RMS-scaled and the normal equations solved (a few
columns, up to hundreds of thousands of rows: far cheaper than an SVD each time)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .terrain import nmad

#: Tukey biweight tuning constant (95 % efficiency under Gaussian noise).
TUKEY_C = 4.685
#: Huber's tuning constant (95 % efficiency under Gaussian noise), in robust sigmas.
HUBER_K = 1.345
#: Huber: residuals beyond this many robust sigmas get no weight (blunders, changed terrain).
TRIM_SIGMAS = 6.0

#: Weights of the next iteration from the residuals and the current weights.
Reweight = Callable[[np.ndarray, np.ndarray], np.ndarray]


def tukey_weights(residual: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Tukey's biweight on the scale of the residuals still weighted: outliers get none."""
    scale = 1.4826 * np.median(np.abs(residual[weights > 0])) + 1e-12
    return np.clip(1 - (residual / (TUKEY_C * scale)) ** 2, 0, None) ** 2


def huber_weights(residual: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Huber's weights in robust sigmas (NMAD of all residuals), beyond
    :data:`TRIM_SIGMAS` none."""
    size = np.abs(residual) / max(nmad(residual), 1e-9)
    new = np.where(size <= HUBER_K, 1.0, HUBER_K / np.maximum(size, 1e-12))
    new[size > TRIM_SIGMAS] = 0.0
    return new


def reweighted_lstsq(design: np.ndarray, values: np.ndarray, reweight: Reweight,
                     iterations: int = 10, rtol: float = 1e-4, atol: float = 1e-7
                     ) -> np.ndarray:
    """Coefficients of ``design @ c ≈ values`` under ``reweight``; stops once they settle
    (``rtol``, ``atol`` on the scaled columns) or after ``iterations``."""
    norm = np.sqrt(np.mean(design**2, axis=0))
    norm[norm == 0] = 1.0
    scaled = design / norm
    weights = np.ones(values.size)
    coefficients = np.zeros(design.shape[1])
    for _ in range(iterations):
        new = _weighted_solve(scaled, values, weights)
        settled = np.allclose(new, coefficients, rtol=rtol, atol=atol)
        coefficients = new
        weights = reweight(values - scaled @ coefficients, weights)
        if settled:
            break
    return coefficients / norm


def _weighted_solve(scaled: np.ndarray, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    weighted = scaled * weights[:, None]
    try:
        return np.linalg.solve(weighted.T @ scaled, weighted.T @ values)
    except np.linalg.LinAlgError:  # singular normal equations: the minimum-norm solution
        root = np.sqrt(weights)
        return np.linalg.lstsq(scaled * root[:, None], values * root, rcond=None)[0]
