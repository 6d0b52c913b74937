"""Resampling a raster through a transform onto a grid, strip by strip: only the part of
each output strip the raster covers is computed, from the native pixels it needs, while
the previous strip is written; memory is checked before any work."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from ..errors import CanceledError
from ..grid import Grid, footprint_bounds, pixel_size_in
from ..io.cog_tiles import CogAssembler, EncodedStrip, TileSpec, encode_strip
from ..io.raster_io import (
    BLOCK,
    SPLINE_MARGIN,
    IsCanceled,
    Progress,
    copy_metadata,
    covering_window,
    output_profile,
    read_info,
    read_window,
    tile_side,
)
from ..io.window_reads import SerialReads
from ..resources import memory_guard, require_memory
from .model import Transform, identity
from .resample import (
    COORDINATE_STEP,
    SourceMapping,
    interpolate,
    is_identity,
    prepare,
    spline_order,
)
from .shift_resample import resample_affine

#: Strips interpolated at once, in worker threads (scipy's filters release the GIL)
#: while the main thread writes the finished ones.
STRIP_WORKERS = max(1, min(2, os.cpu_count() or 1))
#: What to do when the output strips do not fit in memory.
RESAMPLE_ADVICE = ("clip the reference or target grid to the area you need, or choose a "
                   "coarser grid (larger pixels)")


def output_nodata(dtype: str, nodata: float | None) -> float | None:
    """Nodata for a resampled output: the secondary's, else NaN (float) or 0."""
    if nodata is not None:
        return nodata
    return float("nan") if np.issubdtype(np.dtype(dtype), np.floating) else 0


def write_resampled(
    secondary_path: str | os.PathLike,
    output_path: str,
    transform: Transform,
    reference: Grid,
    *,
    vertical: bool = False,
    dtype: str | None = None,
    resampling: str = "cubic",
    nodata: float | None = None,
    cog: bool = False,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
    client=None,
    source=None,
) -> float | None:
    """Resample every band of the secondary, aligned by ``transform``, onto ``reference``.

    Strips of :data:`BLOCK` output rows are interpolated from the native secondary
    pixels they need, so memory is bounded by a few strips: up to :data:`STRIP_WORKERS`
    being computed (and, for a COG, compressed) in worker threads while the previous
    one is written.
    Only the part of a strip the secondary covers is computed and written (the rest is
    nodata: filled by GDAL, or by the COG's encoder), so a reference grid far larger than
    the secondary costs its overlap only.
    Where the transform does not know (a displacement raster's NaN pixels) the output
    is nodata. ``vertical`` adds the transform's vertical shift to the values (DEMs);
    ``dtype`` overrides the output data type. With a Dask ``client`` the strips are
    computed on its workers, which read the secondary (and a displacement raster) by
    path, the same pixels as here. A COG (``cog``) is assembled from tiles that each
    strip's work compresses (:mod:`..io.cog_tiles`): on a cluster, the workers, which
    compress a plain GeoTIFF's tiles too (laid out as a COG without overviews).
    ``source``: the secondary already open (a :class:`..io.window_reads.ReadAhead`'s,
    its pixels read), read instead of the file (it stays open). Returns the output
    nodata.

    Raises
    ------
    CoregResourceError
        If the strips would not fit in the available memory.
    """
    order = spline_order(resampling)
    strips = [reference.subgrid(row, 0, min(BLOCK, reference.height - row), reference.width)
              for row in range(0, reference.height, BLOCK)]
    opened = contextlib.nullcontext(source) if source is not None else \
        rasterio.open(secondary_path)
    with opened as src, _strip_executor(len(strips)) as worker, \
            memory_guard("resampling onto the output grid", RESAMPLE_ADVICE):
        src_nodata = src.nodata if nodata is None else nodata
        out_dtype = dtype or src.dtypes[0]
        out_nodata = output_nodata(out_dtype, src_nodata)
        mapping = SourceMapping(transform, src.crs, src.transform)
        _require_strip_memory(src.name, Grid(src.crs, src.transform, src.width, src.height),
                              src.count, mapping, reference, out_dtype, cog)
        options = dict(order=order, src_nodata=src_nodata, out_nodata=out_nodata,
                       dtype=np.dtype(out_dtype), vertical=vertical)
        # On a cluster the workers compress a plain GeoTIFF's tiles too (a COG without
        # overviews), or the client alone would compress every strip after them.
        spec = TileSpec.for_grid(reference, count=src.count, dtype=out_dtype,
                                 nodata=out_nodata, strip_rows=BLOCK,
                                 tile_width=tile_side(reference.width), overviews=cog,
                                 ) if cog or client is not None else None
        with _strip_writer(output_path, reference, src, spec, out_dtype, out_nodata) as write:
            if client is None:
                computed = _strips_in_threads(worker, SerialReads(src), mapping, strips,
                                              options, spec, is_canceled)
            else:
                from ..distributed import cluster_map

                computed = cluster_map(client, resample_strip_at,
                                       [(os.fspath(secondary_path), transform, k, strip,
                                         options, spec) for k, strip in enumerate(strips)],
                                       is_canceled)
            for done, (k, result) in enumerate(computed):
                write(k, result)
                if progress:
                    progress(100.0 * (done + 1) / len(strips))
    return out_nodata


@contextlib.contextmanager
def _strip_writer(path: str, reference: Grid, src, spec: TileSpec | None, dtype: str,
                  nodata: float | None) -> Iterator[Callable[[int, Any], None]]:
    """``write(k, strip k)`` into ``path``: a COG assembled from encoded strips
    (``spec``), or a GeoTIFF the strips' covered parts are written into, which GDAL
    compresses; the file is complete when the block ends without error."""
    if spec is not None:
        with CogAssembler(path, reference, spec, partial(copy_metadata, src)) as cog:
            yield cog.add
            cog.finish()
        return
    profile = output_profile(reference, count=src.count, dtype=dtype, nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        copy_metadata(src, dst)

        def write(k: int, covered: tuple[Window, np.ndarray] | None) -> None:
            if covered is not None:
                window, block = covered
                dst.write(block, window=Window(window.col_off, k * BLOCK + window.row_off,
                                               window.width, window.height))

        yield write


def _strips_in_threads(worker, src, mapping, strips: list[Grid], options: dict,
                       spec: TileSpec | None, is_canceled: IsCanceled | None):
    """(k, strip k) in order (:func:`_strip_result`), computed in ``worker``'s threads:
    in parallel where the mapping is affine (one CRS: no shared PROJ transformer between
    the threads), one ahead otherwise."""
    ahead = STRIP_WORKERS if mapping.affine(strips[0]) is not None else 1
    compute = partial(_strip_result, src, mapping=mapping, spec=spec, options=options)
    pending = [worker.submit(compute, k, strip) for k, strip in enumerate(strips[:ahead])]
    for k in range(len(strips)):
        result = pending.pop(0).result()
        if is_canceled and is_canceled():
            for future in pending:
                future.cancel()
            raise CanceledError("Canceled while writing the output.")
        if k + ahead < len(strips):
            pending.append(worker.submit(compute, k + ahead, strips[k + ahead]))
        yield k, result


def _strip_result(src, k: int, strip: Grid, mapping: SourceMapping, spec: TileSpec | None,
                  options: dict) -> EncodedStrip | tuple[Window, np.ndarray] | None:
    """Strip ``k`` of :func:`write_resampled`: its tiles compressed for a COG (``spec``),
    or the part of it the secondary covers (:func:`_resample_strip`)."""
    covered = _resample_strip(src, strip, mapping, **options)
    return covered if spec is None else encode_strip(spec, k, covered)


def resample_strip_at(path: str, transform: Transform, k: int, strip: Grid, options: dict,
                      spec: TileSpec | None) -> EncodedStrip | tuple[Window, np.ndarray] | None:
    """Strip ``k`` of :func:`write_resampled` from the secondary at ``path``: a Dask
    worker's task (it opens the raster itself, and compresses a COG's tiles)."""
    with rasterio.open(path) as src:
        mapping = SourceMapping(transform, src.crs, src.transform)
        return _strip_result(src, k, strip, mapping, spec, options)


class _InPlace:
    """An executor that runs each job at once in the calling thread: a single strip
    has nothing to overlap with, and a thread's start and hand-over cost more than it
    (a small output)."""

    def __enter__(self) -> _InPlace:
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def submit(self, fn, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # raised by .result(), as a worker's would be
            future.set_exception(exc)
        return future


def _strip_executor(strips: int):
    """Worker threads for the strips, or none for a single strip."""
    return ThreadPoolExecutor(max_workers=STRIP_WORKERS) if strips > 1 else _InPlace()


def require_resample_memory(secondary_path: str | os.PathLike, reference: Grid,
                            cog: bool = False) -> None:
    """Refuse, before any work, a resampling of the secondary onto ``reference`` (see
    :func:`write_resampled`) that would not fit in memory: CoregResourceError. Its
    header is :func:`read_info`'s (cached: the file is not opened again)."""
    info = read_info(secondary_path, "Secondary")
    mapping = SourceMapping(identity(reference.crs), info.grid.crs, info.grid.transform)
    _require_strip_memory(info.path, info.grid, info.count, mapping, reference, info.dtype, cog)


def _require_strip_memory(name: str, source: Grid, count: int, mapping, reference: Grid,
                          dtype: str, cog: bool) -> None:
    """Refuse strips of the secondary ``name`` (on ``source``, ``count`` bands) onto
    ``reference`` that would not fit in memory."""
    itemsize = np.dtype(dtype).itemsize
    require_memory(_strip_memory(source, count, mapping, reference, itemsize)
                   + (_encoding_memory(reference, count, itemsize) if cog else 0.0),
                   f"Resampling '{Path(name).name}' onto the {reference.width} x "
                   f"{reference.height} pixel grid", RESAMPLE_ADVICE)


def _strip_memory(source: Grid, count: int, mapping, reference: Grid, itemsize: int) -> float:
    """Peak bytes of :func:`write_resampled`: STRIP_WORKERS + 1 output blocks of the
    covered width and, for each worker, the float temporaries of one band, the source
    window one strip reads and, for mappings that are not affine, the source positions
    of a whole strip."""
    height = min(BLOCK, reference.height)
    affine = mapping.affine(reference)
    if affine is not None:
        box = _affine_covered_box(affine, reference, source)
        width = 0 if box is None else box[1][1] - box[1][0]
        source_per_pixel = abs(_inverse_2x2(affine[0])[1])
        positions = 0.0
    else:
        width = (_footprint_width(source, reference) if mapping.interpolated
                 else reference.width)
        res = pixel_size_in(reference, source.crs)
        source_per_pixel = res[0] * res[1] / abs(source.transform.determinant)
        positions = 64.0 * height * width
    pixels = float(height) * width
    window = (pixels * max(source_per_pixel, 1.0)
              + (2 * SPLINE_MARGIN + 2) * (height + width) * math.sqrt(max(source_per_pixel, 1.0)))
    return ((STRIP_WORKERS + 1) * count * itemsize * pixels
            + STRIP_WORKERS * (48.0 * pixels + positions + (4.0 * count + 13.0) * window))


def _encoding_memory(reference: Grid, count: int, itemsize: int) -> float:
    """Peak bytes :func:`.cog_tiles.encode_strip` adds in each worker: a whole strip of
    the output grid twice (filled, then cut into padded tiles), as float (8 bytes at most)
    and its overview levels (a third more)."""
    pixels = float(min(BLOCK, reference.height)) * reference.width
    return STRIP_WORKERS * count * pixels * (2 * itemsize + 8 * 4 / 3)


def _footprint_width(source: Grid, grid: Grid) -> int:
    """Columns of ``grid`` the secondary's footprint (``source``) spans (for an estimate
    only: the whole width if the footprint cannot be transformed)."""
    try:
        left, _, right, _ = footprint_bounds(source, grid.crs)
        columns = (right - left) / grid.res[0] + 2 * COORDINATE_STEP
    except Exception:  # PROJ errors: no figure, take the whole width
        return grid.width
    return int(min(grid.width, columns)) if math.isfinite(columns) and columns > 0 \
        else grid.width


def _resample_strip(src, strip: Grid, mapping: SourceMapping, order: int, src_nodata,
                    out_nodata, dtype: np.dtype, vertical: bool
                    ) -> tuple[Window, np.ndarray] | None:
    """The part of one output strip that the secondary covers (a window of the strip)
    and all its bands there (plus the vertical shift if ``vertical``), cast to
    ``dtype``; None if it covers none.

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
                                  out_nodata, dtype, vertical)


def _node_part(mapping, strip: Grid, src) -> tuple[int, int, Grid] | None:
    """(row, col, grid) of the part of ``strip`` whose positions may fall in the secondary,
    for a smooth transform across CRSs: its positions are bilinear between nodes every
    COORDINATE_STEP pixels, so a node cell whose four corners all lie on one side of the
    secondary holds no pixel inside it. The part starts on a node, so its positions are
    the strip's own. Other transforms: the whole strip. None if no cell reaches it."""
    if not mapping.interpolated:
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
    out_rows, out_cols = _inverse_2x2(matrix)[0] @ (corners - offset).T
    r0 = max(math.floor(out_rows.min()) - 1, 0)
    r1 = min(math.ceil(out_rows.max()) + 2, grid.height)
    c0 = max(math.floor(out_cols.min()) - 1, 0)
    c1 = min(math.ceil(out_cols.max()) + 2, grid.width)
    if r1 <= r0 or c1 <= c0:
        return None
    return (r0, r1), (c0, c1)


def _inverse_2x2(matrix: np.ndarray) -> tuple[np.ndarray, float]:
    """The inverse of a 2 x 2 matrix and its determinant, without LAPACK: a call into it
    (np.linalg.solve) from the strips' threads woke BLAS's own threads, whose spinning
    took tens of milliseconds of CPU for a 2 x 2 solve on a loaded machine."""
    (a, b), (c, d) = matrix.tolist()
    det = a * d - b * c
    return np.array([[d, -b], [-c, a]]) / det, det


def _resample_part(src, part: Grid, mapping: SourceMapping, affine, rows, cols, order: int,
                   src_nodata, out_nodata, dtype: np.dtype, vertical: bool) -> np.ndarray:
    """All bands on ``part`` (covered by the secondary), through ``affine`` (array
    indices of ``part`` to the secondary's) or the positions ``rows``, ``cols``."""
    offset = mapping.offset(part) if vertical else 0.0
    out = np.empty((src.count, part.height, part.width), dtype)  # every band set below
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
            values = resample_affine(data[band], valid_or_none, affine[0],
                                     affine[1] - origin, out.shape[1:], order)
        values = _outside_to_nan(values, affine, part, src, rows, cols)
        if unknown is not None:
            values[unknown] = np.nan
        out[band] = _cast(values + offset if vertical else values, dtype, out_nodata)
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
    """Round and clip to ``dtype`` (cubic overshoot), NaN becoming ``nodata``; ``values``
    (float, this function's to change) is rounded in place."""
    missing = np.isnan(values)
    some_missing = bool(missing.any())
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if some_missing:
            values[missing] = 0.0
        np.rint(values, out=values)
        if values.size and (values.min() < info.min or values.max() > info.max):  # clip: slow
            np.clip(values, info.min, info.max, out=values)
    values = values.astype(dtype)
    if nodata is not None and some_missing:
        values[missing] = nodata
    return values
