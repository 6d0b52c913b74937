"""DEM coregistration pipelines: a shift step and bias corrections chained by name,
e.g. ``nuth_kaab+deramp1+directional``.

The steps are fitted jointly by backfitting: each step is refitted on the elevation
differences left by all the others, pass after pass, until nothing moves. Fitted in
sequence only, a tilt or an undulation would leak into the Nuth & Kääb shift (and the
shift into them); backfitting removes that coupling whatever the order written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds
from scipy import optimize

from ..errors import CanceledError, CoregInputError, CoregistrationError
from ..grid import Grid
from ..io.masks import PolygonMask
from ..io.raster_io import BLOCK, IsCanceled, Progress, read_info
from . import uncertainty as dem_uncertainty
from .bias import (
    Deramp,
    Directional,
    LzdTilt,
    TerrainBias,
    VerticalBias,
    Where,
    correction_from_terms,
    curvature,
    robust_lstsq,
)
from .dem import FIT_SAMPLES, DemAlignment, estimate_dem_alignment
from .icp import fit_icp
from .nuth_kaab import Fitter, fill_missing
from .samples import DemSampler, collect_samples, metres_per_unit_at, overlap_window
from .terrain import gradient, nmad
from .uncertainty import terms_as_numbers

#: Steps that move the DEM horizontally (one at most per pipeline).
SHIFT_STEPS = ("nuth_kaab", "dhminimize", "lzd", "icp")
#: Shift steps that fit a small 3-D rotation too (LZD's parameterisation, :class:`LzdTilt`).
RIGID_STEPS = ("lzd", "icp")
#: Every step name a pipeline may hold; ``directional`` and ``directional_bins`` take an
#: optional track azimuth, e.g. ``directional:12.5`` (degrees clockwise from north).
#: ``blockwise:STEP`` (a pipeline of its own) wraps a shift step per block.
STEP_NAMES = SHIFT_STEPS + ("vertical", "deramp1", "deramp2", "deramp3", "directional",
                            "directional_bins", "terrain_elevation", "terrain_curvature")
#: Backfitting passes at most, and the change of every term (metres) that ends them.
MAX_PASSES = 6
PASS_TOLERANCE = 1e-3
#: Samples the robust dh minimisation evaluates per trial shift.
DHMIN_SAMPLES = 200_000


def parse_pipeline(text: str) -> list:
    """Steps of ``text`` (names joined by '+'): shift step names as strings, bias
    corrections as unfitted objects of :mod:`.dem_bias`."""
    steps: list = []
    for raw in (part.strip().lower() for part in text.split("+")):
        name, _, option = raw.partition(":")
        if name not in STEP_NAMES:
            raise CoregInputError(f"Unknown pipeline step {raw!r}; the steps are "
                                  f"{', '.join(STEP_NAMES)} joined by '+'.")
        if option and not name.startswith("directional"):
            raise CoregInputError(f"Pipeline step {name} takes no option ({raw!r}).")
        steps.append(_step(name, option))
    if sum(isinstance(s, str) for s in steps) > 1:
        raise CoregInputError("A pipeline holds one shift step at most "
                              f"({', '.join(SHIFT_STEPS)}).")
    return steps


def _step(name: str, option: str):
    if name in SHIFT_STEPS:
        return name
    if name == "vertical":
        return VerticalBias()
    if name.startswith("deramp"):
        return Deramp(int(name[-1]))
    if name.startswith("directional"):
        try:
            angle = float(option) if option else None
        except ValueError:
            raise CoregInputError(f"The track azimuth of {name} must be a number of "
                                  f"degrees, not {option!r}.") from None
        return Directional(angle, "bins" if name.endswith("_bins") else "sines")
    return TerrainBias(name.removeprefix("terrain_"))


def estimate_dem_pipeline(
    reference: str | os.PathLike,
    dem: str | os.PathLike,
    pipeline: str,
    *,
    exclude: Sequence[str | os.PathLike | PolygonMask] = (),
    max_iterations: int = 10,
    tolerance: float = 0.01,
    block_size: int = 256,
    bootstrap: int = 0,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
    **_ignored,
) -> DemAlignment:
    """Fit the steps of ``pipeline`` (see :func:`parse_pipeline`) to put ``dem`` on
    ``reference``; the result's ``corrections`` hold every fitted bias term, and with
    ``bootstrap`` replicates its ``uncertainty`` their standard errors
    (:mod:`.dem_uncertainty`).
    ``blockwise:STEP`` (alone) fits the shift step STEP on every block of
    ``block_size`` pixels and warps the DEM by the smoothed field, as the blockwise
    method does with Nuth & Kääb."""
    name, _, option = pipeline.strip().lower().partition(":")
    if name == "blockwise":
        if bootstrap:
            raise CoregInputError("The uncertainty (bootstrap) is for global pipelines, "
                                  "not blockwise.")
        result = estimate_dem_alignment(reference, dem, exclude=exclude, method="blockwise",
                                        max_iterations=max_iterations, tolerance=tolerance,
                                        block_size=block_size,
                                        block_step=option or "nuth_kaab",
                                        progress=progress, is_canceled=is_canceled)
        return replace(result, pipeline=pipeline)
    steps = parse_pipeline(pipeline)
    ref_info, dem_info = read_info(reference, "Reference DEM"), read_info(dem, "DEM")
    grid = dem_info.grid
    window = overlap_window(ref_info.grid, grid)
    scale = metres_per_unit_at(grid, window)
    with rasterio.open(reference) as ref_ds, rasterio.open(dem) as dem_ds:
        samples = collect_samples(ref_ds, ref_info.nodata, dem_ds, dem_info.nodata, grid,
                                   window, exclude, scale)
        sampler = DemSampler(dem_ds, dem_info.nodata, grid, window)
        return fit_samples(steps, pipeline, samples, sampler, window, scale,
                           max_iterations=max_iterations, tolerance=tolerance,
                           progress=progress, is_canceled=is_canceled, bootstrap=bootstrap)


def fit_samples(steps: list, pipeline: str, samples, sampler, window: Window, scale, *,
                max_iterations: int, tolerance: float, progress: Progress | None,
                is_canceled: IsCanceled | None, bootstrap: int = 0) -> DemAlignment:
    """Fit ``steps`` to the reference elevations of ``samples`` (pixels of a reference
    DEM, or points) against the DEM read by ``sampler``; the statistics are of all
    samples."""
    grid = sampler.grid
    rigid = [s.upper() for s in steps if s in RIGID_STEPS]
    if rigid and grid.crs.is_geographic:
        raise CoregInputError(f"{rigid[0]} needs a DEM in a projected CRS (metres): reproject "
                              "it first, or use nuth_kaab.")
    fit = samples.subset(FIT_SAMPLES)
    state = _Backfit(steps, fit, sampler, scale, grid, max_iterations, tolerance, is_canceled)
    passes = state.run(progress)
    dh_before = samples.ref - sampler.at(samples, 0.0, 0.0)
    where = _where(samples, grid)
    after = samples.ref - sampler.at(samples, *state.sample_shifts(where)) - state.shift_z
    for step in steps:
        if not isinstance(step, (str, VerticalBias)):
            after -= step(where)
    if state.lzd is not None:
        after -= state.lzd.vertical(where)  # its horizontal part was sampled exactly
    corrections = _corrections(steps, state)
    uncertainty = {}
    if bootstrap:
        def fit_once(part) -> dict:
            again = parse_pipeline(pipeline)
            replica = _Backfit(again, part, sampler, scale, grid, max_iterations, tolerance,
                               is_canceled)
            replica.run(None)
            return terms_as_numbers(_headline(replica), _corrections(again, replica))

        uncertainty = dem_uncertainty.bootstrap(fit_once, fit, bootstrap,
                                                is_canceled=is_canceled)
    return DemAlignment(
        "pipeline", grid.crs.to_string(), float(state.shift[0]), float(state.shift[1]),
        float(state.shift_z), passes, nmad(dh_before), nmad(after),
        float(np.nanmedian(dh_before)), float(np.nanmedian(after)), samples.n_stable,
        warnings=tuple(state.warnings),
        alignment_bounds=tuple(float(v) for v in window_bounds(window, grid.transform)),
        converged=state.converged, pipeline=pipeline, corrections=corrections,
        rotation_deg=float(np.degrees(state.kappa)),
        rotation_centre=(float(state.centre[0]), float(state.centre[1])),
        uncertainty=uncertainty)


def _corrections(steps: list, state) -> tuple[dict, ...]:
    corrections = tuple(s.terms() for s in steps if not isinstance(s, (str, VerticalBias)))
    return corrections + ((state.lzd.terms(),) if state.lzd is not None else ())


def _headline(state) -> dict:
    return {"shift_x": state.shift[0], "shift_y": state.shift[1], "shift_z": state.shift_z,
            "rotation_deg": np.degrees(state.kappa)}


def _where(samples, grid: Grid) -> Where:
    x, y = grid.transform * (samples.cols + 0.5, samples.rows + 0.5)
    return Where(np.asarray(x), np.asarray(y), samples.ref, samples.curvature, samples.gx,
                 samples.gy)


class _Backfit:
    """The joint fit: every step refitted on what the others leave, pass after pass."""

    def __init__(self, steps, fit, sampler, scale, grid, max_iterations, tolerance,
                 is_canceled):
        self.steps, self.fit, self.sampler, self.scale = steps, fit, sampler, scale
        self.max_iterations, self.tolerance, self.is_canceled = (max_iterations, tolerance,
                                                                 is_canceled)
        self.where = _where(fit, grid)
        self.values = [np.zeros(fit.ref.size) for _ in steps]
        #: With a shift or vertical step, the other corrections are centred on zero so
        #: that the constant is one term (the vertical shift), not split among them.
        self.centred = any(isinstance(s, (str, VerticalBias)) for s in steps)
        self.shift, self.shift_z = np.zeros(2), 0.0
        #: LZD: rotation about the vertical (radians, counter-clockwise), the tilts and
        #: the vertical shift, about the centre of the fitted pixels (x, y, z).
        self.kappa, self.tz = 0.0, 0.0
        self.centre = (float(np.median(self.where.x)), float(np.median(self.where.y)),
                       float(np.median(self.where.elevation)))
        self.lzd = LzdTilt(centre=self.centre) if any(s in RIGID_STEPS for s in steps) else None
        self.dem = sampler.at(fit, 0.0, 0.0)
        self.warnings: list[str] = []
        self.converged = True

    def run(self, progress: Progress | None) -> int:
        passes = MAX_PASSES if len(self.steps) > 1 else 1
        for p in range(1, passes + 1):
            if self.is_canceled and self.is_canceled():
                raise CanceledError("Canceled while fitting the DEM pipeline.")
            change = max(self._refit(k) for k in range(len(self.steps)))
            if progress:
                progress(100.0 * p / passes)
            if change < PASS_TOLERANCE:
                break
        self.shift_z = sum(self.tz if s in RIGID_STEPS else float(np.median(v))
                           for s, v in zip(self.steps, self.values)
                           if isinstance(s, (str, VerticalBias)))
        return p

    def sample_shifts(self, where: Where) -> tuple[np.ndarray, np.ndarray]:
        """Shift (map units) by which each pixel of ``where`` takes the DEM: the shift,
        plus for LZD the rotation about the vertical and the tilts' horizontal part."""
        if self.lzd is None:
            return self.shift[0], self.shift[1]
        hx, hy = self.lzd.horizontal(where)
        return (self.shift[0] - self.kappa * (where.y - self.centre[1]) + hx,
                self.shift[1] + self.kappa * (where.x - self.centre[0]) + hy)

    def _refit(self, k: int) -> float:
        """Refit step ``k``; return how much it moved (metres: its values, or its shift
        on the ground)."""
        step = self.steps[k]
        others = sum(v for j, v in enumerate(self.values) if j != k)
        if step in RIGID_STEPS:
            old = self.sample_shifts(self.where)
            fit_icp(self, others) if step == "icp" else self._fit_lzd(others)
            self.dem = self.sampler.at(self.fit, *self.sample_shifts(self.where))
            moved = float(np.max(np.hypot(*(np.subtract(self.sample_shifts(self.where), old)))))
            new = self.tz + self.lzd.vertical(self.where)
        elif isinstance(step, str):
            old = self.shift.copy()
            self.shift = self._fit_shift(step, others)
            self.dem = self.sampler.at(self.fit, *self.shift)
            moved = float(np.hypot(*((self.shift - old) * self.scale)))
            new = np.full(self.fit.ref.size, np.nanmedian(self.fit.ref - others - self.dem))
        else:
            dh = self.fit.ref - self.dem - others
            ok = np.isfinite(dh)
            step.fit(self.where.subset(ok), dh[ok])
            new, moved = step(self.where), 0.0
            if self.centred and not isinstance(step, VerticalBias):
                centre = float(np.median(new))
                step.shift_by(-centre)
                new = new - centre
        moved = max(moved, float(np.max(np.abs(new - self.values[k]))))
        self.values[k] = new
        return moved

    def _fit_lzd(self, others: np.ndarray) -> None:
        """Least Z-difference (Rosenholm & Torlegard 1988): the small 3-D rotation and
        translation minimising the robust sum of squared dh, by Gauss-Newton on
        dh + g . ds - ddz = 0 (g: the reference's gradient), resampling each iteration."""
        w, lzd = self.where, self.lzd
        x, y = w.x - self.centre[0], w.y - self.centre[1]
        z = w.elevation - self.centre[2]
        gx, gy = self.fit.gx, self.fit.gy
        low, high = np.tan(np.radians((0.0, 70.0)))
        usable = np.hypot(gx, gy) <= high
        design = np.column_stack([gx, gy, -np.ones_like(gx), -gy * z - y, gx * z + x,
                                  -gx * y + gy * x])
        extent = float(max(np.ptp(x), np.ptp(y), 1.0))
        for _ in range(self.max_iterations):
            if self.is_canceled and self.is_canceled():
                raise CanceledError("Canceled while fitting the DEM pipeline.")
            dem = self.sampler.at(self.fit, *self.sample_shifts(w))
            dh = self.fit.ref - others - dem - self.tz - lzd.vertical(w)
            ok = usable & np.isfinite(dh)
            if ok.sum() < 100:
                raise CoregistrationError("Too few stable pixels for LZD.")
            delta = robust_lstsq(design[ok], -dh[ok])
            if self.rigid_step(delta, extent):
                return
        self.not_converged("LZD")

    def rigid_step(self, delta: np.ndarray, extent: float, scale: float = 1.0) -> bool:
        """Add a rigid update (dx, dy, dz, omega, phi, kappa; dx, dy divided by
        ``scale`` into this state's shift units) of LZD or ICP; whether it moved less
        than the tolerance anywhere within ``extent`` of the centre."""
        self.shift = self.shift + delta[:2] / scale
        self.tz += float(delta[2])
        self.lzd.omega, self.lzd.phi = self.lzd.omega + delta[3], self.lzd.phi + delta[4]
        self.kappa += float(delta[5])
        return max(np.hypot(*delta[:2]), np.abs(delta[3:]).max() * extent) < self.tolerance

    def not_converged(self, method: str) -> None:
        self.converged = False
        self.warnings.append(f"{method} not converged to {self.tolerance} after "
                             f"{self.max_iterations} iterations.")

    def _fit_shift(self, name: str, others: np.ndarray) -> np.ndarray:
        adjusted = replace(self.fit, ref=self.fit.ref - others)
        if name == "dhminimize":
            return _dh_minimize(adjusted, self.sampler, self.shift, self.scale)
        fitter = Fitter(adjusted, self.sampler, self.scale, None, self.is_canceled)
        # Without LZD's rotation, self.dem is the DEM sampled at self.shift.
        shifts, _ = fitter.horizontal(np.zeros(adjusted.ref.size, int), 1, self.max_iterations,
                                      self.tolerance, start=self.shift,
                                      dem_at_start=self.dem if self.lzd is None else None)
        if not fitter.converged:
            self.converged = False
            self.warnings.extend(w for w in fitter.warnings if w not in self.warnings)
        return shifts[0]


def require_shift_step(step: str) -> None:
    if step not in SHIFT_STEPS:
        raise CoregInputError(f"Blockwise wraps a shift step ({', '.join(SHIFT_STEPS)}), "
                              f"not {step!r}.")


def block_shifts(step: str, fit, groups: np.ndarray, n: int, sampler, scale, grid: Grid,
                 max_iterations: int, tolerance: float, min_pixels: int,
                 is_canceled: IsCanceled | None, fill: bool = True):
    """Blockwise wrapping of any shift step: the step fitted on each block's samples
    alone, as the shift (x, y) it gives at the block's centre (NaN for blocks with too
    few pixels: they take the others' median, unless not ``fill``); also iterations,
    warnings, converged."""
    require_shift_step(step)
    shifts, iterations, warnings, converged = np.full((n, 2), np.nan), 0, [], True
    for group in range(n):
        index = np.nonzero(groups == group)[0]
        if index.size < min_pixels:
            continue
        part = replace(fit, **{name: getattr(fit, name)[index] for name in
                               ("rows", "cols", "ref", "gx", "gy", "chunk", "curvature")})
        state = _Backfit([step], part, sampler, scale, grid, max_iterations, tolerance,
                         is_canceled)
        iterations = max(iterations, state.run(None))
        centre = state.where.subset(np.array([np.argmin(np.hypot(
            state.where.x - np.median(state.where.x), state.where.y - np.median(state.where.y)))]))
        shifts[group] = [float(np.mean(v)) for v in state.sample_shifts(centre)]
        converged &= state.converged
        warnings += [w for w in state.warnings if w not in warnings]
    return (fill_missing(shifts) if fill else shifts), iterations, warnings, converged


def _dh_minimize(samples, sampler, start: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The shift that minimises the NMAD of dh (xdem's DhMinimize): no slope model,
    so it also works where Nuth & Kääb's cosine does not hold (e.g. steep cliffs)."""
    subset = samples.subset(DHMIN_SAMPLES)
    res = np.abs(np.array([sampler.grid.transform.a, sampler.grid.transform.e]))

    def spread(shift_px: np.ndarray) -> float:
        dh = subset.ref - sampler.at(subset, *(shift_px * res))
        return nmad(dh)

    x0 = np.asarray(start, float) / res
    simplex = np.array([x0, x0 + [0.5, 0.0], x0 + [0.0, 0.5]])
    found = optimize.minimize(spread, x0, method="Nelder-Mead",
                              options={"initial_simplex": simplex, "xatol": 1e-3,
                                       "fatol": 1e-6, "maxiter": 400})
    return found.x * res


def apply_corrections(path: str | os.PathLike, corrections: Sequence[dict],
                      dem_crs) -> None:
    """Add the fitted bias corrections to the DEM written at ``path`` (in place, by
    strips; nodata stays nodata). Coordinates are taken in the DEM's CRS, where the
    corrections were fitted."""
    if not corrections:
        return
    fitted = [correction_from_terms(terms) for terms in corrections]
    # Only the terrain-dependent and LZD corrections read the slope or the curvature.
    terrain = any(isinstance(c, (TerrainBias, LzdTilt)) for c in fitted)
    with rasterio.open(path, "r+") as ds:
        to_dem = (None if ds.crs == dem_crs
                  else Transformer.from_crs(ds.crs, dem_crs, always_xy=True))
        res = metres_per_unit_at(Grid(ds.crs, ds.transform, ds.width, ds.height),
                              Window(0, 0, ds.width, ds.height)) * np.abs(ds.res)
        for row in range(0, ds.height, BLOCK):
            height = min(BLOCK, ds.height - row)
            r0, r1 = max(row - 1, 0), min(row + height + 1, ds.height)
            z = ds.read(1, window=Window(0, r0, ds.width, r1 - r0), masked=True)
            z = z.astype(float).filled(np.nan)
            padded = np.pad(z, ((row - r0 == 0, row + height == r1), (1, 1)),
                            constant_values=np.nan)
            strip = padded[1:-1, 1:-1]
            cols, rows = np.meshgrid(np.arange(ds.width) + 0.5, np.arange(row, row + height) + 0.5)
            x, y = ds.transform * (cols.ravel(), rows.ravel())
            if to_dem is not None:
                x, y = to_dem.transform(x, y)
            gx, gy = gradient(padded, res[0], res[1]) if terrain else (None, None)
            where = Where(np.asarray(x), np.asarray(y), strip.ravel(),
                          curvature(padded, res[0], res[1]).ravel() if terrain else None,
                          gx.ravel() if terrain else None, gy.ravel() if terrain else None)
            total = sum(c(where) for c in fitted).reshape(strip.shape)
            out = np.where(np.isfinite(strip), strip + total, ds.nodata if ds.nodata is not None
                           else np.nan)
            ds.write(out.astype(ds.dtypes[0]), 1, window=Window(0, row, ds.width, height))
