"""Rectification of swath data (per-pixel coordinate images) onto a regular grid.

Level-1b/L2 swath products come in the viewing geometry with two coordinate images (x/lon,
y/lat of every pixel centre) instead of a geotransform. The triangle-painting method turns them
into a regular grid:

1. every source pixel quad (P1 = (i, j), P2 = (i+1, j), P3 = (i, j+1), P4 = (i+1, j+1)) is split
   into the triangles (P1, P2, P3) and (P2, P4, P3);
2. each target pixel centre inside a triangle gets its fractional source position from
   P = P1 + u (P2 - P1) + v (P3 - P1) (the second triangle counts from P4), painted into two
   lookup images (source column, source row);
3. every measurement image is sampled through the lookup images: nearest neighbour, triangular
   V = V1 + u (V2 - V1) + v (V3 - V1), or bilinear over the four neighbours.

Painting is vectorised over blocks of source rows: each quad's bounding box of target pixel
centres is enumerated with array arithmetic and tested against both triangles with a small
barycentric tolerance, so shared edges leave no holes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS

from ..distributed import check_dask_address, cluster_client
from ..errors import CoregInputError
from ..grid import Grid
from ..io.outputs import guards
from ..io.raster_io import IsCanceled, Progress, atomic_path, output_profile, to_cog
from ..resources import memory_guard, require_memory
from ..stack.cluster import absolute
from .geometry import on_target_grid, parse_crs
from .inputs import geolocation_of, read_band_array, read_measurements
from .sampling import GRID_ADVICE, INTERPOLATIONS, as_sampled, grid_memory, rectify_arrays
from .swath_tasks import (
    LOOKUP_DESCRIPTIONS,
    SwathJob,
    check_same_size,
    describe_bands,
    lookup_bands,
    no_cover_error,
    rectify_on_cluster,
)

LOG = logging.getLogger(__name__)

#: Target pixel / source pixel ratio above which sampling without PREFILTER aliases.
ALIASING_RATIO = 2.0


@dataclass(frozen=True)
class SwathResult:
    """What a rectification produced: the target grid, painted pixels and log notes."""

    grid: Grid
    painted_pixels: int
    source_spacing: float
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    outputs: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- reading


# ------------------------------------------------------------------- target CRS and grid


# ------------------------------------------------------------------------------ painting


# ------------------------------------------------------------------------------ sampling


# ---------------------------------------------------------------------------- top level


@guards(outputs={"output": "Output", "lookup_output": "Lookup output"},
        inputs={"source": "Input", "x_coords": "X coordinates", "y_coords": "Y coordinates"})
def rectify_swath(
    source: str,
    output: str,
    *,
    x_coords: str | None = None,
    y_coords: str | None = None,
    x_band: int = 1,
    y_band: int = 1,
    bands: Sequence[int] | None = None,
    source_crs: str | CRS = "EPSG:4326",
    target_crs: str | CRS | None = None,
    pixel_size: float = 0.0,
    extent: Sequence[float] | None = None,
    interpolation: str = "bilinear",
    prefilter: bool = False,
    lookup_output: str | None = None,
    cog: bool = False,
    dask_scheduler: str | None = None,
    ship_engine: bool = True,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> SwathResult:
    """Rectify the swath raster ``source`` onto a regular grid and write it to ``output``.

    Parameters
    ----------
    source : str
        GDAL-readable path, also a subdataset (``NETCDF:"file.nc":var``, ``HDF5:...``).
    output : str
        The rectified raster (all the chosen bands), GeoTIFF or COG.
    x_coords, y_coords : str, optional
        Rasters holding the x/longitude and y/latitude of every pixel centre (same size
        as ``source``); default: the input's own geolocation (netCDF ``coordinates``,
        a geolocation VRT).
    x_band, y_band : int
        Their 1-based bands.
    bands : sequence of int, optional
        Bands of ``source`` to rectify; default all.
    source_crs : str or CRS
        CRS of the coordinates.
    target_crs : str or CRS, optional
        CRS of the grid; None: automatic (see :func:`choose_target_crs`).
    pixel_size : float
        Target pixel size in target CRS units; 0: the median source spacing.
    extent : sequence of float, optional
        (xmin, xmax, ymin, ymax) in the target CRS; None: the swath footprint.
    interpolation : {"bilinear", "triangular", "nearest"}
        How the bands are sampled at each target pixel's source position.
    prefilter : bool
        Gaussian low-pass (sigma = (ratio - 1) / 2 source pixels) before sampling when
        the target pixel is coarser than the source spacing.
    lookup_output : str, optional
        A 2-band Float32 raster of fractional source column and row (pixel-corner
        convention: i + 0.5 + u, j + 0.5 + v).
    cog : bool
        Write Cloud-Optimized GeoTIFFs.
    dask_scheduler : str, optional
        A Dask scheduler (``tcp://host:port``) whose workers rectify strips of target
        rows, each reading the swath itself (paths every worker sees the same); the
        outputs are the in-process ones. Only a cluster you trust: Dask exchanges
        pickled code.
    ship_engine : bool
        Send this engine to the Dask workers; False: they have it installed.
    progress : callable, optional
        Called with the percentage done (0 to 100).
    is_canceled : callable, optional
        Polled during the run; returning True stops it with :class:`CanceledError`.

    Returns
    -------
    SwathResult
        The target grid, the number of painted pixels, the source spacing, notes
        and warnings.

    Raises
    ------
    CoregInputError
        Unreadable inputs, mismatched shapes, coordinates outside the CRS, a CRS that
        is not one, an empty grid.
    CoregOutputError
        An output would replace an input, or cannot be written.
    CoregResourceError
        If the target grid does not fit in memory.
    """
    if interpolation not in INTERPOLATIONS:
        raise CoregInputError(f"Unknown interpolation '{interpolation}': use one of "
                              f"{INTERPOLATIONS}.")
    src_crs = parse_crs(source_crs, "source")  # before any work: never a silent default
    check_dask_address(dask_scheduler)
    automatic = target_crs is None or (isinstance(target_crs, str) and not target_crs.strip())
    dst_crs = None if automatic else parse_crs(target_crs, "target")
    notes: list[str] = []
    warnings: list[str] = []
    if not x_coords and not y_coords:
        x_coords, x_band, y_coords, y_band = geolocation_of(source, x_band, y_band)
    x = read_band_array(x_coords or source, x_band, "X coordinates")
    y = read_band_array(y_coords or source, y_band, "Y coordinates")
    if x.shape != y.shape:
        raise CoregInputError(f"The X and Y coordinate images differ in size: {x.shape[::-1]} vs "
                              f"{y.shape[::-1]} (columns, rows).")
    x, y, grid, spacing = on_target_grid(x, y, src_crs, dst_crs, pixel_size, extent, notes)
    ratio = grid.res[0] / spacing
    sigma = max(0.0, (ratio - 1) / 2) if prefilter else 0.0
    if ratio > ALIASING_RATIO and not prefilter:
        warnings.append(f"The target pixel is {ratio:.1f} times the source pixel spacing: "
                        "values are point samples and may alias; set PREFILTER to smooth "
                        "first.")
    if dask_scheduler:
        job = SwathJob(absolute(source), absolute(x_coords or source), x_band,
                       absolute(y_coords or source), y_band, bands, src_crs, grid,
                       interpolation, sigma)
        del x, y  # each worker reads and transforms them itself
        with cluster_client(dask_scheduler, [source, x_coords or source, y_coords or source],
                            (), ship_engine) as client:
            painted, outputs = rectify_on_cluster(client, job, output, lookup_output, cog=cog,
                                                  progress=progress, is_canceled=is_canceled)
        return _finish(grid, painted, spacing, notes, warnings, outputs, progress)
    data, nodata, descriptions = read_measurements(source, bands)
    check_same_size(data.shape[1:], x.shape)
    values, fill = as_sampled(data, nodata, interpolation)
    del data
    exact = interpolation == "nearest" and np.issubdtype(values.dtype, np.integer)
    require_memory(grid_memory(grid, values.shape[0], values.dtype.itemsize if exact else 4,
                               bool(lookup_output)),
                   f"Rectifying onto a target grid of {grid.width} x {grid.height} pixels",
                   GRID_ADVICE)
    rectified, lookup = rectify_arrays(values, x, y, grid, interpolation=interpolation,
                                       prefilter_sigma=sigma, fill=fill, progress=progress,
                                       is_canceled=is_canceled)
    painted = int(np.isfinite(lookup[0]).sum())
    if painted == 0:
        raise no_cover_error()
    _write(output, rectified, grid, fill, descriptions, cog)
    outputs = {"output": output}
    if lookup_output:
        with memory_guard("the lookup output", GRID_ADVICE):
            _write(lookup_output, lookup_bands(*lookup), grid, np.nan, LOOKUP_DESCRIPTIONS,
                   cog)
        outputs["lookup_output"] = lookup_output
    return _finish(grid, painted, spacing, notes, warnings, outputs, progress)


def _finish(grid: Grid, painted: int, spacing: float, notes: list[str], warnings: list[str],
            outputs: dict, progress: Progress | None) -> SwathResult:
    if progress:
        progress(100.0)
    for note in notes:
        LOG.debug(note)
    for warning in warnings:
        LOG.debug(warning)
    return SwathResult(grid, painted, spacing, tuple(notes), tuple(warnings), outputs)


def _write(path: str, bands: np.ndarray, grid: Grid, nodata: float, descriptions,
           cog: bool) -> None:
    """Write ``bands`` (their dtype, ``nodata`` outside) as a GeoTIFF or COG."""
    profile = output_profile(grid, count=bands.shape[0], dtype=str(bands.dtype), nodata=nodata,
                             scratch=cog)
    with atomic_path(path) as tmp:
        target = tmp + ".gtiff.tmp" if cog else tmp
        with rasterio.open(target, "w", **profile) as dst:
            dst.write(bands)
            describe_bands(dst, descriptions)
        if cog:
            to_cog(target, tmp)
    LOG.debug("wrote %s", Path(path).name)
