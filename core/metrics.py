"""Matching score of two co-located images: NRMSE and SSIM combined into 0..1.

score = 0.5 * (1 - NRMSE) + 0.5 * max(SSIM, 0), where both images are first
standardised (zero mean, unit variance over their common valid pixels) so that
radiometric differences between dates or sensors do not count, NRMSE is the RMSE
of the standardised images divided by 2 (its largest possible value, reached for
perfectly anti-correlated images), and SSIM is the mean structural similarity
(Wang et al. 2004, Gaussian window of sigma 1.5 px) of the standardised images.
1 means identical up to gain and offset; values near 0.5 or below mean unrelated.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from skimage.metrics import structural_similarity


def matching_score(reference: np.ndarray, moving: np.ndarray) -> float:
    """Score in [0, 1] of how well ``moving`` matches ``reference``; NaN marks no data.

    Parameters
    ----------
    reference, moving : ndarray, shape (M, N)
        Co-located images; pixels that are NaN in either are ignored.

    Returns
    -------
    float
        The combined score, or NaN when fewer than 64 pixels are valid in both.
    """
    return similarity(reference, moving)[0]


def similarity(reference: np.ndarray, moving: np.ndarray) -> tuple[float, float]:
    """(:func:`matching_score`, SSIM) of two co-located images, computed together;
    (NaN, NaN) when fewer than 64 pixels are valid in both."""
    valid = np.isfinite(reference) & np.isfinite(moving)
    if valid.sum() < 64 or min(reference.shape) < 7:
        return float("nan"), float("nan")
    a, b = _standardise(reference, valid), _standardise(moving, valid)
    nrmse = min(float(np.sqrt(np.mean((a[valid] - b[valid]) ** 2))) / 2.0, 1.0)
    _, ssim_map = structural_similarity(a, b, data_range=float(np.ptp(a[valid])) or 1.0,
                                        gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, full=True)
    ssim = float(ssim_map[valid].mean())
    return 0.5 * (1.0 - nrmse) + 0.5 * max(ssim, 0.0), ssim


def mean_matching_score(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """Pixel-weighted mean of :func:`matching_score` over several patch pairs."""
    total, count = 0.0, 0
    for reference, moving in pairs:
        score = matching_score(reference, moving)
        if np.isfinite(score):
            n = int((np.isfinite(reference) & np.isfinite(moving)).sum())
            total, count = total + score * n, count + n
    return total / count if count else float("nan")


def _standardise(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    values = image[valid]
    std = values.std()
    out = np.zeros(image.shape, np.float64)
    out[valid] = (values - values.mean()) / (std if std > 0 else 1.0)
    return out
