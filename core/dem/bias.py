"""Bias corrections of a DEM after its shift: deramp, directional, terrain-dependent, vertical.

Each correction has the same interface: ``fit(where, dh)`` learns from the elevation
differences dh = reference - DEM on stable pixels described by :class:`Where`, calling
it gives the value to **add** to the DEM at any pixels, and ``terms()`` returns every
fitted term as a JSON-ready dict from which :func:`correction_from_terms` rebuilds it
(the report is the single description of what is applied to the written DEM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ..errors import CoregInputError, CoregistrationError
from .irls import reweighted_lstsq, tukey_weights

#: Pixels a bin (elevation, curvature, along-track position) needs to count.
MIN_BIN_PIXELS = 20
#: Rows a robust polynomial / LZD solve uses at most.
ROBUST_SAMPLES = 200_000
#: Candidate undulation components of the directional fit (the BIC picks how many).
MAX_SINES = 3


@dataclass(frozen=True)
class Where:
    """Pixels to fit or correct: map coordinates (DEM CRS), elevation and curvature
    (100 / m, xdem's convention: positive on convex terrain)."""

    x: np.ndarray
    y: np.ndarray
    elevation: np.ndarray
    curvature: np.ndarray
    #: Terrain gradient (dz/dx east, dz/dy north), for the LZD tilt's first-order term.
    gx: np.ndarray | None = None
    gy: np.ndarray | None = None

    def subset(self, keep: np.ndarray) -> Where:
        return Where(self.x[keep], self.y[keep], self.elevation[keep], self.curvature[keep],
                     None if self.gx is None else self.gx[keep],
                     None if self.gy is None else self.gy[keep])


def curvature(z: np.ndarray, res_x: float, res_y: float) -> np.ndarray:
    """xdem's curvature, -100 * Laplacian (5-point), of the centre of ``z`` (two pixels
    smaller in each axis), NaN-propagating."""
    d2x = (z[1:-1, :-2] + z[1:-1, 2:] - 2 * z[1:-1, 1:-1]) / res_x**2
    d2y = (z[:-2, 1:-1] + z[2:, 1:-1] - 2 * z[1:-1, 1:-1]) / res_y**2
    return -100.0 * (d2x + d2y)


def robust_lstsq(design: np.ndarray, values: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Least squares by iteratively reweighted Tukey biweight: outliers (unstable
    terrain left in, blunders) get no weight. Beyond :data:`ROBUST_SAMPLES` rows a fixed
    random subset is used: a handful of coefficients needs no more."""
    if values.size > ROBUST_SAMPLES:
        keep = np.random.default_rng(0).choice(values.size, ROBUST_SAMPLES, replace=False)
        design, values = design[keep], values[keep]
    return reweighted_lstsq(design, values, tukey_weights, iterations)


def binned_medians(values: np.ndarray, key: np.ndarray, edges: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bin of ``key``: the median key, the median value and the count (bins with
    fewer than :data:`MIN_BIN_PIXELS` left out)."""
    from .nuth_kaab import segment_medians  # one median-by-label routine for the DEM modules

    n = edges.size - 1
    label = np.clip(np.searchsorted(edges, key, side="right") - 1, 0, n - 1)
    counts = np.bincount(label, minlength=n)
    med_key = segment_medians(key, label, n, MIN_BIN_PIXELS)
    med_val = segment_medians(values, label, n, MIN_BIN_PIXELS)
    ok = np.isfinite(med_key) & np.isfinite(med_val)
    return med_key[ok], med_val[ok], counts[ok]


class Deramp:
    """A polynomial surface of order 1-3 in x, y (tilt, bowl, ...)."""

    def __init__(self, order: int = 1) -> None:
        if order not in (1, 2, 3):
            raise CoregInputError(f"Deramp order must be 1, 2 or 3, not {order}.")
        self.order, self.name = order, f"deramp{order}"
        self.origin, self.scale, self.coefficients = (0.0, 0.0), 1.0, np.zeros(0)

    def _powers(self) -> list[tuple[int, int]]:
        return [(i, d - i) for d in range(self.order + 1) for i in range(d, -1, -1)]

    def _design(self, where: Where) -> np.ndarray:
        u = (where.x - self.origin[0]) / self.scale
        v = (where.y - self.origin[1]) / self.scale
        return np.column_stack([u**i * v**j for i, j in self._powers()])

    def fit(self, where: Where, dh: np.ndarray) -> None:
        self.origin = (float(np.median(where.x)), float(np.median(where.y)))
        self.scale = float(max(np.ptp(where.x), np.ptp(where.y)) / 2) or 1.0
        self.coefficients = robust_lstsq(self._design(where), dh)

    def __call__(self, where: Where) -> np.ndarray:
        return self._design(where) @ self.coefficients

    def shift_by(self, value: float) -> None:
        """Add a constant (the pipeline keeps every constant in its vertical shift)."""
        self.coefficients[0] += value

    def terms(self) -> dict:
        terms = {"step": self.name, "order": self.order, "origin": list(self.origin),
                 "scale": self.scale,
                 "coefficients": {f"x^{i} y^{j}": float(c)
                                  for (i, j), c in zip(self._powers(), self.coefficients)}}
        # The tilt in elevation units per map unit (the order-1 terms at the origin).
        terms["tilt_x"] = float(self.coefficients[1] / self.scale)
        terms["tilt_y"] = float(self.coefficients[2] / self.scale)
        return terms

    @classmethod
    def from_terms(cls, terms: dict) -> Deramp:
        self = cls(int(terms["order"]))
        self.origin, self.scale = tuple(terms["origin"]), float(terms["scale"])
        self.coefficients = np.array(list(terms["coefficients"].values()), float)
        return self


class Directional:
    """An undulation along one direction (ASTER's along-track jitter): a function of
    t = x sin(angle) + y cos(angle), angle the azimuth of the track (degrees clockwise
    from north), given or estimated as the direction whose profile varies most. The
    function is a sum of up to :data:`MAX_SINES` sines (``method="sines"``) or the
    medians of bins along t, linearly interpolated (``method="bins"``)."""

    def __init__(self, angle: float | None = None, method: str = "sines") -> None:
        if method not in ("sines", "bins"):
            raise CoregInputError(f"Directional method must be sines or bins, not {method!r}.")
        self.angle, self.method = angle, method
        self.name = "directional" if method == "sines" else "directional_bins"
        self.estimated_angle = angle is None
        self.origin = 0.0  # t of the scene centre: phases near 0, not at 8 million metres
        self.sines: list[tuple[float, float, float]] = []  # (wavelength, amplitude, phase)
        self.offset, self.knots, self.values = 0.0, np.zeros(0), np.zeros(0)

    def along(self, where: Where, angle: float | None = None) -> np.ndarray:
        a = math.radians(self.angle if angle is None else angle)
        return where.x * math.sin(a) + where.y * math.cos(a) - self.origin

    def _profile(self, where: Where, dh: np.ndarray, angle: float, bins: int):
        t = self.along(where, angle)
        edges = np.linspace(t.min(), t.max() + 1e-9, bins + 1)
        return binned_medians(dh, t, edges)

    def fit(self, where: Where, dh: np.ndarray) -> None:
        bins = int(np.clip(math.sqrt(dh.size) / 2, 50, 1000))
        if self.angle is None:  # estimated once: a refit (backfitting pass) keeps it
            self.angle = self._best_angle(where, dh, bins)
        self.origin = 0.0
        self.origin = float(np.median(self.along(where)))
        t, m, counts = self._profile(where, dh, self.angle, bins)
        if t.size < 8:
            raise CoregistrationError("Too few stable pixels along the track for a "
                                      "directional correction.")
        if self.method == "bins":
            self.knots, self.values = t, m
            return
        self._fit_sines(t, m, counts)

    def shift_by(self, value: float) -> None:
        self.offset += value
        self.values = self.values + value

    def _best_angle(self, where: Where, dh: np.ndarray, bins: int) -> float:
        """The azimuth whose binned profile explains most variance: across the track the
        bins average the undulation out."""
        def explained(angle: float) -> float:
            _, m, counts = self._profile(where, dh, angle, bins)
            mean = np.average(m, weights=counts)
            return -float(np.average((m - mean) ** 2, weights=counts))

        coarse = np.arange(0.0, 180.0, 2.0)
        best = coarse[np.argmin([explained(a) for a in coarse])]
        fine = optimize.minimize_scalar(explained, bounds=(best - 2.5, best + 2.5),
                                        method="bounded", options={"xatol": 0.02})
        return float(fine.x % 180.0)

    def _fit_sines(self, t: np.ndarray, m: np.ndarray, counts: np.ndarray) -> None:
        """Sums of 1..MAX_SINES sines by robust nonlinear least squares on the profile,
        started from the periodogram's peaks; the Bayesian information criterion picks.
        Frequencies are fitted in cycles per span (well scaled against amplitudes)."""
        span = float(t.max() - t.min())
        grid = np.linspace(t.min(), t.max(), 4096)
        spectrum = np.abs(np.fft.rfft(np.interp(grid, t, m) - np.median(m), n=4 * grid.size))
        cycles = np.fft.rfftfreq(4 * grid.size, (grid[1] - grid[0]) / span)
        usable = (cycles > 1.5) & (cycles < 0.25 * t.size)
        peaks = cycles[usable][np.argsort(spectrum[usable])[::-1]]
        w = np.sqrt(counts / counts.max())
        u = t / span
        best = None
        for n in range(1, MAX_SINES + 1):
            start = [np.median(m)]
            for c in _distinct(peaks, n, 1.0):
                start += [c, np.std(m), 0.0]
            if len(start) < 1 + 3 * n:
                break
            fit = optimize.least_squares(lambda p: w * (_sines(p, u) - m), start,
                                         loss="soft_l1", f_scale=1.4826 * _mad(m))
            rss = float(np.sum((w * (_sines(fit.x, u) - m)) ** 2))
            bic = t.size * math.log(rss / t.size + 1e-12) + (1 + 3 * n) * math.log(t.size)
            if best is None or bic < best[0] - 10:
                best = (bic, fit.x)
        p = best[1]
        self.offset = float(p[0])
        self.sines = [_canonical(span / p[1 + 3 * k], *p[2 + 3 * k:4 + 3 * k])
                      for k in range((p.size - 1) // 3)]

    def __call__(self, where: Where) -> np.ndarray:
        t = self.along(where)
        if self.method == "bins":
            return np.interp(t, self.knots, self.values)
        out = np.full(t.shape, self.offset)
        for wavelength, amplitude, phase in self.sines:
            out += amplitude * np.sin(2 * np.pi * t / wavelength + phase)
        return out

    def terms(self) -> dict:
        terms = {"step": self.name, "angle_deg": self.angle,
                 "angle_estimated": self.estimated_angle, "method": self.method,
                 "origin": self.origin}
        if self.method == "bins":
            terms.update(along=self.knots.tolist(), values=self.values.tolist())
        else:
            terms.update(offset=self.offset, sines=[
                {"wavelength": s[0], "amplitude": s[1], "phase_rad": s[2]} for s in self.sines])
        return terms

    @classmethod
    def from_terms(cls, terms: dict) -> Directional:
        self = cls(float(terms["angle_deg"]), terms["method"])
        self.estimated_angle = bool(terms.get("angle_estimated"))
        self.origin = float(terms["origin"])
        if self.method == "bins":
            self.knots, self.values = np.array(terms["along"]), np.array(terms["values"])
        else:
            self.offset = float(terms["offset"])
            self.sines = [(s["wavelength"], s["amplitude"], s["phase_rad"])
                          for s in terms["sines"]]
        return self


def _sines(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """p = (offset, cycles_1, a_1, b_1, ...): offset + sum a sin + b cos (2 pi cycles u)."""
    out = np.full(u.shape, p[0], float)
    for k in range((p.size - 1) // 3):
        cycles, a, b = p[1 + 3 * k:4 + 3 * k]
        phase = 2 * np.pi * cycles * u
        out += a * np.sin(phase) + b * np.cos(phase)
    return out


def _canonical(wavelength: float, a: float, b: float) -> tuple[float, float, float]:
    """(wavelength, amplitude, phase) of a sin + b cos (2 pi t / L) = amplitude
    sin(2 pi t / |L| + phase)."""
    sign = 1.0 if wavelength >= 0 else -1.0
    return float(abs(wavelength)), float(math.hypot(a, b)), float(math.atan2(sign * b, a))


def _distinct(freqs: np.ndarray, n: int, spacing: float) -> list[float]:
    """The first ``n`` frequencies at least ``spacing`` apart (periodogram peaks)."""
    chosen: list[float] = []
    for f in freqs:
        if all(abs(f - c) >= spacing for c in chosen):
            chosen.append(float(f))
        if len(chosen) == n:
            break
    return chosen


def _mad(v: np.ndarray) -> float:
    return float(np.median(np.abs(v - np.median(v)))) or 1.0


class TerrainBias:
    """dh as a function of elevation or curvature: medians of quantile bins, linearly
    interpolated (constant beyond the end bins)."""

    ATTRIBUTES = ("elevation", "curvature")

    def __init__(self, attribute: str = "elevation", bins: int = 30) -> None:
        if attribute not in self.ATTRIBUTES:
            raise CoregInputError(f"Terrain attribute must be one of {self.ATTRIBUTES}, "
                                  f"not {attribute!r}.")
        self.attribute, self.bins, self.name = attribute, bins, f"terrain_{attribute}"
        self.knots, self.values = np.zeros(0), np.zeros(0)

    def fit(self, where: Where, dh: np.ndarray) -> None:
        key = getattr(where, self.attribute)
        ok = np.isfinite(key) & np.isfinite(dh)
        edges = np.unique(np.quantile(key[ok], np.linspace(0, 1, self.bins + 1)))
        self.knots, self.values, _ = binned_medians(dh[ok], key[ok], edges)
        if self.knots.size < 2:
            raise CoregistrationError(f"Too few stable pixels to fit dh against {self.attribute}.")

    def shift_by(self, value: float) -> None:
        self.values = self.values + value

    def __call__(self, where: Where) -> np.ndarray:
        key = getattr(where, self.attribute)
        return np.where(np.isfinite(key), np.interp(key, self.knots, self.values), 0.0)

    def terms(self) -> dict:
        return {"step": self.name, "attribute": self.attribute, "knots": self.knots.tolist(),
                "values": self.values.tolist()}

    @classmethod
    def from_terms(cls, terms: dict) -> TerrainBias:
        self = cls(terms["attribute"], len(terms["knots"]))
        self.knots, self.values = np.array(terms["knots"]), np.array(terms["values"])
        return self


class VerticalBias:
    """A constant: the median of dh."""

    name = "vertical"

    def __init__(self) -> None:
        self.shift = 0.0

    def fit(self, where: Where, dh: np.ndarray) -> None:
        self.shift = float(np.nanmedian(dh))

    def shift_by(self, value: float) -> None:
        self.shift += value

    def __call__(self, where: Where) -> np.ndarray:
        return np.full(where.x.shape, self.shift)

    def terms(self) -> dict:
        return {"step": self.name, "shift_z": self.shift}

    @classmethod
    def from_terms(cls, terms: dict) -> VerticalBias:
        self = cls()
        self.shift = float(terms["shift_z"])
        return self


class LzdTilt:
    """The part of an LZD rigid transform that is not a shift nor a rotation about the
    vertical: the rotations omega (about x) and phi (about y) around a centre. They
    raise the DEM by omega Y - phi X and move it horizontally by (phi Z, -omega Z)
    (X, Y, Z from the centre), which to first order raises it by -g . (phi Z, -omega Z)
    (g: terrain gradient). Fitted by the LZD step itself (core/dem/pipeline.py)."""

    name = "lzd_tilt"

    def __init__(self, omega: float = 0.0, phi: float = 0.0,
                 centre: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> None:
        self.omega, self.phi, self.centre = omega, phi, centre

    def vertical(self, where: Where) -> np.ndarray:
        """The raise of the rotations alone (what the fit sees; it samples the
        horizontal part exactly)."""
        return (self.omega * (where.y - self.centre[1])
                - self.phi * (where.x - self.centre[0]))

    def horizontal(self, where: Where) -> tuple[np.ndarray, np.ndarray]:
        z = where.elevation - self.centre[2]
        return self.phi * z, -self.omega * z

    def __call__(self, where: Where) -> np.ndarray:
        sx, sy = self.horizontal(where)
        slope = np.nan_to_num(where.gx * sx + where.gy * sy)
        return self.vertical(where) - slope

    def terms(self) -> dict:
        return {"step": self.name, "omega_rad": self.omega, "phi_rad": self.phi,
                "centre": list(self.centre)}

    @classmethod
    def from_terms(cls, terms: dict) -> LzdTilt:
        return cls(float(terms["omega_rad"]), float(terms["phi_rad"]),
                   tuple(float(v) for v in terms["centre"]))


def correction_from_terms(terms: dict):
    """The fitted correction a report's ``corrections`` entry describes."""
    step = terms.get("step", "")
    if step.startswith("deramp"):
        return Deramp.from_terms(terms)
    if step.startswith("directional"):
        return Directional.from_terms(terms)
    if step.startswith("terrain_"):
        return TerrainBias.from_terms(terms)
    if step == "vertical":
        return VerticalBias.from_terms(terms)
    if step == "lzd_tilt":
        return LzdTilt.from_terms(terms)
    raise CoregInputError(f"Unknown bias correction {step!r} in the report.")
