"""Dense optical flow between two co-gridded images, mono- or cross-modal (SAR/optical).

The method follows Folki/GeFolki (Le Besnerais & Champagnat 2005; Brigot et al., IEEE JSTARS
9(7), 2016): coarse-to-fine Lucas-Kanade with a windowed least-squares flow, computed on
local rank transforms so that any monotonic radiometric difference between the images
(sensor, season, speckle statistics) drops out. On top of it:

* valid-pixel weights: NaN / masked pixels of either image never enter the least squares,
  and the flow is filled in across them from the neighbourhood;
* a Tikhonov pull towards the local mean flow, so texture-less windows follow their
  neighbours instead of jumping;
* a median filter of the field after each level, which removes isolated wrong vectors;
* cubic-spline warping of the secondary;
* for mono-modal pairs (detected from the correlation of the aligned images) a last
  full-resolution pass on the intensities themselves, which are sharper than ranks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable, Union

import numpy as np
from scipy import ndimage

from .errors import CanceledError

Radius = Union[int, Sequence[int]]

#: Weight of the pull towards the local mean flow, relative to the mean structure tensor trace.
TIKHONOV = 1e-3
#: Side of the median filter applied to the field after each pyramid level (pixels).
MEDIAN_SIZE = 5
#: Gaussian std (pixels) of the anti-aliasing filter before each 2x decimation.
PYRAMID_SIGMA = 1.0
#: Correlation of the rank-aligned intensities above which the pair is treated as mono-modal.
MONO_MODAL_CORRELATION = 0.8


def estimate_flow(
    reference: np.ndarray,
    secondary: np.ndarray,
    *,
    radius: Radius = 8,
    levels: int = 4,
    iterations: int = 4,
    rank: int = 4,
    invert: bool = False,
    valid: np.ndarray | None = None,
    is_canceled: Callable[[], bool] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense displacement field that maps ``secondary`` onto ``reference``.

    Parameters
    ----------
    reference, secondary : ndarray, shape (M, N)
        Float images on the same grid (the secondary already resampled onto the reference
        grid). NaN marks invalid pixels.
    radius : int or sequence of int
        Radius (pixels, at the current pyramid level) of the square least-squares window.
        A sequence is applied in order at every level, each for ``iterations`` iterations,
        as GeFolki does (e.g. ``(16, 8)``: large windows first for robustness, then small
        ones for detail).
    levels : int
        Number of 2x pyramid reductions (0 = full resolution only). The largest displacement
        that can be recovered is roughly ``radius * 2**levels`` pixels.
    iterations : int
        Warping iterations per radius and per level.
    rank : int
        Radius of the local rank transform (window ``(2*rank+1)**2``); 0 compares the
        intensities themselves (mono-modal pairs with the same radiometry only).
    invert : bool
        Invert the contrast of the secondary (SAR vs optical, where bright in one image is
        dark in the other).
    valid : ndarray of bool, shape (M, N), optional
        Extra mask of reference pixels to use (e.g. stable areas); False pixels are ignored.
    is_canceled : callable, optional
        Polled between iterations; when it returns True, :class:`CanceledError` is raised.

    Returns
    -------
    dx, dy : ndarray of float32, shape (M, N)
        Column and row displacement in pixels, GeFolki convention: the aligned secondary at
        (col, row) is ``secondary(col + dx, row + dy)``. Finite everywhere: where no pixel
        was valid the field is filled in from its neighbourhood (mask it with the inputs'
        validity if needed).
    """
    radii = _check_inputs(reference, secondary, radius, levels, iterations, rank, valid)
    ref_ok = np.isfinite(reference) & (True if valid is None else np.asarray(valid, bool))
    sec_ok = np.isfinite(secondary)
    if not ref_ok.any() or not sec_ok.any():
        raise ValueError("The reference or the secondary image has no valid pixel.")
    ref = _fill_invalid(np.asarray(reference, np.float64), ref_ok)
    sec = _fill_invalid(np.asarray(secondary, np.float64), sec_ok)
    if invert:
        sec = -sec

    pyramid = _pyramid(ref, sec, ref_ok, sec_ok, levels)
    dx = dy = None
    for ref_l, sec_l, ref_ok_l, sec_ok_l in reversed(pyramid):
        dx, dy = _upsample_flow(dx, dy, ref_l.shape)
        feat_ref, feat_sec = _rank_transform(ref_l, rank), _rank_transform(sec_l, rank)
        ref_ok_l, sec_ok_l = _rank_support(ref_ok_l, rank), _rank_support(sec_ok_l, rank)
        for rad in radii:
            dx, dy = _lucas_kanade(
                feat_ref, feat_sec, ref_ok_l, sec_ok_l, dx, dy, rad, iterations, is_canceled
            )
        dx = ndimage.median_filter(dx, MEDIAN_SIZE, mode="nearest")
        dy = ndimage.median_filter(dy, MEDIAN_SIZE, mode="nearest")

    return dx.astype(np.float32), dy.astype(np.float32)


def _check_inputs(reference, secondary, radius, levels, iterations, rank, valid) -> list[int]:
    if reference.ndim != 2 or reference.shape != secondary.shape:
        raise ValueError(
            f"Reference and secondary must be 2-D arrays of the same shape, got "
            f"{reference.shape} and {secondary.shape}; resample the secondary first."
        )
    if valid is not None and np.shape(valid) != reference.shape:
        raise ValueError(f"valid must have shape {reference.shape}, got {np.shape(valid)}.")
    radii = [int(radius)] if np.ndim(radius) == 0 else [int(r) for r in radius]
    if not radii or min(radii) < 1:
        raise ValueError(f"radius must be one or more integers >= 1, got {radius!r}.")
    if levels < 0 or iterations < 1 or rank < 0:
        raise ValueError(
            f"levels >= 0, iterations >= 1 and rank >= 0 are required, got levels={levels}, "
            f"iterations={iterations}, rank={rank}."
        )
    return radii


def _fill_invalid(image: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Invalid pixels take the value of the nearest valid one (finite input for filters)."""
    if ok.all():
        return image
    idx = ndimage.distance_transform_edt(~ok, return_distances=False, return_indices=True)
    return image[tuple(idx)]


def _pyramid(ref, sec, ref_ok, sec_ok, levels: int) -> list[tuple]:
    """[(ref, sec, ref_ok, sec_ok)] from full resolution to the coarsest level."""
    out = [(ref, sec, ref_ok.astype(np.float64), sec_ok.astype(np.float64))]
    for _ in range(levels):
        if min(out[-1][0].shape) < 16:
            break
        out.append(tuple(_reduce(a) for a in out[-1]))
    return out


def _reduce(image: np.ndarray) -> np.ndarray:
    """Gaussian low-pass then keep every other pixel: coarse pixel i sits on fine pixel 2 i."""
    return ndimage.gaussian_filter(image, PYRAMID_SIGMA, mode="nearest")[::2, ::2]


def _rank_support(ok: np.ndarray, rank: int) -> np.ndarray:
    """1 where the whole rank window is valid: ranks next to a gap are not trusted."""
    full = ok > 0.999
    if rank > 0 and not full.all():
        full = ndimage.minimum_filter(full, 2 * rank + 1, mode="nearest")
    return full.astype(np.float64)


def _upsample_flow(dx, dy, shape):
    if dx is None:
        return np.zeros(shape), np.zeros(shape)
    rows, cols = np.mgrid[: shape[0], : shape[1]] / 2.0
    up = [2.0 * ndimage.map_coordinates(f, [rows, cols], order=1, mode="nearest") for f in (dx, dy)]
    return up[0], up[1]


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
    return (below / (size * size - 1)).astype(np.float64)


def _lucas_kanade(ref, sec, ref_ok, sec_ok, dx, dy, rad, iterations, is_canceled):
    """Windowed least-squares flow, iterated with re-warping (Folki's absolute form)."""
    size = 2 * rad + 1
    box = lambda a: ndimage.uniform_filter(a, size, mode="constant")  # noqa: E731
    gy, gx = np.gradient(ref)
    gx, gy = gx * ref_ok, gy * ref_ok
    rows, cols = np.mgrid[: ref.shape[0], : ref.shape[1]].astype(np.float64)
    sec_coef = ndimage.spline_filter(sec, 3)
    for _ in range(iterations):
        if is_canceled is not None and is_canceled():
            raise CanceledError("Dense flow canceled.")
        coords = [rows + dy, cols + dx]
        warped = ndimage.map_coordinates(sec_coef, coords, order=3, mode="nearest", prefilter=False)
        w = ndimage.map_coordinates(sec_ok, coords, order=1, mode="constant") > 0.999
        wgx, wgy = gx * w, gy * w
        sxx, syy, sxy = box(wgx * gx), box(wgy * gy), box(wgx * gy)
        lam = TIKHONOV * (np.mean(sxx) + np.mean(syy)) + 1e-12
        mdx, mdy = box(dx), box(dy)
        if POLARITY:
            warped = _match_polarity(ref, warped, w, POLARITY)
        it = ref - warped + dx * gx + dy * gy
        bx = box(wgx * it) + lam * mdx
        by = box(wgy * it) + lam * mdy
        sxx += lam
        syy += lam
        det = sxx * syy - sxy * sxy
        dx = (syy * bx - sxy * by) / det
        dy = (sxx * by - sxy * bx) / det
    return dx, dy


POLARITY = 4


def _match_polarity(ref, warped, w, rad):
    """Flip the rank image (r -> 1 - r) where it is locally anti-correlated with the reference."""
    size = 2 * rad + 1
    box = lambda a: ndimage.uniform_filter(a, size, mode="constant")  # noqa: E731
    wf = w.astype(np.float64)
    n = box(wf) + 1e-12
    m0, m1 = box(wf * ref) / n, box(wf * warped) / n
    cov = box(wf * ref * warped) / n - m0 * m1
    return np.where(cov < 0, 1.0 - warped, warped)


def _is_mono_modal(ref, sec, ref_ok, sec_ok, dx, dy) -> bool:
    rows, cols = np.mgrid[: ref.shape[0], : ref.shape[1]]
    warped = ndimage.map_coordinates(sec, [rows + dy, cols + dx], order=1, mode="nearest")
    ok = ref_ok & (ndimage.map_coordinates(sec_ok.astype(float), [rows + dy, cols + dx]) > 0.999)
    if ok.sum() < 100:
        return False
    return bool(np.corrcoef(ref[ok], warped[ok])[0, 1] > MONO_MODAL_CORRELATION)
