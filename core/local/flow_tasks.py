"""The dense flow of align_local on Dask workers: a worker opens the two rasters by path
and reads its tile exactly as :class:`.reader.RasterTiles` reads it here
(:func:`.flow_tiles.flow_tile`, the same margins), and returns the field on the tile's
core only; the client regroups the tiles by rows, as :func:`.flow_tiles.flow_tiles`
yields them in-process."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import rasterio

from ..grid import Grid
from ..io.masks import PolygonMask
from ..io.raster_io import IsCanceled
from ..matching.modality import fine_kind
from . import reader as tiling
from .feature_choice import choose_features
from .flow_tiles import flow_margin, flow_tile
from .points import Core, in_core
from .reader import RasterTiles
from .tie_points import measure_points


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
    #: The client's tile side (:data:`.reader.TILE`): the check points' tiles are cut
    #: on the workers, where they must be the client's.
    tile: int = field(default_factory=lambda: tiling.TILE)


def flow_at(sources: TileSources, core: Core, margin: int, options: dict
            ) -> tuple[np.ndarray, np.ndarray]:
    """A Dask worker's task: the flow on one tile's core, its rasters read by the worker."""
    with _opened(sources) as reader:
        return flow_tile(lambda *window: reader.read(*window, clip=True), core, margin, options)


@contextlib.contextmanager
def _opened(sources: TileSources, cores: Sequence[Core] | None = None
            ) -> Iterator[RasterTiles]:
    """The tiles of ``sources`` (those of ``cores`` only, if given)."""
    with rasterio.open(sources.reference) as ref_ds, rasterio.open(sources.secondary) as sec_ds:
        reader = RasterTiles(ref_ds, sources.reference_band, sources.reference_nodata, sec_ds,
                             sources.secondary_band, sources.secondary_nodata, sources.overlap,
                             list(sources.masks), tile=sources.tile, only=cores)
        yield reader


def points_at(sources: TileSources, displacement: tuple | None, points: tuple,
              cores: Sequence[Core], options: dict) -> dict:
    """A Dask worker's task: :func:`.tie_points.measure_points` at ``points`` (rows, cols,
    window, prior: those in ``cores``) on those tiles of the rasters, through the
    displacement raster ((path, offset)) or, if None, as delivered."""
    with _opened(sources, cores) as reader:
        return measure_points(reader.with_displacement(*displacement) if displacement
                              else reader, *points, **options)


def cluster_check_points(client, sources: TileSources, displacement: tuple, points: tuple,
                         through: dict, as_delivered: dict, modality: str,
                         min_reliability: float) -> tuple[dict, dict, str, dict]:
    """The measures of :func:`.check_points.measure_check_points` on the workers: through
    the field and as delivered (``through``, ``as_delivered``: measure_points's options),
    side by side when ``modality`` names the features; the features chosen and their
    record. Each measure is shared by the workers, by tiles (:func:`_shares`): a pass on
    one worker left the others waiting for it."""
    from ..distributed import cluster_results

    shares = _shares(sources, points, len(client.scheduler_info().get("workers", {})))

    def measured(tasks: list[tuple]) -> list[dict]:
        plain = [(sources, where, _subset(points, index), cores,
                  {k: v for k, v in options.items() if k not in ("is_canceled", "progress")})
                 for where, options in tasks for cores, index in shares]
        parts = cluster_results(client, points_at, plain, through["is_canceled"])
        return [_merged(parts[k:k + len(shares)], [index for _, index in shares], len(points[0]))
                for k in range(0, len(parts), len(shares))]

    known = fine_kind(modality)
    if known is not None:
        after, before = measured([(displacement, through | {"features": known}),
                                  (None, as_delivered | {"features": known})])
        features, after, record = choose_features(modality, lambda kind: after,
                                                  min_reliability)
    else:
        features, after, record = choose_features(
            modality, lambda kind: measured([(displacement, through | {"features": kind})])[0],
            min_reliability)
        before = measured([(None, as_delivered | {"features": features})])[0]
    for options in (through, as_delivered):
        if options["progress"]:
            options["progress"](100.0)
    return after, before, features, record


def _shares(sources: TileSources, points: tuple, workers: int
            ) -> list[tuple[list[Core], np.ndarray]]:
    """The tiles holding ``points`` (rows, cols, ...) cut into one share per worker, of
    nearly equal numbers of points (the largest tiles first, each to the least loaded
    share): each share's tile cores and the indices of its points. The first share also
    holds the points of no tile, which measure_points leaves unmeasured there too."""
    rows, cols = points[0], points[1]
    held, outside = [], np.ones(len(rows), bool)
    for core in tiling.tile_cores(sources.overlap, sources.tile):
        inside = in_core(core, rows, cols)
        if inside.any():
            held.append((core, np.flatnonzero(inside)))
            outside &= ~inside
    shares: list[tuple[list[Core], list[np.ndarray]]] = [
        ([], []) for _ in range(max(1, min(workers, len(held))))]
    shares[0][1].append(np.flatnonzero(outside))
    for core, index in sorted(held, key=lambda item: -item[1].size):
        cores, indices = min(shares, key=lambda share: sum(i.size for i in share[1]))
        cores.append(core)
        indices.append(index)
    return [(cores, np.sort(np.concatenate(indices))) for cores, indices in shares]


def _subset(points: tuple, index: np.ndarray) -> tuple:
    """(rows, cols, window, prior) of the points at ``index``."""
    rows, cols, *rest = points
    return (rows[index], cols[index], *rest)


def _merged(parts: list[dict], indices: list[np.ndarray], count: int) -> dict:
    """The per-point arrays of ``parts`` (one per share of the points) in the points'
    order."""
    merged = {key: np.empty(count, values.dtype) for key, values in parts[0].items()}
    for part, index in zip(parts, indices):
        for key, values in part.items():
            merged[key][index] = values
    return merged


def cluster_flow_rows(client, sources: TileSources, cores: list[Core], options: dict,
                      max_shift: float, progress: Callable[[float], None] | None,
                      is_canceled: IsCanceled | None
                      ) -> Iterator[tuple[int, int, list[tuple[Core, np.ndarray, np.ndarray]]]]:
    """(r0, r1, [(core, dx, dy)]) for each row of tile cores as soon as all its tiles are
    back from the workers of the Dask ``client`` (rows in any order)."""
    from ..distributed import cluster_map

    margin = flow_margin(options, max_shift)
    per_row: dict[tuple[int, int], int] = {}
    for core in cores:
        per_row[core[:2]] = per_row.get(core[:2], 0) + 1
    rows: dict[tuple[int, int], list] = {}
    tasks = [(sources, core, margin, options) for core in cores]
    for done, (k, (dx, dy)) in enumerate(cluster_map(client, flow_at, tasks, is_canceled)):
        key = cores[k][:2]
        rows.setdefault(key, []).append((cores[k], dx, dy))
        if progress:
            progress(100.0 * (done + 1) / len(cores))
        if len(rows[key]) == per_row[key]:
            yield (*key, rows.pop(key))
