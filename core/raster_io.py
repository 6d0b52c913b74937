"""Reading rasters (headers, windows on any grid) and writing outputs safely."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
import rasterio
import rasterio.shutil
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.warp import reproject
from rasterio.windows import Window

from .errors import CanceledError
from .grid import Grid

Progress = Callable[[float], None]
IsCanceled = Callable[[], bool]

#: Rows written per block; also the tile size of GeoTIFF outputs.
BLOCK = 512


@dataclass(frozen=True)
class RasterInfo:
    """What the engine needs to know of a raster file, read from its header."""

    path: str
    grid: Grid
    count: int
    dtype: str
    nodata: float | None

    def check_band(self, band: int, label: str) -> None:
        """Raise ValueError naming ``label`` if ``band`` (1-based) does not exist."""
        if not 1 <= band <= self.count:
            raise ValueError(
                f"{label} band {band} does not exist: '{Path(self.path).name}' has "
                f"{self.count} band(s)."
            )


def read_info(path: str | os.PathLike, label: str = "Raster") -> RasterInfo:
    """Read a raster's header; ValueError with the reason if it cannot be opened."""
    try:
        with rasterio.open(path) as ds:
            if ds.transform.is_identity and not ds.gcps[0]:
                raise ValueError(
                    f"{label} '{Path(path).name}' has no georeferencing (no geotransform)."
                )
            grid = Grid(ds.crs, ds.transform, ds.width, ds.height)
            return RasterInfo(str(path), grid, ds.count, ds.dtypes[0], ds.nodata)
    except RasterioError as exc:
        raise ValueError(f"{label} '{path}' cannot be read: {exc}") from exc


def read_on_grid(
    ds: rasterio.DatasetReader, band: int, grid: Grid, *, nodata: float | None
) -> np.ndarray:
    """Band ``band`` of ``ds`` on ``grid`` as float32, NaN where there is no data.

    A window read when ``grid`` nests in the dataset grid; otherwise a GDAL warp,
    averaging when the target is coarser so that no detail aliases into it.
    """
    window = _nested_window(ds, grid)
    try:
        if window is not None:
            data = ds.read(band, window=window, boundless=True, masked=False,
                           fill_value=_fill(nodata, ds.dtypes[band - 1])).astype(np.float32)
        else:
            data = np.full((grid.height, grid.width), np.nan, np.float32)
            coarser = grid.res[0] * grid.res[1] > 1.1 * abs(ds.transform.determinant)
            reproject(rasterio.band(ds, band), data, src_nodata=nodata, dst_nodata=np.nan,
                      dst_transform=grid.transform, dst_crs=grid.crs,
                      resampling=Resampling.average if coarser else Resampling.cubic)
            return data
    except RasterioError as exc:
        raise ValueError(f"'{ds.name}' is unreadable or truncated: {exc}") from exc
    if nodata is not None:
        data[data == np.float32(nodata)] = np.nan
    return data


def _fill(nodata: float | None, dtype: str) -> float:
    if nodata is not None:
        return nodata
    return np.nan if np.issubdtype(np.dtype(dtype), np.floating) else 0


def _nested_window(ds: rasterio.DatasetReader, grid: Grid) -> Window | None:
    """The window of ``ds`` that ``grid`` is, if it is one (same CRS, pixel, phase)."""
    if ds.crs != grid.crs or not np.allclose(ds.transform[:6:3], grid.transform[:6:3]):
        return None
    if not np.allclose([ds.transform.a, ds.transform.e], [grid.transform.a, grid.transform.e],
                       rtol=1e-9):
        return None
    col, row = ~ds.transform * (grid.transform.c, grid.transform.f)
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return Window(round(col), round(row), grid.width, grid.height)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file (also when the second does not exist yet)."""
    return os.path.realpath(a) == os.path.realpath(b)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; move it into place only on success.

    So a failed or canceled run never leaves a partial output behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp + ".aux.xml"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)


def copy_by_blocks(
    source: rasterio.io.DatasetReaderBase,
    path: str,
    *,
    nodata: float | None,
    cog: bool,
    transform: Affine | None = None,
    metadata_source: rasterio.io.DatasetReaderBase | None = None,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> None:
    """Write every band of ``source`` (a file or a VRT) to GeoTIFF or COG at ``path``.

    Reads and writes strips of :data:`BLOCK` rows so memory stays bounded whatever the
    raster size; keeps dtype, band descriptions, colour tables and tags (of
    ``metadata_source`` if given). ``transform`` overrides the source's.
    """
    profile = dict(driver="GTiff", width=source.width, height=source.height,
                   count=source.count, dtype=source.dtypes[0], crs=source.crs,
                   transform=transform or source.transform, nodata=nodata, tiled=True,
                   blockxsize=BLOCK, blockysize=BLOCK, compress="deflate",
                   predictor=_predictor(source.dtypes[0]), bigtiff="if_safer")
    target = path if not cog else path + ".gtiff.tmp"
    try:
        with rasterio.open(target, "w", **profile) as dst:
            _copy_metadata(metadata_source or source, dst)
            for row in range(0, source.height, BLOCK):
                if is_canceled and is_canceled():
                    raise CanceledError("Canceled while writing the output.")
                window = Window(0, row, source.width, min(BLOCK, source.height - row))
                dst.write(source.read(window=window), window=window)
                if progress:
                    progress(100.0 * (row + window.height) / source.height)
        if cog:
            rasterio.shutil.copy(target, path, driver="COG", compress="deflate",
                                 predictor=_predictor(source.dtypes[0]), bigtiff="if_safer")
    finally:
        if cog:
            with contextlib.suppress(FileNotFoundError):
                os.remove(target)


def _predictor(dtype: str) -> int:
    return 3 if np.issubdtype(np.dtype(dtype), np.floating) else 2


def _copy_metadata(src: rasterio.io.DatasetReaderBase, dst: rasterio.io.DatasetWriter) -> None:
    dst.update_tags(**src.tags())
    for band in range(1, src.count + 1):
        if src.descriptions[band - 1]:
            dst.set_band_description(band, src.descriptions[band - 1])
        dst.update_tags(band, **src.tags(band))
        with contextlib.suppress(ValueError):
            dst.write_colormap(band, src.colormap(band))
    dst.colorinterp = src.colorinterp
