"""Features the dense flow matches (core/local/dense_flow.py): orientation channels of
gradient energy, or GeFolki's local rank transform; the warped secondary's are computed by
bands of rows on threads (a band's channels stay in the CPU caches; numpy and scipy
release the GIL)."""

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


def _warper(image: np.ndarray, describe, features: str):
    """coords -> features of the secondary at coords. Rank images are warped (GeFolki);
    orientation channels are computed on the warped image (1 warp instead of 8), band of
    rows by band of rows on threads (each band with the rows its features depend on, so
    the result is the same as in one piece)."""
    if features == "rank":
        coef = ndimage.spline_filter(describe(image)[0], 3, output=np.float32)
        return lambda coords: _spline_sample(coef, coords)[None]
    coef = ndimage.spline_filter(image, 3, output=np.float32)
    return lambda coords: _by_bands(
        lambda rows: describe(_spline_sample(coef, [c[rows] for c in coords])),
        coords[0].shape, ORIENTATION_BINS)


def _by_bands(compute, shape: tuple[int, int], channels: int) -> np.ndarray:
    """(channels, *shape) float32 from ``compute(rows)`` (a slice with FEATURE_HALO rows
    more on each side inside the image) on bands of BAND_ROWS rows, on threads: the bands
    fit in the CPU caches and numpy/scipy release the GIL."""
    out = np.empty((channels, *shape), np.float32)
    height = shape[0]

    def band(start: int) -> None:
        stop = min(start + BAND_ROWS, height)
        lo, hi = max(start - FEATURE_HALO, 0), min(stop + FEATURE_HALO, height)
        out[:, start:stop] = compute(slice(lo, hi))[:, start - lo:stop - lo]

    in_threads(band, range(0, height, BAND_ROWS))
    return out


def _spline_sample(coef: np.ndarray, coords) -> np.ndarray:
    return ndimage.map_coordinates(coef, coords, order=3, mode="nearest", prefilter=False,
                                   output=np.float32)
