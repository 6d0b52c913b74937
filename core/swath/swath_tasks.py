"""rectify_swath on a Dask cluster: strips of target rows as tasks. A worker reads the
swath (coordinates and bands) by path, brings the coordinates into the target CRS, and
paints and samples its strip of the grid only, as the in-process run does for the whole
grid; the client writes the strips into the outputs as they arrive."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.windows import Window

from ..errors import CoregInputError
from ..grid import Grid
from ..io.raster_io import IsCanceled, Progress, atomic_path, output_profile, to_cog
from .geometry import to_target_coordinates
from .inputs import checked_bands, open_swath, read_band_array, read_measurements
from .sampling import as_sampled, rectify_arrays

#: Band descriptions of the lookup output.
LOOKUP_DESCRIPTIONS = ("source column (pixel corner = 0)", "source row (pixel corner = 0)")
#: Fewest target rows in one task (each task reads the whole swath).
MIN_ROWS = 256


def check_same_size(data_shape: tuple[int, int], coordinates_shape: tuple[int, int]) -> None:
    if data_shape != coordinates_shape:
        raise CoregInputError(f"The input raster ({data_shape[1]} x {data_shape[0]} px) and the "
                              f"coordinate images ({coordinates_shape[1]} x "
                              f"{coordinates_shape[0]} px) differ in size: they must cover the "
                              "same swath pixels.")


def no_cover_error() -> CoregInputError:
    return CoregInputError("The swath does not cover any pixel of the target grid (check "
                           "EXTENT and TARGET_CRS).")


@dataclass(frozen=True)
class SwathJob:
    """What every task reads and how it samples: paths, bands, CRS, the whole grid."""

    source: str
    x_coords: str
    x_band: int
    y_coords: str
    y_band: int
    bands: Sequence[int] | None
    source_crs: CRS
    grid: Grid
    interpolation: str
    prefilter_sigma: float


def rectify_rows_at(job: SwathJob, rows: tuple[int, int]
                    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """A Dask worker's task: the rectified bands and the lookup (col, row) on target rows
    ``rows`` (start, stop) of ``job.grid``."""
    x = read_band_array(job.x_coords, job.x_band, "X coordinates")
    y = read_band_array(job.y_coords, job.y_band, "Y coordinates")
    x, y = to_target_coordinates(x, y, job.source_crs, job.grid.crs, [])
    data, nodata, _ = read_measurements(job.source, job.bands)
    values, fill = as_sampled(data, nodata, job.interpolation)
    strip = job.grid.subgrid(rows[0], 0, rows[1] - rows[0], job.grid.width)
    return rectify_arrays(values, x, y, strip, interpolation=job.interpolation,
                          prefilter_sigma=job.prefilter_sigma, fill=fill)


def rectify_on_cluster(client, job: SwathJob, output: str, lookup_output: str | None, *,
                       cog: bool, progress: Progress | None, is_canceled: IsCanceled | None
                       ) -> tuple[int, dict]:
    """Write the outputs from strips computed on the workers: the painted pixels and the
    outputs written. The bands' type, fill and names are read here from the metadata."""
    from ..distributed import PENDING_PER_WORKER, cluster_map

    dtype, nodata, descriptions, shape = _measurement_metadata(job.source, job.bands)
    check_same_size(shape, _coordinates_shape(job))
    sampled, fill = as_sampled(np.zeros((1, 1, 1), dtype), nodata, job.interpolation)
    grid = job.grid
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    step = max(MIN_ROWS, math.ceil(grid.height / (PENDING_PER_WORKER * workers)))
    strips = [(row, min(row + step, grid.height)) for row in range(0, grid.height, step)]
    painted = 0
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(_writer(output, grid, len(descriptions), str(sampled.dtype),
                                          fill, descriptions, cog))
        look = stack.enter_context(_writer(lookup_output, grid, 2, "float32", np.nan,
                                           LOOKUP_DESCRIPTIONS, cog)) if lookup_output else None
        computed = cluster_map(client, rectify_rows_at, [(job, s) for s in strips], is_canceled)
        for done, (k, (bands, lookup)) in enumerate(computed):
            r0, r1 = strips[k]
            window = Window(0, r0, grid.width, r1 - r0)
            out.write(bands, window=window)
            if look is not None:
                look.write(np.stack(lookup) + 0.5, window=window)
            painted += int(np.isfinite(lookup[0]).sum())
            if progress:
                progress(95.0 * (done + 1) / len(strips))
        if painted == 0:
            raise no_cover_error()
    return painted, {"output": output} | ({"lookup_output": lookup_output} if lookup_output
                                          else {})


def _measurement_metadata(path: str, bands: Sequence[int] | None) -> tuple:
    """(dtype, nodata, descriptions, (rows, cols)) of the bands
    :func:`.inputs.read_measurements` would read (and its errors), without reading them."""
    try:
        with open_swath(path) as ds:
            bands = checked_bands(ds, bands, path)
            return (np.result_type(*(ds.dtypes[b - 1] for b in bands)), ds.nodata,
                    [ds.descriptions[b - 1] for b in bands], (ds.height, ds.width))
    except (RasterioError, RasterioIOError) as exc:
        raise CoregInputError(f"Input '{path}' cannot be read: {exc}") from exc


def _coordinates_shape(job: SwathJob) -> tuple[int, int]:
    with open_swath(job.x_coords) as ds:
        return ds.height, ds.width


@contextlib.contextmanager
def _writer(path: str, grid: Grid, count: int, dtype: str, nodata: float, descriptions,
            cog: bool) -> Iterator:
    """An open GeoTIFF for ``path`` (its scratch copy for a COG), which becomes ``path``
    only if the block ends without an error."""
    profile = output_profile(grid, count=count, dtype=dtype, nodata=nodata, scratch=cog)
    with atomic_path(path) as tmp:
        target = tmp + ".gtiff.tmp" if cog else tmp
        try:
            with rasterio.open(target, "w", **profile) as dst:
                for k, text in enumerate(descriptions, start=1):
                    if text:
                        dst.set_band_description(k, text)
                yield dst
        except BaseException:
            if cog:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(target)
            raise
        if cog:
            to_cog(target, tmp)
