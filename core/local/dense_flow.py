"""Dense optical flow between two co-gridded images, mono- or cross-modal (SAR/optical).

The solver is Folki/GeFolki's (Le Besnerais & Champagnat, ICIP 2005; Brigot et al., IEEE
JSTARS 9(7), 2016): coarse-to-fine Lucas-Kanade, whose flow at each pixel is the least-squares
fit over a square window, re-warped up to ``iterations`` times per window radius (fewer once
an iteration barely moves the field, ``CONVERGED_PX``), with window radii
shrinking at every level. What is compared, and how, differs:

* ``features="orientation"`` (default): each image becomes 8 channels of gradient energy per
  orientation, |projection of the gradient| so that the sign of the contrast does not matter,
  lightly smoothed and normalised per pixel (in the spirit of CFOG, Ye et al., IEEE TGRS 2019).
  Edges and textures line up across SAR and optical even where bright in one is dark in the
  other, which is where GeFolki's rank images disagree. On GeFolki's own evaluation patches this
  halves its end-point error cross-modal and also beats it mono-modal (benchmarks/flow.py).
* ``features="rank"``: GeFolki's local rank transform, with the contrast of the secondary's
  rank image flipped wherever it is locally anti-correlated with the reference (GeFolki makes
  the same choice per pixel from CLAHE images).

Common to both: NaN / masked pixels never enter the least squares (the field is filled in from
the neighbourhood there), nor do samples the warp takes from outside the secondary; a weak pull
towards the local mean flow keeps texture-less windows from jumping; a median filter removes
isolated wrong vectors after each level; the secondary is warped with cubic splines; no
pyramid level is smaller than 32 px, where a cloud or a changed area would fill the image and
drag the whole field off; and the field is finally smoothed where its detail is within its
own noise (:mod:`.flow_smoothing`: low texture), kept where it is not.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Callable, Union

import numpy as np
from scipy import ndimage

from ..errors import CoregInputError, check_canceled
from ..parallel import in_threads
from .flow_features import (
    ORIENTATION_HALO,
    _described,
    _orientation_channels,
    _projector,
    _ranker,
)
from .flow_smoothing import noise_smoothed
from .median_network import median5

Radius = Union[int, Sequence[int]]
FEATURES = ("orientation", "rank")

#: An int radius r runs windows of these multiples of r at every level (GeFolki's documented
#: cross-modal schedule 24, 20, 16, 12, 8 for r = 8): large windows first for robustness.
RADIUS_SCHEDULE = (3.0, 2.5, 2.0, 1.5, 1.0)
#: Weight of the pull towards the local mean flow, relative to the mean structure tensor trace.
TIKHONOV = 1e-3
#: Gaussian std (pixels) of the anti-aliasing filter before each 2x decimation.
PYRAMID_SIGMA = 1.0
#: Smallest side (pixels) of a pyramid level; coarser levels are skipped (``levels`` is a
#: maximum). A 64 px cloud on a 256 px image took the field 30 px off from a 16 px level.
MIN_LEVEL_SIZE = 32
#: Smallest image side (pixels) accepted.
MIN_SIZE = 8
#: A window radius stops iterating before ``iterations`` once an iteration moved no more
#: than CONVERGED_SHARE of the pixels by more than CONVERGED_PX: further iterations change
#: the field by less than its own noise. On a 1152 x 1152 tile of benchmarks/scale.py's
#: pair this ran 36 % fewer iterations, the field within 0.001 px RMS of the full count's
#: (error against the truth 0.0300 px either way).
CONVERGED_PX = 0.01
CONVERGED_SHARE = 0.01


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
    features: str = "orientation",
    progress: Callable[[float], None] | None = None,
    smooth: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense displacement field that maps ``secondary`` onto ``reference``.

    Parameters
    ----------
    reference, secondary : ndarray, shape (M, N)
        Float images on the same grid (the secondary already resampled onto the reference
        grid). NaN marks invalid pixels.
    radius : int or sequence of int
        Radius (pixels of the current pyramid level) of the least-squares window. A sequence
        is run in order at every level, each radius for ``iterations`` iterations, as in
        GeFolki. An int r stands for the sequence ``RADIUS_SCHEDULE * r`` (r = 8: 24, 20, 16,
        12, 8), i.e. r is the final, finest window.
    levels : int
        Most 2x pyramid reductions (0 = full resolution only); levels under
        ``MIN_LEVEL_SIZE`` pixels are skipped. Displacements up to about the largest window
        radius times ``2**levels`` (``3 * radius * 2**levels`` for an int radius) can be
        recovered.
    iterations : int
        Most warping iterations per radius and per level (a radius stops earlier once
        its iterations have converged, see ``CONVERGED_PX``).
    rank : int
        Radius of the local rank transform (window ``(2*rank+1)**2``) when
        ``features="rank"``; 0 compares the intensities themselves. Unused otherwise.
    invert : bool
        Invert the contrast of the secondary (SAR vs optical, bright in one image and dark in
        the other). Orientation features ignore the sign of the contrast anyway.
    valid : ndarray of bool, shape (M, N), optional
        Extra mask of reference pixels to use (e.g. stable areas); False pixels are ignored.
    is_canceled : callable, optional
        Polled between iterations; when it returns True, :class:`CanceledError` is raised.
    features : {"orientation", "rank"}
        What is matched (see the module docstring).
    progress : callable, optional
        Called after every iteration with the fraction of the work done (0 to 1).
    smooth : bool
        Finish with the adaptive smoothing of :mod:`.flow_smoothing` (local mean where the
        field's detail is within its own noise, e.g. on low texture); False: the
        Lucas-Kanade field as it is.

    Returns
    -------
    dx, dy : ndarray of float32, shape (M, N)
        Column and row displacement in pixels, GeFolki convention: the aligned secondary at
        (col, row) is ``secondary(col + dx, row + dy)``. Finite everywhere: where no pixel
        was valid the field is filled in from its neighbourhood (mask it with the inputs'
        validity if needed).
    """
    radii = _check_inputs(reference, secondary, radius, levels, iterations, rank, features,
                          valid)
    ref_ok = np.isfinite(reference) & (True if valid is None else np.asarray(valid, bool))
    sec_ok = np.isfinite(secondary)
    if not ref_ok.any() or not sec_ok.any():
        raise CoregInputError("The reference or the secondary image has no valid pixel.")
    ref = _fill_invalid(np.asarray(reference, np.float32), ref_ok)  # float32: half the memory
    sec = _fill_invalid(np.asarray(secondary, np.float32), sec_ok)
    if invert:
        sec = -sec
    describe = _orientation_channels if features == "orientation" else _ranker(rank)
    halo = ORIENTATION_HALO if features == "orientation" else rank

    pyramid = _pyramid(ref, sec, ref_ok, sec_ok, levels)
    tick = _ticker(sum(level[0].size for level in pyramid) * len(radii) * iterations,
                   progress, is_canceled)
    dx = dy = None
    for ref_l, sec_l, ref_ok_l, sec_ok_l in reversed(pyramid):
        dx, dy = _upsample_flow(dx, dy, ref_l.shape)
        feat_ref = _described(ref_l, describe, features)
        project = _projector(sec_l, describe, features, feat_ref, halo)
        ref_ok_l, sec_ok_l = _support(ref_ok_l, halo), _support(sec_ok_l, halo)
        terms = _reference_terms(feat_ref, ref_ok_l)
        for rad in radii:
            dx, dy, ran = _lucas_kanade(terms, project, sec_ok_l, dx, dy,
                                        min(rad, max(1, min(ref_l.shape) // 4)), iterations,
                                        functools.partial(tick, ref_l.size))
            tick.skipped((iterations - ran) * ref_l.size)
        dx, dy = _median_filtered(dx, dy)
    if smooth:
        dx, dy = noise_smoothed(_with_nan(ref, ref_ok), _with_nan(sec, sec_ok), dx, dy,
                                min(radii[-1], max(1, min(ref.shape) // 4)))
    return dx.astype(np.float32), dy.astype(np.float32)


def _with_nan(image: np.ndarray, ok: np.ndarray) -> np.ndarray:
    return image if ok.all() else np.where(ok, image, np.float32(np.nan))


def _median_filtered(dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both components through a 5 x 5 median filter, edges repeated
    (:mod:`.median_network`), on two threads."""
    out = [dx, dy]

    def median(k: int) -> None:
        out[k] = median5(out[k])

    in_threads(median, [0, 1])
    return out[0], out[1]


def _ticker(total: float, progress, is_canceled) -> Callable[[float], None]:
    """tick(work): raise CanceledError if canceled, then add ``work`` (pixels of an
    iteration) to what is done and report it as a fraction of ``total``;
    ``tick.skipped(work)`` counts iterations a converged radius did not need as done."""
    done = [0.0]

    def tick(work: float) -> None:
        check_canceled(is_canceled, "Dense flow canceled.")
        if progress is not None:
            progress(min(done[0] / total, 1.0))
        done[0] += work

    def skipped(work: float) -> None:
        done[0] += work
    tick.skipped = skipped
    return tick


def _check_inputs(reference, secondary, radius, levels, iterations, rank, features,
                  valid) -> list[int]:
    """Validated arguments; returns the sequence of window radii."""
    if reference.ndim != 2 or reference.shape != secondary.shape:
        raise CoregInputError(
            f"Reference and secondary must be 2-D arrays of the same shape, got "
            f"{reference.shape} and {secondary.shape}; resample the secondary first."
        )
    if min(reference.shape) < MIN_SIZE:
        raise CoregInputError(
            f"The images are {reference.shape[1]} x {reference.shape[0]} pixels; a dense flow "
            f"needs at least {MIN_SIZE} x {MIN_SIZE}."
        )
    if valid is not None and np.shape(valid) != reference.shape:
        raise CoregInputError(f"valid must have shape {reference.shape}, got {np.shape(valid)}.")
    if features not in FEATURES:
        raise CoregInputError(f"features must be one of {FEATURES}, got {features!r}.")
    if np.ndim(radius) == 0:
        radii = [int(round(f * int(radius))) for f in RADIUS_SCHEDULE]
    else:
        radii = [int(r) for r in radius]
    if not radii or min(radii) < 1:
        raise CoregInputError(f"radius must be one or more integers >= 1, got {radius!r}.")
    if levels < 0 or iterations < 1 or rank < 0:
        raise CoregInputError(
            f"levels >= 0, iterations >= 1 and rank >= 0 are required, got levels={levels}, "
            f"iterations={iterations}, rank={rank}."
        )
    return [r for i, r in enumerate(radii) if i == 0 or r != radii[i - 1]]


def _fill_invalid(image: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Invalid pixels take the value of the nearest valid one (finite input for filters)."""
    if ok.all():
        return image
    idx = ndimage.distance_transform_edt(~ok, return_distances=False, return_indices=True)
    return image[tuple(idx)]


def _pyramid(ref, sec, ref_ok, sec_ok, levels: int) -> list[tuple]:
    """[(ref, sec, ref_ok, sec_ok)] from full resolution to the coarsest level."""
    out = [(ref, sec, ref_ok.astype(np.float32), sec_ok.astype(np.float32))]
    for _ in range(levels):
        if min(out[-1][0].shape) // 2 < MIN_LEVEL_SIZE:
            break
        out.append(tuple(_reduce(a) for a in out[-1]))
    return out


def _reduce(image: np.ndarray) -> np.ndarray:
    """Gaussian low-pass then keep every other pixel: coarse pixel i sits on fine pixel 2 i."""
    return ndimage.gaussian_filter(image, PYRAMID_SIGMA, mode="nearest")[::2, ::2]


def _support(ok: np.ndarray, halo: int) -> np.ndarray:
    """1 where the whole neighbourhood a feature depends on is valid, else 0."""
    full = ok > 0.999
    if halo > 0 and not full.all():
        full = ndimage.minimum_filter(full, 2 * halo + 1, mode="nearest")
    return full.astype(np.float32)


def _upsample_flow(dx, dy, shape):
    """Field of the next finer level (zeros at the coarsest one)."""
    if dx is None:
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    rows, cols = np.mgrid[: shape[0], : shape[1]].astype(np.float32) / 2
    up = [2.0 * ndimage.map_coordinates(f, [rows, cols], order=1, mode="nearest") for f in (dx, dy)]
    return up[0], up[1]


def _reference_terms(ref: np.ndarray, ref_ok: np.ndarray) -> tuple:
    """What Lucas-Kanade needs of the reference features at a level, whatever the window
    radius: (ref, gx, gy, gxx, gyy, gxy, gx . ref, gy . ref), the gradients zero where the
    reference is invalid, the products summed over the channels."""
    gy, gx = np.gradient(ref, axis=(1, 2))
    gx *= ref_ok
    gy *= ref_ok
    gxx, gyy, gxy = (np.einsum("chw,chw->hw", a, b) for a, b in ((gx, gx), (gy, gy), (gx, gy)))
    gx_ref, gy_ref = np.einsum("chw,chw->hw", gx, ref), np.einsum("chw,chw->hw", gy, ref)
    return ref, gx, gy, gxx, gyy, gxy, gx_ref, gy_ref


def _lucas_kanade(terms, project, sec_ok, dx, dy, rad, iterations, tick):
    """Windowed least-squares flow, iterated with re-warping, in Folki's absolute form:
    the new flow solves sum_window g (g . u) = sum_window g (ref - sec(x + u0) + g . u0),
    g the reference feature gradient, summed over the feature channels (``terms``:
    :func:`_reference_terms`; ``project``: the g . sec(x + u0) of
    :func:`.flow_features._projector`).

    The window sums of the structure tensor (and its inverse) are only redone when the
    set of valid samples changes. Stops early once converged (CONVERGED_PX); returns
    (dx, dy, iterations run)."""
    def box(a):  # window sums in float64: the 2x2 solve must not lose its regularisation
        return ndimage.uniform_filter(a, 2 * rad + 1, output=np.float64, mode="constant")

    ref, gx, gy, gxx, gyy, gxy, gx_ref, gy_ref = terms
    rows, cols = np.mgrid[: ref.shape[1], : ref.shape[2]].astype(np.float32)
    all_valid = bool(sec_ok.all())
    w_previous = tensor = None
    ran = 0
    while ran < iterations:
        ran += 1
        tick()
        coords = [rows + dy, cols + dx]
        w = _sampled_validity(sec_ok, coords, all_valid)
        gx_sec, gy_sec = project(coords, w, gx, gy)
        bx = w * (gx_ref - gx_sec + dx * gxx + dy * gxy)
        by = w * (gy_ref - gy_sec + dx * gxy + dy * gyy)
        if w_previous is None or not np.array_equal(w, w_previous):
            tensor, w_previous = _window_tensor(box, w, gxx, gyy, gxy), w
        ixx, iyy, ixy, lam = tensor
        bx, by = box(bx + lam * dx), box(by + lam * dy)
        dx, previous_dx = (ixx * bx + ixy * by).astype(np.float32), dx
        dy, previous_dy = (ixy * bx + iyy * by).astype(np.float32), dy
        if _converged(dx - previous_dx, dy - previous_dy):
            break
    return dx, dy, ran


def _converged(step_x: np.ndarray, step_y: np.ndarray) -> bool:
    """At most CONVERGED_SHARE of the pixels moved more than CONVERGED_PX."""
    step_x *= step_x
    step_y *= step_y
    step_x += step_y
    return np.count_nonzero(step_x > CONVERGED_PX ** 2) <= CONVERGED_SHARE * step_x.size


def _window_tensor(box, w, gxx, gyy, gxy):
    """The inverse (xx, yy, xy) of the window sums of the structure tensor over the valid
    samples, with the pull towards the local mean flow (``lam``, also added to the
    right-hand sides) on the diagonal, and ``lam``."""
    sxx, syy, sxy = box(w * gxx), box(w * gyy), box(w * gxy)
    lam = TIKHONOV * (np.mean(sxx) + np.mean(syy)) + 1e-12
    sxx += lam
    syy += lam
    det = sxx * syy
    det -= sxy * sxy
    sxy /= -det
    sxx /= det
    syy /= det
    return syy, sxx, sxy, lam


def _sampled_validity(sec_ok, coords, all_valid: bool) -> np.ndarray:
    """True where the warp samples only valid secondary pixels, inside the image."""
    if not all_valid:
        return ndimage.map_coordinates(sec_ok, coords, order=1, mode="constant") > 0.999
    (h, w), (r, c) = sec_ok.shape, coords
    return (r >= 0) & (r <= h - 1) & (c >= 0) & (c <= w - 1)
