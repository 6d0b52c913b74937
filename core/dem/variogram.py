"""Spatial correlation of elevation errors: empirical variogram, fitted models, and the
standard error of a mean elevation change over an area.

The errors of a DEM difference are correlated over hundreds of metres to kilometres, so
the mean dh over a glacier is far less certain than sigma / sqrt(N) says. Following
Rolstad et al. (2009) and Hugonnet et al. (2022) (xdem's approach): the error of each
pixel is sigma(slope) (heteroscedasticity, measured as the NMAD of stable dh per slope
class), the standardised stable dh / sigma(slope) gives an empirical variogram, a sum of
a nugget and one or two spherical / exponential / Gaussian structures is fitted to it,
and the variance of the mean over an area is the double sum of the pixels' covariances
sigma_i sigma_j C(d_ij) / N^2.

Both the variogram and the double sum are computed exactly over every pixel pair with
FFTs (Marcotte 1996): for a mask m and values z, the pair counts per lag vector are the
autocorrelation of m and the summed squared differences follow from those of m, m z and
m z^2. No random subsample of pairs, so no second source of noise.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft, optimize

#: The variogram models (xdem/scikit-gstat's forms, ``range`` the effective range where
#: 95 % (exponential, Gaussian) or all (spherical) of the sill is reached).
MODELS = ("spherical", "exponential", "gaussian")
#: Lag classes of the empirical variogram (log-spaced) and their fewest pixel pairs.
LAG_BINS = 40
MIN_PAIRS = 50
#: Slope classes (degrees) of the heteroscedasticity, and the pixels a class needs.
SLOPE_EDGES = (0.0, 2.5, 5.0, 7.5, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0, 50.0, 90.0)
MIN_CLASS_PIXELS = 100


def _shape_of(values: np.ndarray) -> tuple[int, int]:
    """FFT size holding every lag of ``values`` without wrap-around."""
    return tuple(fft.next_fast_len(2 * n - 1, real=True) for n in values.shape)


def _correlate(a_hat: np.ndarray, b_hat: np.ndarray, shape) -> np.ndarray:
    """sum_i a_i b_(i+h) for every lag vector h (index modulo ``shape``)."""
    return fft.irfft2(np.conj(a_hat) * b_hat, s=shape, workers=-1)


def _lag_distances(shape, n_rows: int, n_cols: int, res_x: float, res_y: float) -> np.ndarray:
    """Distance of every lag vector of an FFT of ``shape`` (negative lags wrap around)."""
    dy = np.arange(shape[0])
    dy = np.where(dy < n_rows, dy, dy - shape[0]) * res_y
    dx = np.arange(shape[1])
    dx = np.where(dx < n_cols, dx, dx - shape[1]) * res_x
    return np.hypot(dy[:, None], dx[None, :])


def pair_sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
    """For every lag vector: the number of pixel pairs where both are finite, and the
    sum of their squared differences."""
    valid = np.isfinite(values)
    centre = float(np.mean(values[valid])) if valid.any() else 0.0
    z = np.where(valid, values - centre, 0.0)
    m = valid.astype(float)
    shape = _shape_of(values)
    m_hat, z_hat, z2_hat = (fft.rfft2(a, s=shape, workers=-1) for a in (m, z, z * z))
    pairs = np.rint(_correlate(m_hat, m_hat, shape))
    squares = (_correlate(z2_hat, m_hat, shape) + _correlate(m_hat, z2_hat, shape)
               - 2 * _correlate(z_hat, z_hat, shape))
    return pairs, np.maximum(squares, 0.0), shape


def empirical_variogram(values: np.ndarray, res_x: float, res_y: float, *,
                        max_lag: float | None = None, bins: int = LAG_BINS) -> dict:
    """Semivariance of ``values`` (a grid, NaN = no data) in log-spaced lag classes from
    one pixel to ``max_lag`` (default: half the grid's diagonal), over every pair of
    pixels: ``lag`` (pair-weighted mean distance), ``gamma`` and ``pairs`` per class."""
    rows, cols = values.shape
    if max_lag is None:
        max_lag = 0.5 * math.hypot(rows * res_y, cols * res_x)
    pairs, squares, shape = pair_sums(values)
    distance = _lag_distances(shape, rows, cols, res_x, res_y)
    step = min(res_x, res_y)
    edges = np.geomspace(0.5 * step, max(max_lag, 2 * step), bins + 1)
    use = (pairs > 0) & (distance > 0) & (distance <= edges[-1])
    index = np.digitize(distance[use], edges) - 1
    n = np.bincount(index, pairs[use], bins)
    s = np.bincount(index, squares[use], bins)
    d = np.bincount(index, pairs[use] * distance[use], bins)
    keep = n >= MIN_PAIRS
    return {"lag": (d[keep] / n[keep]).tolist(), "gamma": (s[keep] / (2 * n[keep])).tolist(),
            "pairs": n[keep].astype(np.int64).tolist()}


def merged_variogram(fine: dict, coarse: dict, fine_max_lag: float) -> dict:
    """The variogram of a full-resolution window for lags up to ``fine_max_lag`` and of
    the thinned whole grid beyond (large rasters)."""
    out = {"lag": [], "gamma": [], "pairs": []}
    for part, inside in ((fine, True), (coarse, False)):
        for lag, gamma, pairs in zip(part["lag"], part["gamma"], part["pairs"]):
            if (lag <= fine_max_lag) == inside:
                out["lag"].append(lag)
                out["gamma"].append(gamma)
                out["pairs"].append(pairs)
    return out


def structure(model: str, distance: np.ndarray, range_: float) -> np.ndarray:
    """A unit-sill variogram structure at ``distance`` (0 at 0, 1 at and beyond the
    range for the spherical model, asymptotically for the others)."""
    h = np.asarray(distance, float) / range_
    if model == "spherical":
        return np.where(h < 1, 1.5 * h - 0.5 * h**3, 1.0)
    if model == "exponential":
        return 1.0 - np.exp(-3.0 * h)
    if model == "gaussian":
        return 1.0 - np.exp(-3.0 * h**2)
    raise ValueError(f"unknown variogram model {model!r}")


def model_gamma(fitted: dict, distance) -> np.ndarray:
    """Semivariance of a fitted model (nugget + structures) at ``distance`` > 0."""
    gamma = np.full(np.shape(distance), fitted["nugget"], float)
    for s in fitted["structures"]:
        gamma = gamma + s["sill"] * structure(s["model"], distance, s["range"])
    return gamma


def _fit_one(models: tuple[str, ...], lag, gamma, min_range, max_range) -> dict | None:
    k = len(models)
    top = float(np.max(gamma))

    def curve(h, nugget, *p):
        out = np.full(h.shape, nugget)
        for j, model in enumerate(models):
            out = out + p[2 * j + 1] * structure(model, h, p[2 * j])
        return out

    ranges = np.geomspace(min_range * 2, max_range / 2, k + 2)[1:-1]
    start = [0.1 * top] + [v for r in ranges for v in (r, 0.9 * top / k)]
    low = [0.0] + [v for _ in models for v in (min_range, 0.0)]
    high = [top * 1.5] + [v for _ in models for v in (max_range, top * 3)]
    try:
        params, _ = optimize.curve_fit(curve, lag, gamma, p0=start, bounds=(low, high),
                                       maxfev=4000)
    except (RuntimeError, ValueError):
        return None
    rss = float(np.sum((curve(lag, *params) - gamma) ** 2))
    pairs = sorted(zip(params[1::2], params[2::2], models))
    return {"nugget": float(params[0]),
            "structures": [{"model": m, "range": float(r), "sill": float(s)}
                           for r, s, m in pairs],
            "aic": float(lag.size * math.log(max(rss, 1e-300) / lag.size) + 2 * params.size)}


def fit_variogram(variogram: dict) -> dict:
    """The best of a nugget plus one or two structures of :data:`MODELS` (least squares
    on the log-spaced lag classes, so every scale weighs alike; chosen by AIC, which
    charges the second structure for its two parameters)."""
    lag, gamma = np.asarray(variogram["lag"]), np.asarray(variogram["gamma"])
    if lag.size < 6:
        raise ValueError("Too few lag classes for a variogram fit.")
    # A range beyond the longest lag would be a guess: the sill there is unconstrained.
    min_range, max_range = float(lag[0]), float(lag[-1])
    candidates = [(m,) for m in MODELS]
    candidates += [(a, b) for i, a in enumerate(MODELS) for b in MODELS[i:]]
    fits = [(models, _fit_one(models, lag, gamma, min_range, max_range))
            for models in candidates]
    fits = [(models, f) for models, f in fits if f is not None]
    if not fits:
        raise ValueError("No variogram model could be fitted.")
    best = min(fits, key=lambda item: item[1]["aic"])[1]
    best["sill"] = best["nugget"] + sum(s["sill"] for s in best["structures"])
    best["candidates"] = [{"models": list(models), "aic": f["aic"]} for models, f in fits]
    return best


def error_by_slope(dh: np.ndarray, slope_deg: np.ndarray) -> dict:
    """NMAD of ``dh`` per slope class (heteroscedasticity): the classes' median slope,
    NMAD and pixel count (classes with fewer than :data:`MIN_CLASS_PIXELS` dropped)."""
    ok = np.isfinite(dh) & np.isfinite(slope_deg)
    dh, slope_deg = dh[ok], slope_deg[ok]
    table = {"slope_deg": [], "nmad": [], "pixels": []}
    for low, high in zip(SLOPE_EDGES[:-1], SLOPE_EDGES[1:]):
        inside = (slope_deg >= low) & (slope_deg < high)
        if inside.sum() < MIN_CLASS_PIXELS:
            continue
        values = dh[inside]
        table["slope_deg"].append(float(np.median(slope_deg[inside])))
        table["nmad"].append(float(1.4826 * np.median(np.abs(values - np.median(values)))))
        table["pixels"].append(int(inside.sum()))
    if not table["nmad"]:
        raise ValueError("Too few stable pixels with a slope for the error model.")
    return table


def sigma_at(table: dict, slope_deg: np.ndarray) -> np.ndarray:
    """The error model of :func:`error_by_slope` at ``slope_deg`` (linear between class
    medians, constant beyond)."""
    return np.interp(slope_deg, table["slope_deg"], table["nmad"])


def mean_standard_error(sigma: np.ndarray, model: dict, res_x: float, res_y: float,
                        pixel_area_factor: float = 1.0) -> dict:
    """Standard error of the mean of dh over the pixels where ``sigma`` (each pixel's
    error, from :func:`sigma_at`) is finite, under the fitted variogram ``model`` of
    the standardised dh: sqrt(sum_ij sigma_i sigma_j C(d_ij)) / N, the structured part
    over every pair by FFT, the nugget (uncorrelated) part on the diagonal only.
    ``pixel_area_factor``: full-resolution pixels each pixel of ``sigma`` stands for
    (a thinned grid); the nugget part then shrinks with the true pixel count."""
    inside = np.isfinite(sigma)
    n = int(inside.sum())
    if n == 0:
        raise ValueError("The area holds no pixel of the DEM.")
    rows, cols = np.nonzero(inside)
    box = sigma[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    weights = np.where(np.isfinite(box), box, 0.0)
    shape = _shape_of(weights)
    w_hat = fft.rfft2(weights, s=shape, workers=-1)
    products = _correlate(w_hat, w_hat, shape)  # sum of sigma_i sigma_j per lag vector
    distance = _lag_distances(shape, *weights.shape, res_x, res_y)
    covariance = np.zeros(shape)
    for s in model["structures"]:
        covariance += s["sill"] * (1.0 - structure(s["model"], distance, s["range"]))
    structured = float(np.sum(products * covariance))
    n_full = n * pixel_area_factor
    nugget = model["nugget"] * float(np.sum(weights**2)) * pixel_area_factor
    variance = (structured * pixel_area_factor**2 + nugget) / n_full**2
    mean_square = float(np.mean(weights[weights > 0] ** 2)) * model["sill"]
    return {"pixels": int(round(n_full)),
            "standard_error": math.sqrt(max(variance, 0.0)),
            "standard_error_uncorrelated": math.sqrt(mean_square / n_full),
            "n_effective": float(mean_square / variance) if variance > 0 else float(n_full)}

