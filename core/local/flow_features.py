"""Features the dense flow matches (core/local/dense_flow.py): orientation channels of
gradient energy, or GeFolki's local rank transform; the warped secondary's are computed
and projected on the reference's gradients by bands of rows on threads (a band's channels
stay in the CPU caches; numpy and scipy release the GIL)."""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage

from ..parallel import in_threads

#: Orientation channels over [0, pi) and the Gaussian std (pixels) that smooths them.
ORIENTATION_BINS = 8
ORIENTATION_SIGMA = 0.5
#: Half-width (pixels) of the neighbourhood an orientation feature depends on.
ORIENTATION_HALO = 2
#: Rows of the warped image each orientation band depends on beyond its own (Sobel 1,
#: smoothing 2): bands computed with them equal the whole image computed at once.
FEATURE_HALO = 3
#: Rows per band of the warped secondary's features (a band's channels stay in cache).
BAND_ROWS = 64


def _described(image: np.ndarray, describe, features: str) -> np.ndarray:
    """describe(image), orientation channels by bands of rows on threads."""
    if features == "rank":
        return describe(image)
    return _by_bands(lambda rows: describe(image[rows]), image.shape, ORIENTATION_BINS)


def _orientation_channels(image: np.ndarray) -> np.ndarray:
    """(ORIENTATION_BINS, M, N) gradient energy per orientation, unit norm per pixel.

    This runs at every iteration on whole tiles, so it is built in float32 and in as few
    passes over memory as it can: the neighbour mixing (linear) before the smoothing, and
    the smoothing of all channels in one call."""
    image = np.asarray(image, np.float32)
    gx = ndimage.sobel(image, 1, mode="nearest")
    gy = ndimage.sobel(image, 0, mode="nearest")
    energy = np.empty((ORIENTATION_BINS, *image.shape), np.float32)
    for k, angle in enumerate(np.arange(ORIENTATION_BINS) * np.pi / ORIENTATION_BINS):
        np.multiply(gx, np.float32(np.cos(angle)), out=energy[k])
        energy[k] += gy * np.float32(np.sin(angle))
        np.abs(energy[k], out=energy[k])
    ch = _mix_neighbour_orientations(energy)
    ndimage.gaussian_filter(ch, (0, ORIENTATION_SIGMA, ORIENTATION_SIGMA), output=energy,
                            mode="nearest")
    ch = energy
    norm = np.sqrt(np.einsum("chw,chw->hw", ch, ch))
    norm += 1e-6 * ch.max() + 1e-30
    ch /= norm
    return ch


def _mix_neighbour_orientations(ch: np.ndarray) -> np.ndarray:
    """out[k] = ch[k] / 2 + (ch[k - 1] + ch[k + 1]) / 4, circularly."""
    out = ch * np.float32(0.5)
    quarter = ch * np.float32(0.25)
    out[1:] += quarter[:-1]
    out[0] += quarter[-1]
    out[:-1] += quarter[1:]
    out[-1] += quarter[0]
    return out


def _ranker(rank: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda image: _rank_transform(image, rank)[None]


def _rank_transform(image: np.ndarray, rank: int) -> np.ndarray:
    """Fraction of the (2 rank + 1)^2 neighbours darker than each pixel (ties count half)."""
    if rank == 0:
        return image
    size = 2 * rank + 1
    padded = np.pad(image, rank, mode="reflect")
    below = np.zeros(image.shape, np.float32)
    h, w = image.shape
    for i in range(size):
        for j in range(size):
            if i == rank and j == rank:
                continue
            window = padded[i : i + h, j : j + w]
            below += window < image
            below += 0.5 * (window == image)
    return below / (size * size - 1)


def _projector(image: np.ndarray, describe, features: str, reference: np.ndarray,
               polarity: int):
    """(coords, w, gx, gy) -> (sum_c gx_c f_c, sum_c gy_c f_c), f the features of the
    secondary sampled at coords, as the flow's least squares use them. Rank images are
    warped (GeFolki), their contrast matched to the ``reference`` rank image over windows
    of radius ``polarity`` (0: not) where ``w`` (the valid samples); orientation channels
    are computed on the warped image (1 warp instead of 8) and projected band of rows by
    band of rows on threads, each band with the rows its features depend on (the result
    is the same as in one piece), without the whole warped channels in memory."""
    if features == "rank":
        coef = ndimage.spline_filter(describe(image)[0], 3, output=np.float32)

        def project_rank(coords, w, gx, gy):
            warped = _spline_sample(coef, coords)
            if polarity > 0:
                warped = _match_polarity(reference[0], warped, w, polarity)
            return gx[0] * warped, gy[0] * warped
        return project_rank
    coef = ndimage.spline_filter(image, 3, output=np.float32)

    def project(coords, w, gx, gy):
        out = np.empty((2, *coords[0].shape), np.float32)

        def band(rows: slice, inner: slice, core: slice) -> None:
            f = describe(_spline_sample(coef, [c[rows] for c in coords]))[:, inner]
            out[0, core] = np.einsum("chw,chw->hw", gx[:, core], f)
            out[1, core] = np.einsum("chw,chw->hw", gy[:, core], f)
        _in_bands(coords[0].shape[0], band)
        return out[0], out[1]
    return project


def _match_polarity(ref, warped, w, rad):
    """Flip the rank image (r -> 1 - r) where it is locally anti-correlated with the reference."""
    box = lambda a: ndimage.uniform_filter(a, 2 * rad + 1, mode="constant")  # noqa: E731
    wf = w.astype(np.float32)
    n = box(wf) + 1e-12
    m0, m1 = box(wf * ref) / n, box(wf * warped) / n
    cov = box(wf * ref * warped) / n - m0 * m1
    return np.where(cov < 0, 1.0 - warped, warped)


def _by_bands(compute, shape: tuple[int, int], channels: int) -> np.ndarray:
    """(channels, *shape) float32 from ``compute(rows)`` (:func:`_in_bands`' rows)."""
    out = np.empty((channels, *shape), np.float32)

    def band(rows: slice, inner: slice, core: slice) -> None:
        out[:, core] = compute(rows)[:, inner]

    _in_bands(shape[0], band)
    return out


def _in_bands(height: int, work) -> None:
    """``work(rows, inner, core)`` for bands of BAND_ROWS rows ``core`` of an image of
    ``height`` rows, on threads: ``rows`` the band with FEATURE_HALO rows more on each
    side inside the image, ``inner`` the band's rows within them. The bands fit in the
    CPU caches and numpy/scipy release the GIL."""
    def band(start: int) -> None:
        stop = min(start + BAND_ROWS, height)
        lo, hi = max(start - FEATURE_HALO, 0), min(stop + FEATURE_HALO, height)
        work(slice(lo, hi), slice(start - lo, stop - lo), slice(start, stop))

    in_threads(band, range(0, height, BAND_ROWS))


def _spline_sample(coef: np.ndarray, coords) -> np.ndarray:
    return ndimage.map_coordinates(coef, coords, order=3, mode="nearest", prefilter=False,
                                   output=np.float32)
