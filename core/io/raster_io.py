"""Reading rasters (headers, windows on any grid) and writing outputs safely."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.warp import reproject
from rasterio.windows import Window

from ..errors import CoregInputError, check_canceled
from ..grid import Grid
from ..transforms.model import identity
from ..transforms.resample import (
    COORDINATE_STEP,
    SourceMapping,
    interpolate,
    prepare,
)
from ..transforms.shift_resample import resample_affine
from .block_average import block_mean, nested_block_window
from .outputs import SIDE_CARS, atomic_path  # noqa: F401 - the writers import atomic_path here
from .paths import local_input

Progress = Callable[[float], None]
IsCanceled = Callable[[], bool]

#: Rows written per block; also the tile size of GeoTIFF outputs (:func:`tile_side`).
BLOCK = 512
#: Pixels read around what a cubic spline needs: its prefilter is recursive (poles decay
#: by 0.27 a pixel), so a border 8 pixels away changes a value by < 3e-5 of its jump.
SPLINE_MARGIN = 8


@dataclass(frozen=True)
class RasterInfo:
    """What the engine needs to know of a raster file, read from its header."""

    path: str
    grid: Grid
    count: int
    dtype: str
    nodata: float | None

    def check_band(self, band: int, label: str) -> None:
        """Raise CoregInputError naming ``label`` if ``band`` (1-based) does not exist."""
        if isinstance(band, bool) or not isinstance(band, (int, np.integer)) \
                or not 1 <= band <= self.count:
            raise CoregInputError(
                f"{label} band {band} does not exist: '{Path(self.path).name}' has "
                f"{self.count} band(s), numbered from 1.")


#: rasterio's names of complex data types (SAR single-look complex, interferograms).
COMPLEX_DTYPES = ("complex", "complex_int16", "complex64", "complex128")


def read_info(path: str | os.PathLike, label: str = "Raster") -> RasterInfo:
    """Read a raster's header; CoregInputError saying why if it cannot be used.

    Refused: what :func:`.paths.local_input` refuses, files GDAL cannot read, no
    georeferencing, a zero pixel size, and complex values (matching and resampling work
    on real values: the amplitude must be computed first, not the phase dropped).
    """
    source = local_input(path, label)
    key = _file_key(source)
    if key in _INFOS:
        return replace(_INFOS[key], path=str(path))
    try:
        with rasterio.open(source) as ds:
            if ds.transform.is_identity and not ds.gcps[0]:
                raise CoregInputError(
                    f"{label} '{Path(path).name}' has no georeferencing (no geotransform).")
            if ds.transform.determinant == 0:
                raise CoregInputError(f"{label} '{Path(path).name}' has a zero pixel size "
                                      f"in its geotransform {tuple(ds.transform)[:6]}.")
            if ds.dtypes[0] in COMPLEX_DTYPES:
                raise CoregInputError(
                    f"{label} '{Path(path).name}' holds complex values ({ds.dtypes[0]}, e.g. "
                    "a SAR SLC). Compute the amplitude first (Raster calculator: abs) and "
                    "align that.")
            grid = Grid(ds.crs, ds.transform, ds.width, ds.height)
            info = RasterInfo(str(path), grid, ds.count, ds.dtypes[0], ds.nodata)
    except (RasterioError, RasterioIOError) as exc:
        raise CoregInputError(f"{label} '{path}' cannot be read as a raster: "
                              f"{_unreadable_reason(source, exc)}") from exc
    if key is not None:
        while len(_INFOS) >= 16:
            _INFOS.pop(next(iter(_INFOS)), None)
        _INFOS[key] = info
    return info


#: Headers read by :func:`read_info`, by local file and its state (a run reads each of
#: its inputs' headers several times: every open costs a millisecond or more).
_INFOS: dict[tuple, RasterInfo] = {}


def _file_key(source: str) -> tuple | None:
    """(path, inode, size, modification time) of a local file; None for anything else."""
    try:
        stat = os.stat(source)
    except (OSError, ValueError):
        return None
    if not os.path.isfile(source):
        return None
    return source, stat.st_ino, stat.st_size, stat.st_mtime_ns


def _unreadable_reason(path: str, exc: Exception) -> str:
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        return "the file is empty."
    if os.path.isdir(path):
        return "it is a folder."
    if "not recognized as" in str(exc):  # "... a supported file format" (GDAL < 3.9 and after)
        return "GDAL does not recognise its format (not a raster, or damaged)."
    return str(exc)


def read_on_grid(
    ds: rasterio.DatasetReader, band: int, grid: Grid, *, nodata: float | None
) -> np.ndarray:
    """Band ``band`` of ``ds`` on ``grid`` as float32, NaN where there is no data.

    A window read when ``grid`` nests in the dataset grid; a GDAL warp averaging when
    the target is coarser, so that no detail aliases into it; otherwise the cubic
    B-spline of :mod:`.resample` (GDAL 3.6's cubic warp displaces sub-pixel offsets:
    0.18 m of bias in a 30 m DEM fit).
    """
    window = nested_window(ds, grid)
    if window is not None:
        data, valid = read_window(ds, [band], window, nodata)
        data[0][~valid] = np.nan
        return data[0]
    if grid.res[0] * grid.res[1] > 1.1 * abs(ds.transform.determinant):
        nested = nested_block_window(ds, grid)
        if nested is not None:  # whole blocks of pixels: averaged in numpy
            data, valid = read_window(ds, [band], nested[1], nodata)
            return block_mean(data[0], valid, nested[0])
        return _averaged_on_grid(ds, band, grid, nodata)
    return _interpolated_on_grid(ds, band, grid, nodata)


def _averaged_on_grid(ds: rasterio.DatasetReader, band: int, grid: Grid,
                      nodata: float | None) -> np.ndarray:
    data = np.full((grid.height, grid.width), np.nan, np.float32)
    try:
        # A cached window's dataset (window_reads) is warped from the file itself.
        reproject(rasterio.band(getattr(ds, "unwrapped", ds), band), data, src_nodata=nodata,
                  dst_nodata=np.nan,
                  dst_transform=grid.transform, dst_crs=grid.crs, resampling=Resampling.average)
    except (RasterioError, RasterioIOError) as exc:
        raise CoregInputError(f"'{ds.name}' is unreadable or truncated: {exc}") from exc
    return data


def _interpolated_on_grid(ds: rasterio.DatasetReader, band: int, grid: Grid,
                          nodata: float | None) -> np.ndarray:
    mapping = SourceMapping(identity(grid.crs), ds.crs, ds.transform)
    window = _whole_pixel_window(*mapping.node_indices(grid), COORDINATE_STEP)
    if window is not None:  # another name of the same grid (e.g. ETRS89 vs WGS 84 UTM)
        data, valid = read_window(ds, [band], Window(window.col_off, window.row_off,
                                                     grid.width, grid.height), nodata)
        return np.where(valid, data[0], np.nan)
    affine = mapping.affine(grid)
    if affine is not None:  # one CRS: separable when a pure sub-pixel shift
        return _interpolated_affine(ds, band, grid, nodata, *affine)
    rows, cols = mapping.indices(grid)
    out = np.full((grid.height, grid.width), np.nan, np.float32)
    inside = ((rows > -1) & (rows < ds.height) & (cols > -1) & (cols < ds.width))
    if not inside.any():
        return out
    window = covering_window(rows[inside], cols[inside], margin=SPLINE_MARGIN)
    data, valid = read_window(ds, [band], window, nodata)
    out[inside] = interpolate(prepare(data[0], valid, 3), None if valid.all() else valid,
                              rows[inside] - window.row_off, cols[inside] - window.col_off, 3)
    return out


def _interpolated_affine(ds: rasterio.DatasetReader, band: int, grid: Grid,
                         nodata: float | None, matrix: np.ndarray,
                         offset: np.ndarray) -> np.ndarray:
    """Cubic spline values on ``grid`` whose array indices map affinely to the source's;
    NaN outside the source or next to its nodata."""
    corners = np.array([[0, 0], [0, grid.width - 1], [grid.height - 1, 0],
                        [grid.height - 1, grid.width - 1]], float)
    rows, cols = (corners @ matrix.T + offset).T
    window = covering_window(rows, cols, margin=SPLINE_MARGIN)
    data, valid = read_window(ds, [band], window, nodata)
    origin = np.array([window.row_off, window.col_off], float)
    return resample_affine(data[0], None if valid.all() else valid, matrix, offset - origin,
                           (grid.height, grid.width), 3)


def _whole_pixel_window(rows: np.ndarray, cols: np.ndarray, step: int) -> Window | None:
    """The window starting at the first node, if the nodes (every ``step`` pixels) fall
    on whole source pixels in order, to 0.001 px (datum realisations such as ETRS89 and
    WGS 84 differ by a few cm)."""
    r0, c0 = round(float(rows[0, 0])), round(float(cols[0, 0]))
    height, width = rows.shape
    if (np.abs(rows - (r0 + step * np.arange(height)[:, None])).max() > 1e-3
            or np.abs(cols - (c0 + step * np.arange(width)[None, :])).max() > 1e-3):
        return None
    return Window(c0, r0, width, height)


def _close(a: float, b: float, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    """``np.allclose`` of two numbers, without its cost."""
    return abs(a - b) <= atol + rtol * abs(b)


def nested_window(ds: rasterio.DatasetReader, grid: Grid) -> Window | None:
    """The window of ``ds`` that ``grid`` is, if it is one (same CRS, pixel, phase)."""
    src, dst = ds.transform, grid.transform
    if not (_close(src.a, dst.a, 1e-9) and _close(src.e, dst.e, 1e-9)
            and _close(src.b, dst.b) and _close(src.d, dst.d)) or ds.crs != grid.crs:
        return None
    col, row = ~ds.transform * (grid.transform.c, grid.transform.f)
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return Window(round(col), round(row), grid.width, grid.height)


def decoded_bytes(grid: Grid, count: int, dtype: str) -> int:
    """Raw size of ``count`` bands of ``dtype`` on ``grid``: one definition for the disk
    check (:func:`raster_bytes`) and the memory a read-ahead takes."""
    return grid.width * grid.height * count * np.dtype(dtype).itemsize


def raster_bytes(grid: Grid, count: int, dtype: str, *, cog: bool = False) -> int:
    """The least disk space a compressed GeoTIFF of this size needs (a quarter of its
    raw size: DEFLATE seldom does better on imagery), plus the raw scratch copy of a
    COG; checked before a write starts so that a doomed run fails at once."""
    raw = decoded_bytes(grid, count, dtype)
    return raw // 4 + (raw if cog else 0)


def output_profile(grid: Grid, *, count: int, dtype: str, nodata: float | None,
                   scratch: bool = False) -> dict:
    """Creation profile of every GeoTIFF the engine writes: tiled, DEFLATE level 1 (as
    small as level 6 here at twice the speed), the predictor that suits ``dtype``.
    ``scratch``: the uncompressed GeoTIFF that :func:`to_cog` then copies, since the COG
    copy compresses (compressing twice cost 40 % more CPU); sparse, so that the blocks of
    a large grid that no data reaches are not written out uncompressed."""
    profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=count,
                   dtype=dtype, crs=grid.crs, transform=grid.transform, nodata=nodata,
                   tiled=True, blockxsize=tile_side(grid.width),
                   blockysize=tile_side(grid.height), bigtiff="if_safer")
    if not scratch:
        profile.update(compress="deflate", zlevel=1, predictor=_predictor(dtype),
                       num_threads="all_cpus")
    else:  # blocks never written (outside the secondary) take no disk space
        profile.update(sparse_ok=True)
    return profile


def tile_side(pixels: int) -> int:
    """Tile side of an output axis of ``pixels``: :data:`BLOCK`, or for a smaller raster
    the least multiple of 16 (GDAL's rule) that holds it (a 256 px raster in one 512 px
    tile was compressed and stored as four times its pixels)."""
    return min(BLOCK, -(-pixels // 16) * 16)


#: Files GDAL's COG driver writes beside its output while building it (overviews of the
#: data and of the mask): suffixes of the output path.
COG_INTERMEDIATES = (".ovr.tmp", ".msk.ovr.tmp")


def to_cog(gtiff: str, path: str) -> None:
    """Convert a finished GeoTIFF into a Cloud-Optimized GeoTIFF and remove it, its
    tiles and overviews compressed on :data:`.parallel.THREADS` threads: the one serial
    step of a distributed job (the client writes the file alone; 4096 x 4096 Float32
    pixels and their overviews cost 1.5 s of CPU, benchmarks/scale_dask.py).

    The GeoTIFF and any COG driver intermediate left by a failed copy are removed
    whatever happens, KeyboardInterrupt included; ``path`` itself, on failure, is the
    caller's to remove (an :func:`atomic_path`)."""
    from ..parallel import THREADS  # (parallel imports this module)

    try:
        with rasterio.open(gtiff) as src:
            rasterio.shutil.copy(src, path, driver="COG", compress="deflate", level=1,
                                 predictor=_predictor(src.dtypes[0]), bigtiff="if_safer",
                                 num_threads=str(THREADS))
    finally:
        for leftover in (gtiff, gtiff + ".aux.xml",
                         *(str(path) + suffix for suffix in COG_INTERMEDIATES)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)


def copy_by_blocks(
    source: rasterio.io.DatasetReaderBase,
    path: str,
    *,
    transform: Affine,
    cog: bool,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> None:
    """Copy every band of ``source`` unchanged to GeoTIFF or COG at ``path``, with
    ``transform`` as its geotransform.

    A plain GeoTIFF (:func:`_byte_copyable`) is copied byte for byte and its geotransform
    rewritten. Otherwise strips of :data:`BLOCK` rows keep memory bounded whatever the
    raster size; dtype, nodata, band descriptions, colour tables and tags are kept.
    """
    if not cog and _byte_copyable(source):  # the same file, its geotransform moved
        shutil.copyfile(source.name, path)
        with rasterio.open(path, "r+") as dst:
            dst.transform = transform
        if progress:
            progress(100.0)
        return
    grid = Grid(source.crs, transform, source.width, source.height)
    target = path if not cog else path + ".gtiff.tmp"
    profile = output_profile(grid, count=source.count, dtype=source.dtypes[0],
                             nodata=source.nodata, scratch=cog)
    with rasterio.open(target, "w", **profile) as dst:
        copy_metadata(source, dst)
        for row in range(0, source.height, BLOCK):
            check_canceled(is_canceled, "Canceled while writing the output.")
            window = Window(0, row, source.width, min(BLOCK, source.height - row))
            dst.write(source.read(window=window), window=window)
            if progress:
                progress(100.0 * (row + window.height) / source.height)
    if cog:
        to_cog(target, path)


def _byte_copyable(source: rasterio.io.DatasetReaderBase) -> bool:
    """Whether ``source`` is a plain local GeoTIFF, georeferenced by a geotransform and
    without side-car files (:data:`.outputs.SIDE_CARS`: metadata, masks, overviews, which
    a block copy carries into the output): then a byte copy with the geotransform
    rewritten is the secondary unchanged, at the speed of the disk (no decompression and
    compression)."""
    name = source.name
    return (source.driver == "GTiff" and os.path.isfile(name)
            and not any(os.path.exists(name + suffix) for suffix in SIDE_CARS)
            and not source.gcps[0] and not source.rpcs and not source.transform.is_identity
            # editing a COG in place would break its layout
            and source.tags(ns="IMAGE_STRUCTURE").get("LAYOUT", "").upper() != "COG")


def _predictor(dtype: str) -> int:
    return 3 if np.issubdtype(np.dtype(dtype), np.floating) else 2


def copy_metadata(src: rasterio.io.DatasetReaderBase, dst: rasterio.io.DatasetWriter) -> None:
    dst.update_tags(**src.tags())
    for band in range(1, src.count + 1):
        if src.descriptions[band - 1]:
            dst.set_band_description(band, src.descriptions[band - 1])
        dst.update_tags(band, **src.tags(band))
        with contextlib.suppress(ValueError):
            dst.write_colormap(band, src.colormap(band))
    dst.colorinterp = src.colorinterp


def covering_window(rows: np.ndarray, cols: np.ndarray, margin: int) -> Window:
    """The window holding fractional array indices (rows, cols) plus ``margin`` pixels."""
    r0, c0 = int(np.floor(rows.min())) - margin, int(np.floor(cols.min())) - margin
    r1, c1 = int(np.ceil(rows.max())) + margin, int(np.ceil(cols.max())) + margin
    return Window(c0, r0, c1 - c0 + 1, r1 - r0 + 1)


def read_window(ds: rasterio.DatasetReader, bands: list[int], window: Window,
                nodata: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Bands of a window (may extend past the raster) as float32, and where all are valid.

    Invalid: outside the raster, equal to ``nodata``, or NaN.
    """
    valid = np.zeros((window.height, window.width), bool)
    r0, c0 = max(window.row_off, 0), max(window.col_off, 0)
    r1 = min(window.row_off + window.height, ds.height)
    c1 = min(window.col_off + window.width, ds.width)
    if r1 <= r0 or c1 <= c0:
        return np.zeros((len(bands), window.height, window.width), np.float32), valid
    inner = (slice(r0 - window.row_off, r1 - window.row_off),
             slice(c0 - window.col_off, c1 - window.col_off))
    try:  # a plain read of the part inside the raster: boundless reads are much slower
        values = ds.read(bands, window=Window(c0, r0, c1 - c0, r1 - r0))
    except (RasterioError, RasterioIOError) as exc:
        raise CoregInputError(f"'{ds.name}' is unreadable or truncated: {exc}") from exc
    data = np.empty((len(bands), window.height, window.width), np.float32)
    data[:, inner[0], inner[1]] = values  # one pass: converted where it lands
    _edge_padded(data, inner)
    inside = np.ones(values.shape[1:], bool)
    if np.issubdtype(values.dtype, np.floating):
        inside &= np.isfinite(values).all(axis=0)
    if nodata is not None:
        inside &= (values != nodata).all(axis=0)
    valid[inner] = inside
    return data, valid


def _edge_padded(data: np.ndarray, inner: tuple[slice, slice]) -> None:
    """Fill ``data`` (bands, rows, columns) outside its ``inner`` part (the raster's
    pixels) with the nearest edge values, as ``np.pad(mode="edge")`` would (marked
    invalid, they keep splines calm there), in place: no second copy of the window."""
    rows, cols = inner
    top, bottom, left, right = rows.start, rows.stop, cols.start, cols.stop
    data[:, rows, :left] = data[:, rows, left:left + 1]
    data[:, rows, right:] = data[:, rows, right - 1:right]
    data[:, :top] = data[:, top:top + 1]
    data[:, bottom:] = data[:, bottom - 1:bottom]
