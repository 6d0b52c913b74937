"""Uncertainty of a DEM pipeline's terms: a spatial block bootstrap for the noise, a
jackknife over slope classes for the terrain-dependent error.

Elevation errors are spatially correlated, so resampling single pixels would make the
terms look far more certain than they are. The stable pixels are cut into square tiles
(about :data:`TILES_PER_SIDE` per side of the area, each larger than the usual error
correlation ranges of a few pixels); replicates draw tiles with replacement and refit
the whole pipeline; the spread of each term over the replicates is its bootstrap error.

That alone covered the truth of sensor-simulated pairs in only 85-90 % of the cases
(benchmarks/dem_uncertainty.py): beside the noise, a DEM pair differs by the error of
resampling rugged relief, which depends on the terrain (slope, curvature) and so on
where the mountains are. With a fixed scene it is the same in every tile draw, and with
white noise it was as large as the noise's part (over 60 noise draws of one pair, the
tilt was off on average by more than the draws' spread). A delete-one-class jackknife over
:data:`SLOPE_CLASSES` slope classes measures how much the terms depend on the terrain
they are measured on. Both estimate the whole error, each blind to a part: the
jackknife sees the terrain-dependent error and white noise (its classes interleave
in space) but little of spatially correlated noise, which the tiles see. The standard
error is the larger of the two; adding them in quadrature would count white noise
twice (on 40 pairs it covered the shifts 100 % of the time). The interval is the
estimate +- Student's t (replicates - 1 degrees of freedom) standard errors, since the
bootstrap's own spread comes from a few tens of replicates.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from scipy import stats

from ..errors import check_canceled

#: Tiles across the area's longer side, and the replicates drawn.
TILES_PER_SIDE = 8
REPLICATES = 30
#: The 95 % interval is the estimate +- this many standard errors (large samples).
Z95 = 1.959964
#: Slope classes (equal counts) of the terrain jackknife.
SLOPE_CLASSES = 5


def t95(replicates: int) -> float:
    """Half-width of the 95 % interval in standard errors estimated from
    ``replicates`` replicates (Student's t)."""
    return float(stats.t.ppf(0.975, max(replicates - 1, 1)))


def terms_as_numbers(alignment_terms: dict, corrections) -> dict[str, float]:
    """The scalar terms of a fit: shift, rotation and each correction's numbers (its
    coefficients, tilts, sine amplitudes and wavelengths, angle)."""
    out = {k: float(alignment_terms[k]) for k in ("shift_x", "shift_y", "shift_z",
                                                   "rotation_deg")}
    for terms in corrections:
        step = terms["step"]
        for key, value in terms.items():
            if key in ("origin", "scale", "order", "centre") or isinstance(value, (bool, str)):
                continue
            if isinstance(value, (int, float)):
                out[f"{step}.{key}"] = float(value)
            elif key == "coefficients":
                out.update({f"{step}.{name}": float(v) for name, v in value.items()})
            elif key == "sines":
                for k, sine in enumerate(value):
                    out[f"{step}.sine{k}.amplitude"] = float(sine["amplitude"])
                    out[f"{step}.sine{k}.wavelength"] = float(sine["wavelength"])
    return out


def tiles_of(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Tile index of every sample (square tiles, TILES_PER_SIDE along the longer side)."""
    side = max(np.ptp(rows), np.ptp(cols), 1.0) / TILES_PER_SIDE
    tr = ((rows - rows.min()) // side).astype(int)
    tc = ((cols - cols.min()) // side).astype(int)
    return tr * (int(tc.max()) + 1) + tc


def bootstrap(fit_once, samples, replicates: int = REPLICATES, seed: int = 0,
              is_canceled=None) -> dict:
    """Standard errors of the numbers ``fit_once(samples)`` returns (a dict of terms),
    by refitting on ``replicates`` tile-resampled copies of ``samples``."""
    tiles = tiles_of(samples.rows, samples.cols)
    ids = np.unique(tiles)
    members = [np.nonzero(tiles == t)[0] for t in ids]
    rng = np.random.default_rng(seed)
    draws: list[dict[str, float]] = []
    for _ in range(replicates):
        check_canceled(is_canceled, "Canceled while bootstrapping the DEM fit.")
        chosen = rng.integers(0, ids.size, ids.size)
        index = np.sort(np.concatenate([members[k] for k in chosen]))
        try:
            draws.append(fit_once(_take(samples, index)))
        except Exception:  # noqa: BLE001 - a replicate too poor to fit says nothing
            continue
    keys = set.intersection(*(set(d) for d in draws)) if draws else set()
    noise = {k: float(np.std([d[k] for d in draws], ddof=1)) for k in sorted(keys)
             if len(draws) > 1}
    terrain = terrain_jackknife(fit_once, samples, is_canceled)
    sigma = {k: max(v, terrain.get(k, 0.0)) for k, v in noise.items()}
    half = t95(len(draws))
    return {"method": "spatial block bootstrap + slope-class jackknife",
            "replicates": len(draws), "tiles": int(ids.size),
            "slope_classes": SLOPE_CLASSES, "standard_error": sigma,
            "standard_error_bootstrap": noise, "standard_error_terrain": terrain,
            "t95": half, "interval_95": {k: half * s for k, s in sigma.items()}}


def terrain_jackknife(fit_once, samples, is_canceled=None) -> dict[str, float]:
    """Delete-one-class jackknife standard error of every term over
    :data:`SLOPE_CLASSES` classes of equal counts of the reference slope."""
    slope = np.hypot(samples.gx, samples.gy)
    edges = np.quantile(slope, np.linspace(0, 1, SLOPE_CLASSES + 1)[1:-1])
    classes = np.searchsorted(edges, slope, side="right")
    fits = []
    for k in range(SLOPE_CLASSES):
        check_canceled(is_canceled, "Canceled while bootstrapping the DEM fit.")
        try:
            fits.append(fit_once(_take(samples, np.nonzero(classes != k)[0])))
        except Exception:  # noqa: BLE001 - a class too poor to leave out says nothing
            continue
    if len(fits) < 2:
        return {}
    n = len(fits)
    keys = set.intersection(*(set(f) for f in fits))
    return {k: float(math.sqrt((n - 1) / n * np.sum(
        (np.array([f[k] for f in fits]) - np.mean([f[k] for f in fits])) ** 2)))
        for k in sorted(keys)}


def _take(samples, index: np.ndarray):
    """The samples at ``index`` (repeats allowed), all per-sample arrays together."""
    names = ("rows", "cols", "ref", "gx", "gy", "chunk", "curvature")
    return replace(samples, **{n: getattr(samples, n)[index] for n in names
                               if getattr(samples, n) is not None})


def coverage(errors: np.ndarray, sigmas: np.ndarray, half: float = Z95) -> float:
    """Share of |error| within ``half`` standard errors (for calibration checks)."""
    ok = np.isfinite(errors) & np.isfinite(sigmas)
    return float(np.mean(np.abs(errors[ok]) <= half * sigmas[ok])) if ok.any() else math.nan
