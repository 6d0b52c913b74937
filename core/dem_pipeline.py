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

from .dem import (
    FIT_SAMPLES,
    DemAlignment,
    _collect_samples,
    _DemSampler,
    _Fitter,
    _overlap_window,
    metres_per_unit,
)
from .dem_bias import (
    Deramp,
    Directional,
    TerrainBias,
    VerticalBias,
    Where,
    correction_from_terms,
    curvature,
)
from .errors import CanceledError, CoregInputError
from .grid import Grid
from .masks import PolygonMask
from .raster_io import BLOCK, IsCanceled, Progress, read_info
from .terrain import nmad

#: Steps that move the DEM horizontally (one at most per pipeline).
SHIFT_STEPS = ("nuth_kaab", "dhminimize")
#: Every step name a pipeline may hold; ``directional`` and ``directional_bins`` take an
#: optional track azimuth, e.g. ``directional:12.5`` (degrees clockwise from north).
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
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
    **_ignored,
) -> DemAlignment:
    """Fit the steps of ``pipeline`` (see :func:`parse_pipeline`) to put ``dem`` on
    ``reference``; the result's ``corrections`` hold every fitted bias term."""
    steps = parse_pipeline(pipeline)
    ref_info, dem_info = read_info(reference, "Reference DEM"), read_info(dem, "DEM")
    grid = dem_info.grid
    window = _overlap_window(ref_info.grid, grid)
    scale = metres_per_unit(grid, window)
    with rasterio.open(reference) as ref_ds, rasterio.open(dem) as dem_ds:
        samples = _collect_samples(ref_ds, ref_info.nodata, dem_ds, dem_info.nodata, grid,
                                   window, exclude, scale)
        sampler = _DemSampler(dem_ds, dem_info.nodata, grid, window)
        fit = samples.subset(FIT_SAMPLES)
        state = _Backfit(steps, fit, sampler, scale, grid, max_iterations, tolerance,
                         is_canceled)
        passes = state.run(progress)
        dh_before = samples.ref - sampler.at(samples, 0.0, 0.0)
        where = _where(samples, grid)
        after = samples.ref - sampler.at(samples, *state.shift) - state.shift_z
        for step in steps:
            if not isinstance(step, (str, VerticalBias)):
                after -= step(where)
    corrections = tuple(s.terms() for s in steps if not isinstance(s, (str, VerticalBias)))
    return DemAlignment(
        "pipeline", grid.crs.to_string(), float(state.shift[0]), float(state.shift[1]),
        float(state.shift_z), passes, nmad(dh_before), nmad(after),
        float(np.nanmedian(dh_before)), float(np.nanmedian(after)), samples.n_stable,
        warnings=tuple(state.warnings),
        alignment_bounds=tuple(float(v) for v in window_bounds(window, grid.transform)),
        converged=state.converged, pipeline=pipeline, corrections=corrections)


def _where(samples, grid: Grid) -> Where:
    x, y = grid.transform * (samples.cols + 0.5, samples.rows + 0.5)
    return Where(np.asarray(x), np.asarray(y), samples.ref, samples.curvature)


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
        self.shift_z = sum(float(np.median(v)) for s, v in zip(self.steps, self.values)
                           if isinstance(s, (str, VerticalBias)))
        return p

    def _refit(self, k: int) -> float:
        """Refit step ``k``; return how much it moved (metres: its values, or its shift
        on the ground)."""
        step = self.steps[k]
        others = sum(v for j, v in enumerate(self.values) if j != k)
        if isinstance(step, str):
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

    def _fit_shift(self, name: str, others: np.ndarray) -> np.ndarray:
        adjusted = replace(self.fit, ref=self.fit.ref - others)
        if name == "dhminimize":
            return _dh_minimize(adjusted, self.sampler, self.shift, self.scale)
        fitter = _Fitter(adjusted, self.sampler, self.scale, None, self.is_canceled)
        shifts, _ = fitter.horizontal(np.zeros(adjusted.ref.size, int), 1, self.max_iterations,
                                      self.tolerance, start=self.shift)
        if not fitter.converged:
            self.converged = False
            self.warnings.extend(w for w in fitter.warnings if w not in self.warnings)
        return shifts[0]


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
    with rasterio.open(path, "r+") as ds:
        to_dem = (None if ds.crs == dem_crs
                  else Transformer.from_crs(ds.crs, dem_crs, always_xy=True))
        res = metres_per_unit(Grid(ds.crs, ds.transform, ds.width, ds.height),
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
            where = Where(np.asarray(x), np.asarray(y), strip.ravel(),
                          curvature(padded, res[0], res[1]).ravel())
            total = sum(c(where) for c in fitted).reshape(strip.shape)
            out = np.where(np.isfinite(strip), strip + total, ds.nodata if ds.nodata is not None
                           else np.nan)
            ds.write(out.astype(ds.dtypes[0]), 1, window=Window(0, row, ds.width, height))
