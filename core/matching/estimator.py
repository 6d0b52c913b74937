"""The iterative measure / fit loop of the global alignment: patches sampled through the
current model, matched (phase correlation, or structure across modalities), a robust
rigid fit, until the model moves less than CONVERGENCE_PX; a sparse first pass on non-
overlapping patches stands when precise enough; then the quality figures and the
calibrated uncertainty."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from affine import Affine

from ..errors import CoregistrationError, check_canceled
from ..grid import Grid, metres_per_unit, pixel_size_in
from ..io.raster_io import (
    RasterInfo,
)
from ..parallel import single_threaded_blas
from ..transforms.apply import translation_in_secondary_crs
from ..transforms.model import Rigid
from .alignment import Alignment, LazyScores, PatchResult
from .band_limit import band_limit
from .coarse_search import Seed
from .fit import RigidModel, fit_rigid, rotation_shown
from .match import (
    MIN_PEAK,
    Patch,
    measure_batch,
    reliability_percent,
)
from .metrics import mean_matching_score
from .structure_match import measure_structure
from .uncertainty import (
    SYSTEMATIC_PX,
    overlap_factor,
    radii,
    radii_per_unit,
)

#: Iterations stop when the model moves less than this (pixels, anywhere in the overlap).
CONVERGENCE_PX = 0.01


MAX_ITERATIONS = 10


#: Low-pass (cycles/pixel) of the sub-pixel refinement of the patch matches (see
#: :func:`.phase_correlation.phase_correlation_batch`): narrower than the whole-pixel
#: search's, as many patches average the noise this lets in.
REFINE_SIGMA = 0.1


#: Patches of each image whose spectra give the band limit (:meth:`Estimator._refine_band`).
BAND_LIMIT_PATCHES = 8


#: Patches the matching score is computed on (it is a summary, not an estimator).
SCORED_PATCHES = 16


#: A small overlap is first aligned on its non-overlapping patches only; their result
#: stands when its standard error over the overlap (translation and rotation) is at most
#: this (pixels) with at least SPARSE_MIN_INLIERS patches agreeing, else every patch is
#: used (half-overlapping patches add little information for four times the work).
SPARSE_SIGMA_PX = 0.005


SPARSE_MIN_INLIERS = 8


class Estimator:
    """The iterative measure / fit loop of :func:`estimate_alignment`."""

    def __init__(self, sampler, common, rotation, max_shift_map, progress, is_canceled,
                 seed: Seed):
        self.sampler, self.common = sampler, common
        self.rotation, self.max_shift_map = rotation, max_shift_map
        self.progress, self.is_canceled = progress, is_canceled
        self.seed = seed
        self.refine_sigma: float | None = None  # set from the first patches (_refine_band)
        self.patches: list[Patch] = []
        self.done = 0  # iterations of earlier runs (a sparse first pass)
        self.restart()

    def restart(self) -> None:
        """Start again from the coarse search's offset (forgetting a failed run's model)."""
        self.model = replace(self._identity(), shift_x=self.seed.shift_x,
                             shift_y=self.seed.shift_y)
        self.refined = False  # whether the model holds a robust fit of the patches
        self.warnings: list[str] = list(self.seed.warnings)

    def _identity(self) -> RigidModel:
        left, bottom, right, top = self.common.bounds
        return RigidModel(pivot_x=(left + right) / 2, pivot_y=(bottom + top) / 2)

    def run(self, patches, ref_info: RasterInfo, sec_info: RasterInfo,
            sparse: bool = False) -> Alignment | None:
        """Iterate on ``patches`` to convergence; with ``sparse``, None (the model kept as
        the next run's start) unless the result is precise enough to stand
        (:data:`SPARSE_SIGMA_PX`)."""
        self.patches = patches
        active = [p for p in self.patches if not p.reason]
        fit = measurements = None
        for iteration in range(self.done + 1, self.done + MAX_ITERATIONS + 1):
            check_canceled(self.is_canceled, "Canceled while matching.")
            samples = self.sampler.sample_all([p.grid for p in active], self.model)
            if iteration == self.done + 1:  # "before", if the model is the identity
                unmoved = samples if self.model == self._identity() else None
            if self.refine_sigma is None:
                self.refine_sigma = self._refine_band(active, samples)
            measurements = self._measure(active, samples)
            fit, good = self._fit(active, measurements)
            self.refined = True
            if sparse and not self._precise(fit):  # more patches, from this fit's model
                self.model = self.model.then(fit.model)
                self.done = iteration
                return None
            previous, self.model = self.model, self.model.then(fit.model)
            self._report_progress(iteration)
            if self._movement_px(previous) < CONVERGENCE_PX:
                break
        else:
            if sparse:
                self.restart()
                self.done = iteration
                return None
            self.warnings.append(f"Not converged to {CONVERGENCE_PX} px after "
                                 f"{MAX_ITERATIONS} iterations.")
        self._check_shift_range(ref_info.grid.res[0])
        results = self._patch_results(active, measurements, good, fit, sec_info.grid)
        scores = self._scores(active, unmoved, samples)
        measurable = [r for r in results if r.reason not in ("nodata or masked", "low texture",
                                                              "cloud-like or saturated")]
        reliability = min(sum(r.reliability for r in measurable if r.used)
                          / max(len(measurable), 1), self.seed.reliability_cap)
        dx_px, dy_px = self._secondary_px(sec_info.grid)(self.model.shift_x,
                                                        self.model.shift_y)
        uncertainty = self._uncertainty(active, good, fit, ref_info.grid)
        res_x, res_y = self.common.res
        covariance = uncertainty.pop("map")
        sigma_common = math.sqrt(covariance[0, 0] / res_x**2 + covariance[1, 1] / res_y**2)
        return Alignment(
            self.model, ref_info.grid.crs.to_string(), sec_info.grid.crs.to_string(),
            dx_px, dy_px, sigma_common * self._secondary_px_per_common_px(sec_info.grid),
            reliability, scores, iteration, tuple(results), self.common.bounds,
            tuple(self.warnings), self.seed.record, **uncertainty)

    def _measure(self, patches, samples) -> list:
        """The patches' matches: phase correlation in batches, or structure across
        modalities (one patch at a time)."""
        if self.seed.fine_features == "structure":
            wide = not self.seed.record["found"]
            return [measure_structure(p, s, wide=wide) for p, s in zip(patches, samples)]
        return measure_batch(patches, samples, refine_sigma=self.refine_sigma)

    def _refine_band(self, patches, samples) -> float:
        """:data:`REFINE_SIGMA`, narrowed for a pair without detail of its own near its
        grid's Nyquist frequency (upsampled data, :mod:`.band_limit`): by the square of
        the share of the band it holds, so that the refinement keeps clear of what the
        upsampling kernel left above it. Recorded in the search record. The spectra of
        :data:`BAND_LIMIT_PATCHES` patches of each image, spread over the overlap, are
        ample for a property of the whole scene."""
        whole = [np.stack(arrays[::-(-len(arrays) // BAND_LIMIT_PATCHES)]) for arrays in
                 ([p.reference for p in patches if np.isfinite(p.reference).all()],
                  [s for s in samples if np.isfinite(s).all()]) if arrays]
        limit = min((band_limit(stack) for stack in whole), default=0.5)
        self.seed.record["band_limit_cycles_per_px"] = round(limit, 3)
        return REFINE_SIGMA * min(1.0, limit / 0.5) ** 2

    def _precise(self, fit) -> bool:
        """Whether a sparse run's fit is precise enough to stand: the standard error of
        the correction, RMS over the overlap, and the patches that agree on it."""
        width, height = self.common.width, self.common.height
        mean_r2 = (width**2 + height**2) / 12  # pixels squared
        sigma = math.sqrt(fit.sigma_shift_px**2 + fit.covariance[2, 2] * mean_r2)
        return sigma <= SPARSE_SIGMA_PX and int(fit.inliers.sum()) >= SPARSE_MIN_INLIERS

    def _overlap_kappa(self, active, good, fit) -> float:
        """How much the errors of the patches the fit kept share (:func:`.overlap_factor`)."""
        kept = [p for p, g in zip(active, good) if g]
        kept = [p for p, inlier in zip(kept, fit.inliers) if inlier]
        corners = np.array([~self.common.transform * (p.grid.transform.c, p.grid.transform.f)
                            for p in kept])
        return overlap_factor(corners, kept[0].grid.width)

    def _uncertainty(self, active, good, fit, reference: Grid) -> dict:
        """Covariance and radii of the final model (see :mod:`.uncertainty`): the last
        fit's covariance inflated by the patches' overlap, plus the systematic floor."""
        kappa = self._overlap_kappa(active, good, fit)
        res_x, res_y = self.common.res
        statistical = kappa * fit.covariance
        systematic = np.diag([(SYSTEMATIC_PX * res_x) ** 2, (SYSTEMATIC_PX * res_y) ** 2, 0.0])
        left, bottom, right, top = self.common.bounds
        dof = fit.dof / kappa
        out = {"map": statistical + systematic}
        rx, ry = reference.res

        def radii_in(units: tuple[float, float]) -> list[float]:
            scale = np.diag([units[0], units[1], 1.0])
            mean_r2 = (((right - left) * units[0]) ** 2 + ((top - bottom) * units[1]) ** 2) / 12
            return radii(scale @ statistical @ scale, scale @ systematic @ scale, mean_r2, dof)

        per_unit = radii_per_unit(radii_in, {"px": (1 / rx, -1 / ry), "m": metres_per_unit(
            self.common.crs, (bottom + top) / 2)})
        for unit, values in per_unit.items():
            out[f"ce90_{unit}"], out[f"ce95_{unit}"] = values or (None, None)
        scale = np.diag([1 / rx, -1 / ry, math.degrees(1.0)])
        total = scale @ (statistical + systematic) @ scale
        out["covariance"] = tuple(tuple(float(v) for v in row) for row in total)
        return out

    def _observations(self, active, measurements, minimal: int):
        """The reliable matches (mask over ``active``) and their centres, shifts and
        weights; CoregistrationError with fewer than ``minimal``."""
        good = np.array([m is not None and m.peak >= MIN_PEAK for m in measurements])
        if good.sum() < minimal:
            raise CoregistrationError(
                f"No reliable match: only {int(good.sum())} of {len(active)} patches correlate "
                "(different scenes, heavy clouds or change, or a shift beyond the search range).")
        obs = [m for m, g in zip(measurements, good) if g]
        centres = np.array([p.centre for p, g in zip(active, good) if g])
        shifts = np.array([(m.shift_x, m.shift_y) for m in obs])
        return good, centres, shifts, np.array([m.peak for m in obs])

    def _fit(self, active, measurements):
        minimal = 3 if self.rotation else 2
        good, centres, shifts, weights = self._observations(active, measurements, minimal)
        pivot = (self.model.pivot_x, self.model.pivot_y)
        fit = fit_rigid(centres, shifts, weights, pixel_size=self.common.res, pivot=pivot,
                        rotation=self.rotation, refined=self.refined)
        # Until a rotation shows, none is fitted (its uncertainty stays the rigid one's);
        # once one has, every update refines it.
        if self.rotation and self.model.rotation_deg == 0.0 and not rotation_shown(fit):
            fit = replace(fit_rigid(centres, shifts, weights, pixel_size=self.common.res,
                                    pivot=pivot, rotation=False, refined=self.refined),
                          covariance=fit.covariance, dof=fit.dof)
        if fit.inliers.sum() < minimal:
            raise CoregistrationError("No consistent shift: the patch matches disagree.")
        return fit, good

    def _movement_px(self, previous: RigidModel) -> float:
        """Largest displacement between two models over the overlap corners, pixels."""
        xs, ys = self.common.corner_xy()
        x0, y0 = previous.forward(np.array(xs), np.array(ys))
        x1, y1 = self.model.forward(np.array(xs), np.array(ys))
        res_x, res_y = self.common.res
        return float(np.max(np.hypot((x1 - x0) / res_x, (y1 - y0) / res_y)))

    def _check_shift_range(self, reference_pixel: float) -> None:
        shift = math.hypot(self.model.shift_x - self.seed.initial[0],
                           self.model.shift_y - self.seed.initial[1])
        if self._beyond_cap(self.model.shift_x, self.model.shift_y):
            raise CoregistrationError(
                f"The shift found ({shift / reference_pixel:.1f} reference pixels) is larger "
                f"than MAX_SHIFT ({self.max_shift_map / reference_pixel:.1f} pixels); if it is "
                "real, raise MAX_SHIFT.")

    def _beyond_cap(self, dx: float, dy: float) -> bool:
        """Whether a displacement (map units) departs from the initial offset by more than
        MAX_SHIFT (never without one)."""
        return self.max_shift_map is not None and math.hypot(
            dx - self.seed.initial[0], dy - self.seed.initial[1]) > self.max_shift_map

    def _patch_results(self, active, measurements, good, fit, secondary: Grid):
        results, k = [], 0
        to_px = self._secondary_px(secondary)
        for p in self.patches:
            x, y = p.centre
            if p.reason:
                results.append(PatchResult(x, y, 0.0, 0.0, 0.0, 0.0, 0.0, False, p.reason))
        for p, m, g in zip(active, measurements, good):
            x, y = p.centre
            if m is None:
                results.append(PatchResult(x, y, 0.0, 0.0, 0.0, 0.0, 0.0, False,
                                           "nodata or masked"))
                continue
            fx, fy = self.model.forward(x, y)
            dx, dy = (fx - x) + m.shift_x, (fy - y) + m.shift_y
            reliability = reliability_percent(m.peak)
            if not g:
                used, reason = False, "weak correlation peak"
            else:
                used = bool(fit.inliers[k])
                reason = "" if used else f"outlier (residual {fit.residuals_px[k]:.2f} px)"
                k += 1
            if self._beyond_cap(dx, dy):
                used, reason = False, "beyond MAX_SHIFT"
            results.append(PatchResult(float(x), float(y), float(dx), float(dy),
                                       *to_px(dx, dy),
                                       reliability, used, reason))
        return results

    def _scores(self, active, first_samples, final_samples) -> LazyScores:
        """Matching scores before (the first iteration's samples, at the identity) and
        after alignment on up to :data:`SCORED_PATCHES` patches spread over the overlap,
        computed when first read (:class:`.alignment.LazyScores`); the last iteration's
        samples stand for "after" (they differ from the final model by < 0.01 px)."""
        step = -(-len(active) // SCORED_PATCHES)
        chosen = active[::step]
        references = [p.reference for p in chosen]
        after = final_samples[::step]
        if first_samples is not None:
            before = first_samples[::step]
        else:  # the run started from a sparse pass's model: sampled at the identity
            sampler, identity, grids = self.sampler, self._identity(), [p.grid for p in chosen]
            if sampler.cached(grids, identity):  # no read: it may wait for the report
                return LazyScores(lambda: _mean_scores(
                    references, sampler.sample_all(grids, identity), after))
            before = sampler.sample_all(grids, identity)
        return LazyScores(lambda: _mean_scores(references, before, after))

    def _secondary_px(self, secondary: Grid):
        """The function from a displacement on the common grid (map units) to secondary
        pixels (col, row); the CRSs compared once (8 us a comparison, per patch before)."""
        t = secondary.transform
        to_px = ~Affine(t.a, t.b, 0.0, t.d, t.e, 0.0)
        if secondary.crs == self.common.crs:
            def convert(dx: float, dy: float) -> tuple[float, float]:
                col, row = to_px * (dx, dy)
                return float(col), float(row)
            return convert

        def reprojected(dx: float, dy: float) -> tuple[float, float]:
            shift = RigidModel(dx, dy, 0.0, self.model.pivot_x, self.model.pivot_y)
            col, row = to_px * translation_in_secondary_crs(Rigid(shift, self.common.crs),
                                                            secondary)
            return float(col), float(row)
        return reprojected

    def _secondary_px_per_common_px(self, secondary: Grid) -> float:
        sec = pixel_size_in(secondary, self.common.crs)
        return math.sqrt(self.common.res[0] * self.common.res[1] / (sec[0] * sec[1]))

    def _report_progress(self, iteration: int) -> None:
        if self.progress:
            self.progress(100.0 * iteration / MAX_ITERATIONS)


def _mean_scores(references, before, after) -> tuple[float, float]:
    """Mean matching scores of ``before`` and ``after`` against ``references`` (small
    matrix products: BLAS on one thread, its others would only spin)."""
    with single_threaded_blas():
        return (mean_matching_score(zip(references, before)),
                mean_matching_score(zip(references, after)))
