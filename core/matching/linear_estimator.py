"""The measure / fit loop of :class:`.estimator.Estimator` for the scale and affine
models (:mod:`.linear_model`): the same patches, matching and iterations, another fit
and the uncertainty of its P parameters."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..errors import CoregistrationError
from ..grid import Grid, metres_per_unit
from .estimator import SPARSE_MIN_INLIERS, SPARSE_SIGMA_PX, Estimator
from .linear_model import (
    LINEAR_KINDS,
    LinearModel,
    fit_linear,
    rotation_rows,
    scene_gain,
    terms_shown,
)
from .uncertainty import SYSTEMATIC_PX, linear_radii, radii_per_unit


class LinearEstimator(Estimator):
    """:class:`.estimator.Estimator` fitting a ``kind`` model ("scale" or "affine")."""

    def __init__(self, kind: str, *args, **kwargs):
        self.kind = kind
        super().__init__(*args, **kwargs)

    def _identity(self) -> LinearModel:
        left, bottom, right, top = self.common.bounds
        return LinearModel(pivot_x=(left + right) / 2, pivot_y=(bottom + top) / 2,
                           kind=self.kind)

    def _fit(self, active, measurements):
        minimal = LINEAR_KINDS[self.kind] // 2 + 1
        good, centres, shifts, weights = self._observations(active, measurements, minimal)
        options = {"pixel_size": self.common.res, "model": self.model}
        fit = fit_linear(centres, shifts, weights, terms=True, **options)
        # As the rigid rotation: no terms until they show, then every update refines them.
        if self._matrix_is_identity() and not terms_shown(fit):
            fit = replace(fit_linear(centres, shifts, weights, terms=False, **options),
                          covariance=fit.covariance, dof=fit.dof)
        if fit.inliers.sum() < minimal:
            raise CoregistrationError("No consistent shift: the patch matches disagree.")
        return fit, good

    def _matrix_is_identity(self) -> bool:
        m = self.model
        return (m.a, m.b, m.d, m.e) == (1.0, 0.0, 0.0, 1.0)

    def _gain(self, unit: tuple[float, float]) -> np.ndarray:
        left, bottom, right, top = self.common.bounds
        return scene_gain(self.kind, (right - left, top - bottom), unit)

    def _precise(self, fit) -> bool:
        gain = self._gain(self.common.res)
        sigma = math.sqrt(float(np.trace(gain @ fit.covariance @ gain.T)))
        return sigma <= SPARSE_SIGMA_PX and int(fit.inliers.sum()) >= SPARSE_MIN_INLIERS

    def _uncertainty(self, active, good, fit, reference: Grid) -> dict:
        """As :meth:`.estimator.Estimator._uncertainty`, over the P parameters: the
        radii from :func:`.uncertainty.linear_radii`, the (x, y, rotation) covariance
        from the first-order rotation of the matrix terms, and the full covariance of
        the parameters (map units, dimensionless terms) kept for the terms' errors."""
        kappa = self._overlap_kappa(active, good, fit)
        res_x, res_y = self.common.res
        statistical = kappa * fit.covariance
        systematic = np.zeros_like(statistical)
        systematic[0, 0], systematic[1, 1] = (SYSTEMATIC_PX * res_x) ** 2, \
            (SYSTEMATIC_PX * res_y) ** 2
        _, bottom, _, top = self.common.bounds
        dof = fit.dof / kappa
        rows = rotation_rows(self.kind)
        out = {"map": rows @ (statistical + systematic) @ rows.T,
               "parameter_covariance": statistical + systematic}
        rx, ry = reference.res
        metres = metres_per_unit(self.common.crs, (bottom + top) / 2)
        per_unit = radii_per_unit(
            lambda units: linear_radii(statistical, systematic,
                                       self._gain((1 / units[0], 1 / units[1])), dof),
            {"px": (1 / rx, 1 / ry), "m": metres})
        for unit, values in per_unit.items():
            out[f"ce90_{unit}"], out[f"ce95_{unit}"] = values or (None, None)
        scale = np.diag([1 / rx, -1 / ry, math.degrees(1.0)])
        total = scale @ out["map"] @ scale
        out["covariance"] = tuple(tuple(float(v) for v in row) for row in total)
        return out
