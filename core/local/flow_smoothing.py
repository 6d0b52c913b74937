"""The dense flow's last step: smoothing where its own noise explains its detail.

Lucas-Kanade's field is noisy where the images carry little texture: each window's least
squares then rests on noise, and the orientation features, normalised per pixel, give
that noise the weight of real edges. The error is fine-grained (on the Sentinel-2 pair of
benchmarks/scale.py, 0.076 px in the least-textured tenth of the pixels against 0.034 in
the most textured one), so it averages out over neighbours, but a uniform smoothing also
flattens the real detail of a field (GeFolki's mono-modal case got worse with a 7 x 7 box).

So the smoothing adapts to the data, as Lee's filter does for speckle: per axis, the
field ``f`` is split into its local mean ``m`` and detail ``d = f - m``, and the detail is
kept in the proportion in which it exceeds the flow's own noise there,

    f' = m + max(0, 1 - noise / var(d)) * d,

``noise`` the local mean of the squared least-squares bound of :func:`.uncertainty.
flow_bounds` (residual variance over the window's texture: large in flat or changed
areas, small in textured ones), ``var(d)`` the local mean of ``d**2``. Where the detail is
no larger than the noise the field takes its local mean; where it is larger (a real
change of the field, or a field measured on strong texture) it stays as it was.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..parallel import in_threads
from .uncertainty import flow_bounds

#: Passes of the box filter that make the local means: three boxes of width 2 r + 1 give
#: a Gaussian-like kernel of std ~ r, the flow's finest window radius (std 8 px for r = 8).
SMOOTHING_PASSES = 3


def noise_smoothed(reference: np.ndarray, secondary: np.ndarray, dx: np.ndarray,
                   dy: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(dx, dy) float32, each axis through the adaptive filter of the module docstring
    over local means of scale ``radius``; NaN in the images marks invalid pixels. The noise
    is the local mean of the bounds known (a window needs 16 valid pixels); where none is
    the field takes its local mean: it was filled in from its neighbours there anyway.
    Local rules only: a tile with a margin gives the whole image's field."""
    out = [dx, dy]
    bounds = flow_bounds(reference, secondary, dx, dy, radius)

    def axis(k: int) -> None:
        out[k] = _lee(out[k], bounds[k], 2 * radius + 1)

    in_threads(axis, [0, 1])
    return out[0], out[1]


def _local_mean(a: np.ndarray, width: int) -> np.ndarray:
    for _ in range(SMOOTHING_PASSES):
        a = ndimage.uniform_filter(a, width, mode="nearest")
    return a


def _lee(field: np.ndarray, bound: np.ndarray, width: int) -> np.ndarray:
    """The field where its detail exceeds the noise, its local mean where it does not."""
    known = np.isfinite(bound).astype(np.float32)
    noise = np.where(known > 0, bound, 0).astype(np.float32) ** 2
    field = field.astype(np.float32)  # float32: the filters' passes over memory halve
    mean = _local_mean(field, width)
    detail = field - mean
    spread = np.maximum(_local_mean(detail * detail, width), np.float32(1e-12))
    noise = _local_mean(noise, width)
    if not known.all():
        with np.errstate(invalid="ignore", divide="ignore"):  # no bound nearby: all noise
            noise /= _local_mean(known, width)
    keep = np.clip(1 - noise / spread, 0, 1)
    keep[~np.isfinite(keep)] = 0
    return mean + keep * detail
