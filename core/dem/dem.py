"""DEM coregistration: Nuth & Kääb (2011) shifts, vertical shift, blockwise warp.

Elevation differences dh = reference - DEM on stable terrain relate to a horizontal
misregistration s through the terrain slope: dh = tan(a) |s| cos(b - aspect) + c
(Nuth & Kääb 2011, :DOI:`10.5194/tc-5-271-2011`). Written with the slope components,
dh = g . s + c, it is solved by robust least squares and iterated, resampling the
DEM by the shift found so far, until the update is below the tolerance; the
vertical shift is then the median of dh.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window
from rasterio.windows import bounds as window_bounds

from ..distributed import check_dask_address, cluster_client, cluster_path
from ..errors import CoregInputError, CoregistrationError
from ..grid import Grid
from ..io.masks import PolygonMask
from ..io.outputs import file_paths, guarded_outputs
from ..io.raster_io import (
    BLOCK,
    IsCanceled,
    Progress,
    atomic_path,
    output_profile,
    raster_bytes,
    read_info,
    read_on_grid,
)
from ..matching.fit import RigidModel
from ..results import AlignmentResult
from ..transforms.apply import scaled_progress
from ..transforms.model import BlockField, Rigid
from ..transforms.saved import DEM_REPORT_KIND, DEM_REPORT_VERSION
from ..transforms.warp import write_resampled
from .block_tasks import BlockJob, fit_blockwise, fit_per_block
from .nuth_kaab import BlockShift, Fitter, block_records, block_shape_of
from .point_sources import PointOptions
from .samples import DemSampler, collect_samples, metres_per_unit_at, overlap_window
from .terrain import median_and_nmad, sorted_median_and_nmad

METHODS = ("nuth_kaab", "vertical", "blockwise")
#: Of those, pixels each iteration of the horizontal fit resamples: the fit uses medians
#: of 72 aspect bins, which more pixels no longer move; and per block at least.
FIT_SAMPLES = 500_000
FIT_SAMPLES_PER_BLOCK = 2_000


@dataclass(frozen=True)
class DemAlignment(AlignmentResult):
    """Result of :func:`estimate_dem_alignment`.

    ``shift_x``, ``shift_y``, ``shift_z`` are the translation applied to the DEM
    (map units of its CRS, x east, y north, z up); for the blockwise method they are
    the median of the block shifts. Statistics are of dh = reference - DEM over the
    stable pixels, before and after.
    """

    method: str
    crs: str
    shift_x: float
    shift_y: float
    shift_z: float
    iterations: int
    nmad_before: float
    nmad_after: float
    median_before: float
    median_after: float
    n_stable_pixels: int
    blocks: tuple[BlockShift, ...] = ()
    block_size: int = 0
    block_shape: tuple[int, int] = (0, 0)
    warnings: tuple[str, ...] = ()
    #: The DEM area the shift was measured on (left, bottom, right, top; DEM CRS).
    alignment_bounds: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    #: Blockwise: the affine map of node (col, row) + 0.5 to map coordinates.
    block_nodes: tuple[float, ...] = ()
    #: Whether the horizontal fit settled below its tolerance (flat or noisy DEMs do not:
    #: their shift means nothing, and :func:`align_dem` refuses to apply it).
    converged: bool = True
    #: Pipelines (method "pipeline"): the steps as written, and every fitted bias
    #: correction (see core/dem/bias.py), added to the DEM after its shift.
    pipeline: str = ""
    corrections: tuple[dict, ...] = ()
    #: LZD and ICP: the rotation about the vertical (degrees, counter-clockwise) about this
    #: centre (map units), applied with the shift.
    rotation_deg: float = 0.0
    rotation_centre: tuple[float, float] = (0.0, 0.0)
    #: Standard errors and 95 % half-widths of every term (bootstrap; see
    #: core/dem/uncertainty.py); empty unless asked for.
    uncertainty: dict = field(default_factory=dict)
    #: Uncertainty of elevation change: the error model of the stable dh after alignment
    #: and the standard error of the mean dh over areas (core/dem/dh_uncertainty.py);
    #: empty unless asked for.
    dh_uncertainty: dict = field(default_factory=dict)
    #: Reference points: how many were read, removed by time, quality, outside the DEM
    #: or off stable terrain, and used; empty for a reference DEM.
    points: dict = field(default_factory=dict)

    def report(self) -> dict:
        report = asdict(self)
        report["kind"], report["version"] = DEM_REPORT_KIND, DEM_REPORT_VERSION
        report["warnings"] = list(self.warnings)
        report["corrections"] = list(self.corrections)
        report["blocks"] = [asdict(b) for b in self.blocks]
        report["transform"] = self.transform.to_record()
        return report

    @property
    def transform(self) -> Rigid | BlockField:
        """The alignment as :func:`.apply.apply_alignment` applies it to any raster: a
        translation (and LZD's or ICP's rotation about the vertical) with its vertical shift, or
        the blockwise field. Bias corrections of a pipeline are not part of it: they are
        written into the aligned DEM only."""
        crs = CRS.from_user_input(self.crs)
        if self.method != "blockwise":
            model = RigidModel(self.shift_x, self.shift_y, self.rotation_deg,
                               *self.rotation_centre)
            return Rigid(model, crs, self.alignment_bounds, self.shift_z)
        x, y, z = (np.array([getattr(b, key) for b in self.blocks], float)
                   .reshape(self.block_shape) for key in ("shift_x", "shift_y", "shift_z"))
        return BlockField(Affine(*self.block_nodes), x, y, z, crs, self.alignment_bounds)


def estimate_dem_alignment(
    reference: str | os.PathLike,
    dem: str | os.PathLike,
    *,
    exclude: Sequence[str | os.PathLike | PolygonMask] = (),
    method: str = "nuth_kaab",
    max_iterations: int = 10,
    tolerance: float = 0.01,
    block_size: int = 256,
    block_step: str = "nuth_kaab",
    client=None,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> DemAlignment:
    """Estimate the shift that puts ``dem`` on ``reference``.

    Parameters
    ----------
    reference, dem : path
        DEMs (any CRS and grid; the reference is resampled onto the DEM's grid).
    exclude : sequence of path or PolygonMask
        Unstable terrain to leave out (glaciers, landslides, vegetation change).
    method : {"nuth_kaab", "vertical", "blockwise"}
        Horizontal and vertical shift; vertical (median) shift only; or Nuth & Kääb
        per block of ``block_size`` pixels.
    max_iterations : int
        Iterations of the horizontal fit at most.
    tolerance : float
        Stop when the horizontal update is below this (map units).
    block_step : {"nuth_kaab", "dhminimize", "lzd", "icp"}
        Blockwise method: the shift step fitted on each block (see
        :mod:`.dem_pipeline`); LZD blocks give their translation at the block centre.
    client : distributed.Client, optional
        Blockwise method: the Dask client whose workers fit the blocks, a row of blocks
        per task, reading the DEMs themselves (paths every worker sees); without it, the
        same tasks run on threads here, with the same result.

    Raises
    ------
    ValueError
        No overlap, unreadable input, unknown method.
    CoregistrationError
        Fewer than :data:`MIN_STABLE_PIXELS` stable pixels.
    """
    if method not in METHODS:
        raise CoregInputError(f"method must be one of {METHODS}, not {method!r}.")
    ref_info, dem_info = read_info(reference, "Reference DEM"), read_info(dem, "DEM")
    grid = dem_info.grid
    window = overlap_window(ref_info.grid, grid)
    scale = metres_per_unit_at(grid, window)
    if method == "blockwise":
        return _blockwise(reference, dem, ref_info.nodata, dem_info.nodata, grid, window, scale,
                          exclude, block_size, block_step, max_iterations, tolerance, client,
                          progress, is_canceled)
    with rasterio.open(reference) as ref_ds, rasterio.open(dem) as dem_ds:
        samples = collect_samples(ref_ds, ref_info.nodata, dem_ds, dem_info.nodata, grid,
                                   window, exclude, scale, slopes=method != "vertical")
        sampler = DemSampler(dem_ds, dem_info.nodata, grid, window)
        dh_before = samples.ref - sampler.at(samples, 0.0, 0.0)
        if method == "vertical":  # not moved: the DEM sampled as before
            shifts, iterations, warnings, converged = np.zeros((1, 2)), 0, [], True
            dh = dh_before
        else:
            fit = samples.subset(FIT_SAMPLES)
            fitter = Fitter(fit, sampler, scale, progress, is_canceled)
            shifts, iterations = fitter.horizontal(np.zeros(fit.rows.size, int), 1,
                                                   max_iterations, tolerance)
            warnings, converged = fitter.warnings, fitter.converged
            dh = samples.ref - sampler.at(samples, shifts[0, 0], shifts[0, 1])
    median_before, nmad_before = median_and_nmad(dh_before)
    # The vertical shift is dh's median: after it dh is centred (median 0) and as spread
    # (the NMAD does not see a constant); the vertical method's dh is dh_before.
    dz, nmad_after = ((median_before, nmad_before) if method == "vertical"
                      else median_and_nmad(dh))
    return DemAlignment(
        method, grid.crs.to_string(), float(shifts[0, 0]), float(shifts[0, 1]), dz,
        iterations, nmad_before, nmad_after, median_before, 0.0, samples.n_stable,
        warnings=tuple(warnings),
        alignment_bounds=tuple(float(v) for v in window_bounds(window, grid.transform)),
        converged=converged)


def _blockwise(reference, dem, reference_nodata, dem_nodata, grid: Grid, window: Window,
               scale: np.ndarray, exclude, block_size: int, block_step: str,
               max_iterations: int, tolerance: float, client, progress: Progress | None,
               is_canceled: IsCanceled | None) -> DemAlignment:
    """The blockwise method: its tasks (:mod:`.block_tasks`) on threads or on the
    cluster's workers, and the alignment they give."""
    from .pipeline import require_shift_step

    require_shift_step(block_step)
    shape = block_shape_of(window, block_size)
    job = BlockJob(cluster_path(reference, client) or os.fspath(reference),
                   cluster_path(dem, client) or os.fspath(dem), reference_nodata, dem_nodata,
                   tuple(cluster_path(e, client) if isinstance(e, (str, os.PathLike)) else e
                         for e in exclude), grid, window, tuple(map(float, scale)), block_size,
                   shape, fit_per_block(FIT_SAMPLES, FIT_SAMPLES_PER_BLOCK,
                                        shape[0] * shape[1]),
                   block_step, max_iterations, tolerance)
    fit = fit_blockwise(job, client, progress, is_canceled)
    (median_before, nmad_before), (median_after, nmad_after) = (
        sorted_median_and_nmad(fit.dh_before), sorted_median_and_nmad(fit.dh_after))
    blocks = block_records(np.column_stack([fit.shifts, fit.dz]),
                           np.column_stack([fit.fitted, fit.fitted_dz]), fit.counts, grid,
                           window, block_size, shape)
    return DemAlignment(
        "blockwise", grid.crs.to_string(), float(np.median(fit.shifts[:, 0])),
        float(np.median(fit.shifts[:, 1])), float(np.median(fit.dz)), fit.iterations,
        nmad_before, nmad_after, median_before, median_after, fit.n_stable, tuple(blocks),
        block_size, shape, fit.warnings,
        tuple(float(v) for v in window_bounds(window, grid.transform)),
        tuple((grid.transform * Affine.translation(window.col_off, window.row_off)
               * Affine.scale(block_size))[:6]), fit.converged)


def align_dem(
    reference: str | os.PathLike,
    dem: str | os.PathLike,
    output: str | os.PathLike,
    *,
    dh_output: str | os.PathLike | None = None,
    exclude: Sequence[str | os.PathLike | PolygonMask] = (),
    method: str = "nuth_kaab",
    pipeline: str = "",
    bootstrap: int = 0,
    variogram: bool = False,
    areas: Sequence[str | os.PathLike | PolygonMask] = (),
    point_options: PointOptions | None = None,
    max_iterations: int = 10,
    tolerance: float = 0.01,
    block_size: int = 256,
    block_step: str = "nuth_kaab",
    match_reference: bool = False,
    resampling: str = "cubic",
    keep_unreliable: bool = False,
    dask_scheduler: str | None = None,
    ship_engine: bool = True,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> DemAlignment:
    """Estimate the DEM's shift (see :func:`estimate_dem_alignment`) and write the
    aligned DEM and, optionally, the elevation difference reference - aligned DEM.

    Parameters
    ----------
    reference, dem : path
        DEMs (any CRS and grid; the reference is resampled onto the DEM's grid). The
        reference may also be points: a .csv, .gpkg, .las/.laz, (Geo)Parquet or ICESat-2
        ATL06 .h5 file or a :class:`.points.PointCloud` (e.g. ICESat-2 or lidar
        elevations).
    output : path
        The aligned DEM: Float32, on the DEM's own grid (or the reference's, see
        ``match_reference``).
    dh_output : path, optional
        The elevation difference reference - aligned DEM, on the same grid.
    exclude : sequence of path or PolygonMask
        Unstable terrain to leave out (rasters: non-zero pixels; polygons): glaciers,
        landslides, vegetation change.
    method : {"nuth_kaab", "vertical", "blockwise"}
        Horizontal and vertical shift (Nuth & Kääb 2011); vertical (median) shift
        only; or Nuth & Kääb per block of ``block_size`` pixels, applied as smooth
        shift fields.
    pipeline : str, optional
        Steps joined by '+' (e.g. ``nuth_kaab+deramp1+directional``), fitted jointly
        and applied in place of ``method``; see :mod:`.dem_pipeline` for the names.
    bootstrap : int
        Replicates of a spatial block bootstrap giving each term's standard error and
        95 % interval in the report (0: none; about 30 is enough; each replicate costs
        one fit). Global methods and pipelines only.
    variogram : bool
        Also model the error of elevation change: NMAD of the stable dh after
        alignment by slope class, the variogram of the standardised dh and its fitted
        model, in the report's ``dh_uncertainty`` (see :mod:`.dh_uncertainty`).
    areas : sequence of path or PolygonMask
        Areas (e.g. glacier outlines; rasters: non-zero pixels; each source one area)
        whose mean dh gets a standard error from that model, correlation included
        (implies ``variogram``; the areas are left out of the stable terrain).
    point_options : PointOptions, optional
        Reference points only: their fields, time range, accepted quality and the
        DEM's geoid when the points' heights are ellipsoidal (see
        :class:`.point_sources.PointOptions`); the report's ``points`` counts what each
        selection removed.
    max_iterations : int
        Iterations of the horizontal fit at most.
    tolerance : float
        Stop when the horizontal update is below this (metres on the ground).
    block_size : int
        Side of the blocks of the blockwise method, DEM pixels.
    block_step : {"nuth_kaab", "dhminimize", "lzd", "icp"}
        The shift step the blockwise method fits on each block.
    match_reference : bool
        Write the outputs on the reference grid instead of the DEM's.
    resampling : {"cubic", "bilinear", "nearest"}
        Resampling of the aligned DEM.
    keep_unreliable : bool
        Write the result even when the fit did not converge (flat or noise-like
        DEMs), instead of raising.
    dask_scheduler : str, optional
        A Dask scheduler (``tcp://host:port``) whose workers resample the aligned DEM
        block by block (strips of output rows) and, for the blockwise method, fit the
        blocks (a row of blocks per task), reading the DEMs themselves (paths every
        worker sees the same); other fits stay here. The output is the in-process
        one. Only a cluster you trust: Dask exchanges pickled code.
    ship_engine : bool
        Send this engine to the Dask workers; False: they have it installed.
    progress : callable, optional
        Called with the percentage done (0 to 100).
    is_canceled : callable, optional
        Polled during the run; returning True stops it with :class:`CanceledError`.

    Returns
    -------
    DemAlignment
        The shifts (map units of the DEM's CRS), the NMAD and median of the
        differences on stable terrain before and after; ``report()`` gives the JSON
        report and ``transform`` the alignment to apply to other rasters.

    Raises
    ------
    CoregInputError
        Unreadable input, no overlap, an unknown method.
    CoregOutputError
        An output would replace an input or the other output, or cannot be written.
    CoregistrationError
        Too few stable pixels, or a fit that did not converge (unless
        ``keep_unreliable``); nothing is written then.
    CoregResourceError
        No Dask scheduler answers at ``dask_scheduler``, or its workers cannot run the
        engine (before anything is written).
    """
    from .points import PointCloud, is_point_file

    check_dask_address(dask_scheduler)
    points = is_point_file(reference)
    pipeline = pipeline or (method if bootstrap else "")  # a bootstrap runs as a pipeline
    if points and (dh_output is not None or match_reference or variogram or areas):
        raise CoregInputError("With reference points, the elevation difference, its "
                              "uncertainty and the reference grid do not exist: write the "
                              "aligned DEM only.")
    with guarded_outputs({"Aligned DEM": output, "Elevation difference": dh_output},
                         {"Reference DEM": None if isinstance(reference, PointCloud)
                          else reference, "DEM": dem,
                          "Unstable terrain": file_paths(exclude),
                          "Areas": file_paths(areas)}), \
            cluster_client(dask_scheduler, [dem] + _worker_reads(reference, exclude,
                                                                 points=points,
                                                                 pipeline=pipeline,
                                                                 method=method),
                           (), ship_engine) as client:
        alignment = _align_and_write(reference, dem, output, dh_output=dh_output, client=client,
                                match_reference=match_reference, resampling=resampling,
                                keep_unreliable=keep_unreliable, progress=progress,
                                is_canceled=is_canceled, exclude=exclude, method=method,
                                pipeline=pipeline, bootstrap=bootstrap,
                                point_options=point_options,
                                max_iterations=max_iterations,
                                tolerance=tolerance, block_size=block_size,
                                block_step=block_step, points=points)
        if not (variogram or areas):
            return alignment
        from .dh_uncertainty import elevation_change_uncertainty

        return replace(alignment, dh_uncertainty=elevation_change_uncertainty(
            reference, output, exclude=exclude, areas=areas))


def _align_and_write(reference, dem, output, *, dh_output, client, match_reference: bool,
                     resampling: str, keep_unreliable: bool, progress: Progress | None,
                     is_canceled: IsCanceled | None, pipeline: str, points: bool,
                     **options) -> DemAlignment:
    from .pipeline import apply_corrections, estimate_dem_pipeline
    from .points import estimate_dem_to_points

    bootstrap, point_options = options.pop("bootstrap"), options.pop("point_options")
    kind = _estimate_kind(points, pipeline)
    if kind == "points":
        estimate = partial(estimate_dem_to_points, pipeline=pipeline or options["method"],
                           bootstrap=bootstrap, point_options=point_options)
    elif kind == "pipeline":
        estimate = partial(estimate_dem_pipeline, pipeline=pipeline, bootstrap=bootstrap)
    else:
        estimate = partial(estimate_dem_alignment, client=client)
    alignment = estimate(reference, dem, progress=scaled_progress(progress, 0, 50),
                         is_canceled=is_canceled, **options)
    if not alignment.converged and not keep_unreliable:
        raise CoregistrationError(
            f"The DEM fit did not converge after {alignment.iterations} iterations: the DEMs "
            "are too flat or too noisy for a reliable shift, so nothing was written. Mask "
            "unstable terrain, or tick 'Keep unreliable results' to write it anyway.")
    dem_info = read_info(dem, "DEM")
    target = read_info(reference).grid if match_reference else dem_info.grid
    transform = alignment.transform
    if isinstance(transform, BlockField) and target.crs != dem_info.grid.crs:
        raise CoregInputError("A blockwise alignment is written on the DEM's grid or on a "
                              "reference grid in the same CRS; reproject one of the DEMs first.")
    with atomic_path(output, size=raster_bytes(target, 1, "float32")) as tmp:
        write_resampled(cluster_path(dem, client), tmp, transform, target, vertical=True,
                        dtype="float32", resampling=resampling, cog=False,
                        progress=scaled_progress(progress, 50, 90), is_canceled=is_canceled,
                        client=client)
        apply_corrections(tmp, alignment.corrections, dem_info.grid.crs)
    if dh_output is not None:
        with atomic_path(dh_output) as tmp:
            write_difference(reference, output, tmp)
    return alignment


def _estimate_kind(points: bool, pipeline: str) -> str:
    """Which estimate :func:`align_dem` makes: against "points", a "pipeline" (a bootstrap
    too), or one method on the "grid" (:func:`estimate_dem_alignment`, whose blockwise
    method runs on Dask workers)."""
    return "points" if points else "pipeline" if pipeline else "grid"


def _worker_reads(reference, exclude, *, points: bool, pipeline: str, method: str) -> list[str]:
    """What Dask workers read for the estimate besides the DEM: the reference and the
    unstable-terrain masks for a blockwise fit on the grid, nothing otherwise."""
    if _estimate_kind(points, pipeline) == "grid" and method == "blockwise":
        return [os.fspath(reference), *file_paths(exclude)]
    return []


def write_difference(reference: str | os.PathLike, aligned: str | os.PathLike,
                     output: str | os.PathLike) -> None:
    """dh = reference - aligned on the aligned DEM's grid, Float32 with NaN nodata,
    written by strips."""
    info = read_info(aligned)
    with rasterio.open(reference) as ref_ds, rasterio.open(aligned) as dem_ds:
        profile = output_profile(info.grid, count=1, dtype="float32", nodata=float("nan"))
        with rasterio.open(output, "w", **profile) as dst:
            for row in range(0, dem_ds.height, BLOCK):
                strip = info.grid.subgrid(row, 0, min(BLOCK, dem_ds.height - row),
                                          dem_ds.width)
                ref = read_on_grid(ref_ds, 1, strip, nodata=ref_ds.nodata)
                dem = read_on_grid(dem_ds, 1, strip, nodata=dem_ds.nodata)
                dst.write((ref - dem).astype(np.float32), 1,
                          window=Window(0, row, strip.width, strip.height))


def write_shift_fields(alignment: DemAlignment, dem: str | os.PathLike,
                       outputs: dict[str, str | os.PathLike]) -> None:
    """Write the blockwise shift fields on the DEM's grid, Float32, one raster per
    component: ``outputs`` maps "x", "y" or "z" to a path."""
    grid = read_info(dem, "DEM").grid
    field = alignment.transform
    if not isinstance(field, BlockField):
        raise CoregInputError("Shift fields exist for the blockwise method only.")
    nodes = {"x": field.x, "y": field.y, "z": field.z}
    profile = output_profile(grid, count=1, dtype="float32", nodata=None)
    for component, path in outputs.items():
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            for row in range(0, grid.height, BLOCK):
                strip = grid.subgrid(row, 0, min(BLOCK, grid.height - row), grid.width)
                dst.write(field.at(nodes[component], *strip.centres_xy()).astype(np.float32), 1,
                          window=Window(0, row, strip.width, strip.height))
