"""Tie points on a regular grid: local sub-pixel shifts, outlier rejection, smooth field.

Every point matches a window of the reference against the secondary (both on the
reference grid) with the global aligner's matcher (:func:`match.match_arrays`). The
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
from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import RBFInterpolator
from scipy.spatial import cKDTree

from ..errors import CanceledError, CoregInputError, CoregistrationError
from ..io.raster_io import IsCanceled, Progress
from ..matching.match import MIN_RELATIVE_TEXTURE, match_batch, reliability_percent, texture_batch
from ..matching.metrics import similarity_batch
from ..parallel import THREADS, in_threads
from ..transforms.resample import interpolate, prepare

#: Outlier-rejection levels; each level adds its test to those of the levels before.
REJECTION_LEVELS = ("none", "reliability", "consistency", "score")
DEFAULT_GRID_SPACING = 64
DEFAULT_WINDOW_SIZE = 64
#: Default reliability (percent, :func:`match.reliability_percent`) below which a point
#: is rejected at the "reliability" level.
DEFAULT_MIN_RELIABILITY = 30.0
#: The first pass matches the secondary as delivered (to 1/20 px); every later pass
#: samples it through the field so far (cubic, 1/100 px), measures what is left and
#: adds it. They stop when that is below this at 95 % of the kept points (pixels), or
#: after MAX_PASSES.
CONVERGENCE_PX = 0.2
MAX_PASSES = 4
#: Least-median polynomial fit: the threshold is this many robust sigmas of the
#: residuals, never below MIN_MODEL_RESIDUAL_PX. A smooth non-rigid field departs from
#: a global polynomial far from normally (a +-3 px sinusoidal field on a real scene:
#: 99th percentile at 5.7 sigma), so the model only catches gross mismatches; local
#: ones are the median test's.
MODEL_SIGMAS = 8.0
MIN_MODEL_RESIDUAL_PX = 1.0
MODEL_SAMPLES = 300
#: Normalised median test (Westerweel & Scarano 2005, Exp. Fluids 39, 1096-1100,
#: :DOI:`10.1007/s00348-005-0016-6`): threshold and noise floor (pixels).
MEDIAN_TEST_THRESHOLD = 3.0
MEDIAN_TEST_EPSILON_PX = 0.1
#: A point fails the score check when its matching score drops by more than this.
SCORE_SLACK = 0.01
#: Smoothing of the thin-plate spline (coordinates in grid spacings, values in pixels).
SMOOTHING = 0.05
#: Above this many points the spline uses this many nearest points per evaluation (one
#: system of them all would not fit in memory).
GLOBAL_SPLINE_POINTS = 1500
SPLINE_NEIGHBOURS = 64
#: Nodes evaluated per call of the spline.
SPLINE_CHUNK = 256
MIN_KEPT_POINTS = 6

UNMATCHABLE = "nodata, masked or cloud-like"
#: Window pixels matched at once (32 windows of 64 x 64): bounds the batched FFTs' memory
#: and keeps the arrays of a batch in the CPU's cache.
BATCH_PIXELS = 32 * 64 * 64
#: Sub-pixel step of the first pass (1/20 px; the later ones use 1/100 px).
COARSE_UPSAMPLING = 20


@dataclass(frozen=True)
class NodeField:
    """A displacement field (dx, dy in reference pixels) on nodes every ``step`` pixels;
    node (i, j) sits at reference-grid index (row0 + i * step, col0 + j * step), and the
    field is bilinear in between (and constant beyond the outer nodes)."""

    dx: np.ndarray
    dy: np.ndarray
    step: float
    row0: float = 0.0
    col0: float = 0.0

    @classmethod
    def zeros(cls, height: int, width: int, step: float) -> NodeField:
        shape = (node_count(height, step), node_count(width, step))
        return cls(np.zeros(shape, np.float32), np.zeros(shape, np.float32), step)

    @property
    def is_zero(self) -> bool:
        """No displacement anywhere: nothing to interpolate or to sample through."""
        return not (self.dx.any() or self.dy.any())

    def on_grid(self, row: int, col: int, height: int, width: int
                ) -> tuple[np.ndarray, np.ndarray]:
        """(dx, dy) on a block of the reference grid, float32: separable, along the rows
        of nodes then the columns (gathers, not matrix products, which BLAS would put on
        threads that spin while the tie points' own threads work)."""
        if self.is_zero:  # the first pass's prior
            return np.zeros((height, width), np.float32), np.zeros((height, width), np.float32)
        r0, r1, rf = _linear_neighbours(np.arange(height) + row - self.row0, self.step,
                                        self.dx.shape[0])
        c0, c1, cf = _linear_neighbours(np.arange(width) + col - self.col0, self.step,
                                        self.dx.shape[1])
        out = []
        for v in (self.dx, self.dy):
            along = v[r0] * (1 - rf)[:, None] + v[r1] * rf[:, None]
            out.append(along[:, c0] * (1 - cf) + along[:, c1] * cf)
        return out[0], out[1]


def _linear_neighbours(positions: np.ndarray, step: float, n: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For positions on an axis of n nodes every ``step``: the node below, the node
    above and the weight of the latter (float32), clamped to the outer nodes."""
    u = np.clip(positions / step, 0, n - 1)
    low = np.minimum(np.floor(u).astype(np.intp), max(n - 2, 0))
    return low, np.minimum(low + 1, n - 1), (u - low).astype(np.float32)


def node_count(size: int, step: float) -> int:
    return int(math.ceil((size - 1) / step)) + 1


@dataclass(frozen=True)
class Tile:
    """Reference and secondary pixels of one tile, co-located on the reference grid.

    ``row``, ``col``: reference-grid index of pixel [0, 0]; ``core`` (row0, row1, col0,
    col1, reference-grid indices, ends excluded): the points whose centres fall there
    are measured on this tile. ``prior``, if given, replaces the field being refined
    (a dense field known on this tile, for check points).
    """

    row: int
    col: int
    reference: np.ndarray  # float32, NaN where no data, masked or cloud-like
    secondary: np.ndarray  # float32, NaN where no data or cloud-like
    core: tuple[int, int, int, int]
    prior: NodeField | None = None

    @functools.cached_property
    def sampler(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Spline coefficients of the secondary and its validity (None: all valid)."""
        valid = np.isfinite(self.secondary)
        coefficients = prepare(np.where(valid, self.secondary, 0), valid, 3)
        return coefficients, None if valid.all() else valid


#: ``read_tiles(margin)`` yields tiles whose data reach ``margin`` pixels beyond their core.
TileReader = Callable[[int], Iterable[Tile]]


@dataclass
class TiePoints:
    """Tie points, one entry per point in every array (structure of arrays).

    ``dx``, ``dy``: displacement (GeFolki convention, reference pixels) at the point;
    ``residual_dx``, ``residual_dy``: what the last pass still measured; scores and SSIM
    compare the reference window with the secondary as it was (before) and through the
    field (after); ``reason`` is empty for kept points.
    """

    row: np.ndarray
    col: np.ndarray
    dx: np.ndarray = None
    dy: np.ndarray = None
    residual_dx: np.ndarray = None
    residual_dy: np.ndarray = None
    peak: np.ndarray = None
    reliability: np.ndarray = None
    texture: np.ndarray = None
    score_before: np.ndarray = None
    score_after: np.ndarray = None
    ssim_before: np.ndarray = None
    ssim_after: np.ndarray = None
    reason: list = field(default_factory=list)

    @property
    def kept(self) -> np.ndarray:
        return np.array([not r for r in self.reason], bool)

    def __len__(self) -> int:
        return len(self.row)


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
        Distance between points and side of the matching window, reference pixels.
    max_shift : float
        Largest displacement accepted, reference pixels.
    rejection : {"none", "reliability", "consistency", "score"}
        Outlier tests applied (cumulative): reliability below ``min_reliability``; a
        least-median 2nd-order polynomial fit and the normalised median test against
        the neighbours; a local matching score that does not improve.

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
    rows, cols = grid_positions(*shape, grid_spacing, window_size)
    step = float(max(2, min(16, grid_spacing // 4)))
    prior = NodeField.zeros(*shape, step)
    margin = window_size // 2 + int(math.ceil(max_shift)) + 4
    level = REJECTION_LEVELS.index(rejection)
    points = TiePoints(rows, cols)
    measure = functools.partial(measure_points, read_tiles, rows, cols, window_size,
                                margin=margin, is_canceled=is_canceled)
    for k in range(MAX_PASSES):
        measured = measure(prior, final=k > 0)
        if k == 0:
            points.texture = measured["texture"]
            points.score_before, points.ssim_before = measured["score"], measured["ssim"]
        update_points(points, measured)
        points.reason = reject_outliers(points, level=min(level, 2), max_shift=max_shift,
                                        min_reliability=min_reliability, spacing=grid_spacing)
        last = k + 1 == MAX_PASSES or (k > 0 and _residual_size(points) < CONVERGENCE_PX)
        if last and level > 2:  # the score test compares with the field being checked
            score_test(points, points.reason)
        prior = fit_field(points, shape, step, grid_spacing)
        if progress:
            progress(100.0 if last else 100.0 * (k + 1) / MAX_PASSES)
        if last:
            break
    return points, prior, k + 1


def update_points(points: TiePoints, measured: dict) -> None:
    """Total displacement = prior field + what the pass measured; scores after."""
    points.residual_dx, points.residual_dy = measured["dx"], measured["dy"]
    points.dx = measured["prior_dx"] + measured["dx"]
    points.dy = measured["prior_dy"] + measured["dy"]
    points.peak, points.reliability = measured["peak"], measured["reliability"]
    points.score_after, points.ssim_after = measured["score"], measured["ssim"]


def _residual_size(points: TiePoints) -> float:
    """What the last pass still measured at the kept points (95th percentile, pixels:
    a few points at the edge of textureless areas do not hold the others back)."""
    kept = points.kept
    if not kept.any():
        return 0.0
    return float(np.percentile(np.hypot(points.residual_dx[kept], points.residual_dy[kept]), 95))


def measure_points(read_tiles: TileReader, rows: np.ndarray, cols: np.ndarray, window: int,
                   prior: NodeField, *, margin: int, final: bool = True,
                   is_canceled: IsCanceled | None = None) -> dict[str, np.ndarray]:
    """Residual shift (dx, dy, reference pixels), the prior field (prior_dx, prior_dy),
    peak, reliability, matching score and SSIM at every point, the secondary sampled
    (cubic spline) through ``prior`` or the tile's own; shifts to 1/100 px if ``final``,
    else to 1/20 px with the reference windows' texture (NaN otherwise)."""
    n = len(rows)
    out = {key: np.full(n, np.nan) for key in ("dx", "dy", "prior_dx", "prior_dy", "peak",
                                               "texture", "score", "ssim")}
    for tile in read_tiles(margin):
        if is_canceled and is_canceled():
            raise CanceledError("Canceled while matching tie points.")
        r0, r1, c0, c1 = tile.core
        inside = np.flatnonzero((rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1))
        if inside.size:
            _measure_tile(tile, rows[inside], cols[inside], window, tile.prior or prior,
                          out, inside, final)
    out["reliability"] = np.array([reliability_percent(p) if np.isfinite(p) else 0.0
                                   for p in out["peak"]])
    return out


def _measure_tile(tile: Tile, rows, cols, window: int, prior: NodeField, out: dict,
                  index: np.ndarray, final: bool) -> None:
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
    batch = max(1, BATCH_PIXELS // window**2)

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
        out["score"][k], out["ssim"][k] = similarity_batch(reference, moving)
        shifts, out["peak"][k], _ = match_batch(
            reference, moving, upsample_factor=100 if final else COARSE_UPSAMPLING, snr=False)
        # reference(r, c) = moving(r - drow, c - dcol) = secondary(r - drow + pdy, ...)
        out["dy"][k], out["dx"][k] = -shifts[:, 0], -shifts[:, 1]

    in_threads(measure_batch, range(0, len(index), batch))


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


def reject_outliers(points: TiePoints, *, level: int, max_shift: float,
                    min_reliability: float, spacing: float,
                    consistency: bool = True) -> list[str]:
    """The reason each point is rejected ("" if kept), tests in order of ``level``
    (``consistency`` False skips the model and neighbour tests of level 2)."""
    reason = ["" if np.isfinite(d) else UNMATCHABLE for d in points.dx]
    measured = np.isfinite(points.dx)
    if measured.any():
        floor = MIN_RELATIVE_TEXTURE * float(np.median(points.texture[measured]))
        _flag(reason, measured & (points.texture <= floor), "low texture")
    _flag(reason, np.hypot(points.dx, points.dy) > max_shift, "beyond MAX_SHIFT")
    if level >= 1:
        for k in np.flatnonzero(points.reliability < min_reliability):
            if not reason[k]:
                reason[k] = f"reliability {points.reliability[k]:.0f} % < {min_reliability:g} %"
    if level >= 2 and consistency:
        _model_test(points, reason)
        _median_test(points, reason, spacing)
    if level >= 3:
        score_test(points, reason)
    return reason


def score_test(points: TiePoints, reason: list[str]) -> None:
    """Flag the points whose matching score drops through the field (level 3)."""
    worse = points.score_after < points.score_before - SCORE_SLACK
    _flag(reason, worse, "matching score does not improve")


def _flag(reason: list[str], mask: np.ndarray, text: str) -> None:
    for k in np.flatnonzero(mask):
        if not reason[k]:
            reason[k] = text


def _model_test(points: TiePoints, reason: list[str]) -> None:
    """Least-median-of-squares fit of a 2nd-order polynomial to the kept shifts."""
    kept = np.flatnonzero([not r for r in reason])
    if kept.size < 12:
        return
    design = _polynomial_design(points.row[kept], points.col[kept])
    values = np.column_stack([points.dx[kept], points.dy[kept]])
    rng = np.random.default_rng(0)
    # MODEL_SAMPLES minimal sets, each without repeats: the smallest keys of random rows.
    samples = np.argpartition(rng.random((MODEL_SAMPLES, kept.size)), design.shape[1],
                              axis=1)[:, :design.shape[1]]
    # All minimal fits at once; degenerate samples (collinear points) drop out as NaN.
    systems = design[samples]
    solvable = np.abs(np.linalg.det(systems)) > 1e-12
    coefs = np.linalg.solve(systems[solvable], values[samples[solvable]])
    residuals = np.hypot(*np.moveaxis(values[None] - design[None] @ coefs, -1, 0))
    medians = np.median(residuals, axis=1)
    best, best_median = coefs[np.argmin(medians)], float(medians.min())
    residual = np.hypot(*(values - design @ best).T)
    limit = max(MODEL_SIGMAS * 1.4826 * best_median, MIN_MODEL_RESIDUAL_PX)
    inliers = residual <= limit
    coef = np.linalg.lstsq(design[inliers], values[inliers], rcond=None)[0]
    residual = np.hypot(*(values - design @ coef).T)
    for k, res in zip(kept, residual):
        if res > limit:
            reason[k] = f"off the global polynomial model (residual {res:.2f} px)"


def _polynomial_design(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    r = (rows - rows.mean()) / max(np.ptp(rows), 1)
    c = (cols - cols.mean()) / max(np.ptp(cols), 1)
    return np.column_stack([np.ones_like(r), r, c, r * r, r * c, c * c])


def _median_test(points: TiePoints, reason: list[str], spacing: float) -> None:
    """Normalised median test against the kept neighbours within 1.5 grid spacings."""
    kept = np.flatnonzero([not r for r in reason])
    if kept.size < 5:
        return
    xy = np.column_stack([points.row[kept], points.col[kept]]).astype(float)
    distances, neighbours = cKDTree(xy).query(xy, k=9, distance_upper_bound=1.5 * spacing * 1.42)
    neighbours = neighbours[:, 1:]  # missing ones are kept.size: NaN below
    enough = np.isfinite(distances[:, 1:]).sum(axis=1) >= 3
    norm = np.zeros(kept.size)
    for values in (points.dx[kept], points.dy[kept]):
        around = np.append(values, np.nan)[neighbours]
        median = np.nanmedian(np.where(enough[:, None], around, 0.0), axis=1)
        spread = np.nanmedian(np.abs(around - median[:, None]), axis=1) if enough.any() else 0
        norm = np.maximum(norm, np.abs(values - median) / (spread + MEDIAN_TEST_EPSILON_PX))
    for i in np.flatnonzero(enough & (norm > MEDIAN_TEST_THRESHOLD)):
        reason[kept[i]] = f"differs from its neighbours (normalised residual {norm[i]:.1f})"


def fit_field(points: TiePoints, shape: tuple[int, int], step: float,
              spacing: float) -> NodeField:
    """Smoothing thin-plate spline through the kept points, on nodes every ``step``."""
    kept = points.kept
    if kept.sum() < MIN_KEPT_POINTS:
        raise CoregistrationError(
            f"Only {int(kept.sum())} of {len(points)} tie points are reliable (clouds, "
            "change, too little texture or a different scene); try a larger WINDOW_SIZE, "
            "a lower rejection level or masks.")
    centres = np.column_stack([points.row[kept], points.col[kept]]) / spacing
    values = np.column_stack([points.dx[kept], points.dy[kept]])
    spline = (_thin_plate_spline if kept.sum() <= GLOBAL_SPLINE_POINTS
              else _local_thin_plate_spline)(centres, values)
    ny, nx = node_count(shape[0], step), node_count(shape[1], step)
    dx, dy = np.empty((ny, nx), np.float32), np.empty((ny, nx), np.float32)
    node_cols = np.arange(nx) * step / spacing
    # Small chunks, shared out on our threads: their temporaries stay in the CPU's cache
    # (chunks of 512 nodes took twice as long as 256).
    rows_per_chunk = max(1, min(SPLINE_CHUNK // nx, -(-ny // THREADS)))

    def evaluate(start: int) -> None:
        stop = min(start + rows_per_chunk, ny)
        values = spline(np.arange(start, stop) * step / spacing, node_cols)
        dx[start:stop], dy[start:stop] = values[..., 0], values[..., 1]

    in_threads(evaluate, range(0, ny, rows_per_chunk))
    return NodeField(dx, dy, step)


#: A spline evaluated on a grid: (rows (m,), cols (n,)) -> values (m, n, 2).
GridSpline = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _thin_plate_spline(centres: np.ndarray, values: np.ndarray) -> GridSpline:
    """The smoothing thin-plate spline of scipy's ``RBFInterpolator`` (kernel r^2 log r,
    affine part, :data:`SMOOTHING` on the diagonal), solved and evaluated here: its
    evaluation was most of a fit's time, four times this one's on a node grid."""
    n = len(centres)
    kernel = _thin_plate_kernel(((centres[:, None] - centres[None]) ** 2).sum(axis=-1))
    kernel[np.diag_indices(n)] += SMOOTHING
    affine = np.column_stack([np.ones(n), centres])
    system = np.block([[kernel, affine], [affine.T, np.zeros((3, 3))]])
    coefficients = np.linalg.solve(system, np.vstack([values, np.zeros((3, values.shape[1]))]))
    weights, (a0, a_row, a_col) = coefficients[:n], coefficients[n:]

    def on_grid(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        d2 = ((rows[:, None] - centres[:, 0]) ** 2)[:, None, :] \
            + ((cols[:, None] - centres[:, 1]) ** 2)[None]
        return (_thin_plate_kernel(d2) @ weights + a0 + rows[:, None, None] * a_row
                + cols[None, :, None] * a_col)
    return on_grid


def _thin_plate_kernel(d2: np.ndarray) -> np.ndarray:
    """r^2 log r of squared distances ``d2`` (0 at 0), in place."""
    d2 *= np.log(np.maximum(d2, np.finfo(float).tiny))
    d2 *= 0.5
    return d2


def _local_thin_plate_spline(centres: np.ndarray, values: np.ndarray) -> GridSpline:
    """The same spline from the :data:`SPLINE_NEIGHBOURS` nearest points of each node,
    for more points than one system can hold."""
    spline = RBFInterpolator(centres, values, kernel="thin_plate_spline", smoothing=SMOOTHING,
                             neighbors=SPLINE_NEIGHBOURS)

    def on_grid(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        nr, nc = np.meshgrid(rows, cols, indexing="ij")
        return spline(np.column_stack([nr.ravel(), nc.ravel()])).reshape(*nr.shape, -1)
    return on_grid


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
