"""Applying an alignment: move the secondary's georeferencing, or resample it."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling

from ..errors import CoregInputError
from ..grid import Grid, crs_transformer, footprint_bounds, intersection
from ..io.outputs import check_outputs, guarded_outputs
from ..io.raster_io import (
    IsCanceled,
    Progress,
    atomic_path,
    copy_by_blocks,
    raster_bytes,
    read_info,
)
from .model import AffineTransform, BlockField, Rigid, Transform
from .warp import write_resampled


def secondary_transform(transform: Transform, secondary: Grid) -> Affine:
    """The secondary's geotransform moved by an affine ``transform`` (in its own CRS).

    Across CRSs the correction is the affine map, fitted on a 5 x 5 grid of points
    over the secondary, that best reproduces the transform in the secondary's CRS; its
    error is far below a millimetre for shifts of metres over a scene.
    """
    if secondary.crs == transform.crs:
        return transform.affine * secondary.transform
    cols, rows = np.meshgrid(np.linspace(0, secondary.width, 5),
                             np.linspace(0, secondary.height, 5))
    x, y = secondary.transform * (cols.ravel(), rows.ravel())
    to_ref = crs_transformer(secondary.crs, transform.crs)
    to_sec = crs_transformer(transform.crs, secondary.crs)
    moved = to_sec.transform(*transform.forward(*to_ref.transform(x, y)))
    design = np.column_stack([x, y, np.ones_like(x)])
    coef_x = np.linalg.lstsq(design, moved[0], rcond=None)[0]
    coef_y = np.linalg.lstsq(design, moved[1], rcond=None)[0]
    return Affine(*coef_x, *coef_y) * secondary.transform


def translation_in_secondary_crs(transform: Transform, secondary: Grid) -> tuple[float, float]:
    """The transform's shift at the centre of the area it holds over (a rigid one's:
    at its pivot), expressed in the secondary CRS (map units)."""
    if secondary.crs == transform.crs and transform.translation() is not None:
        return transform.translation()
    x0, y0 = _anchor(transform, secondary)
    x1, y1 = transform.forward(x0, y0)
    if secondary.crs == transform.crs:
        return float(x1 - x0), float(y1 - y0)
    to_sec = crs_transformer(transform.crs, secondary.crs)
    (sx0, sx1), (sy0, sy1) = to_sec.transform([x0, float(x1)], [y0, float(y1)])
    return sx1 - sx0, sy1 - sy0


def _anchor(transform: Transform, secondary: Grid) -> tuple[float, float]:
    """Where a transform's shift is read: a rigid model's pivot, else the centre of its
    area (or of the secondary)."""
    if isinstance(transform, Rigid):
        return transform.model.pivot_x, transform.model.pivot_y
    if transform.bounds is not None:
        left, bottom, right, top = transform.bounds
    else:
        left, bottom, right, top = footprint_bounds(secondary, transform.crs)
    return (left + right) / 2, (bottom + top) / 2


def write_shifted(
    secondary_path: str | os.PathLike,
    output_path: str,
    transform: Transform,
    *,
    cog: bool = False,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> None:
    """Copy every pixel of the secondary unchanged, with its geotransform translated by
    ``transform`` (a pure translation)."""
    if transform.translation() is None or transform.has_vertical:
        raise CoregInputError("Moving the geotransform only is possible for a pure translation; "
                              "choose the translation model or resample onto the reference grid.")
    with rasterio.open(secondary_path) as src:
        grid = Grid(src.crs, src.transform, src.width, src.height)
        dx, dy = translation_in_secondary_crs(transform, grid)
        copy_by_blocks(src, output_path, cog=cog,
                       transform=Affine.translation(dx, dy) * src.transform,
                       progress=progress, is_canceled=is_canceled)


@dataclass(frozen=True)
class Applied:
    """What :func:`apply_alignment` did: the resampling used (None if none) and notes."""

    resampling: str | None
    warnings: tuple[str, ...] = ()


def apply_alignment(
    alignment: Transform,
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    output_mode: str = "resample",
    target: Grid | None = None,
    resampling: str | None = None,
    cog: bool = False,
    vertical: bool = True,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> Applied:
    """Apply a saved alignment to any raster overlapping the area it was measured on.

    The alignment is transformed to the raster's CRS and resolution, never the data
    twice: every output pixel is one interpolation of the input's native pixels.

    Parameters
    ----------
    alignment : Transform
        The alignment, e.g. :func:`.saved.read_alignment` of a report, or the
        ``transform`` of an alignment result.
    input_path : path
        The raster to move (any CRS and resolution overlapping the alignment's area).
    output_path : path
        The aligned raster (GeoTIFF, or COG if ``cog``), written to a temporary file
        first and moved into place once complete.
    output_mode : {"resample", "geotransform"}
        "geotransform" copies the input with a translated geotransform (translations
        only); "resample" resamples it onto ``target``.
    target : Grid, optional
        Grid to resample onto; default: the input's own grid moved by the alignment,
        enlarged if a rotation needs it, so the output covers the whole input.
    resampling : {"nearest", "bilinear", "cubic"}, optional
        Default: nearest for integer class or mask rasters (a colour table, or few
        distinct values), cubic otherwise.
    cog : bool
        Write a Cloud-Optimized GeoTIFF.
    vertical : bool
        Add a DEM alignment's vertical shift to the values (never to class rasters).
    progress : callable, optional
        Called with the percentage done (0 to 100).
    is_canceled : callable, optional
        Polled during the run; returning True stops it with :class:`CanceledError`.

    Returns
    -------
    Applied
        The resampling used (None for a geotransform-only output) and notes.

    Raises
    ------
    CoregInputError
        If the raster does not overlap the alignment's area, or a geotransform-only
        output is asked for anything but a translation.
    CoregOutputError
        If the output would overwrite the input, or cannot be written.
    """
    with guarded_outputs({"Output": output_path},
                         {"Input": input_path, "Displacement field": list(alignment.files)}):
        return _apply_checked(alignment, input_path, output_path, output_mode=output_mode,
                              target=target, resampling=resampling, cog=cog, vertical=vertical,
                              progress=progress, is_canceled=is_canceled)


def _apply_checked(alignment: Transform, input_path, output_path, *, output_mode: str,
                   target: Grid | None, resampling: str | None, cog: bool, vertical: bool,
                   progress: Progress | None, is_canceled: IsCanceled | None) -> Applied:
    """:func:`apply_alignment` once its output is known to be safe to write."""
    info = read_info(input_path, "Input")
    _check_overlap(alignment, info.grid)
    notes = []
    class_raster = is_class_raster(input_path)
    add_z = vertical and not class_raster and alignment.has_vertical
    if add_z:
        notes.append("DEM alignment: its vertical shift is added to the values.")
    if output_mode == "geotransform" and (alignment.translation() is None or add_z):
        raise CoregInputError("Moving the geotransform only is possible for a pure "
                              "translation; a rotation, a shift field or a vertical shift needs "
                              "resampling: choose the resampling output mode.")
    if isinstance(alignment, BlockField) and info.grid.crs != alignment.crs:
        raise CoregInputError("A blockwise DEM alignment applies to rasters in its own CRS "
                              f"({alignment.crs.to_string()}); reproject the raster first.")
    size = raster_bytes(target or info.grid, info.count, info.dtype, cog=cog)
    with atomic_path(output_path, size=size) as tmp:
        if output_mode == "geotransform":
            write_shifted(input_path, tmp, _horizontal(alignment), cog=cog,
                          progress=progress, is_canceled=is_canceled)
            return Applied(None, tuple(notes))
        if resampling is None:
            resampling = "nearest" if class_raster else "cubic"
            if resampling == "nearest":
                notes.append("Integer class or mask raster: resampled by nearest neighbour.")
        grid = target or moved_grid(alignment, info.grid)
        nodata = write_resampled(input_path, tmp, alignment, grid, vertical=add_z,
                                 resampling=resampling, cog=cog,
                                 progress=progress, is_canceled=is_canceled)
    if info.nodata is None:
        notes.append(f"The input has no nodata value; {nodata} marks output pixels it "
                     "does not cover.")
    return Applied(resampling, tuple(notes))


def _horizontal(transform: Transform) -> Transform:
    """The transform without its vertical shift (a class raster keeps its values)."""
    if isinstance(transform, (Rigid, AffineTransform)):
        return replace(transform, z_offset=0.0)
    return transform


def moved_grid(alignment: Transform, grid: Grid) -> Grid:
    """``grid`` moved by an affine alignment: translated, and north-up enlarged to hold
    the whole moved footprint when the alignment rotates or scales it. A field moves
    content locally: the grid stays."""
    if alignment.affine is None:
        return grid
    moved = secondary_transform(alignment, grid)
    dx, dy = translation_in_secondary_crs(alignment, grid)
    translated = Affine.translation(dx, dy) * grid.transform
    if np.allclose(moved[:6], translated[:6], rtol=0, atol=1e-9 * max(grid.res)):
        return Grid(grid.crs, translated, grid.width, grid.height)
    corners = [moved * (c, r) for c in (0, grid.width) for r in (0, grid.height)]
    cols, rows = zip(*(~translated * xy for xy in corners))
    col0, row0 = math.floor(min(cols) + 1e-6), math.floor(min(rows) + 1e-6)
    col1, row1 = math.ceil(max(cols) - 1e-6), math.ceil(max(rows) - 1e-6)
    return Grid(grid.crs, translated * Affine.translation(col0, row0), col1 - col0, row1 - row0)


def is_class_raster(path: str | os.PathLike, max_classes: int = 32) -> bool:
    """Whether a raster holds integer classes or mask values (to keep them exact)."""
    with rasterio.open(path) as ds:
        if not np.issubdtype(np.dtype(ds.dtypes[0]), np.integer):
            return False
        try:
            ds.colormap(1)
            return True
        except ValueError:
            pass
        scale = max(1, max(ds.width, ds.height) // 512)
        sample = ds.read(1, out_shape=(max(1, ds.height // scale), max(1, ds.width // scale)),
                         resampling=Resampling.nearest)
    return len(np.unique(sample)) <= max_classes


def _check_overlap(alignment: Transform, grid: Grid) -> None:
    if alignment.bounds is None:
        return
    if intersection(footprint_bounds(grid, alignment.crs), alignment.bounds) is None:
        raise CoregInputError("The raster does not overlap the area the alignment was measured "
                              "on; an alignment only holds where it was measured.")


def applied_paths(paths: Sequence[str | os.PathLike], folder: str | os.PathLike) -> list[str]:
    """Where :func:`apply_to_rasters` writes each raster: ``<stem>_coreg.tif`` in
    ``folder``, numbered (``<stem>_coreg_2.tif``) when two inputs share a stem."""
    outputs, taken = [], set()
    for path in paths:
        stem, k = f"{Path(path).stem}_coreg", 1
        name = f"{stem}.tif"
        while name.lower() in taken:
            k += 1
            name = f"{stem}_{k}.tif"
        taken.add(name.lower())
        outputs.append(os.path.join(folder, name))
    return outputs


def apply_to_rasters(
    alignment: Transform,
    paths: Sequence[str | os.PathLike],
    folder: str | os.PathLike,
    *,
    output_mode: str = "resample",
    protected: Mapping[str, str | os.PathLike | Sequence | None] | None = None,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> list[str]:
    """Apply ``alignment`` to each raster, writing :func:`applied_paths` in ``folder``.

    Each raster keeps its own grid (moved) and automatic resampling; returns the
    output paths in the order of ``paths``. ``protected``: further files (by label) the
    outputs must not replace, such as the run's reference and main output; all outputs
    are checked before the first is written.
    """
    outputs = applied_paths(paths, folder)
    check_outputs({f"Applied to '{Path(p).name}'": out for p, out in zip(paths, outputs)},
                  {**(protected or {}), "Rasters to apply to": [os.fspath(p) for p in paths]})
    for k, (path, output) in enumerate(zip(paths, outputs)):
        step = scaled_progress(progress, 100.0 * k / len(paths), 100.0 * (k + 1) / len(paths))
        apply_alignment(alignment, path, output, output_mode=output_mode, progress=step,
                        is_canceled=is_canceled)
    return outputs


def scaled_progress(progress: Progress | None, start: float, end: float) -> Progress | None:
    """A progress callback mapping 0..100 onto start..end of ``progress``."""
    if progress is None:
        return None
    return lambda value: progress(start + (end - start) * value / 100.0)
