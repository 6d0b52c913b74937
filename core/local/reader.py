"""Reference and secondary tiles on the overlap grid, with masks and clouds as nodata, for
the tie points and the dense flow (a TileReader); tiles are cached between tie-point
passes up to CACHED_PIXELS."""

from __future__ import annotations

from collections.abc import Collection, Iterator

import numpy as np
import rasterio
from rasterio.windows import Window

from ..grid import Grid
from ..io.masks import masked_on_grid
from ..io.raster_io import (
    read_on_grid,
)
from ..matching.match import cloud_like
from ..parallel import in_threads
from .points import Core, NodeField, Tile

#: Side of the tiles the rasters are processed in (reference pixels, without margins).
TILE = 1024
#: Tiles are kept between tie-point passes up to this many pixels in all (~200 MB).
CACHED_PIXELS = 6_000_000


def tile_cores(overlap: Grid, side: int) -> Iterator[Core]:
    """The cores of the tiles of ``side`` pixels over ``overlap``, row by row."""
    for r in range(0, overlap.height, side):
        for c in range(0, overlap.width, side):
            yield r, min(r + side, overlap.height), c, min(c + side, overlap.width)


class RasterTiles:
    """Reads reference and secondary tiles on the overlap grid (a ``TileReader``)."""

    def __init__(self, ref_ds, ref_band, ref_nodata, sec_ds, sec_band, sec_nodata,
                 overlap: Grid, masks, displacement: tuple[str, tuple[int, int]] | None = None,
                 tile: int | None = None, only: Collection[Core] | None = None) -> None:
        self.ref = (ref_ds, ref_band, ref_nodata)
        self.sec = (sec_ds, sec_band, sec_nodata)
        self.overlap, self.masks, self.displacement = overlap, masks, displacement
        # The tile side: :data:`TILE` as it is now, or a Dask worker's the client's (flow_tasks).
        self.tile = TILE if tile is None else tile
        # The cores read (a Dask task's share of them, flow_tasks), every one if None.
        self.only = None if only is None else frozenset(only)
        self._cache: dict = {}

    def with_displacement(self, path: str, offset: tuple[int, int]) -> RasterTiles:
        """The same tiles, each with the displacement raster's field (``offset``: the
        overlap's position in the reference grid) as its prior."""
        return RasterTiles(*self.ref, *self.sec, self.overlap, self.masks, (path, offset),
                           self.tile, self.only)

    def cores(self) -> Iterator[Core]:
        return (core for core in tile_cores(self.overlap, self.tile)
                if self.only is None or core in self.only)

    def __call__(self, margin: int) -> Iterator[Tile]:
        """Every tile; kept in memory between passes when they all fit in
        :data:`CACHED_PIXELS` (small rasters), read again otherwise."""
        cores = list(self.cores())
        size = sum((r1 - r0 + 2 * margin) * (c1 - c0 + 2 * margin) for r0, r1, c0, c1 in cores)
        for core in cores:
            key = (core, margin)
            tile = self._cache.get(key) or self.read(*core, margin)
            if size <= CACHED_PIXELS:
                self._cache[key] = tile
            yield tile

    def read(self, r0: int, r1: int, c0: int, c1: int, margin: int, clip: bool = False
             ) -> Tile:
        """The tile of core rows r0:r1, columns c0:c1 with ``margin`` pixels around it;
        ``clip``: none of the margin outside the overlap (no NaN border to compute on)."""
        top, left, bottom, right = r0 - margin, c0 - margin, r1 + margin, c1 + margin
        if clip:
            top, left = max(top, 0), max(left, 0)
            bottom, right = min(bottom, self.overlap.height), min(right, self.overlap.width)
        grid = self.overlap.subgrid(top, left, bottom - top, right - left)
        images = {}

        def load(which: str) -> None:  # the two rasters on two threads
            ds, band, nodata = getattr(self, which)
            image = read_on_grid(ds, band, grid, nodata=nodata)
            bad = cloud_like(image)
            if which == "ref":
                bad |= masked_on_grid(self.masks, grid)
            image[bad] = np.nan
            images[which] = image

        in_threads(load, ["ref", "sec"])
        reference, secondary = images["ref"], images["sec"]
        prior = None
        if self.displacement is not None:
            path, (row, col) = self.displacement
            with rasterio.open(path) as ds:
                dx, dy = ds.read([1, 2], window=Window(left + col, top + row,
                                                       grid.width, grid.height),
                                 boundless=True, fill_value=np.nan)
            prior = NodeField(np.nan_to_num(dx), np.nan_to_num(dy), 1.0, top, left)
        return Tile(top, left, reference, secondary, (r0, r1, c0, c1), prior)
