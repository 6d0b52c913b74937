"""Triangle painting: the lookup images (fractional source column and row of every target
pixel centre), vectorised over blocks of source rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine

from ..errors import CoregInputError, check_canceled
from ..grid import Grid
from ..io.raster_io import IsCanceled, Progress
from ..parallel import in_threads

#: The message of a cancel here (:func:`..errors.check_canceled`).
CANCELED = "Canceled while painting the lookup images."

#: Barycentric tolerance: target pixels on a shared triangle edge belong to both triangles.
EDGE_TOLERANCE = 1e-4



#: Source rows painted per block (bounds the temporaries of the vectorised painting).
ROW_BLOCK = 256



#: Target rows (of the padded lookup images) a thread paints the larger quads of at once.
STRIP_ROWS = 64



#: Candidate target pixels enumerated at once (bounds the temporaries of a strip).
CANDIDATE_CHUNK = 1 << 16



#: Margin (target pixels) of the lookup images while painting.
PAD = 2



#: A quad this many times wider than the median quad is a wrap-around seam, not data.
SEAM_FACTOR = 20.0



def paint_lookup(x: np.ndarray, y: np.ndarray, grid: Grid, *,
                 progress: Progress | None = None,
                 is_canceled: IsCanceled | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fractional source (column, row) of every target pixel centre, NaN where unpainted.

    ``x``, ``y``: shape (rows, cols), pixel-centre coordinates in ``grid.crs``; source pixel
    (i, j) has its centre at column i, row j. Quads touching a NaN coordinate are skipped.
    Blocks of source rows paint their small quads; quads holding more target pixels are
    then painted by strips of target rows, every strip on its own on a thread: a swath
    of few rows on a much finer grid is one block, and its candidates painted at once
    would be temporaries of hundreds of megabytes.
    """
    if x.shape != y.shape:
        raise CoregInputError(f"The X and Y coordinate images differ in shape: {x.shape} vs "
                              f"{y.shape}.")
    if x.shape[0] < 2 or x.shape[1] < 2:
        raise CoregInputError("A swath needs at least 2 x 2 pixels to be rectified.")
    inverse = ~grid.transform
    # A margin of PAD pixels takes the candidates of quads straddling the grid's edge.
    lookup = np.full((2, grid.height + 2 * PAD, grid.width + 2 * PAD), np.nan, np.float32)
    flat = lookup.reshape(2, -1)
    seam = _seam_limit(x, y, inverse)
    starts = range(0, x.shape[0] - 1, ROW_BLOCK)
    big: list[_BigQuads] = []

    def paint_block(r0: int) -> None:
        check_canceled(is_canceled, CANCELED)
        r1 = min(r0 + ROW_BLOCK, x.shape[0] - 1)
        px, py = inverse * (x[r0:r1 + 1], y[r0:r1 + 1])
        block = _BlockQuads(px + PAD, py + PAD, r0, lookup.shape[1:], seam)
        _paint_small(block, flat)
        big.append(block.big_quads())

    def paint_strip(top: int) -> None:
        check_canceled(is_canceled, CANCELED)
        for quads in big:
            _paint_big(quads, top, min(top + STRIP_ROWS, lookup.shape[1]), flat)

    def strips_progress(done: float) -> None:
        if progress:
            progress(20.0 + done)

    # Blocks meet on shared quad edges only, where both paint the same positions.
    in_threads(paint_block, starts, progress, 20.0)
    big.sort(key=lambda quads: quads.row0)  # every strip paints them in the blocks' order
    if any(quads.size for quads in big):
        in_threads(paint_strip, range(0, lookup.shape[1], STRIP_ROWS), strips_progress, 40.0)
    inner = (slice(PAD, PAD + grid.height), slice(PAD, PAD + grid.width))
    return lookup[0][inner], lookup[1][inner]


def _seam_limit(x: np.ndarray, y: np.ndarray, inverse: Affine) -> float:
    """Largest quad extent (target pixels) accepted: wider quads bridge a wrap-around seam."""
    step = max(1, x.shape[0] // 64)
    px, py = inverse * (x[::step], y[::step])
    extent = np.fmax(np.abs(np.diff(px, axis=1)), np.abs(np.diff(py, axis=1)))
    extent = extent[np.isfinite(extent)]
    typical = float(np.median(extent)) if extent.size else 1.0
    return max(64.0, SEAM_FACTOR * typical)



class _BlockQuads:
    """The quads of a block of source rows, flattened.

    Each quad's box of candidate target pixels starts at column/row (c0, r0) and holds
    nx x ny pixels; its triangles (P1, P2, P3) and (P4, P3, P2) are kept as the inverse
    affine maps (a, b, c, d) and the barycentric coordinates (s00, t00) of candidate (c0, r0):
    candidate (c0 + dx, r0 + dy) has s = s00 + a dx + b dy, t = t00 + c dx + d dy. Quads
    touching NaN, degenerate, seam-bridging or off-grid ones have s00 = NaN: never painted.
    """

    def __init__(self, px: np.ndarray, py: np.ndarray, row0: int, shape: tuple[int, int],
                 seam: float) -> None:
        self.row0, self.ncols = row0, px.shape[1] - 1
        self.height, self.width = shape
        cx = (px[:-1, :-1], px[:-1, 1:], px[1:, :-1], px[1:, 1:])
        cy = (py[:-1, :-1], py[:-1, 1:], py[1:, :-1], py[1:, 1:])
        with np.errstate(invalid="ignore"):
            c0, c1 = _candidate_range(cx)
            r0, r1 = _candidate_range(cy)
            nx, ny = c1 - c0 + 1, r1 - r0 + 1
            usable = ((nx <= seam) & (ny <= seam) & (c1 >= PAD - 1) & (r1 >= PAD - 1)
                      & (c0 <= shape[1] - PAD) & (r0 <= shape[0] - PAD))
        self.small = (usable & (nx <= 2) & (ny <= 2)).ravel()
        self.big = (usable & ((nx > 2) | (ny > 2))).ravel()
        self.c0, self.r0 = c0.ravel(), r0.ravel()
        self.nx, self.ny = np.nan_to_num(nx).ravel(), np.nan_to_num(ny).ravel()
        rx = [(c - c0).astype(np.float32).ravel() for c in cx]  # (c0, r0) centre = 0.5
        ry = [(c - r0).astype(np.float32).ravel() for c in cy]
        self.first = _triangle(rx[0], ry[0], rx[1] - rx[0], ry[1] - ry[0],
                               rx[2] - rx[0], ry[2] - ry[0])
        self.second = _triangle(rx[3], ry[3], rx[2] - rx[3], ry[2] - ry[3],
                                rx[1] - rx[3], ry[1] - ry[3])

    def big_quads(self) -> _BigQuads:
        """The quads whose box holds more than 2 x 2 target pixels (whole boxes)."""
        big = np.flatnonzero(self.big)
        return _BigQuads(self.row0, self.ncols, self.width, big,
                         *(v[big].astype(np.int64) for v in (self.c0, self.r0, self.nx, self.ny)),
                         tuple(v[big] for v in self.first), tuple(v[big] for v in self.second))



@dataclass(frozen=True)
class _BigQuads:
    """A block's larger quads (:class:`_BlockQuads`'s names), kept to be painted by strips."""

    row0: int
    ncols: int
    width: int
    quad: np.ndarray
    c0: np.ndarray
    r0: np.ndarray
    nx: np.ndarray
    ny: np.ndarray
    first: tuple
    second: tuple

    @property
    def size(self) -> int:
        return self.quad.size



def _candidate_range(corners) -> tuple[np.ndarray, np.ndarray]:
    """First and last target pixel index whose centre lies within the corners' range
    (NaN if a corner is NaN)."""
    low = np.minimum(np.minimum(corners[0], corners[1]), np.minimum(corners[2], corners[3]))
    high = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3]))
    return np.ceil(low - 0.5 - EDGE_TOLERANCE), np.floor(high - 0.5 + EDGE_TOLERANCE)



def _triangle(ax, ay, e1x, e1y, e2x, e2y) -> tuple:
    """(s00, t00, a, b, c, d): barycentric coordinates of the point (0.5, 0.5) relative to
    corner A and edges e1, e2, and the inverse map s = a dx + b dy, t = c dx + d dy."""
    with np.errstate(divide="ignore", invalid="ignore"):
        det = e1x * e2y - e2x * e1y
        inv = np.where(det != 0, 1 / det, np.float32(np.nan)).astype(np.float32)
        a, b, c, d = e2y * inv, -e2x * inv, -e1y * inv, e1x * inv
        qx, qy = np.float32(0.5) - ax, np.float32(0.5) - ay
        return a * qx + b * qy, c * qx + d * qy, a, b, c, d



def _paint_small(block: _BlockQuads, lookup: np.ndarray) -> None:
    """Paint the quads whose box holds at most 2 x 2 target pixels (nearly all when the
    target pixel is not finer than the source) in four whole-array passes a triangle."""
    quad = np.arange(block.small.size)
    for second, tri in ((False, block.first), (True, block.second)):
        s00, t00 = (np.where(block.small, v, np.float32(np.nan)) for v in tri[:2])
        a, b, c, d = tri[2:]
        for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
            s = s00 + a if dx else s00
            s = s + b if dy else s
            t = t00 + c if dx else t00
            t = t + d if dy else t
            _write(lookup, *_hits(block, quad, block.c0 + dx, block.r0 + dy, s, t, second))



def _paint_big(quads: _BigQuads, top: int, bottom: int, lookup: np.ndarray) -> None:
    """Paint the candidates of ``quads`` on target rows ``top`` to ``bottom`` (padded),
    :data:`CANDIDATE_CHUNK` at a time. The second triangles' pixels are written after
    every first triangle's, as in one pass: a pixel on an edge shared by two quads takes
    the same quad's value however the rows are cut."""
    first_row = np.maximum(quads.r0, top)
    rows = np.minimum(quads.r0 + quads.ny, bottom) - first_row
    chosen = np.flatnonzero(rows > 0)
    counts = quads.nx[chosen] * rows[chosen]
    ends = np.cumsum(counts)
    seconds = []
    start = 0
    while start < chosen.size:
        done = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, done + CANDIDATE_CHUNK, "right")))
        run = slice(start, stop)
        which = np.repeat(chosen[run], counts[run])
        offset = np.arange(which.size) - np.repeat(ends[run] - counts[run] - done, counts[run])
        width = quads.nx[which]
        dx, dy = offset % width, offset // width + first_row[which] - quads.r0[which]
        col = quads.c0[which] + dx
        on_grid = (col >= 0) & (col < quads.width)
        which, dx, dy, col = which[on_grid], dx[on_grid], dy[on_grid], col[on_grid]
        fx, fy = dx.astype(np.float32), dy.astype(np.float32)
        row = quads.r0[which] + dy
        for second, triangle in ((False, quads.first), (True, quads.second)):
            s00, t00, a, b, c, d = (v[which] for v in triangle)
            hits = _hits(quads, quads.quad[which], col, row, s00 + a * fx + b * fy,
                         t00 + c * fx + d * fy, second)
            if second:
                seconds.append(hits)
            else:
                _write(lookup, *hits)
        start = stop
    for hits in seconds:
        _write(lookup, *hits)



def _hits(block: _BlockQuads | _BigQuads, quad: np.ndarray, col: np.ndarray, row: np.ndarray,
          s, t, second: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidates (``col``, ``row``: padded target pixel) whose barycentric (s, t) are
    inside the triangle of ``quad`` (the block's flat quad index): their flat target
    index and fractional source column and row."""
    with np.errstate(invalid="ignore"):
        inside = (s >= -EDGE_TOLERANCE) & (t >= -EDGE_TOLERANCE) & (s + t <= 1 + EDGE_TOLERANCE)
    hits = np.flatnonzero(inside)
    quad = quad[hits]
    i, j = quad % block.ncols, quad // block.ncols + block.row0
    s, t = np.clip(s[hits], 0, 1), np.clip(t[hits], 0, 1)
    target = (row[hits].astype(np.int64, copy=False) * block.width
              + col[hits].astype(np.int64, copy=False))
    return target, (i + 1 - s if second else i + s), (j + 1 - t if second else j + t)



def _write(lookup: np.ndarray, target: np.ndarray, col: np.ndarray, row: np.ndarray) -> None:
    lookup[0, target] = col
    lookup[1, target] = row
