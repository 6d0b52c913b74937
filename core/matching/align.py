"""Global alignment of a secondary raster onto a reference: estimate, then apply."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from ..errors import CanceledError, CoregInputError, CoregistrationError
from ..grid import Grid, common_grid, pixel_size_in
from ..io.masks import PolygonMask, masked_on_grid
from ..io.outputs import file_paths, guarded_outputs
from ..io.raster_io import (
    IsCanceled,
    Progress,
    RasterInfo,
    atomic_path,
    raster_bytes,
    read_info,
    read_on_grid,
)
from ..io.window_reads import cached_window
from ..resources import memory_guard, require_memory
from ..results import AlignmentResult
from ..transforms.apply import scaled_progress, translation_in_secondary_crs, write_shifted
from ..transforms.model import Rigid, Uncertainty
from ..transforms.resample import spline_order
from ..transforms.saved import alignment_record
from ..transforms.warp import require_resample_memory, write_resampled
from .band_choice import choose_bands as chosen_bands
from .coarse_search import Seed, initial_map, seed_alignment
from .fit import RigidModel, fit_rigid, rotation_shown
from .match import (
    MIN_PEAK,
    MIN_RELATIVE_TEXTURE,
    Patch,
    SecondarySampler,
    layout_patches,
    measure_batch,
    patch_size_for,
    prepare_patches,
    reliability_percent,
    sparse_layout,
)
from .metrics import mean_matching_score
from .modality import check_modality
from .structure_match import measure_structure
from .uncertainty import SYSTEMATIC_PX, metres_per_unit, overlap_factor, radii

log = logging.getLogger(__name__)

TRANSFORMS = ("translation", "rigid")
OUTPUT_MODES = ("geotransform", "resample")
#: Iterations stop when the model moves less than this (pixels, anywhere in the overlap).
CONVERGENCE_PX = 0.01
MAX_ITERATIONS = 10
#: Shift range (reference pixels) the fine patches cover around the coarse search's offset
#: (:mod:`.coarse_search`); there is no largest shift by default.
DEFAULT_MAX_SHIFT = 20.0
#: Low-pass (cycles/pixel) of the sub-pixel refinement of the patch matches (see
#: :func:`.phase_correlation.phase_correlation_batch`): narrower than the whole-pixel
#: search's, as many patches average the noise this lets in.
REFINE_SIGMA = 0.1
#: Patches the matching score is computed on (it is a summary, not an estimator).
SCORED_PATCHES = 16
#: A small overlap is first aligned on its non-overlapping patches only; their result
#: stands when its standard error over the overlap (translation and rotation) is at most
#: this (pixels) with at least SPARSE_MIN_INLIERS patches agreeing, else every patch is
#: used (half-overlapping patches add little information for four times the work).
SPARSE_SIGMA_PX = 0.005
SPARSE_MIN_INLIERS = 8
#: What to do when the patches do not fit in memory (their side grows with MAX_SHIFT).
PATCH_ADVICE = "choose a smaller MAX_SHIFT, or align a smaller area first"


@dataclass(frozen=True)
class PatchResult:
    """One matched patch: where its content was in the secondary and where it goes.

    ``x``, ``y`` is the patch centre on the reference (map units, reference CRS);
    ``dx_map``, ``dy_map`` the displacement applied there (reference CRS units) and
    ``dx_px``, ``dy_px`` the same in secondary pixels (x right, y down).
    """

    x: float
    y: float
    dx_map: float
    dy_map: float
    dx_px: float
    dy_px: float
    reliability: float
    used: bool
    reason: str


@dataclass(frozen=True)
class Alignment(AlignmentResult):
    """Result of :func:`estimate_alignment`: a rigid model with its quality figures.

    A secondary map point p (reference CRS) goes to R(rotation_deg) (p - centre) +
    centre + shift_map. Pixel shifts are in secondary pixels, x right, y down.
    """

    model: RigidModel
    reference_crs: str
    secondary_crs: str
    shift_x_px: float
    shift_y_px: float
    shift_uncertainty_px: float
    reliability: float
    matching_score_before: float
    matching_score_after: float
    iterations: int
    patches: tuple[PatchResult, ...]
    bounds: tuple[float, float, float, float]
    warnings: tuple[str, ...] = field(default_factory=tuple)
    #: What the coarse search found (:class:`.coarse_search.CoarseResult` record).
    search: dict = field(default_factory=dict)
    #: Covariance of (x, y, rotation): reference pixels (x right, y down) and degrees.
    covariance: tuple[tuple[float, ...], ...] = ((0.0,) * 3,) * 3
    #: Radii (reference pixels, metres) around the correction that hold the true one,
    #: RMS over the overlap, with 90 % and 95 % probability; metres None without units.
    ce90_px: float = 0.0
    ce95_px: float = 0.0
    ce90_m: float | None = None
    ce95_m: float | None = None

    @property
    def transform(self) -> Rigid:
        """The alignment alone, with its uncertainty, to apply to other rasters."""
        return Rigid(self.model, CRS.from_user_input(self.reference_crs), self.bounds,
                     uncertainty=Uncertainty(self.covariance, self.ce90_px, self.ce95_px,
                                             self.ce90_m, self.ce95_m))

    def report(self) -> dict:
        """The JSON report (the keys scripts rely on)."""
        used = sum(p.used for p in self.patches)
        return {
            **alignment_record(self.model, self.reference_crs, self.bounds),
            "transform": self.transform.to_record(),
            "shift_x_px": self.shift_x_px, "shift_y_px": self.shift_y_px,
            "shift_uncertainty_px": self.shift_uncertainty_px,
            "covariance": [list(row) for row in self.covariance],
            "ce90_px": self.ce90_px, "ce95_px": self.ce95_px,
            "ce90_m": self.ce90_m, "ce95_m": self.ce95_m,
            "reliability": self.reliability,
            "n_patches": len(self.patches), "n_patches_used": used,
            "matching_score_before": self.matching_score_before,
            "matching_score_after": self.matching_score_after,
            "reference_crs": self.reference_crs, "secondary_crs": self.secondary_crs,
            "iterations": self.iterations,
            "warnings": list(self.warnings),
            "search": self.search,
            "patches": [asdict(p) for p in self.patches],
        }


def estimate_alignment(
    reference: str | os.PathLike,
    secondary: str | os.PathLike,
    *,
    reference_band: int = 1,
    secondary_band: int = 1,
    masks: Sequence[str | os.PathLike | PolygonMask] = (),
    transform: str = "rigid",
    max_shift: float | None = None,
    reference_nodata: float | None = None,
    secondary_nodata: float | None = None,
    initial_offset: tuple[float, float] | None = None,
    initial_offset_units: str = "pixels",
    modality: str = "auto",
    keep_unreliable: bool = False,
    choose_bands: bool = False,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> Alignment:
    """Estimate the rigid motion that puts ``secondary`` on ``reference``.

    Patches spread over the footprint overlap are matched by phase correlation on a
    common grid (reference CRS, coarser resolution); the model is fitted robustly and
    refined by resampling the secondary until it moves less than 0.01 px.

    Parameters
    ----------
    reference, secondary : path
        GDAL-readable rasters with a CRS and a geotransform.
    reference_band, secondary_band : int
        1-based bands to match.
    masks : sequence of path or PolygonMask
        Areas to leave out (non-zero raster pixels, polygons).
    transform : {"translation", "rigid"}
        Model to fit; "rigid" adds a rotation about the overlap centre.
    max_shift : float, optional
        Largest accepted shift, in reference pixels; larger shifts raise. None: no cap
        (a coarse search over the overlap, :mod:`.coarse_search`, finds the offset).
    reference_nodata, secondary_nodata : float, optional
        Override the files' nodata values.
    initial_offset : (float, float), optional
        Expected correction (x right, y down in reference pixels; x east, y north in map
        units): the search starts there.
    initial_offset_units : {"pixels", "map"}
    modality : {"auto", "same", "optical", "sar-optical"}
        What the images are (see :mod:`.modality`): the features compared.
    keep_unreliable : bool
        Return an ambiguous match (two offsets correlating almost equally well) with a
        warning and a lowered reliability instead of raising.
    choose_bands : bool
        Match the band pair whose coarse correlation stands out most (every pair is tried,
        :mod:`.band_choice`) instead of ``reference_band`` and ``secondary_band``; the
        report's ``search.band_choice`` lists every pair's score.

    Raises
    ------
    ValueError
        Bad input: unreadable file, missing band or CRS, no overlap, all-nodata overlap.
    CoregistrationError
        No reliable match, an ambiguous one, or a shift beyond ``max_shift``.
    """
    if transform not in TRANSFORMS:
        raise CoregInputError(f"transform must be one of {TRANSFORMS}, not {transform!r}.")
    if max_shift is not None and not (isinstance(max_shift, (int, float))
                                      and 0 < max_shift < math.inf):
        raise CoregInputError(f"The maximum shift must be a positive number of reference "
                              f"pixels (or none), not {max_shift!r}.")
    check_modality(modality)
    ref_info, sec_info, common = _open_pair(reference, secondary, reference_band,
                                            secondary_band)
    ref_nodata = ref_info.nodata if reference_nodata is None else reference_nodata
    sec_nodata = sec_info.nodata if secondary_nodata is None else secondary_nodata
    pixel = ref_info.grid.res[0]
    max_shift_map = None if max_shift is None else max_shift * pixel
    with rasterio.open(reference) as ref_ds, rasterio.open(secondary) as sec_ds, \
            memory_guard("matching the patches", PATCH_ADVICE):
        start = initial_map(initial_offset, initial_offset_units, ref_info.grid)
        choice = chosen_bands(ref_ds, ref_nodata, sec_ds, sec_nodata, common, masks,
                              seed=start, max_shift_map=max_shift_map,
                              modality=modality) if choose_bands else None
        if choice:
            reference_band, secondary_band = choice.reference_band, choice.secondary_band
        seed = seed_alignment(
            ref_ds, reference_band, ref_nodata, sec_ds, secondary_band, sec_nodata, common,
            masks, reference_pixel=pixel, max_shift_map=max_shift_map, modality=modality,
            initial_map=start, keep_unreliable=keep_unreliable,
            default_search_px=DEFAULT_MAX_SHIFT)
        if choice:
            seed.record["band_choice"] = choice.record()
        size = _patch_size(seed.fine_search_px, ref_info, common)
        _require_patch_memory(common, size)
        grids = layout_patches(common, size)
        sparse = sparse_layout(grids)
        ref_ds = cached_window(ref_ds, [reference_band], common)
        sampler = SecondarySampler(cached_window(sec_ds, [secondary_band], None),
                                   secondary_band, sec_nodata, common)
        estimator = _Estimator(sampler, common, transform == "rigid", max_shift_map, progress,
                               is_canceled, seed)
        if len(sparse) < len(grids):
            try:
                patches = _reference_patches(ref_ds, reference_band, ref_nodata,
                                             [grids[i] for i in sparse], masks)
                alignment = estimator.run(patches, ref_info, sec_info, sparse=True)
            except (CoregInputError, CoregistrationError):
                estimator.restart()
            else:
                if alignment is not None:
                    return alignment
        patches = _reference_patches(ref_ds, reference_band, ref_nodata, grids, masks)
        return estimator.run(patches, ref_info, sec_info)


def score_overlap(
    reference: str | os.PathLike,
    secondary: str | os.PathLike,
    *,
    reference_band: int = 1,
    secondary_band: int = 1,
    masks: Sequence[str | os.PathLike | PolygonMask] = (),
) -> float:
    """Matching score (0..1, :mod:`metrics`) of the secondary as it is against the
    reference, on the patches :func:`estimate_alignment` would score."""
    ref_info, sec_info, common = _open_pair(reference, secondary, reference_band,
                                            secondary_band)
    with rasterio.open(reference) as ref_ds, rasterio.open(secondary) as sec_ds:
        grids = layout_patches(common, _patch_size(DEFAULT_MAX_SHIFT, ref_info, common))
        patches = [p for p in _reference_patches(ref_ds, reference_band, ref_info.nodata, grids,
                                                 masks)
                   if not p.reason]
        sampler = SecondarySampler(sec_ds, secondary_band, sec_info.nodata, common)
        left, bottom, right, top = common.bounds
        identity = RigidModel(pivot_x=(left + right) / 2, pivot_y=(bottom + top) / 2)
        step = -(-len(patches) // SCORED_PATCHES)
        return mean_matching_score((p.reference, sampler.sample(p.grid, identity))
                                   for p in patches[::step])


def _open_pair(reference, secondary, reference_band: int,
               secondary_band: int) -> tuple[RasterInfo, RasterInfo, Grid]:
    """Both rasters' headers, their bands checked, and the common grid."""
    ref_info, sec_info = read_info(reference, "Reference"), read_info(secondary, "Secondary")
    ref_info.check_band(reference_band, "Reference")
    sec_info.check_band(secondary_band, "Secondary")
    return ref_info, sec_info, common_grid(ref_info.grid, sec_info.grid)


def _patch_size(max_shift: float, reference: RasterInfo, common: Grid) -> int:
    """Patch side for a largest shift given in reference pixels."""
    return patch_size_for(max_shift * reference.grid.res[0] / common.res[0], common)


def _require_patch_memory(common: Grid, size: int) -> None:
    """Refuse patches that cannot fit: every patch's reference and secondary samples are
    held (float32), and one patch at a time is correlated (complex FFTs)."""
    side = min(size, common.width, common.height)
    count = len(layout_patches(common, size))
    require_memory(side * side * (8.0 * count + 96.0),
                   f"Matching {count} patches of {side} x {side} pixels", PATCH_ADVICE)


def _reference_patches(ds, band, nodata, grids: list[Grid], masks) -> list[Patch]:
    patches = prepare_patches(grids, [read_on_grid(ds, band, g, nodata=nodata) for g in grids],
                              [masked_on_grid(masks, g) for g in grids])
    textures = [p.texture for p in patches if not p.reason]
    if not textures:
        raise CoregInputError("The overlap of the two rasters holds no valid reference data "
                              "(all nodata, masked or cloud-like).")
    floor = MIN_RELATIVE_TEXTURE * float(np.median(textures))
    for p in patches:
        if not p.reason and p.texture <= floor:
            p.reason = "low texture"
    return patches


class _Estimator:
    """The iterative measure / fit loop of :func:`estimate_alignment`."""

    def __init__(self, sampler, common, rotation, max_shift_map, progress, is_canceled,
                 seed: Seed):
        self.sampler, self.common = sampler, common
        self.rotation, self.max_shift_map = rotation, max_shift_map
        self.progress, self.is_canceled = progress, is_canceled
        self.seed = seed
        self.patches: list[Patch] = []
        self.done = 0  # iterations of earlier runs (a sparse first pass)
        self.restart()

    def restart(self) -> None:
        """Start again from the coarse search's offset (forgetting a failed run's model)."""
        self.model = replace(self._identity(), shift_x=self.seed.shift_x,
                             shift_y=self.seed.shift_y)
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
            self._check_canceled()
            samples = self.sampler.sample_all([p.grid for p in active], self.model)
            if iteration == self.done + 1:  # "before", if the model is the identity
                unmoved = samples if self.model == self._identity() else None
            measurements = self._measure(active, samples)
            fit, good = self._fit(active, measurements)
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
        before, after = self._scores(active, unmoved, samples)
        measurable = [r for r in results if r.reason not in ("nodata or masked", "low texture",
                                                              "cloud-like or saturated")]
        reliability = min(sum(r.reliability for r in measurable if r.used)
                          / max(len(measurable), 1), self.seed.reliability_cap)
        dx_px, dy_px = self._to_secondary_px(self.model.shift_x, self.model.shift_y,
                                             sec_info.grid)
        uncertainty = self._uncertainty(active, good, fit, ref_info.grid)
        res_x, res_y = self.common.res
        covariance = uncertainty.pop("map")
        sigma_common = math.sqrt(covariance[0, 0] / res_x**2 + covariance[1, 1] / res_y**2)
        return Alignment(
            self.model, ref_info.grid.crs.to_string(), sec_info.grid.crs.to_string(),
            dx_px, dy_px, sigma_common * self._secondary_px_per_common_px(sec_info.grid),
            reliability, before, after, iteration, tuple(results), self.common.bounds,
            tuple(self.warnings), self.seed.record, **uncertainty)

    def _measure(self, patches, samples) -> list:
        """The patches' matches: phase correlation in batches, or structure across
        modalities (one patch at a time)."""
        if self.seed.fine_features == "structure":
            wide = not self.seed.record["found"]
            return [measure_structure(p, s, wide=wide) for p, s in zip(patches, samples)]
        return measure_batch(patches, samples, refine_sigma=REFINE_SIGMA)

    def _precise(self, fit) -> bool:
        """Whether a sparse run's fit is precise enough to stand: the standard error of
        the correction, RMS over the overlap, and the patches that agree on it."""
        width, height = self.common.width, self.common.height
        mean_r2 = (width**2 + height**2) / 12  # pixels squared
        sigma = math.sqrt(fit.sigma_shift_px**2 + fit.covariance[2, 2] * mean_r2)
        return sigma <= SPARSE_SIGMA_PX and int(fit.inliers.sum()) >= SPARSE_MIN_INLIERS

    def _uncertainty(self, active, good, fit, reference: Grid) -> dict:
        """Covariance and radii of the final model (see :mod:`.uncertainty`): the last
        fit's covariance inflated by the patches' overlap, plus the systematic floor."""
        kept = [p for p, g in zip(active, good) if g]
        kept = [p for p, inlier in zip(kept, fit.inliers) if inlier]
        corners = np.array([~self.common.transform * (p.grid.transform.c, p.grid.transform.f)
                            for p in kept])
        kappa = overlap_factor(corners, kept[0].grid.width)
        res_x, res_y = self.common.res
        statistical = kappa * fit.covariance
        systematic = np.diag([(SYSTEMATIC_PX * res_x) ** 2, (SYSTEMATIC_PX * res_y) ** 2, 0.0])
        left, bottom, right, top = self.common.bounds
        dof = fit.dof / kappa
        out = {"map": statistical + systematic}
        rx, ry = reference.res
        for unit, (sx, sy) in (("px", (1 / rx, -1 / ry)),
                               ("m", metres_per_unit(self.common.crs, (left + right) / 2,
                                                     (bottom + top) / 2, (rx, ry))
                                     or (None, None))):
            if sx is None:
                out[f"ce90_{unit}"] = out[f"ce95_{unit}"] = None
                continue
            scale = np.diag([sx, sy, 1.0])
            mean_r2 = (((right - left) * sx) ** 2 + ((top - bottom) * sy) ** 2) / 12
            out[f"ce90_{unit}"], out[f"ce95_{unit}"] = radii(
                scale @ statistical @ scale, scale @ systematic @ scale, mean_r2, dof)
            if unit == "px":
                degrees = np.diag([1.0, 1.0, math.degrees(1.0)])
                total = degrees @ scale @ (statistical + systematic) @ scale @ degrees
                out["covariance"] = tuple(tuple(float(v) for v in row) for row in total)
        return out

    def _fit(self, active, measurements):
        good = np.array([m is not None and m.peak >= MIN_PEAK for m in measurements])
        minimal = 3 if self.rotation else 2
        if good.sum() < minimal:
            raise CoregistrationError(
                f"No reliable match: only {int(good.sum())} of {len(active)} patches correlate "
                "(different scenes, heavy clouds or change, or a shift beyond the search range).")
        obs = [m for m, g in zip(measurements, good) if g]
        centres = np.array([p.centre for p, g in zip(active, good) if g])
        shifts = np.array([(m.shift_x, m.shift_y) for m in obs])
        weights = np.array([m.peak for m in obs])
        pivot = (self.model.pivot_x, self.model.pivot_y)
        fit = fit_rigid(centres, shifts, weights, pixel_size=self.common.res, pivot=pivot,
                        rotation=self.rotation)
        # Until a rotation shows, none is fitted (its uncertainty stays the rigid one's);
        # once one has, every update refines it.
        if self.rotation and self.model.rotation_deg == 0.0 and not rotation_shown(fit):
            fit = replace(fit_rigid(centres, shifts, weights, pixel_size=self.common.res,
                                    pivot=pivot, rotation=False),
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
                                       *self._to_secondary_px(dx, dy, secondary),
                                       reliability, used, reason))
        return results

    def _scores(self, active, first_samples, final_samples) -> tuple[float, float]:
        """Matching score before (the first iteration's samples, at the identity) and
        after alignment on up to :data:`SCORED_PATCHES` patches spread over the overlap;
        the last iteration's samples stand for "after" (they differ from the final model
        by < 0.01 px)."""
        step = -(-len(active) // SCORED_PATCHES)
        if first_samples is None:  # the run started from a sparse pass's model
            first_samples = [self.sampler.sample(p.grid, self._identity()) if k % step == 0
                             else None for k, p in enumerate(active)]
        before = ((p.reference, s) for p, s in list(zip(active, first_samples))[::step])
        after = ((p.reference, s) for p, s in list(zip(active, final_samples))[::step])
        return mean_matching_score(before), mean_matching_score(after)

    def _to_secondary_px(self, dx: float, dy: float, secondary: Grid) -> tuple[float, float]:
        shift = RigidModel(dx, dy, 0.0, self.model.pivot_x, self.model.pivot_y)
        sx, sy = translation_in_secondary_crs(Rigid(shift, self.common.crs), secondary)
        t = secondary.transform
        col, row = ~Affine(t.a, t.b, 0.0, t.d, t.e, 0.0) * (sx, sy)
        return float(col), float(row)

    def _secondary_px_per_common_px(self, secondary: Grid) -> float:
        sec = pixel_size_in(secondary, self.common.crs)
        return math.sqrt(self.common.res[0] * self.common.res[1] / (sec[0] * sec[1]))

    def _check_canceled(self) -> None:
        if self.is_canceled and self.is_canceled():
            raise CanceledError("Canceled while matching.")

    def _report_progress(self, iteration: int) -> None:
        if self.progress:
            self.progress(100.0 * iteration / MAX_ITERATIONS)


def align_image(
    reference: str | os.PathLike,
    secondary: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    reference_band: int = 1,
    secondary_band: int = 1,
    masks: Sequence[str | os.PathLike | PolygonMask] = (),
    transform: str = "rigid",
    max_shift: float | None = None,
    reference_nodata: float | None = None,
    secondary_nodata: float | None = None,
    initial_offset: tuple[float, float] | None = None,
    initial_offset_units: str = "pixels",
    modality: str = "auto",
    keep_unreliable: bool = False,
    choose_bands: bool = False,
    output_mode: str = "resample",
    resampling: str = "cubic",
    cog: bool = False,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> Alignment:
    """Estimate the alignment of ``secondary`` onto ``reference`` and write the result.

    The matching options are those of :func:`estimate_alignment`; the output is written
    to a temporary file beside ``output`` and moved into place only once complete.

    Parameters
    ----------
    reference, secondary : path
        GDAL-readable rasters with a CRS and a geotransform; every band of the
        secondary is written.
    output : path, optional
        GeoTIFF (or COG if ``cog``) to write. Nothing is written if None (the
        alignment is only measured).
    reference_band, secondary_band : int
        1-based bands to match.
    masks : sequence of path or PolygonMask
        Areas to leave out of the matching (rasters: non-zero pixels; polygons).
    transform : {"rigid", "translation"}
        Model to fit; "rigid" adds a rotation about the overlap centre.
    max_shift : float, optional
        Largest accepted shift, in reference pixels; a larger shift raises. None: no cap.
    reference_nodata, secondary_nodata : float, optional
        Override the files' nodata values.
    initial_offset, initial_offset_units, modality, keep_unreliable, choose_bands
        As :func:`estimate_alignment`'s.
    output_mode : {"resample", "geotransform"}
        "resample" warps the secondary onto the reference grid; "geotransform" copies
        it unchanged with a translated geotransform (no data lost; needs
        ``transform="translation"``).
    resampling : {"cubic", "bilinear", "nearest"}
        Resampling of the "resample" mode.
    cog : bool
        Write a Cloud-Optimized GeoTIFF.
    progress : callable, optional
        Called with the percentage done (0 to 100).
    is_canceled : callable, optional
        Polled during the run; returning True stops it with :class:`CanceledError`.

    Returns
    -------
    Alignment
        The model, the shift in secondary pixels, its uncertainty, reliability, the
        matching score before and after, every patch; ``report()`` gives the JSON
        report and ``transform`` the alignment to apply to other rasters.

    Raises
    ------
    CoregInputError
        Unreadable input, missing band or CRS, no overlap, an option out of range.
    CoregOutputError
        ``output`` would replace an input, or cannot be written.
    CoregistrationError
        No reliable match, an ambiguous one (unless ``keep_unreliable``), or a shift
        beyond ``max_shift``.
    CoregResourceError
        Not enough memory or disk space.
    CanceledError
        ``is_canceled`` returned True (or a signal, see
        :func:`.outputs.terminate_cleanly`).
    """
    if output_mode not in OUTPUT_MODES:
        raise CoregInputError(f"output_mode must be one of {OUTPUT_MODES}, not {output_mode!r}.")
    spline_order(resampling)  # a known name, checked before the matching, not after it
    if output is not None and output_mode == "geotransform" and transform != "translation":
        raise CoregInputError("The geotransform-only output needs the translation model "
                              "(a rotation cannot be written as a shifted geotransform).")
    with guarded_outputs({"Output": output}, {"Reference": reference, "Secondary": secondary,
                                              "Masks": file_paths(masks)}):
        if output is not None and output_mode == "resample":  # before the matching
            read_info(secondary, "Secondary")  # a usable file, else a clear error
            require_resample_memory(secondary, read_info(reference, "Reference").grid)
        alignment = estimate_alignment(
            reference, secondary, reference_band=reference_band,
            secondary_band=secondary_band, masks=masks, transform=transform,
            max_shift=max_shift, reference_nodata=reference_nodata,
            secondary_nodata=secondary_nodata, initial_offset=initial_offset,
            initial_offset_units=initial_offset_units, modality=modality,
            keep_unreliable=keep_unreliable, choose_bands=choose_bands,
            progress=scaled_progress(progress, 0, 60),
            is_canceled=is_canceled)
        if output is None:
            return alignment
        return _write_aligned(alignment, reference, secondary, output, output_mode=output_mode,
                              resampling=resampling, cog=cog, nodata=secondary_nodata,
                              progress=scaled_progress(progress, 60, 100),
                              is_canceled=is_canceled)


def _covered_bytes(secondary: RasterInfo, reference: Grid, cog: bool) -> int:
    """The least space the resampled output needs: only the part of the reference grid
    the secondary covers is written (a small scene on a huge grid stays small)."""
    sx, sy = pixel_size_in(secondary.grid, reference.crs)
    covered = secondary.grid.width * secondary.grid.height * sx * sy / (
        reference.res[0] * reference.res[1])
    grid = Grid(reference.crs, reference.transform, 1,
                int(min(covered, reference.width * reference.height)))
    return raster_bytes(grid, secondary.count, "float32", cog=cog)


def _write_aligned(alignment: Alignment, reference, secondary, output, *, output_mode: str,
                   resampling: str, cog: bool, nodata: float | None,
                   progress: Progress | None, is_canceled: IsCanceled | None) -> Alignment:
    """Write the secondary moved by ``alignment``: shifted or resampled onto the reference."""
    info = read_info(secondary, "Secondary")
    if output_mode == "geotransform":
        with atomic_path(output, size=raster_bytes(info.grid, info.count, info.dtype,
                                                   cog=cog)) as tmp:
            write_shifted(secondary, tmp, alignment.transform, cog=cog, progress=progress,
                          is_canceled=is_canceled)
        return alignment
    reference_grid = read_info(reference).grid
    with atomic_path(output, size=_covered_bytes(info, reference_grid, cog)) as tmp:
        out_nodata = write_resampled(secondary, tmp, alignment.transform, reference_grid,
                                     resampling=resampling, nodata=nodata, cog=cog,
                                     progress=progress, is_canceled=is_canceled)
    if nodata is None and info.nodata is None:
        note = (f"The secondary has no nodata value; {out_nodata} marks the areas it does "
                "not cover in the output.")
        alignment = replace(alignment, warnings=alignment.warnings + (note,))
    return alignment

