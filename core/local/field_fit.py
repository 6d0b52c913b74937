"""The smooth field through the kept tie points: a smoothing thin-plate spline on the nodes
of the field (all points at once, or the nearest ones for many points)."""

from __future__ import annotations

import numpy as np
from scipy.interpolate import RBFInterpolator

from ..errors import CoregistrationError
from ..parallel import THREADS, in_threads
from .points import MIN_KEPT_POINTS, GridSpline, NodeField, TiePoints, node_count

#: Smoothing of the thin-plate spline (coordinates in grid spacings, values in pixels).
SMOOTHING = 0.05


#: Above this many points the spline uses this many nearest points per evaluation (one
#: system of them all would not fit in memory).
GLOBAL_SPLINE_POINTS = 1500


SPLINE_NEIGHBOURS = 64


#: Nodes evaluated per call of the spline: its temporaries stay in the CPU's cache (chunks
#: of 512 nodes took twice as long as 256) ...
SPLINE_CHUNK = 256


#: ... and of the nearest points' spline, which solves one system per neighbourhood in a
#: call: on a tie-point grid a neighbourhood holds nodes of several rows, solved once in a
#: call of 2^13 nodes instead of once per row (1.8 times as fast; larger calls are slower).
LOCAL_SPLINE_CHUNK = 2**13


def fit_field(points: TiePoints, shape: tuple[int, int], step: float,
              spacing: float, progress=None, is_canceled=None) -> NodeField:
    """Smoothing thin-plate spline through the kept points, on nodes every ``step``
    (``progress``, ``is_canceled``: polled chunk by chunk)."""
    kept = points.kept
    if kept.sum() < MIN_KEPT_POINTS:
        raise CoregistrationError(
            f"Only {int(kept.sum())} of {len(points)} tie points are reliable (clouds, "
            "change, too little texture or a different scene); try a larger WINDOW_SIZE, "
            "a lower rejection level or masks.")
    centres = np.column_stack([points.row[kept], points.col[kept]]) / spacing
    values = np.column_stack([points.dx[kept], points.dy[kept]])
    whole = kept.sum() <= GLOBAL_SPLINE_POINTS
    spline = (_thin_plate_spline if whole else _local_thin_plate_spline)(centres, values)
    ny, nx = node_count(shape[0], step), node_count(shape[1], step)
    dx, dy = np.empty((ny, nx), np.float32), np.empty((ny, nx), np.float32)
    node_cols = np.arange(nx) * step / spacing
    # Chunks of whole rows, shared out on our threads.
    chunk = SPLINE_CHUNK if whole else LOCAL_SPLINE_CHUNK
    rows_per_chunk = max(1, min(chunk // nx, -(-ny // THREADS)))

    def evaluate(start: int) -> None:
        stop = min(start + rows_per_chunk, ny)
        values = spline(np.arange(start, stop) * step / spacing, node_cols)
        dx[start:stop], dy[start:stop] = values[..., 0], values[..., 1]

    in_threads(evaluate, range(0, ny, rows_per_chunk), progress, is_canceled=is_canceled)
    return NodeField(dx, dy, step)


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
