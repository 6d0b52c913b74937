"""Applying an alignment: move the secondary's georeferencing, or resample it."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.windows import Window

from .errors import CanceledError, CoregInputError
from .fit import RigidModel
from .grid import Grid, crs_transformer, footprint_bounds, pixel_size_in
from .outputs import check_outputs, guarded_outputs
from .raster_io import (
    BLOCK,
    SPLINE_MARGIN,
    IsCanceled,
    Progress,
    atomic_path,
    copy_by_blocks,
    copy_metadata,
    covering_window,
    output_profile,
    raster_bytes,
    read_info,
    read_window,
    to_cog,
)
from .resample import (
    COORDINATE_STEP,
    DisplacementMapping,
    FieldMapping,
    SourceMapping,
    interpolate,
    interpolate_affine,
    is_identity,
    model_affine,
    prepare,
    spline_order,
)
from .resources import memory_guard, require_memory
from .saved import SavedAlignment
from .window_reads import SerialReads

#: Strips interpolated at once, in worker threads (scipy's filters release the GIL)
#: while the main thread writes the finished ones.
STRIP_WORKERS = max(1, min(2, os.cpu_count() or 1))
#: What to do when the output strips do not fit in memory.
RESAMPLE_ADVICE = ("clip the reference or target grid to the area you need, or choose a "
                   "coarser grid (larger pixels)")


def secondary_transform(model: RigidModel, secondary: Grid, reference_crs) -> Affine:
    """The secondary's geotransform corrected by ``model`` (given in the reference CRS).

    Across CRSs the correction is the affine map, fitted on a 5 x 5 grid of points
    over the secondary, that best reproduces the model in the secondary's CRS; its
    error is far below a millimetre for shifts of metres over a scene.
    """
    if secondary.crs == reference_crs:
        return model_affine(model) * secondary.transform
    cols, rows = np.meshgrid(np.linspace(0, secondary.width, 5),
                             np.linspace(0, secondary.height, 5))
    x, y = secondary.transform * (cols.ravel(), rows.ravel())
    to_ref = crs_transformer(secondary.crs, reference_crs)
    to_sec = crs_transformer(reference_crs, secondary.crs)
    moved = to_sec.transform(*model.forward(*to_ref.transform(x, y)))
    design = np.column_stack([x, y, np.ones_like(x)])
    coef_x = np.linalg.lstsq(design, moved[0], rcond=None)[0]
    coef_y = np.linalg.lstsq(design, moved[1], rcond=None)[0]
    return Affine(*coef_x, *coef_y) * secondary.transform


def translation_in_secondary_crs(model: RigidModel, secondary: Grid,
                                 reference_crs) -> tuple[float, float]:
    """The model's shift at its pivot, expressed in the secondary CRS (map units)."""
    if secondary.crs == reference_crs:
        return model.shift_x, model.shift_y
    to_sec = crs_transformer(reference_crs, secondary.crs)
    x0, y0 = to_sec.transform(model.pivot_x, model.pivot_y)
    x1, y1 = to_sec.transform(*model.forward(model.pivot_x, model.pivot_y))
    return x1 - x0, y1 - y0


def output_nodata(dtype: str, nodata: float | None) -> float | None:
    """Nodata for a resampled output: the secondary's, else NaN (float) or 0."""
    if nodata is not None:
        return nodata
    return float("nan") if np.issubdtype(np.dtype(dtype), np.floating) else 0


def write_shifted(
    secondary_path: str | os.PathLike,
    output_path: str,
    model: RigidModel,
    reference_crs,
    *,
    cog: bool = False,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> None:
    """Copy every pixel of the secondary unchanged, with its geotransform translated."""
    if model.rotation_deg != 0.0:
        raise CoregInputError("Moving the geotransform only is possible for a pure translation; "
                              "choose the translation model or resample onto the reference grid.")
    with rasterio.open(secondary_path) as src:
        grid = Grid(src.crs, src.transform, src.width, src.height)
        dx, dy = translation_in_secondary_crs(model, grid, reference_crs)
        copy_by_blocks(src, output_path, cog=cog,
                       transform=Affine.translation(dx, dy) * src.transform,
                       progress=progress, is_canceled=is_canceled)


def write_resampled(
    secondary_path: str | os.PathLike,
    output_path: str,
    model: RigidModel,
    reference: Grid,
    *,
    model_crs: CRS | None = None,
    mapping: SourceMapping | FieldMapping | DisplacementMapping | None = None,
    offset: float = 0.0,
    dtype: str | None = None,
    resampling: str = "cubic",
    nodata: float | None = None,
    cog: bool = False,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> float | None:
    """Resample every band of the secondary, aligned by ``model``, onto ``reference``.

    Strips of :data:`BLOCK` output rows are interpolated from the native secondary
    pixels they need, so memory is bounded by a few strips: up to :data:`STRIP_WORKERS`
    being computed in worker threads while the previous one is compressed and written.
    Only the part of a strip the secondary covers is computed and written (GDAL fills
    the rest with nodata), so a reference grid far larger than the secondary costs its
    overlap only.
    ``mapping`` replaces ``model`` (e.g. a shift field, or a displacement raster whose
    NaN pixels stay nodata); ``offset`` is added to the values (and a FieldMapping's
    own offset); ``dtype`` overrides the output data type. Returns the output nodata.

    Raises
    ------
    CoregResourceError
        If the strips would not fit in the available memory.
    """
    order = spline_order(resampling)
    with rasterio.open(secondary_path) as src, \
            ThreadPoolExecutor(max_workers=STRIP_WORKERS) as worker:
        src_nodata = src.nodata if nodata is None else nodata
        out_dtype = dtype or src.dtypes[0]
        out_nodata = output_nodata(out_dtype, src_nodata)
        mapping = mapping or SourceMapping(model, model_crs or reference.crs, src.crs,
                                           src.transform)
        _require_strip_memory(src, mapping, reference, out_dtype)
        profile = output_profile(reference, count=src.count, dtype=out_dtype,
                                 nodata=out_nodata, scratch=cog)
        target = output_path if not cog else output_path + ".gtiff.tmp"
        with rasterio.open(target, "w", **profile) as dst, \
                memory_guard("resampling onto the output grid", RESAMPLE_ADVICE):
            copy_metadata(src, dst)
            strips = [reference.subgrid(row, 0, min(BLOCK, reference.height - row),
                                        reference.width)
                      for row in range(0, reference.height, BLOCK)]
            # Strips in parallel where the mapping is affine (one CRS: no shared PROJ
            # transformer between the threads), one ahead otherwise.
            ahead = STRIP_WORKERS if mapping.affine(reference) is not None else 1
            compute = partial(_resample_strip, SerialReads(src), mapping=mapping, order=order,
                              src_nodata=src_nodata, out_nodata=out_nodata,
                              dtype=np.dtype(out_dtype), offset=offset)
            pending = [worker.submit(compute, strip) for strip in strips[:ahead]]
            for k, strip in enumerate(strips):
                covered = pending.pop(0).result()
                if is_canceled and is_canceled():
                    for future in pending:
                        future.cancel()
                    raise CanceledError("Canceled while writing the output.")
                if k + ahead < len(strips):
                    pending.append(worker.submit(compute, strips[k + ahead]))
                row = k * BLOCK
                if covered is not None:
                    window, block = covered
                    dst.write(block, window=Window(window.col_off, row + window.row_off,
                                                   window.width, window.height))
                if progress:
                    progress(100.0 * (row + strip.height) / reference.height)
        if cog:
            to_cog(target, output_path)
    return out_nodata


def require_resample_memory(secondary_path: str | os.PathLike, reference: Grid,
                            model_crs: CRS | None = None) -> None:
    """Refuse, before any work, a resampling of the secondary onto ``reference`` (see
    :func:`write_resampled`) that would not fit in memory: CoregResourceError."""
    with rasterio.open(secondary_path) as src:
        mapping = SourceMapping(RigidModel(), model_crs or reference.crs, src.crs,
                                src.transform)
        _require_strip_memory(src, mapping, reference, src.dtypes[0])


def _require_strip_memory(src, mapping, reference: Grid, dtype: str) -> None:
    require_memory(_strip_memory(src, mapping, reference, np.dtype(dtype).itemsize),
                   f"Resampling '{Path(src.name).name}' onto the {reference.width} x "
                   f"{reference.height} pixel grid", RESAMPLE_ADVICE)


def _strip_memory(src, mapping, reference: Grid, itemsize: int) -> float:
    """Peak bytes of :func:`write_resampled`: STRIP_WORKERS + 1 output blocks of the
    covered width and, for each worker, the float temporaries of one band, the source
    window one strip reads and, for mappings that are not affine, the source positions
    of a whole strip."""
    height = min(BLOCK, reference.height)
    affine = mapping.affine(reference)
    if affine is not None:
        box = _affine_covered_box(affine, reference, src)
        width = 0 if box is None else box[1][1] - box[1][0]
        source_per_pixel = abs(float(np.linalg.det(affine[0])))
        positions = 0.0
    else:
        width = (_footprint_width(src, reference) if isinstance(mapping, SourceMapping)
                 else reference.width)
        res = pixel_size_in(reference, src.crs)
        source_per_pixel = res[0] * res[1] / abs(src.transform.determinant)
        positions = 64.0 * height * width
    pixels = float(height) * width
    window = (pixels * max(source_per_pixel, 1.0)
              + (2 * SPLINE_MARGIN + 2) * (height + width) * math.sqrt(max(source_per_pixel, 1.0)))
    return ((STRIP_WORKERS + 1) * src.count * itemsize * pixels
            + STRIP_WORKERS * (48.0 * pixels + positions + (4.0 * src.count + 13.0) * window))


def _footprint_width(src, grid: Grid) -> int:
    """Columns of ``grid`` the secondary's footprint spans (for an estimate only: the
    whole width if the footprint cannot be transformed)."""
    try:
        left, _, right, _ = footprint_bounds(Grid(src.crs, src.transform, src.width,
                                                  src.height), grid.crs)
        columns = (right - left) / grid.res[0] + 2 * COORDINATE_STEP
    except Exception:  # PROJ errors: no figure, take the whole width
        return grid.width
    return int(min(grid.width, columns)) if math.isfinite(columns) and columns > 0 \
        else grid.width


def _resample_strip(src, strip: Grid, mapping, order: int, src_nodata, out_nodata,
                    dtype: np.dtype, offset: float) -> tuple[Window, np.ndarray] | None:
    """The part of one output strip that the secondary covers (a window of the strip)
    and all its bands there, plus ``offset``, cast to ``dtype``; None if it covers none.

    Computing the covered part only keeps a strip of a reference far wider than the
    secondary as cheap as its overlap."""
    affine = mapping.affine(strip)
    rows = cols = None
    row0 = col0 = 0
    if affine is None:
        nodes = _node_part(mapping, strip, src)
        if nodes is None:
            return None
        row0, col0, strip = nodes
        rows, cols = mapping.indices(strip)
        box = _covered_box(rows, cols, src)
    else:
        box = _affine_covered_box(affine, strip, src)
    if box is None:
        return None
    (r0, r1), (c0, c1) = box
    part = strip.subgrid(r0, c0, r1 - r0, c1 - c0)
    if affine is None:
        rows, cols = rows[r0:r1, c0:c1], cols[r0:r1, c0:c1]
    else:
        affine = (affine[0], affine[1] + affine[0] @ np.array([r0, c0], float))
    window = Window(col0 + c0, row0 + r0, c1 - c0, r1 - r0)
    return window, _resample_part(src, part, mapping, affine, rows, cols, order, src_nodata,
                                  out_nodata, dtype, offset)


def _node_part(mapping, strip: Grid, src) -> tuple[int, int, Grid] | None:
    """(row, col, grid) of the part of ``strip`` whose positions may fall in the secondary,
    for a SourceMapping across CRSs: its positions are bilinear between nodes every
    COORDINATE_STEP pixels, so a node cell whose four corners all lie on one side of the
    secondary holds no pixel inside it. The part starts on a node, so its positions are
    the strip's own. Other mappings: the whole strip. None if no cell reaches it."""
    if not isinstance(mapping, SourceMapping):
        return 0, 0, strip
    reach = _cells_reaching(*(_two_nodes_a_side(v) for v in mapping.node_indices(strip)), src)
    if not reach.any():
        return None
    (cell_rows,), (cell_cols,) = np.nonzero(reach.any(axis=1)), np.nonzero(reach.any(axis=0))
    step = COORDINATE_STEP
    r0, c0 = int(cell_rows[0]) * step, int(cell_cols[0]) * step
    r1 = min((int(cell_rows[-1]) + 1) * step + 1, strip.height)
    c1 = min((int(cell_cols[-1]) + 1) * step + 1, strip.width)
    return r0, c0, strip.subgrid(r0, c0, r1 - r0, c1 - c0)


def _two_nodes_a_side(nodes: np.ndarray) -> np.ndarray:
    """Nodes of a grid one pixel wide or high (a single node along that side) doubled,
    so that they make one cell."""
    for axis in (0, 1):
        if nodes.shape[axis] == 1:
            nodes = np.repeat(nodes, 2, axis=axis)
    return nodes


def _cells_reaching(rows: np.ndarray, cols: np.ndarray, src) -> np.ndarray:
    """Node cells (between four nodes) whose source positions may lie in the secondary:
    the range of their corners overlaps it (NaN corners ignored, all-NaN cells never)."""
    def corner_range(v):
        low = np.fmin(np.fmin(v[:-1, :-1], v[1:, :-1]), np.fmin(v[:-1, 1:], v[1:, 1:]))
        high = np.fmax(np.fmax(v[:-1, :-1], v[1:, :-1]), np.fmax(v[:-1, 1:], v[1:, 1:]))
        return low, high

    (row_low, row_high), (col_low, col_high) = corner_range(rows), corner_range(cols)
    with np.errstate(invalid="ignore"):
        return ((row_high > -1) & (row_low < src.height)
                & (col_high > -1) & (col_low < src.width))


def _covered_box(rows: np.ndarray, cols: np.ndarray, src
                 ) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """((row0, row1), (col0, col1)) of the output pixels whose source position lies in
    the secondary (NaN positions never do); None if none does."""
    inside = (rows > -1) & (rows < src.height) & (cols > -1) & (cols < src.width)
    any_rows, any_cols = inside.any(axis=1), inside.any(axis=0)
    if not any_rows.any():
        return None
    (rows_in,), (cols_in,) = np.nonzero(any_rows), np.nonzero(any_cols)
    return (int(rows_in[0]), int(rows_in[-1]) + 1), (int(cols_in[0]), int(cols_in[-1]) + 1)


def _affine_covered_box(affine, grid: Grid, src
                        ) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The same for an affine mapping, from the secondary's corners mapped back onto
    ``grid`` (a pixel of margin: :func:`_outside_to_nan` decides at the edge)."""
    matrix, offset = affine
    corners = np.array([[r, c] for r in (-0.5, src.height - 0.5)
                        for c in (-0.5, src.width - 0.5)], float)
    out_rows, out_cols = (np.linalg.solve(matrix, (corners - offset).T))
    r0 = max(math.floor(out_rows.min()) - 1, 0)
    r1 = min(math.ceil(out_rows.max()) + 2, grid.height)
    c0 = max(math.floor(out_cols.min()) - 1, 0)
    c1 = min(math.ceil(out_cols.max()) + 2, grid.width)
    if r1 <= r0 or c1 <= c0:
        return None
    return (r0, r1), (c0, c1)


def _resample_part(src, part: Grid, mapping, affine, rows, cols, order: int, src_nodata,
                   out_nodata, dtype: np.dtype, offset: float) -> np.ndarray:
    """All bands on ``part`` (covered by the secondary), through ``affine`` (array
    indices of ``part`` to the secondary's) or the positions ``rows``, ``cols``."""
    if isinstance(mapping, FieldMapping):
        offset = offset + mapping.offset(part)
    out = np.full((src.count, part.height, part.width),
                  np.nan if out_nodata is None else out_nodata, dtype)
    unknown = None
    if affine is None:
        unknown = ~(np.isfinite(rows) & np.isfinite(cols))  # e.g. a displacement's nodata
        if unknown.any():
            rows, cols = (np.where(unknown, v[~unknown][0], v) for v in (rows, cols))
    else:
        corners = np.array([[0, 0], [0, part.width - 1], [part.height - 1, 0],
                            [part.height - 1, part.width - 1]], float)
        rows, cols = (corners @ affine[0].T + affine[1]).T
    window = covering_window(np.clip(rows, -8, src.height + 8), np.clip(cols, -8, src.width + 8),
                             SPLINE_MARGIN)
    data, valid = read_window(src, list(range(1, src.count + 1)), window, src_nodata)
    # Only nodata inside the raster needs masking; outside it, read_window's edge
    # values are harmless and _outside_to_nan blanks the output.
    r0, c0 = max(-window.row_off, 0), max(-window.col_off, 0)
    inner = valid[r0:src.height - window.row_off, c0:src.width - window.col_off]
    valid_or_none = None if inner.all() else valid
    whole = _whole_pixel_offset(affine)
    for band in range(src.count):
        if whole is not None:  # same pixels (e.g. a vertical shift only): no interpolation
            values = _shifted_pixels(data[band], valid, whole[0] - window.row_off,
                                     whole[1] - window.col_off, out.shape[1:])
        elif affine is None:
            values = interpolate(prepare(data[band], valid_or_none, order), valid_or_none,
                                 rows - window.row_off, cols - window.col_off, order)
        else:
            origin = np.array([window.row_off, window.col_off], float)
            values = interpolate_affine(prepare(data[band], valid_or_none, order),
                                        valid_or_none, affine[0], affine[1] - origin,
                                        out.shape[1:], order)
        values = _outside_to_nan(values, affine, part, src, rows, cols)
        if unknown is not None:
            values[unknown] = np.nan
        out[band] = _cast(values + offset, dtype, out_nodata)
    return out


def _shifted_pixels(data: np.ndarray, valid: np.ndarray, row: int, col: int,
                    shape: tuple[int, int]) -> np.ndarray:
    """The ``shape`` block of ``data`` starting at (row, col), NaN where invalid or beyond
    ``data`` (the output reaches past the secondary when the reference is larger)."""
    values = np.full(shape, np.nan, np.float32)
    r0, c0 = max(row, 0), max(col, 0)
    r1, c1 = min(row + shape[0], data.shape[0]), min(col + shape[1], data.shape[1])
    if r1 > r0 and c1 > c0:
        inside = (slice(r0, r1), slice(c0, c1))
        values[r0 - row:r1 - row, c0 - col:c1 - col] = np.where(valid[inside], data[inside],
                                                                np.nan)
    return values


def _whole_pixel_offset(affine) -> tuple[int, int] | None:
    """(row, col) offset of an affine mapping that is a whole-pixel translation."""
    if affine is None or not is_identity(affine[0]):
        return None
    offset = np.round(affine[1])
    if np.abs(affine[1] - offset).max() > 1e-6:
        return None
    return int(offset[0]), int(offset[1])


def _outside_to_nan(values, affine, strip, src, rows, cols) -> np.ndarray:
    """NaN where the sampled position falls outside the secondary raster."""
    if affine is None:
        inside = (rows > -1) & (rows < src.height) & (cols > -1) & (cols < src.width)
    else:
        m, o = affine
        grid_r = np.arange(strip.height, dtype=float)[:, None]
        grid_c = np.arange(strip.width, dtype=float)[None, :]
        r = m[0, 0] * grid_r + o[0] + (m[0, 1] * grid_c if m[0, 1] else 0.0)
        c = m[1, 1] * grid_c + o[1] + (m[1, 0] * grid_r if m[1, 0] else 0.0)
        inside = ((r > -0.5) & (r < src.height - 0.5)) & ((c > -0.5) & (c < src.width - 0.5))
        if inside.all():
            return values
    values[~inside] = np.nan
    return values


def _cast(values: np.ndarray, dtype: np.dtype, nodata: float | None) -> np.ndarray:
    """Round and clip to ``dtype`` (cubic overshoot), NaN becoming ``nodata``."""
    missing = np.isnan(values)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = np.clip(np.round(np.nan_to_num(values)), info.min, info.max)
    values = values.astype(dtype)
    if nodata is not None:
        values[missing] = nodata
    return values


@dataclass(frozen=True)
class Applied:
    """What :func:`apply_alignment` did: the resampling used (None if none) and notes."""

    resampling: str | None
    warnings: tuple[str, ...] = ()


def apply_alignment(
    alignment: SavedAlignment,
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
    alignment : SavedAlignment
        The alignment, e.g. :func:`.saved.read_alignment` of a report, or
        ``Alignment.saved()``.
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
        output is asked for a rotation, a shift field or a vertical shift.
    CoregOutputError
        If the output would overwrite the input, or cannot be written.
    """
    with guarded_outputs({"Output": output_path},
                         {"Input": input_path, "Displacement field": alignment.displacement}):
        return _apply_checked(alignment, input_path, output_path, output_mode=output_mode,
                              target=target, resampling=resampling, cog=cog, vertical=vertical,
                              progress=progress, is_canceled=is_canceled)


def _apply_checked(alignment: SavedAlignment, input_path, output_path, *, output_mode: str,
                   target: Grid | None, resampling: str | None, cog: bool, vertical: bool,
                   progress: Progress | None, is_canceled: IsCanceled | None) -> Applied:
    """:func:`apply_alignment` once its output is known to be safe to write."""
    info = read_info(input_path, "Input")
    _check_overlap(alignment, info.grid)
    notes = []
    class_raster = is_class_raster(input_path)
    add_z = bool(vertical and not class_raster
                 and (alignment.z_offset or alignment.field is not None))
    if add_z:
        notes.append("DEM alignment: its vertical shift is added to the values.")
    if output_mode == "geotransform" and (alignment.field is not None
                                          or alignment.displacement or add_z):
        raise CoregInputError("A shift field or a vertical shift needs resampling; choose "
                              "the resampling output mode.")
    size = raster_bytes(target or info.grid, info.count, info.dtype, cog=cog)
    with atomic_path(output_path, size=size) as tmp:
        if output_mode == "geotransform":
            write_shifted(input_path, tmp, alignment.model, alignment.crs, cog=cog,
                          progress=progress, is_canceled=is_canceled)
            return Applied(None, tuple(notes))
        if resampling is None:
            resampling = "nearest" if class_raster else "cubic"
            if resampling == "nearest":
                notes.append("Integer class or mask raster: resampled by nearest neighbour.")
        grid = target or moved_grid(alignment, info.grid)
        mapping = field_mapping(alignment, info.grid, vertical=add_z)
        nodata = write_resampled(input_path, tmp, alignment.model, grid,
                                 model_crs=alignment.crs, mapping=mapping,
                                 offset=alignment.z_offset if add_z else 0.0,
                                 resampling=resampling, cog=cog,
                                 progress=progress, is_canceled=is_canceled)
    if info.nodata is None:
        notes.append(f"The input has no nodata value; {nodata} marks output pixels it "
                     "does not cover.")
    return Applied(resampling, tuple(notes))


def field_mapping(alignment: SavedAlignment, grid: Grid, *,
                  vertical: bool = True) -> FieldMapping | DisplacementMapping | None:
    """The spatially varying part of ``alignment`` as it moves a raster on ``grid``: a
    DEM block field (z values only when ``vertical``) or a local displacement raster;
    None for a rigid alignment."""
    if alignment.displacement is not None:
        return DisplacementMapping(alignment.displacement, grid.crs, grid.transform)
    nodes = alignment.field
    if nodes is None:
        return None
    if grid.crs != alignment.crs:
        raise CoregInputError("A blockwise DEM alignment applies to rasters in its own CRS "
                              f"({alignment.crs.to_string()}); reproject the raster first.")
    z = nodes.z if vertical else np.zeros_like(nodes.z)
    return FieldMapping(grid.crs, grid.transform, nodes.nodes, nodes.x, nodes.y, z)


def moved_grid(alignment: SavedAlignment, grid: Grid) -> Grid:
    """``grid`` moved by the alignment: translated, and north-up enlarged to hold the
    whole moved footprint when the alignment rotates it."""
    moved = secondary_transform(alignment.model, grid, alignment.crs)
    dx, dy = translation_in_secondary_crs(alignment.model, grid, alignment.crs)
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


def _check_overlap(alignment: SavedAlignment, grid: Grid) -> None:
    left, bottom, right, top = footprint_bounds(grid, alignment.crs)
    a_left, a_bottom, a_right, a_top = alignment.bounds
    if left >= a_right or right <= a_left or bottom >= a_top or top <= a_bottom:
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
    alignment: SavedAlignment,
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
