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

from .patch_filters import filter_stack, gaussian_weights


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
    scores, ssims = similarity_batch(reference[None], moving[None])
    return float(scores[0]), float(ssims[0])


def similarity_batch(reference: np.ndarray, moving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`similarity` of K pairs of equally shaped patches (K, M, N) at once.

    SSIM is skimage's ``structural_similarity`` (Gaussian weights, sigma 1.5, truncated at
    3.5 sigma, population covariance) computed on the whole stack, averaged over the
    valid pixels of each pair.
    """
    valid = np.isfinite(reference) & np.isfinite(moving)
    count = valid.sum(axis=(1, 2))
    usable = (count >= 64) & (min(reference.shape[1:]) >= 7)
    scores, ssims = np.full(len(valid), np.nan), np.full(len(valid), np.nan)
    if not usable.any():
        return scores, ssims
    if not usable.all():
        reference, moving, valid, count = (x[usable] for x in (reference, moving, valid, count))
    mask = None if valid.all() else valid  # None: every pixel valid, the common case
    count = count[:, None, None].astype(np.float32)
    a, b = _standardise(reference, mask, count), _standardise(moving, mask, count)
    nrmse = np.minimum(np.sqrt(((a - b) ** 2).sum(axis=(1, 2), keepdims=True) / count) / 2.0,
                       1.0)
    ssim_map = _ssim_map(a, b, _valid_range(a, mask))
    if mask is not None:
        ssim_map *= mask
    ssim = ssim_map.sum(axis=(1, 2), keepdims=True) / count
    scores[usable] = (0.5 * (1.0 - nrmse) + 0.5 * np.maximum(ssim, 0.0))[:, 0, 0]
    ssims[usable] = ssim[:, 0, 0]
    return scores, ssims


def _valid_range(a: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    if valid is None:
        span = a.max(axis=(1, 2)) - a.min(axis=(1, 2))
    else:
        span = (np.where(valid, a, -np.inf).max(axis=(1, 2))
                - np.where(valid, a, np.inf).min(axis=(1, 2)))
    return np.where(span > 0, span, 1.0)


def _ssim_map(a: np.ndarray, b: np.ndarray, data_range: np.ndarray) -> np.ndarray:
    """Wang et al. (2004) SSIM of each pair, as skimage 0.19 computes it (in place, on
    float32: the patches of a tie-point grid make this a hot loop)."""
    kernel = gaussian_weights(1.5, truncate=3.5)
    ux, uy, xx, yy, xy = filter_stack(np.stack([a, b, a * a, b * b, a * b]), kernel, kernel)
    c1 = ((0.01 * data_range) ** 2).astype(np.float32)[:, None, None]
    c2 = ((0.03 * data_range) ** 2).astype(np.float32)[:, None, None]
    # ((2 ux uy + c1) (2 vxy + c2)) / ((ux^2 + uy^2 + c1) (vx + vy + c2)), with
    # vx = blur(a^2) - ux^2 and so on, in place:
    uxy = ux * uy
    ux *= ux
    uy *= uy
    xx += yy  # vx + vy + ux^2 + uy^2
    xx -= ux
    xx -= uy
    xx += c2
    ux += uy
    ux += c1  # ux^2 + uy^2 + c1
    xy -= uxy
    xy *= 2
    xy += c2  # 2 vxy + c2
    uxy *= 2
    uxy += c1
    uxy *= xy
    ux *= xx
    uxy /= ux
    return uxy


#: Pixels scored in one batch by :func:`mean_matching_score` (bounds its memory).
SCORE_BATCH_PIXELS = 2**20


def mean_matching_score(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """Pixel-weighted mean of :func:`matching_score` over several patch pairs (pairs of
    one shape scored in batches)."""
    total, count = 0.0, 0
    pairs = list(pairs)
    while pairs:
        shape = pairs[0][0].shape
        group = [p for p in pairs if p[0].shape == shape]
        pairs = [p for p in pairs if p[0].shape != shape]
        step = max(1, SCORE_BATCH_PIXELS // max(group[0][0].size, 1))
        for start in range(0, len(group), step):
            reference = np.stack([r for r, _ in group[start:start + step]])
            moving = np.stack([m for _, m in group[start:start + step]])
            scores, _ = similarity_batch(reference, moving)
            counts = (np.isfinite(reference) & np.isfinite(moving)).sum(axis=(1, 2))
            for score, n in zip(scores, counts):
                if np.isfinite(score):
                    total, count = total + float(score) * int(n), count + int(n)
    return total / count if count else float("nan")


def _standardise(image: np.ndarray, valid: np.ndarray | None,
                 count: np.ndarray) -> np.ndarray:
    """Each patch (K, M, N) to zero mean and unit variance over its ``count`` valid
    pixels (K, 1, 1), 0 elsewhere; float32. ``valid`` None: every pixel is valid."""
    values = image.astype(np.float32)  # a copy, changed in place below
    if valid is not None:
        values[~valid] = 0.0
    values -= values.sum(axis=(-2, -1), keepdims=True) / count
    if valid is not None:
        values[~valid] = 0.0
    std = np.sqrt(np.square(values).sum(axis=(-2, -1), keepdims=True) / count)
    values /= np.where(std > 0, std, 1.0)
    return values
