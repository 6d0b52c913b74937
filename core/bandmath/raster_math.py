"""Band-math expressions (:mod:`band_math`) evaluated over rasters, strip by strip.

Memory is bounded by one strip of :data:`raster_io.BLOCK` rows of the assets an
expression reads, whatever the raster height. A ``mean`` costs one extra pass over
the strips, accumulating sums, so the band is never loaded whole.

Every output appears only once complete, and every temporary file (the atomic output,
the scratch files of its compressed tiles) is removed whatever stops the run: an error,
a cancel, a KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from ..distributed import check_dask_address, cluster_client, cluster_path
from ..errors import CoregInputError, check_canceled
from ..grid import Grid, footprint_bounds, intersection
from ..io.cog_tiles import CogAssembler, EncodedStrip, TileSpec, encode_computed_strip
from ..io.outputs import guarded_outputs
from ..io.raster_io import (
    BLOCK,
    IsCanceled,
    Progress,
    atomic_path,
    read_info,
    read_on_grid,
    tile_side,
)
from ..parallel import THREADS
from .band_math import (
    ASSET,
    Asset,
    BandMathError,
    Definition,
    MeanAccumulator,
    evaluate_block,
    mean_nodes,
    parse_definition,
    shown,
    walk,
)

#: The message of a cancel here (:func:`..errors.check_canceled`).
CANCELED = "Canceled while computing the expressions."


@dataclass(frozen=True)
class AssetSource:
    """Where an asset's values are: a band of a raster file and its nodata value."""

    path: str
    band: int
    nodata: float | None


def raster_assets(paths: Sequence[str | os.PathLike]) -> dict[str, AssetSource]:
    """Assets of rasters by 1-based position: ``1.b1``, ``2.b3``, ... and, where a band
    has a description usable as a name, ``1.B04`` too (the first band of a description
    wins)."""
    assets: dict[str, AssetSource] = {}
    for position, path in enumerate(paths, start=1):
        info = read_info(path, f"Input {position}")
        with rasterio.open(path) as ds:
            descriptions = ds.descriptions
        for band in range(1, info.count + 1):
            source = AssetSource(str(path), band, info.nodata)
            assets[f"{position}.b{band}"] = source
            name = f"{position}.{descriptions[band - 1] or ''}"
            if ASSET.fullmatch(name):
                assets.setdefault(name, source)
    return assets


def check_assets(definitions: Sequence[Definition], assets: Mapping[str, object]) -> None:
    """BandMathError naming the first asset an expression reads that does not exist."""
    for definition in definitions:
        for node in walk(definition.expression):
            if isinstance(node, Asset) and node.name not in assets:
                known = ", ".join(list(assets)[:12]) + (", ..." if len(assets) > 12 else "")
                raise BandMathError(f"Unknown asset '{shown(node.name)}' in "
                                    f"'{shown(definition.name)}'", node.position,
                                    f"one of {known}")


def write_expressions(
    definitions: Sequence[Definition],
    assets: Mapping[str, AssetSource],
    grid: Grid,
    outputs: Mapping[str, str | os.PathLike],
    *,
    require_valid: bool = False,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
    client=None,
) -> dict[str, int]:
    """Write each definition on ``grid`` as a single-band Float32 COG (NaN nodata) at
    ``outputs[definition.name]``; every output appears only once complete.

    Returns the number of valid (non-NaN) pixels of each output, so that a caller can
    tell an all-nodata result from a success. ``require_valid``: refuse such a result
    with CoregInputError before any output is written. With a Dask ``client`` the strips
    are evaluated on its workers, which read the assets by path; the means add the
    strips' sums in the same order as here, so the values are the same.
    """
    check_assets(definitions, assets)
    if not definitions:
        return {}
    strips = [grid.subgrid(row, 0, min(BLOCK, grid.height - row), grid.width)
              for row in range(0, grid.height, BLOCK)]
    means = list(dict.fromkeys(m for d in definitions for m in mean_nodes(d.expression)))
    passes = 2 if means else 1
    spec = TileSpec.for_grid(grid, count=1, dtype="float32", nodata=float("nan"),
                             strip_rows=BLOCK, tile_width=tile_side(grid.width))
    # The stack unwinds on any exception, KeyboardInterrupt included: it removes the
    # scratch files and the atomic outputs unless complete.
    with _Reader(assets) as reader, contextlib.ExitStack() as stack:
        values: dict = {}
        if means:
            values = _means(means, reader, strips, progress, is_canceled, client, assets)
        writers = {d.name: _assembler(stack, d, grid, spec, outputs[d.name])
                   for d in definitions}
        counts = dict.fromkeys(writers, 0)
        trees = [d.expression for d in definitions]
        if client is None:
            evaluated = _encoded_here(trees, reader, strips, values, spec)
        else:
            from ..distributed import cluster_map

            evaluated = cluster_map(client, evaluate_strip_at,
                                    [(trees, assets, k, strip, values, spec)
                                     for k, strip in enumerate(strips)], is_canceled)
        for done, (k, encoded) in enumerate(evaluated):
            check_canceled(is_canceled, CANCELED)
            for d, strip in zip(definitions, encoded):
                writers[d.name].add(k, strip)
                counts[d.name] += strip.valid
            if progress:
                progress(100.0 * (passes - 1 + (done + 1) / len(strips)) / passes)
        if require_valid:
            _check_valid(definitions, counts)
        for writer in writers.values():
            check_canceled(is_canceled, CANCELED)
            writer.finish()
    return counts


def _assembler(stack: contextlib.ExitStack, definition: Definition, grid: Grid,
               spec: TileSpec, output: str | os.PathLike) -> CogAssembler:
    """The COG writer of one output at its atomic path, both registered on ``stack`` so
    that an unwinding removes the scratch files and the incomplete output."""
    tmp = stack.enter_context(atomic_path(output))

    def decorate(dataset) -> None:
        dataset.set_band_description(1, definition.name)
        dataset.update_tags(1, EXPRESSION=definition.text)

    return stack.enter_context(CogAssembler(tmp, grid, spec, decorate))


def _encoded_here(trees, reader: _Reader, strips: Sequence[Grid], values: Mapping,
                  spec: TileSpec) -> Iterator[tuple[int, list[EncodedStrip]]]:
    """(k, strip k of every tree, compressed) in order: each strip evaluated here (the
    reader's datasets are this thread's) and compressed on :data:`.parallel.THREADS`
    threads while the next ones are evaluated."""
    with ThreadPoolExecutor(THREADS) as pool:
        pending: deque = deque()
        for k, strip in enumerate(strips):
            blocks = evaluate_strip(trees, reader, strip, values)
            pending.append((k, pool.submit(_encoded, spec, k, blocks)))
            if len(pending) > THREADS:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def _encoded(spec: TileSpec, k: int, blocks: Sequence[np.ndarray]) -> list[EncodedStrip]:
    """Strip ``k`` of each output (its values, rows by columns), compressed."""
    return [encode_computed_strip(spec, k, b[np.newaxis]) for b in blocks]


def _check_valid(definitions: Sequence[Definition], counts: Mapping[str, int]) -> None:
    """CoregInputError naming the outputs that are nodata everywhere."""
    empty = [f"'{shown(d.text)}'" for d in definitions if not counts[d.name]]
    if empty:
        raise CoregInputError(
            f"The result has no valid pixel: {', '.join(empty)} "
            f"{'is' if len(empty) == 1 else 'are'} nodata everywhere on the output grid "
            "(the inputs have no data there, or the expression is nodata for every value, "
            "e.g. a division by zero). Nothing was written.")


def evaluate_strip(trees, reader: _Reader, strip: Grid, values: Mapping) -> list[np.ndarray]:
    """Every tree on one strip (Float32, NaN nodata)."""
    block = reader.read(_names(trees), strip)
    return [evaluate_block(tree, block, values, (strip.height, strip.width)) for tree in trees]


def evaluate_strip_at(trees, assets: Mapping[str, AssetSource], k: int, strip: Grid,
                      values: Mapping, spec: TileSpec) -> list[EncodedStrip]:
    """Strip ``k`` of every tree, compressed: a Dask worker's task (it opens the assets
    itself)."""
    with _Reader(assets) as reader:
        return _encoded(spec, k, evaluate_strip(trees, reader, strip, values))


def mean_part_at(tree, assets: Mapping[str, AssetSource], strip: Grid, values: Mapping
                 ) -> MeanAccumulator:
    """One strip's share of a ``mean`` (a Dask worker's task)."""
    part = MeanAccumulator()
    with _Reader(assets) as reader:
        part.add(evaluate_strip([tree], reader, strip, values)[0])
    return part


def _means(means, reader, strips, progress, is_canceled, client=None, assets=None) -> dict:
    """First pass: the global mean of every ``mean`` call, inner ones first (on a
    cluster, the strips' sums added in strip order, as here)."""
    values: dict = {}
    for node in means:
        accumulator = MeanAccumulator()
        if client is None:
            parts = ((k, evaluate_strip([node.args[0]], reader, strip, values)[0])
                     for k, strip in enumerate(strips))
        else:
            from ..distributed import cluster_map

            parts = sorted(cluster_map(client, mean_part_at, [(node.args[0], assets, strip,
                                                               values) for strip in strips],
                                       is_canceled), key=lambda part: part[0])
        for k, part in parts:
            check_canceled(is_canceled, CANCELED)
            if client is None:
                accumulator.add(part)
            else:
                accumulator.total += part.total
                accumulator.count += part.count
            if progress:
                progress(50.0 * (k + 1) / len(strips) / len(means))
        values[node] = accumulator.value()
    return values


def _names(trees) -> list[str]:
    return list(dict.fromkeys(n.name for tree in trees for n in walk(tree)
                              if isinstance(n, Asset)))


class _Reader:
    """Open datasets of the assets; reads any asset on any strip grid as float32/NaN."""

    def __init__(self, assets: Mapping[str, AssetSource]):
        self.assets = assets
        self.datasets: dict[str, rasterio.DatasetReader] = {}

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc) -> None:
        for ds in self.datasets.values():
            ds.close()

    def read(self, names: Sequence[str], grid: Grid) -> dict[str, np.ndarray]:
        block = {}
        for name in names:
            source = self.assets[name]
            if source.path not in self.datasets:
                self.datasets[source.path] = rasterio.open(source.path)
            block[name] = read_on_grid(self.datasets[source.path], source.band, grid,
                                       nodata=source.nodata)
        return block


def check_overlap(definition: Definition, assets: Mapping[str, AssetSource],
                  grid: Grid) -> None:
    """CoregInputError naming the inputs the expression reads whose footprint does not
    overlap ``grid``: every pixel they give would be nodata."""
    outside = {}
    for name in definition.assets:
        source = assets[name]
        if source.path not in outside:
            position = name.partition(".")[0]
            outside[source.path] = (position, not _overlaps(read_info(source.path).grid,
                                                            grid))
    named = [f"{position} ('{Path(path).name}')"
             for path, (position, disjoint) in outside.items() if disjoint]
    if named:
        subject = (f"Input {named[0]} does" if len(named) == 1
                   else f"Inputs {', '.join(named)} do")
        raise CoregInputError(
            f"{subject} not overlap the output's extent (the grid of input 1): the result "
            "would be nodata everywhere. Give inputs that cover the same area.")


def _overlaps(grid: Grid, target: Grid) -> bool:
    """Whether the footprint of ``grid`` meets ``target``'s over a non-zero area (True
    when it cannot be told: the valid-pixel count after evaluation still decides)."""
    try:
        left, bottom, right, top = footprint_bounds(grid, target.crs)
    except Exception:  # any projection failure: cannot tell
        return True
    if not all(map(math.isfinite, (left, bottom, right, top))):
        return True
    return intersection((left, bottom, right, top), target.bounds) is not None


def band_math(
    inputs: Sequence[str | os.PathLike],
    expression: str,
    output: str | os.PathLike,
    *,
    dask_scheduler: str | None = None,
    ship_engine: bool = True,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> Definition:
    """Evaluate one ``name:(expression)`` (or ``(expression)``) over rasters.

    Assets are named by input position and band number (``1.b1``) or band
    description (``1.B04``). The output (single-band Float32 COG, NaN nodata) has the
    grid of the first input; other inputs are resampled onto it where theirs differs.

    Parameters
    ----------
    inputs : sequence of path
        The rasters, numbered 1, 2, ... in this order.
    expression : str
        ``name:(expression)`` or ``(expression)`` in prefix notation, e.g.
        ``ndvi:(norm_diff 1.B08 1.B04)`` or ``(/ (+ 1.b1 2.b1) 2)``.
    output : path
        The result, written only once complete.
    dask_scheduler : str, optional
        A Dask scheduler (``tcp://host:port``) whose workers evaluate the strips,
        reading the inputs themselves (paths every worker sees the same); the result
        is the in-process one. Only a cluster you trust: Dask exchanges pickled code.
    ship_engine : bool
        Send this engine to the Dask workers; False: they have it installed.
    progress : callable, optional
        Called with the percentage done (0 to 100).
    is_canceled : callable, optional
        Polled during the run; returning True stops it with :class:`CanceledError`.

    Returns
    -------
    Definition
        The parsed expression (its ``name`` and ``text``).

    Raises
    ------
    BandMathError
        The expression is malformed or names an asset that does not exist.
    CoregInputError
        An input the expression reads does not overlap the first input, or the result
        has no valid pixel (nothing is written then).
    ValueError
        An input cannot be read, or the output would overwrite it.
    CoregResourceError
        No Dask scheduler answers at ``dask_scheduler``, or its workers cannot run the
        engine (before anything is written).
    """
    if not inputs:
        raise CoregInputError("Give at least one input raster.")
    definition = parse_definition(expression)
    check_dask_address(dask_scheduler)
    with guarded_outputs({"Output": output}, {"Inputs": [os.fspath(p) for p in inputs]}), \
            cluster_client(dask_scheduler, inputs, (), ship_engine) as client:
        assets = raster_assets([cluster_path(p, client) for p in inputs])
        check_assets([definition], assets)
        grid = read_info(inputs[0], "Input 1").grid
        check_overlap(definition, assets, grid)
        write_expressions([definition], assets, grid, {definition.name: output},
                          require_valid=True, progress=progress, is_canceled=is_canceled,
                          client=client)
    return definition
