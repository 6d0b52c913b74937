"""Uncertainty of a DEM pipeline's terms by a spatial block bootstrap.

Elevation errors are spatially correlated, so resampling single pixels would make the
terms look far more certain than they are. The stable pixels are cut into square tiles
(about :data:`TILES_PER_SIDE` per side of the area, each larger than the usual error
correlation ranges of a few pixels); replicates draw tiles with replacement and refit
the whole pipeline; the spread of each term over the replicates is its standard error.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

#: Tiles across the area's longer side, and the replicates drawn.
TILES_PER_SIDE = 8
REPLICATES = 30
#: The 95 % interval is the estimate +- this many standard errors.
Z95 = 1.959964


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
        if is_canceled and is_canceled():
            from ..errors import CanceledError

            raise CanceledError("Canceled while bootstrapping the DEM fit.")
        chosen = rng.integers(0, ids.size, ids.size)
        index = np.sort(np.concatenate([members[k] for k in chosen]))
        try:
            draws.append(fit_once(_take(samples, index)))
        except Exception:  # noqa: BLE001 - a replicate too poor to fit says nothing
            continue
    keys = set.intersection(*(set(d) for d in draws)) if draws else set()
    sigma = {k: float(np.std([d[k] for d in draws], ddof=1)) for k in sorted(keys)
             if len(draws) > 1}
    return {"method": "spatial block bootstrap", "replicates": len(draws),
            "tiles": int(ids.size), "standard_error": sigma,
            "interval_95": {k: Z95 * s for k, s in sigma.items()}}


def _take(samples, index: np.ndarray):
    """The samples at ``index`` (repeats allowed), all per-sample arrays together."""
    names = ("rows", "cols", "ref", "gx", "gy", "chunk", "curvature")
    return replace(samples, **{n: getattr(samples, n)[index] for n in names
                               if getattr(samples, n) is not None})


def coverage(errors: np.ndarray, sigmas: np.ndarray) -> float:
    """Share of |error| within the 95 % interval (for calibration checks)."""
    ok = np.isfinite(errors) & np.isfinite(sigmas)
    return float(np.mean(np.abs(errors[ok]) <= Z95 * sigmas[ok])) if ok.any() else math.nan
