"""The dense flow of align_local tile by tile, in this process or on Dask workers: a
worker opens the two rasters by path and reads its tile (with the margin the pyramid
needs) exactly as :class:`.reader.RasterTiles` reads it here, and returns the field on
the tile's core only."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import rasterio

from ..errors import CanceledError
from ..grid import Grid
from ..io.masks import PolygonMask
from ..io.raster_io import IsCanceled
from .reader import RasterTiles

Core = tuple[int, int, int, int]


@dataclass(frozen=True)
class TileSources:
    """What a worker needs to read the tiles of :class:`.reader.RasterTiles`: paths,
    bands, nodata values, the overlap grid and the masks (paths or polygons)."""

    reference: str
    reference_band: int
    reference_nodata: float | None
    secondary: str
    secondary_band: int
    secondary_nodata: float | None
    overlap: Grid
    masks: Sequence[str | PolygonMask]


def flow_margin(options: dict) -> int:
    """Pixels read around a tile's core: what the coarsest pyramid level's windows reach."""
    return min(3 * options["radius"] * 2 ** options["levels"], 768)


def tile_flow(tile, core: Core, margin: int, options: dict,
              is_canceled: IsCanceled | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(dx, dy) on the core of one tile read with ``margin``."""
    from .dense_flow import estimate_flow  # the optical-flow engine

    r0, r1, c0, c1 = core
    dx, dy = estimate_flow(tile.reference, tile.secondary, is_canceled=is_canceled, **options)
    inside = (slice(margin, margin + r1 - r0), slice(margin, margin + c1 - c0))
    return dx[inside], dy[inside]


def flow_at(sources: TileSources, core: Core, margin: int, options: dict
            ) -> tuple[np.ndarray, np.ndarray]:
    """A Dask worker's task: the flow on one tile's core, its rasters read by the worker."""
    with rasterio.open(sources.reference) as ref_ds, rasterio.open(sources.secondary) as sec_ds:
        reader = RasterTiles(ref_ds, sources.reference_band, sources.reference_nodata, sec_ds,
                             sources.secondary_band, sources.secondary_nodata,
                             sources.overlap, list(sources.masks))
        tile = reader.read(*core, margin)
    return tile_flow(tile, core, margin, options)


def tile_flows(reader: RasterTiles, cores: list[Core], options: dict,
               is_canceled: IsCanceled | None, client=None,
               sources: TileSources | None = None) -> Iterator[tuple[int, tuple]]:
    """(k, (dx, dy)) on core k for every tile: here in order, or on the workers of the
    Dask ``client`` (reading ``sources``) as they finish."""
    margin = flow_margin(options)
    if client is not None:
        from ..distributed import cluster_map

        yield from cluster_map(client, flow_at, [(sources, core, margin, options)
                                                 for core in cores], is_canceled)
        return
    for k, core in enumerate(cores):
        if is_canceled and is_canceled():
            raise CanceledError("Canceled while computing the optical flow.")
        yield k, tile_flow(reader.read(*core, margin), core, margin, options, is_canceled)
