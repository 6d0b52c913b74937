"""The scale (similarity) and affine models of the global alignment: a 2 x 2 matrix
about the overlap centre plus a shift, fitted robustly from the patch shifts.

A GSD error of the secondary (its pixel size slightly wrong) is an isotropic scale;
two sensors' different along- and across-track errors add an anisotropic scale and a
shear. Both models are exactly linear in their parameters: a patch at q (from the
pivot) needs the displacement t + D q, D = A - I, with D = [[a, -b], [b, a]] for the
similarity (4 parameters) and any D for the affine (6). The fit is the rigid one's
(:func:`.fit.robust_lsq`); the terms beyond the translation are kept only once they
show (a Wald test at the rigid model's 3 sigma), so that a translation stays one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from scipy import special

from ..transforms.model import AffineTransform, Rigid, Transform, Uncertainty
from .fit import ROTATION_Z, RigidModel, RobustFit, robust_lsq

#: The models of this module and their parameter counts (translation included).
LINEAR_KINDS = {"scale": 4, "affine": 6}
#: Probability that noise alone stays below the Wald test of the terms: the two-sided
#: probability of the rigid model's ROTATION_Z sigma.
TERMS_LEVEL = 1.0 - 2.0 * special.ndtr(-ROTATION_Z)


@dataclass(frozen=True)
class LinearModel:
    """p' = A (p - pivot) + pivot + shift, A = [[a, b], [d, e]], in map units of the
    reference CRS (x east, y north). ``kind`` is the model fitted ("scale" or "affine")."""

    shift_x: float = 0.0
    shift_y: float = 0.0
    a: float = 1.0
    b: float = 0.0
    d: float = 0.0
    e: float = 1.0
    pivot_x: float = 0.0
    pivot_y: float = 0.0
    kind: str = "affine"

    @property
    def matrix2(self) -> np.ndarray:
        return np.array([[self.a, self.b], [self.d, self.e]])

    @property
    def rotation_deg(self) -> float:
        """The rotation of the polar decomposition A = R S (S symmetric), degrees,
        counter-clockwise positive."""
        return math.degrees(math.atan2(self.d - self.b, self.a + self.e))

    @property
    def affine(self) -> Affine:
        """The model as an affine map of map coordinates."""
        return (Affine.translation(self.pivot_x + self.shift_x, self.pivot_y + self.shift_y)
                * Affine(self.a, self.b, 0.0, self.d, self.e, 0.0)
                * Affine.translation(-self.pivot_x, -self.pivot_y))

    def forward(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Where secondary map points (x, y) go once aligned."""
        dx, dy = np.asarray(x) - self.pivot_x, np.asarray(y) - self.pivot_y
        return (self.a * dx + self.b * dy + self.pivot_x + self.shift_x,
                self.d * dx + self.e * dy + self.pivot_y + self.shift_y)

    def inverse(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """The secondary map points that land on aligned points (x, y)."""
        (ia, ib), (id_, ie) = np.linalg.inv(self.matrix2)
        dx = np.asarray(x) - self.pivot_x - self.shift_x
        dy = np.asarray(y) - self.pivot_y - self.shift_y
        return ia * dx + ib * dy + self.pivot_x, id_ * dx + ie * dy + self.pivot_y

    def then(self, update: LinearModel) -> LinearModel:
        """This model followed by ``update`` (same pivot), as one model."""
        m = update.matrix2 @ self.matrix2
        t = update.matrix2 @ (self.shift_x, self.shift_y) + (update.shift_x, update.shift_y)
        return replace(self, shift_x=float(t[0]), shift_y=float(t[1]), a=float(m[0, 0]),
                       b=float(m[0, 1]), d=float(m[1, 0]), e=float(m[1, 1]))

    def with_update(self, params: np.ndarray) -> LinearModel:
        """The update of parameters ``params`` (the fit's: translation, then D's terms)."""
        d = update_matrix(self.kind, params)
        return replace(self, shift_x=float(params[0]), shift_y=float(params[1]),
                       a=1.0 + d[0, 0], b=d[0, 1], d=d[1, 0], e=1.0 + d[1, 1])

    def transform(self, crs: CRS, bounds=None,
                  uncertainty: Uncertainty | None = None) -> AffineTransform:
        return AffineTransform(self.affine, crs, bounds, uncertainty=uncertainty)


def model_transform(model: RigidModel | LinearModel, crs: CRS) -> Transform:
    """The transform of either model in ``crs`` (what the patches are sampled through)."""
    return model.transform(crs) if isinstance(model, LinearModel) else Rigid(model, crs)


def update_matrix(kind: str, params: np.ndarray) -> np.ndarray:
    """D = A - I of the parameters (translation first) of a ``kind`` model."""
    if kind == "scale":
        _, _, a, b = params
        return np.array([[a, -b], [b, a]], float)
    return np.asarray(params[2:6], float).reshape(2, 2)


def design(kind: str, centres: np.ndarray, pivot: tuple[float, float]) -> np.ndarray:
    """(N, 2, P): each patch's displacement (x, y) per unit of each parameter."""
    qx, qy = centres[:, 0] - pivot[0], centres[:, 1] - pivot[1]
    n, zero, one = len(centres), np.zeros(len(centres)), np.ones(len(centres))
    if kind == "scale":
        rows = [[one, zero, qx, -qy], [zero, one, qy, qx]]
    else:
        rows = [[one, zero, qx, qy, zero, zero], [zero, one, zero, zero, qx, qy]]
    return np.array(rows, float).transpose(2, 0, 1).reshape(n, 2, -1)


def fit_linear(centres: np.ndarray, shifts: np.ndarray, weights: np.ndarray, *,
               pixel_size: tuple[float, float], model: LinearModel,
               terms: bool) -> RobustFit:
    """The robust fit of a ``model.kind`` update to the patch displacements (as
    :func:`.fit.fit_rigid`), or of a translation only unless ``terms``; the covariance
    is P x P (translation in map units, D's terms dimensionless) either way."""
    pivot = (model.pivot_x, model.pivot_y)
    full = design(model.kind, centres, pivot)
    cols = full.shape[2] if terms else 2
    minimal = {2: 1, 4: 2, 6: 3}[cols]
    params, inliers, residuals, sigma, covariance, dof = robust_lsq(
        full[:, :, :cols], shifts, weights, np.asarray(pixel_size, float), minimal)
    params = np.concatenate([params, np.zeros(full.shape[2] - cols)])
    padded = np.zeros((full.shape[2],) * 2)
    padded[:cols, :cols] = covariance
    update = LinearModel(pivot_x=pivot[0], pivot_y=pivot[1], kind=model.kind)
    return RobustFit(update.with_update(params), inliers, residuals, sigma, padded, dof)


def terms_shown(fit: RobustFit) -> bool:
    """Whether the terms beyond the translation of a full ``fit`` differ from none by
    more than their uncertainty (Wald test at :data:`TERMS_LEVEL`)."""
    m = fit.model
    values = np.array([m.a - 1.0, m.d]) if m.kind == "scale" else \
        np.array([m.a - 1.0, m.b, m.d, m.e - 1.0])
    covariance = fit.covariance[2:, 2:]
    if not values.any():
        return False
    wald = float(values @ np.linalg.pinv(covariance) @ values)
    return wald >= special.chdtri(len(values), 1.0 - TERMS_LEVEL)  # chi2.ppf(TERMS_LEVEL)


def scene_gain(kind: str, size: tuple[float, float], unit: tuple[float, float]) -> np.ndarray:
    """(M, P): sends a parameter error to components whose sum of squares is the mean
    squared error over a ``size`` (width, height, map units) rectangle centred on the
    pivot, in units of ``unit`` (map units per output unit along x and y)."""
    width, height = size
    wx, wy = width / math.sqrt(12.0), height / math.sqrt(12.0)  # RMS of q's coordinates
    ux, uy = 1.0 / unit[0], 1.0 / unit[1]
    count = LINEAR_KINDS[kind]
    gain = np.zeros((6, count))
    gain[0, 0], gain[1, 1] = ux, uy
    for k in range(2, count):  # each term's D, at q = (wx, 0) and (0, wy)
        params = np.zeros(count)
        params[k] = 1.0
        d = update_matrix(kind, params)
        gain[2:, k] = (ux * d[0, 0] * wx, ux * d[0, 1] * wy, uy * d[1, 0] * wx, uy * d[1, 1] * wy)
    return gain


def rotation_rows(kind: str) -> np.ndarray:
    """(3, P): (x, y, rotation in radians) of a parameter vector, to first order."""
    rows = np.zeros((3, LINEAR_KINDS[kind]))
    rows[0, 0] = rows[1, 1] = 1.0
    if kind == "scale":
        rows[2, 3] = 1.0
    else:
        rows[2, 3], rows[2, 4] = -0.5, 0.5  # (d21 - d12) / 2
    return rows


def decomposed(matrix: np.ndarray) -> dict:
    """Scale, rotation and shear of A = R(rotation) S, S = [[scale_x, shear], [shear,
    scale_y]] symmetric (the polar decomposition); ``scale`` is sqrt(det A)."""
    theta = math.atan2(matrix[1, 0] - matrix[0, 1], matrix[0, 0] + matrix[1, 1])
    c, s = math.cos(theta), math.sin(theta)
    sym = np.array([[c, s], [-s, c]]) @ matrix
    return {"scale": math.sqrt(abs(np.linalg.det(matrix))), "scale_x": float(sym[0, 0]),
            "scale_y": float(sym[1, 1]), "shear": float((sym[0, 1] + sym[1, 0]) / 2),
            "rotation_deg": math.degrees(theta)}


def model_terms(model: LinearModel, covariance: np.ndarray) -> dict:
    """The fitted terms of ``model`` (:func:`decomposed`) with their standard errors
    (``<term>_se``), from ``covariance`` (P x P) of the last update's parameters: an
    error dD of the update moves A by dD A, propagated by a numeric Jacobian."""
    base = model.matrix2
    names = ["scale", "rotation_deg"] if model.kind == "scale" else \
        ["scale", "scale_x", "scale_y", "shear", "rotation_deg"]
    values = decomposed(base)
    count, step = LINEAR_KINDS[model.kind], 1e-7
    jacobian = np.zeros((len(names), count))
    for k in range(2, count):
        params = np.zeros(count)
        params[k] = step
        moved = decomposed((np.eye(2) + update_matrix(model.kind, params)) @ base)
        jacobian[:, k] = [(moved[n] - values[n]) / step for n in names]
    errors = np.sqrt(np.clip(np.diag(jacobian @ covariance @ jacobian.T), 0, None))
    out = {"model": model.kind}
    for name, error in zip(names, errors):
        out[name], out[f"{name}_se"] = values[name], float(error)
    return out


def terms_text(terms: dict | None) -> str:
    """The terms of a report's ``model_terms`` with their standard errors, as the end of
    a one-line summary (empty for the other models)."""
    if not terms:
        return ""
    names = ("scale",) if terms["model"] == "scale" else ("scale_x", "scale_y", "shear")
    return ", " + ", ".join(f"{n} {terms[n]:.6f} ± {terms[n + '_se']:.6f}" for n in names)
