"""Non-rigid (local) alignment onto the reference grid: a displacement field, then a warp.

Two ways to the field: a grid of tie points interpolated smoothly
(:mod:`tie_points`), or dense optical flow on rank-filtered images
(:mod:`dense_flow`, GeFolki's method, also across SAR and optical). Both read the
two rasters onto the reference grid tile by tile, write the field as the
DISPLACEMENT raster (two Float32 bands on the reference grid, dx and dy in
reference pixels, NaN where unknown; the aligned image at reference pixel (col, row)
is the secondary at reference-grid position (col + dx, row + dy)), and warp the
secondary through it strip by strip: memory stays bounded whatever the raster size.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import rasterio

from ..distributed import check_dask_address, cluster_client, cluster_path
from ..errors import CoregInputError, CoregistrationError
from ..grid import Grid, common_grid, footprint_overlap, pixel_size_in, snapped_grid
from ..io.masks import PolygonMask
from ..io.outputs import file_paths, guarded_outputs
from ..io.raster_io import IsCanceled, Progress, atomic_path, read_info
from ..matching.modality import check_modality
from ..parallel import single_threaded_blas
from ..results import AlignmentResult
from ..transforms.apply import scaled_progress
from ..transforms.model import DisplacementField
from ..transforms.saved import displacement_alignment
from ..transforms.warp import write_resampled
from .check_points import measure_check_points
from .field_raster import write_dense_field, write_node_field
from .field_uncertainty import (
    tie_point_radius,
    write_flow_uncertainty,
    write_tie_point_uncertainty,
)
from .flow_tasks import TileSources
from .method_choice import (
    affine_field,
    affine_fit,
    choose_method,
    residuals_after_affine,
    score_through_written,
)
from .points import TiePoints
from .reader import RasterTiles
from .report_figures import finite, mean, median, reason_kind, shift_stats
from .tie_points import (
    DEFAULT_GRID_SPACING,
    DEFAULT_MIN_RELIABILITY,
    DEFAULT_WINDOW_SIZE,
    REJECTION_LEVELS,
    estimate_tie_points,
    measure_points,
    tile_margin,
)
from .uncertainty import radius95
from .window_choice import choose_grid, first_window, is_automatic

#: "auto": tie points, whose field is one affine model unless they show local distortion
#: (:mod:`.method_choice`).
METHODS = ("tie_points", "dense_flow", "auto")
#: ``kind`` and ``version`` of the align_local JSON report.
REPORT_KIND = "coreg.align_local"
REPORT_VERSION = 1
DEFAULT_MAX_SHIFT = 20.0
#: Least share of check points that must confirm a dense flow for it to be written.
MIN_CONFIRMED = 0.25


@dataclass(frozen=True)
class LocalAlignment(AlignmentResult):
    """Result of :func:`align_local`: the field's raster, the points and their figures.

    ``overlap`` is the part of the reference grid the secondary covers; point rows and
    columns are indices of the reference grid.
    """

    method: str
    reference: Grid
    overlap_offset: tuple[int, int]
    displacement: str | None
    points: TiePoints
    passes: int
    parameters: dict
    warnings: tuple[str, ...] = field(default_factory=tuple)
    #: METHOD auto: what it chose and why (:func:`.method_choice.choose_method`).
    method_choice: dict = field(default_factory=dict)
    #: The UNCERTAINTY raster (:mod:`.field_uncertainty`), if asked for.
    uncertainty: str | None = None

    def point_records(self) -> list[dict]:
        """One dict per point: map position (reference CRS), displacement in reference
        pixels and map units (where the content was minus where it goes), its uncertainty
        (1-sigma per axis and the 95 % radius, reference pixels; :mod:`.uncertainty`),
        quality."""
        p, t = self.points, self.reference.transform
        sigma_x, sigma_y = p.sigmas()
        radius = radius95(sigma_x, sigma_y)
        records = []
        for k in range(len(p)):
            x, y = t * (p.col[k] + 0.5, p.row[k] + 0.5)
            dx, dy = finite(p.dx[k]), finite(p.dy[k])
            records.append({
                "x": x, "y": y, "row": int(p.row[k]), "col": int(p.col[k]),
                "dx": dx, "dy": dy,
                "dx_map": -(t.a * (dx or 0.0) + t.b * (dy or 0.0)),
                "dy_map": -(t.d * (dx or 0.0) + t.e * (dy or 0.0)),
                "residual_dx": finite(p.residual_dx[k]), "residual_dy": finite(p.residual_dy[k]),
                "sigma_dx": finite(sigma_x[k]), "sigma_dy": finite(sigma_y[k]),
                "ce95_px": finite(radius[k]),
                "reliability": float(p.reliability[k]),
                "ssim_before": finite(p.ssim_before[k]), "ssim_after": finite(p.ssim_after[k]),
                "score_before": finite(p.score_before[k]),
                "score_after": finite(p.score_after[k]),
                "outlier": bool(p.reason[k]), "reason": p.reason[k]})
        return records

    @property
    def transform(self) -> DisplacementField:
        """The field as a transform (the DISPLACEMENT raster); CoregInputError when no
        DISPLACEMENT raster was kept."""
        if self.displacement is None:
            raise CoregInputError("The local field was not kept: give a DISPLACEMENT output "
                                  "to apply it to other rasters.")
        return displacement_alignment(self.displacement)

    def report(self) -> dict:
        """The JSON report: what another raster needs to be warped with the same field
        (the DISPLACEMENT path and the reference grid), and the quality figures."""
        p, kept = self.points, self.points.kept
        t = self.reference.transform
        return {
            "kind": REPORT_KIND, "version": REPORT_VERSION, "method": self.method,
            "displacement": self.displacement, "uncertainty": self.uncertainty,
            "transform": None if self.displacement is None else self.transform.to_record(),
            "displacement_convention": "aligned(col, row) = secondary(col + dx, row + dy), "
                                       "reference-grid pixels, band 1 dx, band 2 dy",
            "reference_grid": {"crs": self.reference.crs.to_wkt(), "transform": list(t[:6]),
                               "width": self.reference.width, "height": self.reference.height},
            "parameters": self.parameters, "passes": self.passes,
            "n_points": len(p), "n_kept": int(kept.sum()), "n_rejected": int((~kept).sum()),
            "rejected_by_reason": dict(Counter(reason_kind(r) for r in p.reason if r)),
            **shift_stats(p.dx[kept], p.dy[kept], "before"),
            **shift_stats(p.residual_dx[kept], p.residual_dy[kept], "after"),
            "median_point_ce95_px": median(radius95(*p.sigmas())[kept]),
            "matching_score_before": mean(p.score_before, p.score_after),
            "matching_score_after": mean(p.score_after, p.score_before),
            "features": self.points.features,
            "method_choice": self.method_choice,
            "window_choice": self.points.grid,
            "warnings": list(self.warnings),
            "points": self.point_records(),
        }


def align_local(
    reference: str | os.PathLike,
    secondary: str | os.PathLike,
    output: str | os.PathLike | None = None,
    displacement: str | os.PathLike | None = None,
    *,
    uncertainty: str | os.PathLike | None = None,
    method: str = "tie_points",
    reference_band: int = 1,
    secondary_band: int = 1,
    masks: Sequence[str | os.PathLike | PolygonMask] = (),
    max_shift: float = DEFAULT_MAX_SHIFT,
    resampling: str = "cubic",
    grid_spacing: int = DEFAULT_GRID_SPACING,
    window_size: int = DEFAULT_WINDOW_SIZE,
    rejection: str = "score",
    min_reliability: float = DEFAULT_MIN_RELIABILITY,
    modality: str = "auto",
    radius: int = 8,
    levels: int = 4,
    iterations: int = 4,
    invert: bool = False,
    reference_nodata: float | None = None,
    secondary_nodata: float | None = None,
    cog: bool = False,
    keep_unreliable: bool = False,
    dask_scheduler: str | None = None,
    ship_engine: bool = True,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> LocalAlignment:
    """Estimate a smooth (tie points) or dense (optical flow) displacement field that
    puts ``secondary`` on the reference grid, write it and the warped secondary.

    Parameters
    ----------
    reference, secondary : path
        GDAL-readable rasters with a CRS and a geotransform; the field and the output
        are on the reference grid.
    output : path, optional
        The secondary warped onto the reference grid (all bands); not written if None.
    displacement : path, optional
        The DISPLACEMENT raster (see the module docstring); a temporary file if None,
        none at all for tie points without ``output`` (the points alone).
    uncertainty : path, optional
        The UNCERTAINTY raster: one Float32 band on the reference grid, per pixel the
        radius (reference pixels) holding the field's true value with 95 % probability,
        NaN where the field is unknown (:mod:`.field_uncertainty`).
    method : {"tie_points", "dense_flow", "auto"}
        "auto" measures tie points and writes one affine field (a global shift, scale,
        rotation) unless their departure from it is large and spatially smooth (local
        distortion); the report's ``method_choice`` says which and why.
    max_shift : float
        Largest displacement expected, reference pixels; tie points beyond are rejected.
    grid_spacing, window_size : int
        Tie-point spacing and matching window, reference pixels (dense flow: check points);
        0 (the default): automatic, 64 px windows every 64 px for one sensor, 96 px every
        48 px across modalities (:mod:`.window_choice`; the report's ``window_choice``
        says which and why). A value given is kept.
    rejection : {"none", "reliability", "consistency", "score"}
        Outlier tests (cumulative), see :func:`tie_points.estimate_tie_points`.
    radius, levels, iterations, invert
        Dense flow: rank-filter and flow window radius (pixels), pyramid levels,
        iterations per level, and contrast inversion of the secondary (SAR vs optical).
    reference_band, secondary_band : int
        1-based bands to match.
    masks : sequence of path or PolygonMask
        Areas to leave out of the matching (rasters: non-zero pixels; polygons).
    resampling : {"cubic", "bilinear", "nearest"}
        Resampling of the warp.
    min_reliability : float
        Least reliability (%) of a kept tie point.
    modality : {"auto", "same", "optical", "sar-optical"}
        What the images are: tie points (and a dense flow's check points) are matched on
        intensities, or on structure for SAR against optical; "auto" matches on structure
        when too few points are reliable on intensities (:mod:`.feature_choice`). The
        report's ``features`` says which and why.
    reference_nodata, secondary_nodata : float, optional
        Override the files' nodata values.
    cog : bool
        Write the output as a Cloud-Optimized GeoTIFF.
    keep_unreliable : bool
        Write the result even when too few points support it, instead of raising.
    dask_scheduler : str, optional
        A Dask scheduler (``tcp://host:port``) whose workers compute the dense-flow
        tiles, its check points (with an output: the field is then where they read
        it) and the warped strips, reading the rasters themselves (paths
        every worker sees the same); the result is the in-process one. Only a cluster you
        trust: Dask exchanges pickled code.
    ship_engine : bool
        Send this engine to the Dask workers; False: they have it installed.
    progress : callable, optional
        Called with the percentage done (0 to 100).
    is_canceled : callable, optional
        Polled during the run; returning True stops it with :class:`CanceledError`.

    Returns
    -------
    LocalAlignment
        The points with their figures; ``report()`` gives the JSON report (which
        names the DISPLACEMENT raster another raster can be warped with).

    Raises
    ------
    CoregInputError
        Bad input (unreadable files, missing bands, no overlap, out-of-range options).
    CoregOutputError
        An output would overwrite an input or the other output, or cannot be written.
    CoregistrationError
        Too few reliable tie points (unless ``keep_unreliable``).
    CoregResourceError
        No Dask scheduler answers at ``dask_scheduler``, or its workers cannot run the
        engine (before anything is written).
    """
    _check_options(method, rejection, max_shift, grid_spacing, window_size)
    check_dask_address(dask_scheduler)
    check_modality(modality)
    ref_info, sec_info = read_info(reference, "Reference"), read_info(secondary, "Secondary")
    ref_info.check_band(reference_band, "Reference")
    sec_info.check_band(secondary_band, "Secondary")
    overlap, (row0, col0) = _overlap(ref_info.grid, sec_info.grid, first_window(window_size))
    parameters = dict(method=method, grid_spacing=grid_spacing, window_size=window_size,
                      max_shift=max_shift, rejection=rejection, min_reliability=min_reliability,
                      modality=modality, radius=radius, levels=levels, iterations=iterations,
                      invert=invert)
    # Tie points alone (no output, no DISPLACEMENT asked for) need no field raster.
    write_field = method == "dense_flow" or output is not None or displacement is not None
    with contextlib.ExitStack() as stack:
        stack.enter_context(guarded_outputs(
            {"Output": output, "Displacement field": displacement,
             "Uncertainty": uncertainty},
            {"Reference": reference, "Secondary": secondary, "Masks": file_paths(masks)}))
        stack.enter_context(single_threaded_blas())
        client = stack.enter_context(_cluster(dask_scheduler, [reference, secondary,
                                                               *file_paths(masks)],
                                              output, displacement, ship_engine))
        if displacement is None:
            # On a cluster the workers warp through the field: beside the output.
            near = os.path.dirname(os.path.abspath(output)) if client and output else None
            if near:
                os.makedirs(near, exist_ok=True)
            folder = stack.enter_context(tempfile.TemporaryDirectory(
                prefix=".coreg-local-" if near else "coreg-local-", dir=near))
            field_path = os.path.join(folder, "displacement.tif")
        else:
            field_path = stack.enter_context(atomic_path(displacement))
        radius_path = uncertainty and stack.enter_context(atomic_path(uncertainty))
        ratio = coarser_pixel_ratio(ref_info.grid, sec_info.grid)
        ref_ds, sec_ds = (stack.enter_context(rasterio.open(p)) for p in (reference, secondary))
        reader = RasterTiles(ref_ds, reference_band,
                              ref_info.nodata if reference_nodata is None else reference_nodata,
                              sec_ds, secondary_band,
                              sec_info.nodata if secondary_nodata is None else secondary_nodata,
                              overlap, masks)
        estimate = scaled_progress(progress, 0, 55 if method in ("tie_points", "auto") else 50)
        choice = {}
        if method in ("tie_points", "auto"):
            points, node_field, passes = estimate_tie_points(
                reader, (overlap.height, overlap.width), grid_spacing=grid_spacing,
                window_size=window_size, max_shift=max_shift, rejection=rejection,
                min_reliability=min_reliability, modality=modality, progress=estimate,
                is_canceled=is_canceled)
            grid_spacing, window_size = _used_grid(points.grid, parameters)
            if method == "auto":
                chosen, choice = choose_method(points, grid_spacing)
                if chosen == "global":
                    coef = affine_fit(points)[0]
                    node_field = affine_field(coef, node_field)
                    residuals_after_affine(points, coef)
                    score_through_written(points, node_field, functools.partial(
                        measure_points, reader, points.row, points.col, window_size,
                        margin=tile_margin(window_size, max_shift),
                        features=points.features["features"], is_canceled=is_canceled))
            if write_field:
                write_node_field(field_path, ref_info.grid, node_field, (row0, col0), overlap,
                                 scaled_progress(progress, 55, 60), is_canceled)
            if radius_path:
                points.pixel_ratio = ratio
                write_tie_point_uncertainty(radius_path, ref_info.grid, tie_point_radius(
                    points, (overlap.height, overlap.width), node_field.step, grid_spacing),
                    (row0, col0), overlap)
        else:
            grid = choose_grid(modality, window_size, grid_spacing,
                               (overlap.height, overlap.width))
            grid_spacing, window_size = _used_grid(grid, parameters)
            sources = client and TileSources(
                cluster_path(reference, client), reference_band, reader.ref[2],
                cluster_path(secondary, client), secondary_band, reader.sec[2], overlap,
                [m if isinstance(m, PolygonMask) else cluster_path(m, client) for m in masks])
            write_dense_field(field_path, ref_info.grid, reader, (row0, col0),
                               dict(radius=radius, levels=levels, iterations=iterations,
                                    invert=invert), max_shift, estimate, is_canceled,
                              client, sources)
            # On the workers when they read the field (:func:`_cluster`: with an output).
            shared = client if output is not None else None
            points, passes = measure_check_points(
                reader, cluster_path(field_path, client), (row0, col0), overlap, grid_spacing,
                window_size, max_shift, rejection, min_reliability, modality, is_canceled,
                scaled_progress(progress, 50, 60), shared, sources), 1
            points.grid = grid
            if radius_path:
                write_flow_uncertainty(radius_path, ref_info.grid, reader, field_path,
                                       (row0, col0), radius, ratio, max_shift, is_canceled)
        points.row, points.col = points.row + row0, points.col + col0
        points.pixel_ratio = ratio
        if not keep_unreliable:
            _check_supported(method, points)
        if output is not None:
            with atomic_path(output) as tmp:
                field = DisplacementField(cluster_path(field_path, client), ref_info.grid.crs)
                write_resampled(cluster_path(secondary, client), tmp, field, ref_info.grid,
                                resampling=resampling, nodata=secondary_nodata, cog=cog,
                                progress=scaled_progress(progress, 60, 100),
                                is_canceled=is_canceled, client=client)
    return LocalAlignment(method, ref_info.grid, (row0, col0),
                          None if displacement is None else os.path.abspath(displacement),
                          points, passes,
                          parameters, _warnings(points), choice,
                          None if uncertainty is None else os.path.abspath(uncertainty))


def _cluster(address: str | None, reads: list, output, displacement, ship_engine: bool):
    """The Dask client of :func:`align_local` (None without an address): its workers
    read the inputs, and the field beside the output (or the DISPLACEMENT raster)."""
    folders = [os.path.dirname(os.path.abspath(p)) for p in (output, displacement)
               if p is not None] if output is not None else []
    return cluster_client(address, reads, folders, ship_engine)


def coarser_pixel_ratio(reference: Grid, secondary: Grid) -> float:
    """The coarser image's pixel over the reference's (>= 1; sides' geometric means)."""
    sx, sy = pixel_size_in(secondary, reference.crs)
    rx, ry = reference.res
    return max(1.0, math.sqrt(abs(sx * sy) / abs(rx * ry)))


def _check_options(method, rejection, max_shift, grid_spacing, window_size) -> None:
    if method not in METHODS:
        raise CoregInputError(f"method must be one of {METHODS}, not {method!r}.")
    if rejection not in REJECTION_LEVELS:
        raise CoregInputError(f"rejection must be one of {REJECTION_LEVELS}, not {rejection!r}.")
    if not (max_shift > 0 and math.isfinite(max_shift)):
        raise CoregInputError(f"The maximum shift must be a positive number of reference "
                              f"pixels, not {max_shift}.")
    if not (is_automatic(grid_spacing) or grid_spacing >= 4) or not (
            is_automatic(window_size) or window_size >= 16):
        raise CoregInputError("The tie-point spacing must be at least 4 pixels and the matching "
                              "window at least 16 pixels.")


def _used_grid(grid: dict, parameters: dict) -> tuple[int, int]:
    """The (spacing, window) of a :func:`.window_choice.choose_grid` record, also put
    in ``parameters`` (the report's)."""
    parameters.update(grid_spacing=grid["grid_spacing"], window_size=grid["window_size"])
    return grid["grid_spacing"], grid["window_size"]


def _overlap(reference: Grid, secondary: Grid, window: int) -> tuple[Grid, tuple[int, int]]:
    """The window of the reference grid that the secondary covers, and its offset."""
    common_grid(reference, secondary)  # raises for no CRS, no overlap
    grid = snapped_grid(reference, footprint_overlap(secondary, reference))
    col0, row0 = (round(v) for v in ~reference.transform * (grid.transform.c, grid.transform.f))
    row1, col1 = min(row0 + grid.height, reference.height), min(col0 + grid.width,
                                                                reference.width)
    row0, col0 = max(row0, 0), max(col0, 0)
    if min(row1 - row0, col1 - col0) < window:  # the smaller window an automatic one can be
        raise CoregInputError(f"The overlap of the two rasters ({row1 - row0} x {col1 - col0} "
                              f"reference pixels) is smaller than the matching window ({window}).")
    return reference.subgrid(row0, col0, row1 - row0, col1 - col0), (row0, col0)


def _check_supported(method: str, points: TiePoints) -> None:
    """Refuse a dense flow that too few check points confirm: on unrelated images it
    still warps the secondary, into something meaningless."""
    kept = points.kept
    if method == "dense_flow" and kept.mean() < MIN_CONFIRMED:
        raise CoregistrationError(
            f"Only {int(kept.sum())} of {len(points)} check points confirm the dense flow: "
            "the images do not match (different scenes, clouds or too much change), so "
            "nothing was written. Check the inputs, or tick 'Keep unreliable results' to "
            "write it anyway.")


def _warnings(points: TiePoints) -> tuple[str, ...]:
    kept = points.kept
    if kept.mean() < 0.5:
        return (f"Only {int(kept.sum())} of {len(points)} points were kept: check the "
                "rejected ones (clouds, change, low texture) before trusting the field.",)
    return ()
