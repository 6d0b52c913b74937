"""The blockwise method of align_dem as tasks, one per row of blocks (a part), on threads
here or on the workers of a Dask cluster (``dask_scheduler``): the same tasks either way,
so the two give the same result.

A task opens the two DEMs by path, collects the stable pixels of its part (its own
random draw, the share of the whole overlap) and samples the DEM from reads with the
margins the shifts need. Three rounds, each a task per part: (1) every block of the part
fitted alone, iterated to its own convergence (:meth:`.nuth_kaab.Fitter.each`); then,
here, the blocks short of pixels take the others' median and the field is smoothed;
(2) the median dh of every block after that field; here, the vertical field is
smoothed; (3) dh before and after, sorted, whose medians are found here. The client's part
is the smoothing and those statistics.
"""

from __future__ import annotations

import contextlib
import math
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import rasterio
from rasterio.windows import Window

from ..distributed import cluster_results, worker_address
from ..grid import Grid
from ..io.raster_io import IsCanceled, Progress
from ..parallel import in_threads
from ..transforms.apply import scaled_progress
from .nuth_kaab import (
    MIN_BLOCK_PIXELS,
    Fitter,
    at_samples,
    block_groups,
    fill_missing,
    segment_medians,
    smoothed_field,
)
from .samples import DemSampler, Samples, collect_samples, require_stable, sample_share


@dataclass(frozen=True)
class BlockJob:
    """What a task needs: the DEMs' paths and nodata, the masks (paths or polygons), the
    DEM grid, the overlap window, the blocks and the fit's settings."""

    reference: str
    dem: str
    reference_nodata: float | None
    dem_nodata: float | None
    exclude: tuple
    grid: Grid
    window: Window
    scale: tuple[float, float]
    block_size: int
    shape: tuple[int, int]
    #: Fit samples per block at most.
    fit_per_block: int
    step: str
    max_iterations: int
    tolerance: float
    #: Names this job in the per-process cache of the parts (:data:`_KEPT`).
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def keep(self) -> float:
        return sample_share(self.window)

    def part_window(self, part: int) -> Window:
        row = self.window.row_off + part * self.block_size
        return Window(self.window.col_off, row, self.window.width,
                      min(self.block_size, self.window.row_off + self.window.height - row))


@dataclass(frozen=True)
class BlockwiseFit:
    """The blockwise fit: per block the field applied (x, y, z), the fit on the block
    alone (x, y, z) and its samples; dh before and after; the fit's record."""

    shifts: np.ndarray
    dz: np.ndarray
    fitted: np.ndarray
    fitted_dz: np.ndarray
    counts: np.ndarray
    #: The finite dh of every part, sorted (:func:`.terrain.sorted_median_and_nmad`).
    dh_before: list[np.ndarray]
    dh_after: list[np.ndarray]
    n_stable: int
    iterations: int
    warnings: tuple[str, ...]
    converged: bool


def fit_blockwise(job: BlockJob, client=None, progress: Progress | None = None,
                  is_canceled: IsCanceled | None = None) -> BlockwiseFit:
    """The three rounds of tasks (see the module's notes) and the client's steps between.
    This process's kept parts are dropped at the end, whatever happens (a run stopped
    between rounds would otherwise hold its samples until the next job)."""
    try:
        return _fit_blockwise(job, client, progress, is_canceled)
    finally:
        _drop(job)


def _drop(job: BlockJob) -> None:
    with _KEPT_LOCK:
        for key in [k for k in _KEPT if k[0] == job.token]:
            del _KEPT[key]


def _fit_blockwise(job: BlockJob, client, progress: Progress | None,
                   is_canceled: IsCanceled | None) -> BlockwiseFit:
    parts = range(job.shape[0])
    fits = _run(client, fit_part, [(job, p) for p in parts], progress, 0, 70, is_canceled)
    kept = [f[6] for f in fits]  # the workers that hold each part's samples
    require_stable(sum(f[2] for f in fits))
    raw = np.concatenate([f[0] for f in fits])
    counts = np.concatenate([f[1] for f in fits])
    fitted = fill_missing(raw)
    shifts = np.column_stack([smoothed_field(fitted[:, k], counts, job.shape) for k in (0, 1)])
    medians = np.concatenate(_run(client, block_medians, [(job, p, shifts) for p in parts],
                                  progress, 70, 85, is_canceled, kept))
    fitted_dz = fill_missing(medians[:, None])[:, 0] if np.isnan(medians).any() else medians
    dz = smoothed_field(fitted_dz, counts, job.shape)
    dh = _run(client, dh_at, [(job, p, shifts, dz) for p in parts], progress, 85, 100,
              is_canceled, kept)
    warnings = tuple(dict.fromkeys(w for f in fits for w in f[4]))
    return BlockwiseFit(shifts, dz, fitted, fitted_dz, counts, [d[0] for d in dh],
                        [d[1] for d in dh],
                        sum(f[2] for f in fits), max(f[3] for f in fits), warnings,
                        all(f[5] for f in fits))


def fit_part(job: BlockJob, part: int, is_canceled: IsCanceled | None = None) -> tuple:
    """A task: (shift (x, y) of each block of the part fitted alone, NaN if short of
    pixels; samples per block; stable pixels; iterations; warnings; converged; the
    Dask worker that keeps the part's samples, or None)."""
    n, first = job.shape[1], part * job.shape[1]
    with _part(job, part) as (samples, sampler, groups):
        counts = np.bincount(groups - first, minlength=n)
        if samples.rows.size == 0:
            return np.full((n, 2), np.nan), counts, samples.n_stable, 0, [], True, None
        fit = samples.subset(job.fit_per_block * n)
        local = block_groups(fit, job.window, job.block_size, job.shape) - first
        if job.step == "nuth_kaab":
            fitter = Fitter(fit, sampler, np.array(job.scale), None, is_canceled)
            shifts, iterations = fitter.each(local, n, job.max_iterations, job.tolerance)
            return (shifts, counts, samples.n_stable, iterations, fitter.warnings,
                    fitter.converged, worker_address())
        from .pipeline import block_shifts

        shifts, iterations, warnings, converged = block_shifts(
            job.step, fit, local, n, sampler, np.array(job.scale), job.grid,
            job.max_iterations, job.tolerance, MIN_BLOCK_PIXELS, is_canceled, fill=False)
        return (shifts, counts, samples.n_stable, iterations, warnings, converged,
                worker_address())


def block_medians(job: BlockJob, part: int, shifts: np.ndarray,
                  is_canceled: IsCanceled | None = None) -> np.ndarray:
    """A task: the median dh of each block of the part once the DEM is moved by the
    field ``shifts`` (every block's), NaN for blocks without samples."""
    n, first = job.shape[1], part * job.shape[1]
    with _part(job, part) as (samples, sampler, groups):
        dh = _moved_dh(job, samples, sampler, groups, shifts)
        _keep(job, part, (samples, dh))
        return segment_medians(dh, groups - first, n)


def dh_at(job: BlockJob, part: int, shifts: np.ndarray, dz: np.ndarray,
          is_canceled: IsCanceled | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A task: the finite dh of the part's samples before, and after the fields
    ``shifts`` and ``dz``, sorted (the client takes their medians in a few searches)."""
    with _part(job, part) as (samples, sampler, groups):
        kept = _KEPT.pop((job.token, part), None)
        moved = kept[1] if isinstance(kept, tuple) else _moved_dh(job, samples, sampler, groups,
                                                                   shifts)
        before = samples.ref - sampler.at(samples, 0.0, 0.0)
        after = moved - at_samples(dz[:, None], samples, job.window, job.block_size, job.shape,
                                   groups)[:, 0]
        return tuple(np.sort(dh[np.isfinite(dh)]) for dh in (before, after))


#: Per process, the samples of the parts of the current job (and, once moved, their dh):
#: the three rounds collect them once where a worker gets the same part again (and always
#: here). The same values either way; dropped with the last round or the next job.
_KEPT: dict = {}
_KEPT_LOCK = threading.Lock()


def _keep(job: BlockJob, part: int, value) -> None:
    with _KEPT_LOCK:
        for key in [k for k in _KEPT if k[0] != job.token]:
            del _KEPT[key]
        _KEPT[job.token, part] = value


def _moved_dh(job: BlockJob, samples: Samples, sampler: DemSampler, groups: np.ndarray,
              shifts: np.ndarray) -> np.ndarray:
    moved = at_samples(shifts, samples, job.window, job.block_size, job.shape, groups)
    return samples.ref - sampler.at(samples, moved[:, 0], moved[:, 1])


@contextlib.contextmanager
def _part(job: BlockJob, part: int) -> Iterator[tuple[Samples, DemSampler, np.ndarray]]:
    """The part's samples (drawn with the part as seed), the DEM's sampler on the part
    and every sample's block (row-major over the whole overlap)."""
    window = job.part_window(part)
    with rasterio.open(job.reference) as ref_ds, rasterio.open(job.dem) as dem_ds:
        kept = _KEPT.get((job.token, part))
        samples = kept[0] if isinstance(kept, tuple) else kept
        if samples is None:
            samples = collect_samples(ref_ds, job.reference_nodata, dem_ds, job.dem_nodata,
                                      job.grid, window, list(job.exclude), np.array(job.scale),
                                      keep=job.keep, seed=part, required=False)
            _keep(job, part, samples)
        yield (samples, DemSampler(dem_ds, job.dem_nodata, job.grid, window),
               block_groups(samples, job.window, job.block_size, job.shape))


def _run(client, task: Callable, arguments: list[tuple], progress: Progress | None,
         start: float, end: float, is_canceled: IsCanceled | None,
         workers: list[str | None] | None = None) -> list:
    """``task(*arguments[k])`` for every k, in order: on the cluster's workers (task k
    on ``workers[k]`` if it can), or here on threads (polling ``is_canceled`` inside the
    tasks too); ``progress`` from ``start`` to ``end``."""
    scaled = scaled_progress(progress, start, end)
    if client is not None:
        return cluster_results(client, task, arguments, is_canceled, workers, scaled)
    results: dict = {}

    def work(k: int) -> None:
        results[k] = task(*arguments[k], is_canceled=is_canceled)

    in_threads(work, range(len(arguments)), scaled, is_canceled=is_canceled)
    return [results[k] for k in range(len(arguments))]


def fit_per_block(fit_samples: int, per_block: int, blocks: int) -> int:
    """Fit samples per block: the whole fit's share, at least ``per_block``."""
    return max(math.ceil(fit_samples / blocks), per_block)

