"""What the tie-point method works on: the points and their figures (TiePoints), the tiles
they are matched in (Tile), and the field on nodes they give (NodeField)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..transforms.resample import prepare
from .uncertainty import TIE_POINT_FLOOR_PX, TIE_POINT_SCALE, calibrated

MIN_KEPT_POINTS = 6


UNMATCHABLE = "nodata, masked or cloud-like"


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


#: A tile's core: rows r0:r1, columns c0:c1 of the overlap grid (ends excluded).
Core = tuple[int, int, int, int]


def in_core(core: Core, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Which points (overlap-grid ``rows``, ``cols``) a tile of this core measures: the
    one rule for measuring them and for sharing them out by tile."""
    r0, r1, c0, c1 = core
    return (rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)


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
    core: Core
    prior: NodeField | None = None

    @functools.cached_property
    def sampler(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Spline coefficients of the secondary and its validity (None: all valid)."""
        valid = np.isfinite(self.secondary)
        coefficients = prepare(np.where(valid, self.secondary, 0), valid, 3)
        return coefficients, None if valid.all() else valid


@dataclass
class TiePoints:
    """Tie points, one entry per point in every array (structure of arrays).

    ``dx``, ``dy``: displacement (GeFolki convention, reference pixels) at the point, whose
    calibrated 1-sigma per axis :meth:`sigmas` gives;
    ``residual_dx``, ``residual_dy``: what the last pass still measured; scores and SSIM
    compare the reference window with the secondary as it was (before) and through the
    field (after) (on structure when matched on it); ``reason`` is empty for kept points.
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
    #: Least-squares bound of the last pass's shift per axis (:mod:`.uncertainty`).
    bound_dx: np.ndarray = None
    bound_dy: np.ndarray = None
    reason: list = field(default_factory=list)
    #: What they were matched on and why (:func:`.feature_choice.choose_features`).
    features: dict = field(default_factory=dict)
    #: The window and spacing used and why (:func:`.window_choice.choose_grid`).
    grid: dict = field(default_factory=dict)
    #: Pixel of the coarser of the two images / reference pixel (>= 1): the calibrated
    #: uncertainty is in the coarser image's pixels (:mod:`.uncertainty`).
    pixel_ratio: float = 1.0

    @property
    def kept(self) -> np.ndarray:
        return np.array([not r for r in self.reason], bool)

    def sigmas(self) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated 1-sigma of (dx, dy) per point, reference pixels (NaN: unknown)."""
        if self.bound_dx is None:
            nan = np.full(len(self.row), np.nan)
            return nan, nan
        return (self.pixel_ratio * calibrated(self.bound_dx, TIE_POINT_SCALE,
                                              TIE_POINT_FLOOR_PX),
                self.pixel_ratio * calibrated(self.bound_dy, TIE_POINT_SCALE,
                                              TIE_POINT_FLOOR_PX))

    def __len__(self) -> int:
        return len(self.row)


#: A spline evaluated on a grid: (rows (m,), cols (n,)) -> values (m, n, 2).
GridSpline = Callable[[np.ndarray, np.ndarray], np.ndarray]
