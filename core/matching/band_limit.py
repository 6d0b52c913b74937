"""How far up the spectrum a pair of images holds detail of its own.

An image resampled onto a finer grid than it was sampled on (a 20 m band delivered at
10 m, a product upsampled by its provider) has no content of its own above its original
Nyquist frequency: there it holds the resampling kernel's leftovers of the original
spectrum's mirror images, whose phases follow the original sampling grid, not the
scene. Whitened phase correlation gives those frequencies the weight of real detail, and
its sub-pixel shift then leans towards whole pixels of the original grid: on Sentinel-2
bands upsampled 2 x 2 by GDAL's Lanczos kernel, a quarter-pixel shift read as 0.19 px
(0.25 px on the native pair). :func:`band_limit` finds that frequency from the patches'
power spectra, so that the sub-pixel refinement can keep below it.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from .phase_correlation import hann

#: Radial frequencies (cycles/pixel) where the power law of the scene is fitted: below
#: any band limit this module is meant to find (oversampling up to 3 x).
FIT_BAND = (0.04, 0.14)
#: Power below this share of the fitted law's marks the band's end: natural scenes
#: follow the law (or exceed it: noise, aliasing) up to their Nyquist frequency, a
#: sensor's blur takes them to a few tenths there, an upsampling kernel to hundredths.
DROP = 0.02
#: Limits above this (cycles/pixel) count as the whole band: nothing changes for images
#: on their native grid.
WHOLE_BAND = 0.35


def band_limit(patches: np.ndarray) -> float:
    """The frequency (cycles/pixel, at most 0.5) above which ``patches`` (K, M, N,
    without NaN) hold less than :data:`DROP` of the power their scene's power law
    predicts; 0.5 when that is beyond :data:`WHOLE_BAND` or cannot be told."""
    if patches.ndim != 3 or len(patches) == 0 or min(patches.shape[1:]) < 32:
        return 0.5
    k, m, n = patches.shape
    window = hann((m, n))
    centred = patches - patches.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(sfft.rfft2(centred * window, axes=(1, 2))) ** 2).mean(axis=0)
    fy = sfft.fftfreq(m)[:, None]
    fx = sfft.rfftfreq(n)[None, :]
    radius = np.hypot(fy, fx)
    edges = np.arange(0.02, 0.5 + 1e-9, 0.02)
    which = np.digitize(radius, edges).ravel()  # ring i + 1 lies between edges i, i + 1
    centres = (edges[:-1] + edges[1:]) / 2
    sums = np.bincount(which, weights=power.ravel(), minlength=len(edges) + 1)
    counts = np.bincount(which, minlength=len(edges) + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        density = (sums / counts)[1:len(edges)]
    fit = (centres >= FIT_BAND[0]) & (centres <= FIT_BAND[1]) & (density > 0)
    if fit.sum() < 3:
        return 0.5
    slope, intercept = np.polyfit(np.log(centres[fit]), np.log(density[fit]), 1)
    predicted = np.exp(intercept + slope * np.log(centres))
    below = (centres > FIT_BAND[1]) & ~(density >= DROP * predicted)
    if not below.any():
        return 0.5
    limit = float(centres[np.argmax(below)] - 0.01)
    return 0.5 if limit > WHOLE_BAND else limit
