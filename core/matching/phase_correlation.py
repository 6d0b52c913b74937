"""Sub-pixel phase correlation of two image patches, with a peak-strength measure."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

#: Std of the Gaussian low-pass applied to the cross-power spectrum, in cycles/pixel.
#: Damps the frequencies where noise, aliasing and interpolation error live.
LOWPASS_SIGMA = 0.2
#: Low-pass weights below this are zero: a narrow refinement band (upsampled pairs) leaves
#: weights of 1e-43 far out, subnormal in single precision, whose arithmetic made the
#: sub-pixel refinement 2.7 times slower (49 patches of 64 px: 6.7 ms, not 2.5); next
#: to the spectrum's weight of 1 at its centre they change no result.
LOWPASS_FLOOR = 1e-20


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
    shifts, peaks, snrs = phase_correlation_batch(
        reference[None], moving[None], weight=None if weight is None else weight[None],
        upsample_factor=upsample_factor)
    return PeakMatch((float(shifts[0, 0]), float(shifts[0, 1])), float(peaks[0]),
                     float(snrs[0]))


def phase_correlation_batch(
    reference: np.ndarray,
    moving: np.ndarray,
    *,
    weight: np.ndarray | None = None,
    upsample_factor: int = 100,
    snr: bool = True,
    refine_sigma: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`phase_correlation` of K patch pairs at once (one FFT call, batched
    matrix products): the same numbers, many times faster for small patches.

    Parameters
    ----------
    reference, moving : ndarray, shape (K, M, N)
    weight : ndarray, shape (K, M, N), optional
    snr : bool
        Whether to compute the SNRs (else NaN): a tenth of the time, not always needed.
    refine_sigma : float, optional
        Std (cycles/pixel) of a narrower low-pass for the sub-pixel refinement only: the
        whole-pixel peak, its height and the SNR keep :data:`LOWPASS_SIGMA`. Pixels that
        are area averages (a sensor's) alias much of the band near Nyquist, and there
        the phases of two differently sampled images disagree by the sub-pixel phase
        itself: a bias of up to 0.02 px at 1/3 px phases that the narrower band avoids.

    Returns
    -------
    shifts : ndarray, shape (K, 2)
        (row, col) shifts, as :attr:`PeakMatch.shift`.
    peaks, snrs : ndarray, shape (K,)
    """
    shape = reference.shape[1:]
    window = hann(shape)[None] if weight is None else hann(shape)[None] * weight
    lowpass, norm = _lowpass(shape, LOWPASS_SIGMA)
    whitened = _cross_power(reference, moving, window)
    spectrum = whitened * lowpass
    surface = sfft.irfft2(spectrum, s=shape, axes=(-2, -1)) * norm
    flat = surface.reshape(len(surface), -1).argmax(axis=1)
    peak_index = np.stack(np.unravel_index(flat, shape), axis=1)
    coarse = np.where(peak_index > np.array(shape) // 2, peak_index - np.array(shape),
                      peak_index).astype(float)
    if refine_sigma is None or refine_sigma >= LOWPASS_SIGMA:
        shifts, peaks = _refine(spectrum, shape, coarse, upsample_factor)
    else:  # refined in the narrow band; the height read on the usual surface there
        whitened *= _lowpass(shape, refine_sigma)[0]
        shifts, _ = _refine(whitened, shape, coarse, upsample_factor)
        peaks = _surface_at(spectrum, shape, shifts)
    snrs = _snr(surface, peak_index) if snr else np.full(len(surface), np.nan)
    return shifts, peaks * norm, snrs


@functools.lru_cache(maxsize=8)
def hann(shape: tuple[int, int]) -> np.ndarray:
    """The 2-D Hann window of ``shape`` (M, N): the outer product of numpy's symmetric
    :func:`numpy.hanning` windows, float32. Cached, so shared and read-only: one window
    for the correlation and :func:`.band_limit.band_limit` alike."""
    window = np.outer(np.hanning(shape[0]), np.hanning(shape[1])).astype(np.float32)
    window.flags.writeable = False
    return window


@functools.lru_cache(maxsize=8)
def _lowpass(shape: tuple[int, int], sigma: float) -> tuple[np.ndarray, float]:
    """The low-pass on the half spectrum (real FFT), and the factor that makes the
    filtered correlation of identical patches peak at 1 (size / sum of the full filter)."""
    fy = sfft.fftfreq(shape[0])[:, None]
    half = np.exp(-(sfft.rfftfreq(shape[1])[None, :] ** 2 + fy**2) / (2 * sigma**2))
    half[half < LOWPASS_FLOOR] = 0.0
    full_sum = (half * _half_spectrum_weights(shape[1])).sum()
    return half.astype(np.float32), shape[0] * shape[1] / full_sum


def _cross_power(reference: np.ndarray, moving: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Whitened cross-power spectra F G* / |F G*| of the apodised patches, on the half
    spectrum of the real FFT, single precision, shape (K, M, N // 2 + 1)."""
    total = window.sum(axis=(-2, -1), keepdims=True)
    total = np.where(total != 0, total, np.inf)
    spectra = []
    for image in (reference, moving):
        apodised = (image * window).astype(np.float32, copy=False)
        # (image - mean) * window, the mean weighted by the window:
        apodised -= apodised.sum(axis=(-2, -1), keepdims=True) / total * window
        spectrum = sfft.rfft2(apodised, axes=(-2, -1))
        # Whitened one by one: the product of two faint single-precision spectra underflows.
        spectrum /= np.maximum(np.abs(spectrum), np.finfo(np.float32).tiny)
        spectra.append(spectrum)
    product = np.conjugate(spectra[1], out=spectra[1])
    product *= spectra[0]
    # The means are removed, so the DC term is rounding noise: count it as in phase.
    product[:, 0, 0] = 1
    return product


def _refine(spectrum: np.ndarray, shape: tuple[int, int], coarse: np.ndarray,
            factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Maximise each correlation around ``coarse`` (K, 2) to 1/factor px, in two zoom
    stages (1.5 px box at 1/10 px, then 0.2 px box at 1/factor px): cheaper than one;
    then a parabola through the best node and its neighbours on each axis places the
    peak between the nodes (else every patch that is off by less than 1/(2 factor) px
    reads 0, and so does their mean)."""
    shift, value = coarse, np.zeros(len(coarse))
    rows = np.arange(len(coarse))
    weighted = spectrum * _half_spectrum_weights(shape[1])
    for step_factor, box in ((min(10, factor), 1.5), (factor, 0.2)):
        size = int(np.ceil(step_factor * box))
        start = shift - size // 2 / step_factor
        upsampled = _upsampled_surface(weighted, shape, size, step_factor, start)
        flat = upsampled.reshape(len(upsampled), -1).argmax(axis=1)
        index = np.stack(np.unravel_index(flat, (size, size)), axis=1)
        shift = shift + (index - size // 2) / step_factor
        value = upsampled[rows, index[:, 0], index[:, 1]]
    return shift + _vertex(upsampled, index) / factor, value / (shape[0] * shape[1])


def _vertex(surface: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Offsets (K, 2), in nodes, of the vertex of the parabola through each surface's node
    ``index`` and its two neighbours along each axis; 0 at the border or when flat."""
    offsets = np.zeros(index.shape)
    size = surface.shape[1]
    inner = np.all((index > 0) & (index < size - 1), axis=1)
    k, (r, c) = np.flatnonzero(inner), index[inner].T
    for axis, (before, after) in enumerate((((r - 1, c), (r + 1, c)), ((r, c - 1), (r, c + 1)))):
        lo, mid, hi = surface[k, before[0], before[1]], surface[k, r, c], surface[k, after[0],
                                                                                  after[1]]
        curvature = lo - 2 * mid + hi
        with np.errstate(divide="ignore", invalid="ignore"):
            vertex = np.where(curvature < 0, 0.5 * (lo - hi) / curvature, 0.0)
        offsets[k, axis] = np.clip(vertex, -0.5, 0.5)
    return offsets


def _surface_at(spectrum: np.ndarray, shape: tuple[int, int],
                shifts: np.ndarray) -> np.ndarray:
    """Each correlation surface's value at its (row, col) position ``shifts`` (K, 2)."""
    weighted = spectrum * _half_spectrum_weights(shape[1])
    value = _upsampled_surface(weighted, shape, 1, 1, shifts)[:, 0, 0]
    return value / (shape[0] * shape[1])


def _upsampled_surface(half: np.ndarray, shape: tuple[int, int], size: int, factor: int,
                       start: np.ndarray) -> np.ndarray:
    """Real part of the inverse DFT of each weighted half spectrum (K, M, N // 2 + 1),
    unnormalised, on a ``size``-square grid of step 1/factor pixel from ``start[k]``
    (K, 2, row and column): two batched matrix products (Guizar-Sicairos et al.)."""
    rows = _dft_kernel(start[:, 0], shape[0], False, size, factor)
    cols = _dft_kernel(start[:, 1], shape[1], True, size, factor)
    return (rows @ half @ np.swapaxes(cols, -1, -2)).real


def _dft_kernel(start: np.ndarray, n: int, half: bool, size: int, factor: int) -> np.ndarray:
    """exp(2 pi i x f) for x = start[k] + j / factor (j < size) and the frequencies f of
    an n-point (half, if ``half``) spectrum, shape (K, size, frequencies), complex64:
    the product of a per-patch and a shared factor, not K x size x n exponentials."""
    freq = _frequencies(n, half)
    return (np.exp(2j * np.pi * start[:, None] * freq[None, :]).astype(np.complex64)[:, None, :]
            * _grid_kernel(n, half, size, factor)[None])


@functools.lru_cache(maxsize=16)
def _frequencies(n: int, half: bool) -> np.ndarray:
    """Frequencies (cycles per pixel) of an n-point spectrum, the half one of a real FFT
    with its Nyquist term at -0.5 (as numpy's full spectrum has it)."""
    if not half:
        return sfft.fftfreq(n)
    freq = sfft.rfftfreq(n)
    if n % 2 == 0:
        freq[-1] = -0.5
    return freq


@functools.lru_cache(maxsize=16)
def _half_spectrum_weights(n: int) -> np.ndarray:
    """How many times each column of an n-point real FFT's half spectrum counts in the
    full one: twice between 0 and the Nyquist column, which only an even n has."""
    weights = np.full(n // 2 + 1, 2.0, np.float32)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    return weights


@functools.lru_cache(maxsize=16)
def _grid_kernel(n: int, half: bool, size: int, factor: int) -> np.ndarray:
    steps = np.arange(size)[:, None] / factor
    return np.exp(2j * np.pi * steps * _frequencies(n, half)[None, :]).astype(np.complex64)


def _snr(surface: np.ndarray, peak_index: np.ndarray, exclude: int = 3) -> np.ndarray:
    """Peak over the standard deviation of each surface outside a box around its peak."""
    shape = np.array(surface.shape[1:])
    near = []
    for axis in (0, 1):
        d = (np.arange(shape[axis])[None, :] - peak_index[:, axis, None] + exclude) \
            % shape[axis]
        near.append(d <= 2 * exclude)
    away = ~(near[0][:, :, None] & near[1][:, None, :])
    count = away.sum(axis=(1, 2))
    mean = np.where(away, surface, 0).sum(axis=(1, 2)) / count
    spread = np.sqrt(np.where(away, (surface - mean[:, None, None]) ** 2, 0).sum(axis=(1, 2))
                     / count)
    peak = surface[np.arange(len(surface)), peak_index[:, 0], peak_index[:, 1]]
    return np.divide(peak, spread, out=np.zeros_like(peak), where=spread > 0)
