"""Tie points on a regular grid: local sub-pixel shifts, outlier rejection, smooth field.

Every point matches a window of the reference against the secondary (both on the
reference grid) with the global aligner's matcher (:func:`match.match_arrays`), or
across modalities (SAR against optical) on structure (:mod:`..matching.structure_match`,
the features :func:`align_image` uses there; chosen by :mod:`.feature_choice`). The
secondary window is sampled through the current displacement field, so each pass
measures only what the field still misses; a few passes converge where a single
phase correlation of a 3-pixel, non-uniform shift would be biased. Surviving points
are interpolated by a smoothing thin-plate spline onto a coarse node grid, which is
what the rest of the pipeline evaluates (bilinearly) per block, so memory does not
grow with the raster.

Displacements follow the GeFolki convention: the aligned image at reference pixel
(col, row) is the secondary at reference-grid position (col + dx, row + dy), in
reference pixels (array indices, pixel centres at integers).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from ..errors import CoregInputError, check_canceled
from ..io.raster_io import IsCanceled, Progress
from ..matching.match import match_batch, reliability_percent, texture_batch
from ..matching.metrics import similarity_batch
from ..matching.modality import fine_feature
from ..matching.structure_match import SEARCH_RADIUS_PX, structure_batch
from ..parallel import THREADS, in_threads
from ..transforms.resample import interpolate
from .feature_choice import choose_features, reliable_share
from .field_fit import fit_field
from .outliers import reject_outliers, score_test
from .points import NodeField, TiePoints, Tile, in_core
from .polling import Poll
from .uncertainty import window_bounds
from .window_choice import AUTOMATIC, choose_grid

#: Outlier-rejection levels; each level adds its test to those of the levels before.
REJECTION_LEVELS = ("none", "reliability", "consistency", "score")
#: Automatic (:mod:`.window_choice`): 64 px windows every 64 px for one sensor, 96 px
#: every 48 px across modalities.
DEFAULT_GRID_SPACING = AUTOMATIC
DEFAULT_WINDOW_SIZE = AUTOMATIC
#: Default reliability (percent, :func:`match.reliability_percent`) below which a point
#: is rejected at the "reliability" level.
DEFAULT_MIN_RELIABILITY = 30.0
#: The first pass matches the secondary as delivered (to 1/20 px); every later pass
#: samples it through the field so far (cubic, 1/100 px), measures what is left and
#: adds it. They stop when that is below this at 95 % of the kept points (pixels), or
#: after MAX_PASSES.
CONVERGENCE_PX = 0.2
MAX_PASSES = 4

#: Window pixels matched at once (32 windows of 64 x 64): bounds the batched FFTs' memory
#: and keeps the arrays of a batch in the CPU's cache.
BATCH_PIXELS = 32 * 64 * 64
#: Sub-pixel step of the first pass (1/20 px; the later ones use 1/100 px).
COARSE_UPSAMPLING = 20


#: ``read_tiles(margin)`` yields tiles whose data reach ``margin`` pixels beyond their core.
TileReader = Callable[[int], Iterable[Tile]]


def grid_positions(height: int, width: int, spacing: int,
                   window: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer (row, col) centres of a regular grid whose windows fit inside the
    raster, centred in it; flattened, row by row."""
    axes = []
    for size in (height, width):
        half = window // 2
        span = size - 2 * half
        if span < 1:
            raise CoregInputError(f"The overlap ({height} x {width} px) is smaller than one "
                                  f"matching window ({window} px); use a smaller WINDOW_SIZE.")
        n = span // spacing + 1
        start = half + (span - 1 - (n - 1) * spacing) // 2
        axes.append(start + spacing * np.arange(n))
    rr, cc = np.meshgrid(*axes, indexing="ij")
    return rr.ravel(), cc.ravel()


def estimate_tie_points(
    read_tiles: TileReader,
    shape: tuple[int, int],
    *,
    grid_spacing: int = DEFAULT_GRID_SPACING,
    window_size: int = DEFAULT_WINDOW_SIZE,
    max_shift: float = 20.0,
    rejection: str = "score",
    min_reliability: float = DEFAULT_MIN_RELIABILITY,
    modality: str = "same",
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> tuple[TiePoints, NodeField, int]:
    """Measure a grid of tie points, reject outliers, interpolate a smooth field.

    Parameters
    ----------
    read_tiles : callable
        ``read_tiles(margin)`` yields :class:`Tile` s covering the raster of ``shape``.
    shape : (int, int)
        (height, width) of the reference grid, pixels.
    grid_spacing, window_size : int
        Distance between points and side of the matching window, reference pixels; 0:
        automatic, by modality (:mod:`.window_choice`; the choice is in ``points.grid``).
    max_shift : float
        Largest displacement accepted, reference pixels.
    rejection : {"none", "reliability", "consistency", "score"}
        Outlier tests applied (cumulative): reliability below ``min_reliability``; a
        least-median 2nd-order polynomial fit and the normalised median test against
        the neighbours; a local matching score that does not improve.
    modality : {"same", "optical", "sar-optical", "auto"}
        What the images are (:mod:`..matching.modality`): intensities are matched for
        the first two, structure for SAR against optical; "auto" lets the first pass
        decide (:mod:`.feature_choice`). The choice is in ``points.features``.

    Returns
    -------
    points : TiePoints
    field : NodeField
        The smooth displacement field over the whole grid.
    passes : int

    Raises
    ------
    CoregistrationError
        If fewer than :data:`MIN_KEPT_POINTS` points survive.
    """
    if rejection not in REJECTION_LEVELS:
        raise CoregInputError(f"rejection must be one of {REJECTION_LEVELS}, not {rejection!r}.")
    # Each pass: its measure (tile by tile) on the first half of its share, its fit on
    # the second (node chunk by node chunk), both also polling is_canceled.
    poll, share = Poll(progress, is_canceled, "Canceled while matching tie points."), \
        100.0 / MAX_PASSES
    first_passes: dict = {}

    def first_pass(grid: tuple[int, int], kind: str) -> dict:
        """The first pass on ``kind`` with (window, spacing) ``grid``, measured once."""
        if (grid, kind) not in first_passes:
            window, spacing = grid
            first_passes[grid, kind] = measure_points(
                read_tiles, *grid_positions(*shape, spacing, window), window,
                NodeField.zeros(*shape, _node_step(spacing)), margin=tile_margin(window, max_shift),
                final=False, features=kind, search_px=first_search_px(max_shift, window),
                is_canceled=is_canceled, progress=poll.scaled(0, share / 2))
        return first_passes[grid, kind]

    points_grid = choose_grid(modality, window_size, grid_spacing, shape, lambda grid:
                              reliable_share(first_pass(grid, "intensity"), min_reliability))
    window_size, grid_spacing = points_grid["window_size"], points_grid["grid_spacing"]
    rows, cols = grid_positions(*shape, grid_spacing, window_size)
    step = _node_step(grid_spacing)
    prior = NodeField.zeros(*shape, step)
    level = REJECTION_LEVELS.index(rejection)
    points = TiePoints(rows, cols, grid=points_grid)
    measure = functools.partial(measure_points, read_tiles, rows, cols, window_size,
                                margin=tile_margin(window_size, max_shift), is_canceled=is_canceled)
    features, measured, points.features = choose_features(
        modality, lambda kind: first_pass((window_size, grid_spacing), kind), min_reliability)
    for k in range(MAX_PASSES):
        if k > 0:
            measured = measure(prior, features=features,
                               progress=poll.scaled(k * share, (k + 0.5) * share))
        if k == 0:
            points.texture = measured["texture"]
            points.score_before, points.ssim_before = measured["score"], measured["ssim"]
        update_points(points, measured)
        points.reason = reject_outliers(points, level=min(level, 2), max_shift=max_shift,
                                        min_reliability=min_reliability, spacing=grid_spacing)
        last = k + 1 == MAX_PASSES or (k > 0 and _residual_size(points) < CONVERGENCE_PX)
        if last and level > 2:  # the score test compares with the field being checked
            score_test(points, points.reason)
        prior = fit_field(points, shape, step, grid_spacing,
                          poll.scaled((k + 0.5) * share, (k + 1) * share), is_canceled)
        poll.report(100.0 if last else (k + 1) * share)
        if last:
            break
    return points, prior, k + 1


def _node_step(spacing: int) -> float:
    """Pitch of the field's node grid for a tie-point spacing (pixels)."""
    return float(max(2, min(16, spacing // 4)))


def tile_margin(window: int, max_shift: float) -> int:
    """Pixels a tile must reach beyond the centres of the points it measures."""
    return window // 2 + int(math.ceil(max_shift)) + 4


def first_search_px(max_shift: float, window: int) -> float:
    """Structure search radius (pixels) of a first pass, which starts from no field:
    MAX_SHIFT, within a quarter of the window (beyond, too little of it is shared)."""
    return max(float(SEARCH_RADIUS_PX), min(max_shift, window / 4))


def update_points(points: TiePoints, measured: dict) -> None:
    """Total displacement = prior field + what the pass measured; scores after."""
    points.residual_dx, points.residual_dy = measured["dx"], measured["dy"]
    points.dx = measured["prior_dx"] + measured["dx"]
    points.dy = measured["prior_dy"] + measured["dy"]
    points.peak, points.reliability = measured["peak"], measured["reliability"]
    points.score_after, points.ssim_after = measured["score"], measured["ssim"]
    points.bound_dx, points.bound_dy = measured["bound_dx"], measured["bound_dy"]


def _residual_size(points: TiePoints) -> float:
    """What the last pass still measured at the kept points (95th percentile, pixels:
    a few points at the edge of textureless areas do not hold the others back)."""
    kept = points.kept
    if not kept.any():
        return 0.0
    return float(np.percentile(np.hypot(points.residual_dx[kept], points.residual_dy[kept]), 95))


def measure_points(read_tiles: TileReader, rows: np.ndarray, cols: np.ndarray, window: int,
                   prior: NodeField, *, margin: int, final: bool = True,
                   features: str = "intensity", search_px: float = SEARCH_RADIUS_PX,
                   is_canceled: IsCanceled | None = None,
                   progress: Progress | None = None) -> dict[str, np.ndarray]:
    """Residual shift (dx, dy, reference pixels), the prior field (prior_dx, prior_dy),
    peak, reliability, matching score, SSIM and the shift's least-squares bound (bound_dx,
    bound_dy; :mod:`.uncertainty`) at every point, the secondary sampled
    (cubic spline) through ``prior`` or the tile's own; shifts to 1/100 px if ``final``,
    else to 1/20 px with the reference windows' texture (NaN otherwise).
    ``features`` "structure": matched on structure within ``search_px`` pixels, scored on
    the gradient magnitudes (:func:`..matching.modality.fine_feature`), whose contrast
    does not flip between SAR and optical as intensities do. ``progress`` gets the
    percentage of the points measured, tile by tile."""
    n = len(rows)
    out = {key: np.full(n, np.nan) for key in ("dx", "dy", "prior_dx", "prior_dy", "peak",
                                               "texture", "score", "ssim", "bound_dx",
                                               "bound_dy")}
    measured = 0
    for tile in read_tiles(margin):
        check_canceled(is_canceled, "Canceled while matching tie points.")
        inside = np.flatnonzero(in_core(tile.core, rows, cols))
        if inside.size:
            _measure_tile(tile, rows[inside], cols[inside], window, tile.prior or prior,
                          out, inside, final, (features, search_px))
            measured += inside.size
            if progress:
                progress(100.0 * measured / max(n, 1))
    out["reliability"] = np.array([reliability_percent(p) if np.isfinite(p) else 0.0
                                   for p in out["peak"]])
    return out


def _measure_tile(tile: Tile, rows, cols, window: int, prior: NodeField, out: dict,
                  index: np.ndarray, final: bool, matching: tuple[str, float]) -> None:
    half = window // 2
    # The extent of the tile's windows, and the prior over it at once (not per window).
    top, left = rows.min() - tile.row - half, cols.min() - tile.col - half
    extent = (slice(top, rows.max() - tile.row - half + window),
              slice(left, cols.max() - tile.col - half + window))
    reference_image = tile.reference[extent]
    prior_dx, prior_dy = prior.on_grid(tile.row + top, tile.col + left, *reference_image.shape)
    lr, lc = rows - tile.row - half - top, cols - tile.col - half - left  # window corners
    out["prior_dx"][index] = prior_dx[lr + half, lc + half]
    out["prior_dy"][index] = prior_dy[lr + half, lc + half]
    moving_image = tile.secondary[extent] if prior.is_zero else _moving_image(
        tile, extent, prior_dx, prior_dy, len(rows) * window**2)
    # At least one batch per thread: a 1024 px tile holds 16 points of a 256 px grid.
    batch = max(1, min(BATCH_PIXELS // window**2, -(-len(rows) // THREADS)))

    def measure_batch(start: int) -> None:
        chunk, k = slice(start, start + batch), index[start:start + batch]
        reference = _windows(reference_image, lr[chunk], lc[chunk], window)
        if moving_image is None:  # sparse windows: sampled one by one
            wr, wc = (np.arange(window)[None, :, None] + lr[chunk, None, None],
                      np.arange(window)[None, None, :] + lc[chunk, None, None])
            moving = interpolate(*tile.sampler,
                                 wr + top + _windows(prior_dy, lr[chunk], lc[chunk], window),
                                 wc + left + _windows(prior_dx, lr[chunk], lc[chunk], window), 3)
        else:
            moving = _windows(moving_image, lr[chunk], lc[chunk], window)
        if not final:  # the first pass: the reference windows' texture
            sparse = np.isfinite(reference).mean(axis=(1, 2)) <= 0.1
            out["texture"][k] = np.where(sparse, 0.0, texture_batch(reference))
        shifts, matched = _match_windows(reference, moving, out, k, final, matching)
        if final:  # the last pass: the uncertainty of what it measures, on what it matched
            out["bound_dx"][k], out["bound_dy"][k] = window_bounds(*matched)
        # reference(r, c) = moving(r - drow, c - dcol) = secondary(r - drow + pdy, ...)
        out["dy"][k], out["dx"][k] = -shifts[:, 0], -shifts[:, 1]

    in_threads(measure_batch, range(0, len(index), batch))


def _match_windows(reference: np.ndarray, moving: np.ndarray, out: dict, k: np.ndarray,
                   final: bool, matching: tuple[str, float]
                   ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Scores and peaks of the windows into ``out`` at ``k``; their (row, col) shifts to
    apply to the moving windows, and the windows as matched (intensities or structure)."""
    features, search_px = matching
    if features == "structure":
        matched = _structure(reference), _structure(moving)
        out["score"][k], out["ssim"][k] = similarity_batch(*matched)
        shifts, out["peak"][k] = structure_batch(reference, moving, search_px)
        return shifts, matched
    out["score"][k], out["ssim"][k] = similarity_batch(reference, moving)
    shifts, out["peak"][k], _ = match_batch(
        reference, moving, upsample_factor=100 if final else COARSE_UPSAMPLING, snr=False)
    return shifts, (reference, moving)


def _structure(windows: np.ndarray) -> np.ndarray:
    return np.stack([fine_feature(w) for w in windows])


def _moving_image(tile: Tile, extent: tuple[slice, slice], prior_dx: np.ndarray,
                  prior_dy: np.ndarray, window_pixels: int) -> np.ndarray | None:
    """The secondary over ``extent`` of the tile sampled through the prior (cubic
    spline) once for all windows, which overlap; None when the windows cover less than
    the extent (sparse grid)."""
    if window_pixels < prior_dx.size:
        return None
    image = np.empty(prior_dx.shape, np.float32)
    rows = np.arange(extent[0].start, extent[0].stop, dtype=np.float32)[:, None]
    cols = np.arange(extent[1].start, extent[1].stop, dtype=np.float32)[None, :]
    step = -(-len(image) // (4 * THREADS))  # bands of rows, four per thread

    def sample(start: int) -> None:
        band = slice(start, start + step)
        image[band] = interpolate(*tile.sampler, rows[band] + prior_dy[band],
                                  cols + prior_dx[band], 3)

    in_threads(sample, range(0, len(image), step))
    return image


def _windows(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: int) -> np.ndarray:
    """Copies of the ``size``-square windows of ``image`` whose top-left pixels are at
    (rows, cols), shape (K, size, size)."""
    return np.lib.stride_tricks.sliding_window_view(image, (size, size))[rows, cols]


def array_tiles(reference: np.ndarray, secondary: np.ndarray) -> TileReader:
    """A :data:`TileReader` for two co-located in-memory arrays (one tile)."""
    height, width = reference.shape

    def read(margin: int) -> Iterator[Tile]:
        pad = ((margin, margin), (margin, margin))
        yield Tile(-margin, -margin, np.pad(reference.astype(np.float32), pad,
                                            constant_values=np.nan),
                   np.pad(secondary.astype(np.float32), pad, constant_values=np.nan),
                   (0, height, 0, width))
    return read
