"""Sub-pixel phase correlation of two image patches, with a peak-strength measure."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

#: Std of the Gaussian low-pass applied to the cross-power spectrum, in cycles/pixel.
#: Damps the frequencies where noise, aliasing and interpolation error live.
LOWPASS_SIGMA = 0.2


@dataclass(frozen=True)
class PeakMatch:
    """Result of :func:`phase_correlation`.

    Attributes
    ----------
    shift : tuple of float
        (row, col) shift in pixels to apply to ``moving`` to register it with
        ``reference`` (positive row = down, positive col = right).
    peak : float
        Height of the normalised correlation peak, 1 for identical patches, ~0 for
        unrelated ones.
    snr : float
        Peak height over the standard deviation of the surface away from the peak.
    """

    shift: tuple[float, float]
    peak: float
    snr: float


def phase_correlation(
    reference: np.ndarray,
    moving: np.ndarray,
    *,
    weight: np.ndarray | None = None,
    upsample_factor: int = 100,
) -> PeakMatch:
    """Shift between two equally shaped patches by windowed phase correlation.

    Both patches are apodised by a Hann window (times ``weight``, which fades out
    invalid pixels), whitened, low-passed and correlated; the integer peak is refined
    by a matrix-multiply DFT upsampled ``upsample_factor`` times around it.

    Parameters
    ----------
    reference, moving : ndarray, shape (M, N)
        Patches without NaN.
    weight : ndarray, shape (M, N), optional
        Per-pixel weight in [0, 1] (0 = ignore), applied to both patches.
    upsample_factor : int
        Sub-pixel precision is 1 / ``upsample_factor`` pixel.

    References
    ----------
    Guizar-Sicairos, Thurman & Fienup (2008), Efficient subpixel image registration
    algorithms. Opt. Lett. 33, 156-158. :DOI:`10.1364/OL.33.000156`
    """
    window = _hann(reference.shape) if weight is None else _hann(reference.shape) * weight
    lowpass = _lowpass(reference.shape)
    spectrum = _cross_power(reference, moving, window) * lowpass
    norm = lowpass.size / lowpass.sum()
    surface = sfft.ifft2(spectrum).real * norm
    peak_index = np.unravel_index(np.argmax(surface), surface.shape)
    coarse = np.array([_signed(i, n) for i, n in zip(peak_index, surface.shape)], float)
    shift, peak = _refine(spectrum, coarse, upsample_factor)
    return PeakMatch((float(shift[0]), float(shift[1])), float(peak * norm),
                     _snr(surface, peak_index))


@functools.lru_cache(maxsize=8)
def _hann(shape: tuple[int, int]) -> np.ndarray:
    return np.outer(np.hanning(shape[0]), np.hanning(shape[1]))


@functools.lru_cache(maxsize=8)
def _lowpass(shape: tuple[int, int]) -> np.ndarray:
    fy = sfft.fftfreq(shape[0])[:, None]
    fx = sfft.fftfreq(shape[1])[None, :]
    return np.exp(-(fx**2 + fy**2) / (2 * LOWPASS_SIGMA**2))


def _cross_power(reference: np.ndarray, moving: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Whitened cross-power spectrum F G* / |F G*| of the apodised patches."""
    total = window.sum()
    spectra = []
    for image in (reference, moving):
        mean = (image * window).sum() / total if total else 0.0
        spectra.append(sfft.fft2((image - mean) * window))
    product = spectra[0] * spectra[1].conj()
    magnitude = np.abs(product)
    product /= np.where(magnitude > 0, magnitude, 1.0)
    return product


def _signed(index: int, size: int) -> int:
    return index - size if index > size // 2 else index


def _refine(spectrum: np.ndarray, coarse: np.ndarray, factor: int) -> tuple[np.ndarray, float]:
    """Maximise the correlation around ``coarse`` to 1/factor px, in two zoom stages
    (1.5 px box at 1/10 px, then 0.2 px box at 1/factor px): cheaper than one."""
    shift, value = coarse, 0.0
    for step_factor, box in ((min(10, factor), 1.5), (factor, 0.2)):
        size = int(np.ceil(step_factor * box))
        offset = size // 2 - shift * step_factor
        upsampled = _upsampled_dft(spectrum.conj(), size, step_factor, offset).conj().real
        index = np.unravel_index(np.argmax(upsampled), upsampled.shape)
        shift = shift + (np.array(index, float) - size // 2) / step_factor
        value = upsampled[index]
    return shift, value / spectrum.size


def _upsampled_dft(data: np.ndarray, size: int, factor: int, offset: np.ndarray) -> np.ndarray:
    """DFT of ``data`` on a ``size``-square grid of step 1/factor starting at -offset."""
    for n, off in reversed(list(zip(data.shape, offset))):
        phase = (np.arange(size) - off)[:, None] * sfft.fftfreq(n, factor)[None, :]
        data = np.tensordot(np.exp(-2j * np.pi * phase), data, axes=(1, -1))
    return data


def _snr(surface: np.ndarray, peak_index: tuple[int, int], exclude: int = 3) -> float:
    rolled = np.roll(surface, (-peak_index[0] + exclude, -peak_index[1] + exclude), (0, 1))
    mask = np.ones(surface.shape, bool)
    mask[: 2 * exclude + 1, : 2 * exclude + 1] = False
    spread = rolled[mask].std()
    return float(surface[peak_index] / spread) if spread > 0 else 0.0
