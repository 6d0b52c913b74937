"""Robust estimation of a rigid (translation [+ rotation]) model from patch shifts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

#: Residual (pixels) below which a patch is never called an outlier: the spread
#: that honest sub-pixel matches of changed, noisy scenes show.
MIN_INLIER_RESIDUAL_PX = 0.3
#: Inlier threshold in robust standard deviations (1.4826 x median residual).
INLIER_SIGMAS = 3.0
#: Pairs tried by the least-median search (enough for 50 % outliers many times over).
MAX_PAIRS = 400
#: Below this determinant of its equilibrated normal matrix (1 for orthogonal columns)
#: a sample's solution is taken from the pseudo-inverse, not the normal equations.
SINGULAR_DETERMINANT = 1e-8
#: A fitted rotation is kept only when it is this many standard deviations from zero:
#: else the patch shifts show none, and the translation alone is fitted (a rotation of
#: noise costs accuracy, and an exact zero lets the output be shifted separably).
ROTATION_Z = 3.0


@dataclass(frozen=True)
class RigidModel:
    """Rigid motion of secondary map points: p' = R(rotation_deg) (p - pivot) + pivot + shift.

    Coordinates are map units of the reference CRS, x east, y north; rotation is
    counter-clockwise positive.
    """

    shift_x: float = 0.0
    shift_y: float = 0.0
    rotation_deg: float = 0.0
    pivot_x: float = 0.0
    pivot_y: float = 0.0

    def _rotation(self) -> np.ndarray:
        t = math.radians(self.rotation_deg)
        return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])

    def forward(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where secondary map points (x, y) go once aligned."""
        r = self._rotation()
        dx, dy = np.asarray(x) - self.pivot_x, np.asarray(y) - self.pivot_y
        return (r[0, 0] * dx + r[0, 1] * dy + self.pivot_x + self.shift_x,
                r[1, 0] * dx + r[1, 1] * dy + self.pivot_y + self.shift_y)

    def inverse(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The secondary map points that land on aligned points (x, y)."""
        r = self._rotation().T
        dx = np.asarray(x) - self.pivot_x - self.shift_x
        dy = np.asarray(y) - self.pivot_y - self.shift_y
        return (r[0, 0] * dx + r[0, 1] * dy + self.pivot_x,
                r[1, 0] * dx + r[1, 1] * dy + self.pivot_y)

    def inverted(self) -> RigidModel:
        """The model that undoes this one (same pivot)."""
        t = math.radians(-self.rotation_deg)
        sx = -(math.cos(t) * self.shift_x - math.sin(t) * self.shift_y)
        sy = -(math.sin(t) * self.shift_x + math.cos(t) * self.shift_y)
        return replace(self, shift_x=sx, shift_y=sy, rotation_deg=-self.rotation_deg)

    def then(self, update: RigidModel) -> RigidModel:
        """This model followed by ``update`` (same pivot), as one model."""
        sx, sy = update.forward(self.pivot_x + self.shift_x, self.pivot_y + self.shift_y)
        return replace(self, shift_x=float(sx - self.pivot_x), shift_y=float(sy - self.pivot_y),
                       rotation_deg=self.rotation_deg + update.rotation_deg)


@dataclass(frozen=True)
class RobustFit:
    """Result of :func:`fit_rigid`.

    Attributes
    ----------
    model : RigidModel
        The fitted update.
    inliers : ndarray of bool, shape (N,)
        Observations used by the final least-squares fit.
    residuals_px : ndarray, shape (N,)
        Length of each observation's residual, in pixels.
    sigma_shift_px : float
        1-sigma uncertainty of the fitted translation (both axes combined), in pixels.
    covariance : ndarray, shape (3, 3)
        Covariance of (shift_x, shift_y, rotation) from the weighted residuals of the
        inliers: map units squared, radians for the rotation (zero row and column
        without one). It treats the observations as independent.
    dof : int
        Degrees of freedom of that residual variance (observations - parameters).
    """

    model: RigidModel
    inliers: np.ndarray
    residuals_px: np.ndarray
    sigma_shift_px: float
    covariance: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    dof: int = 1


def fit_rigid(
    centres: np.ndarray,
    shifts: np.ndarray,
    weights: np.ndarray,
    *,
    pixel_size: tuple[float, float],
    pivot: tuple[float, float],
    rotation: bool,
    refined: bool = False,
) -> RobustFit:
    """Fit shift (and rotation) to observed displacements, ignoring outliers.

    A least-median-of-squares search over minimal samples (one patch for a
    translation, two for a rotation) picks the inliers, then weighted least squares
    on them gives the model and its uncertainty.

    Parameters
    ----------
    centres, shifts : ndarray, shape (N, 2)
        Patch centres and the displacement (x, y) each needs, map units.
    weights : ndarray, shape (N,)
        Relative confidence of each observation (> 0).
    pixel_size : (float, float)
        Map units per pixel in x and y, to express residuals in pixels.
    pivot : (float, float)
        Rotation centre, map units.
    rotation : bool
        Whether to fit a rotation besides the translation.
    refined : bool
        The displacements are what remains after a robust fit of the same patches'
        earlier measurements (an estimator's later iteration): the search starts from
        no correction instead of trying samples. On consistent patches it keeps the
        same inliers; where they scatter widely a few borderline ones can differ (the
        suite's SAR-on-optical stack: 16 of 74 fits, by 1 to 4 inliers, their shifts by
        up to 0.08 px).
    """
    scale = np.asarray(pixel_size, float)
    cols = 3 if rotation else 2
    design = _design(centres, pivot, rotation)[:, :, :cols]
    params, inliers, residuals, sigma, covariance, dof = robust_lsq(
        design, shifts, weights, scale, minimal=cols - 1,
        start=np.zeros(cols) if refined else None)
    full = np.zeros((3, 3))
    full[:cols, :cols] = covariance
    model = RigidModel(float(params[0]), float(params[1]),
                       math.degrees(params[2]) if rotation else 0.0, *pivot)
    return RobustFit(model, inliers, residuals, sigma, full, dof)


def robust_lsq(design: np.ndarray, shifts: np.ndarray, weights: np.ndarray,
               scale: np.ndarray, minimal: int, start: np.ndarray | None = None):
    """The robust fit of any model linear in its P parameters: ``design`` (N, 2, P) gives
    each observation's displacement (x, y, map units) per unit of each parameter.

    A least-median-of-squares search over samples of ``minimal`` observations (or the
    parameters ``start``, a robust guess already made) picks the inliers, then weighted
    least squares on them: (params, inliers, residuals in pixels, the translation's
    1-sigma in pixels, the P x P covariance, its degrees of freedom). The first two
    parameters must be the translation (x, y).
    """
    if len(shifts) < minimal + 1:
        raise ValueError(f"At least {minimal + 1} matched patches are needed, got {len(shifts)}.")
    params = _least_median(design, shifts, scale, minimal) if start is None else start
    fitted = None
    for _ in range(3):
        residuals = _residuals_px(design, shifts, params, scale)
        robust_sigma = 1.4826 * np.median(residuals)
        inliers = residuals <= max(INLIER_SIGMAS * robust_sigma, MIN_INLIER_RESIDUAL_PX)
        if fitted is not None and np.array_equal(inliers, fitted):
            break  # the same inliers give the same fit, to the last digit
        params, sigma, covariance, dof = _weighted_lsq(design, shifts, weights, inliers, scale)
        fitted = inliers
    return params, inliers, _residuals_px(design, shifts, params, scale), sigma, covariance, dof


def rotation_shown(fit: RobustFit) -> bool:
    """Whether the rotation of a rigid ``fit`` is significant (:data:`ROTATION_Z`)."""
    variance = fit.covariance[2, 2]
    theta = math.radians(fit.model.rotation_deg)
    return theta != 0.0 and (variance <= 0 or abs(theta) >= ROTATION_Z * math.sqrt(variance))


def _design(centres: np.ndarray, pivot: tuple[float, float], rotation: bool) -> np.ndarray:
    """Rows [dx/dp, dy/dp] of the linearised model s = t + theta * J (c - pivot)."""
    n = len(centres)
    design = np.zeros((n, 2, 3))
    design[:, 0, 0] = 1.0
    design[:, 1, 1] = 1.0
    if rotation:
        design[:, 0, 2] = -(centres[:, 1] - pivot[1])
        design[:, 1, 2] = centres[:, 0] - pivot[0]
    return design


def _residuals_px(design: np.ndarray, shifts: np.ndarray, params: np.ndarray,
                  scale: np.ndarray) -> np.ndarray:
    return np.hypot(*((shifts - design @ params) / scale).T)


def _least_median(design: np.ndarray, shifts: np.ndarray, scale: np.ndarray,
                  minimal: int) -> np.ndarray:
    """Parameters of the minimal sample whose median residual is smallest (the first
    such sample on ties). All samples are solved and scored at once (a batched
    pseudo-inverse: the least-squares solution of each sample, as lstsq's): every
    observation alone for one, up to MAX_PAIRS random pairs or triples for more."""
    n = len(shifts)
    rng = np.random.default_rng(0)
    if minimal == 1:
        samples = np.arange(n)[:, None]
    elif minimal == 2:
        first, second = np.triu_indices(n, 1)
        pick = rng.permutation(len(first))[:MAX_PAIRS]
        samples = np.stack([first[pick], second[pick]], axis=1)
    else:
        samples = np.argsort(rng.random((MAX_PAIRS, n)), axis=1)[:, :minimal]
    cols = design.shape[2]
    a = design[samples].reshape(len(samples), -1, cols)
    b = shifts[samples].reshape(len(samples), -1, 1)
    params = _sample_solutions(a, b)
    predicted = np.moveaxis(design @ params.T, -1, 0)  # (samples, observations, 2)
    residuals = np.hypot(*np.moveaxis((shifts[None] - predicted) / scale, -1, 0))
    return params[int(np.argmin(np.median(residuals, axis=1)))]


def _sample_solutions(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Each sample's least-squares solution (S, P) of a x = b: from its normal equations,
    columns equilibrated, all solved at once (a batched SVD, the pseudo-inverse, took
    1.3 ms for 400 pairs), unless one of them is near singular (collinear patches of an
    affine sample): then the pseudo-inverse's minimum-norm solutions."""
    at = np.swapaxes(a, 1, 2)
    normal = at @ a
    diagonal = np.einsum("sii->si", normal)
    if np.all(diagonal > 0):
        scale = 1.0 / np.sqrt(diagonal)
        scaled = normal * scale[:, :, None] * scale[:, None, :]
        if np.all(np.linalg.det(scaled) > SINGULAR_DETERMINANT):
            return np.linalg.solve(scaled, (at @ b) * scale[:, :, None])[..., 0] * scale
    return (np.linalg.pinv(a) @ b)[..., 0]


def _weighted_lsq(design: np.ndarray, shifts: np.ndarray, weights: np.ndarray,
                  inliers: np.ndarray, scale: np.ndarray
                  ) -> tuple[np.ndarray, float, np.ndarray, int]:
    """Weighted least squares on the inliers; the translation's 1-sigma in pixels, the
    parameters' covariance (P x P) and its degrees of freedom."""
    cols = design.shape[2]
    a = (design[inliers] / scale[None, :, None]).reshape(-1, cols)
    b = (shifts[inliers] / scale).ravel()
    w = np.repeat(weights[inliers], 2)
    sw = np.sqrt(w)
    params, *_ = np.linalg.lstsq(a * sw[:, None], b * sw, rcond=None)
    dof = max(len(b) - cols, 1)
    resid = b - a @ params
    variance = (w * resid**2).sum() / dof
    covariance = variance * np.linalg.pinv((a * w[:, None]).T @ a)
    # Rows are divided by the pixel size, so params stay in map units (theta in radians).
    sigma = float(math.sqrt(covariance[0, 0] / scale[0] ** 2 + covariance[1, 1] / scale[1] ** 2))
    return params, sigma, covariance, dof
