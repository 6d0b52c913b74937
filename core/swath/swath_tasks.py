"""rectify_swath on a Dask cluster: strips of target rows as tasks. A worker reads the
swath (coordinates and bands) by path, brings the coordinates into the target CRS, and
paints and samples its strips of the grid only, as the in-process run does for the whole
grid, and compresses their tiles (:mod:`..io.cog_tiles`); the client only lays the bytes
out in the outputs as they arrive."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
from rasterio.crs import CRS
from rasterio.errors import RasterioError, RasterioIOError

from ..errors import CoregInputError
from ..grid import Grid
from ..io.cog_tiles import CogAssembler, TileSpec, encode_computed_strip
from ..io.raster_io import BLOCK, IsCanceled, Progress, atomic_path, tile_side
from ..parallel import shares
from .geometry import to_target_coordinates
from .inputs import checked_bands, open_swath, read_band_array, read_measurements
from .sampling import as_sampled, rectify_arrays

#: Band descriptions of the lookup output.
LOOKUP_DESCRIPTIONS = ("source column (pixel corner = 0)", "source row (pixel corner = 0)")
#: Most strips of :data:`BLOCK` rows (the outputs' tile rows) in one task: each task reads
#: the whole swath (a quarter of a second for an OLCI scene), so a worker gets as few tasks
#: as its memory allows.
TASK_STRIPS = 8


def lookup_bands(col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """The lookup output's bands (:data:`LOOKUP_DESCRIPTIONS`) from the painted source
    column and row (:func:`.sampling.rectify_arrays`, pixel centre = 0)."""
    return np.stack([col, row]) + 0.5


def describe_bands(dataset, descriptions) -> None:
    """Name the bands of an open ``dataset`` that have a description."""
    for k, text in enumerate(descriptions, start=1):
        if text:
            dataset.set_band_description(k, text)


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


def rectify_strips_at(job: SwathJob, strips: range, spec: TileSpec,
                      lookup_spec: TileSpec | None) -> tuple[int, list[tuple]]:
    """A Dask worker's task: strips ``strips`` of ``spec`` (consecutive tile rows of
    ``job.grid``) rectified and compressed here, so that the client only lays out the
    bytes; returns the painted pixels and, per strip, (k, bands, lookup or None)."""
    x = read_band_array(job.x_coords, job.x_band, "X coordinates")
    y = read_band_array(job.y_coords, job.y_band, "Y coordinates")
    x, y = to_target_coordinates(x, y, job.source_crs, job.grid.crs, [])
    data, nodata, _ = read_measurements(job.source, job.bands)
    values, fill = as_sampled(data, nodata, job.interpolation)
    top = strips.start * spec.tile_height
    bottom = top + sum(spec.strip_rows(k) for k in strips)
    part = job.grid.subgrid(top, 0, bottom - top, job.grid.width)
    bands, (col, row) = rectify_arrays(values, x, y, part, interpolation=job.interpolation,
                                       prefilter_sigma=job.prefilter_sigma, fill=fill)
    painted = int(np.isfinite(col).sum())
    lookup = lookup_bands(col, row) if lookup_spec is not None else None
    encoded = []
    for k in strips:
        r0 = k * spec.tile_height - top
        rows = slice(r0, r0 + spec.strip_rows(k))
        encoded.append((k, encode_computed_strip(spec, k, bands[:, rows]),
                        None if lookup is None
                        else encode_computed_strip(lookup_spec, k, lookup[:, rows])))
    return painted, encoded


def rectify_on_cluster(client, job: SwathJob, output: str, lookup_output: str | None, *,
                       cog: bool, progress: Progress | None, is_canceled: IsCanceled | None
                       ) -> tuple[int, dict]:
    """Write the outputs from strips computed and compressed on the workers: the painted
    pixels and the outputs written. The bands' type, fill and names are read here from
    the metadata. A plain GeoTIFF is a COG without overviews: tiled and compressed alike,
    the client only assembles it (compressing it here was the serial part of the job)."""
    from ..distributed import cluster_map

    dtype, nodata, descriptions, shape = _measurement_metadata(job.source, job.bands)
    check_same_size(shape, _coordinates_shape(job))
    sampled, fill = as_sampled(np.zeros((1, 1, 1), dtype), nodata, job.interpolation)
    grid = job.grid
    tiling = dict(strip_rows=BLOCK, tile_width=tile_side(grid.width), overviews=cog)
    spec = TileSpec.for_grid(grid, count=len(descriptions), dtype=str(sampled.dtype),
                             nodata=fill, **tiling)
    lookup_spec = TileSpec.for_grid(grid, count=2, dtype="float32", nodata=float("nan"),
                                    **tiling) if lookup_output else None
    runs = _runs(spec.strips, max(1, len(client.scheduler_info().get("workers", {}))))
    painted = 0
    with contextlib.ExitStack() as stack:  # unwinding removes scratch files and outputs
        out = _assembler(stack, output, grid, spec, descriptions)
        look = _assembler(stack, lookup_output, grid, lookup_spec,
                          LOOKUP_DESCRIPTIONS) if lookup_output else None
        computed = cluster_map(client, rectify_strips_at,
                               [(job, run, spec, lookup_spec) for run in runs], is_canceled)
        for done, (_, (count, encoded)) in enumerate(computed):
            for k, bands, lookup in encoded:
                out.add(k, bands)
                if look is not None:
                    look.add(k, lookup)
            painted += count
            if progress:
                progress(95.0 * (done + 1) / len(runs))
        if painted == 0:
            raise no_cover_error()
        for assembler in (out, look):
            if assembler is not None:
                assembler.finish()
    return painted, {"output": output} | ({"lookup_output": lookup_output} if lookup_output
                                          else {})


def _runs(strips: int, workers: int) -> list[range]:
    """The strips in runs of consecutive strips, one task each: as many runs as workers
    (or a multiple, for runs of at most :data:`TASK_STRIPS`), as even as whole strips
    allow."""
    count = min(strips, workers * math.ceil(strips / (workers * TASK_STRIPS)))
    return shares(range(strips), count)


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


def _assembler(stack: contextlib.ExitStack, path: str, grid: Grid, spec: TileSpec,
               descriptions) -> CogAssembler:
    """The writer of ``path`` at its atomic path, both on ``stack``: ``path`` appears only
    if the block ends without an error, and no scratch file stays."""
    tmp = stack.enter_context(atomic_path(path))
    return stack.enter_context(CogAssembler(tmp, grid, spec,
                                            partial(describe_bands, descriptions=descriptions)))
