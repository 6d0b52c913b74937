"""Triangle painting: the lookup images (fractional source column and row of every target
pixel centre), vectorised over blocks of source rows."""

from __future__ import annotations

import numpy as np
from affine import Affine

from ..errors import CanceledError, CoregInputError
from ..grid import Grid
from ..io.raster_io import IsCanceled, Progress
from ..parallel import in_threads

#: Barycentric tolerance: target pixels on a shared triangle edge belong to both triangles.
EDGE_TOLERANCE = 1e-4



#: Source rows painted per block (bounds the temporaries of the vectorised painting).
ROW_BLOCK = 256



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
    """
    if x.shape != y.shape:
        raise CoregInputError(f"The X and Y coordinate images differ in shape: {x.shape} vs "
                              f"{y.shape}.")
    if x.shape[0] < 2 or x.shape[1] < 2:
        raise CoregInputError("A swath needs at least 2 x 2 pixels to be rectified.")
    inverse = ~grid.transform
    # A margin of PAD pixels takes the candidates of quads straddling the grid's edge.
    lookup = np.full((2, grid.height + 2 * PAD, grid.width + 2 * PAD), np.nan, np.float32)
    seam = _seam_limit(x, y, inverse)
    rows = x.shape[0]

    def paint(r0: int) -> None:
        if is_canceled and is_canceled():
            raise CanceledError("Canceled while painting the lookup images.")
        r1 = min(r0 + ROW_BLOCK, rows - 1)
        px, py = inverse * (x[r0:r1 + 1], y[r0:r1 + 1])
        _paint_block(_BlockQuads(px + PAD, py + PAD, r0, lookup.shape[1:], seam),
                     lookup.reshape(2, -1))

    # Blocks meet on shared quad edges only, where both paint the same positions.
    in_threads(paint, range(0, rows - 1, ROW_BLOCK), progress, 60.0)
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

    def source_position(self, quads: np.ndarray, s, t, second: bool):
        """Fractional source (column, row) of barycentric (s, t) in a quad's triangle."""
        i, j = quads % self.ncols, quads // self.ncols + self.row0
        s, t = np.clip(s, 0, 1), np.clip(t, 0, 1)
        return (i + 1 - s, j + 1 - t) if second else (i + s, j + t)

    def target_index(self, quads: np.ndarray, dx, dy) -> np.ndarray:
        """Flat (padded) target pixel index of candidate (c0 + dx, r0 + dy) of each quad."""
        rows = self.r0[quads].astype(np.int64) + dy
        return rows * self.width + self.c0[quads].astype(np.int64) + dx



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



def _paint_block(block: _BlockQuads, lookup: np.ndarray) -> None:
    """Paint a block: quads whose box holds at most 2 x 2 target pixels (nearly all when the
    target pixel is not finer than the source) in four whole-array passes; the others by
    enumerating their candidates."""
    for second, tri in ((False, block.first), (True, block.second)):
        s00, t00 = (np.where(block.small, v, np.float32(np.nan)) for v in tri[:2])
        a, b, c, d = tri[2:]
        for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
            s = s00 + a if dx else s00
            s = s + b if dy else s
            t = t00 + c if dx else t00
            t = t + d if dy else t
            _paint_hits(block, None, s, t, dx, dy, second, lookup)
    big = np.flatnonzero(block.big)
    if big.size:
        counts = (block.nx[big] * block.ny[big]).astype(np.int64)
        quads = np.repeat(big, counts)
        offset = np.arange(quads.size) - np.repeat(np.cumsum(counts) - counts, counts)
        width = block.nx[quads].astype(np.int64)
        dx, dy = offset % width, offset // width
        col, row = block.c0[quads] + dx, block.r0[quads] + dy
        on_grid = (col >= 0) & (col < block.width) & (row >= 0) & (row < block.height)
        quads, dx, dy = quads[on_grid], dx[on_grid], dy[on_grid]
        fx, fy = dx.astype(np.float32), dy.astype(np.float32)
        for second, tri in ((False, block.first), (True, block.second)):
            s00, t00, a, b, c, d = (v[quads] for v in tri)
            s = s00 + a * fx + b * fy
            t = t00 + c * fx + d * fy
            _paint_hits(block, quads, s, t, dx, dy, second, lookup)



def _paint_hits(block: _BlockQuads, quads, s, t, dx, dy, second: bool,
                lookup: np.ndarray) -> None:
    """Write the candidates (c0 + dx, r0 + dy) whose barycentric (s, t) are inside the
    triangle. ``quads``: the quad of each candidate (None: one candidate per quad)."""
    with np.errstate(invalid="ignore"):
        inside = (s >= -EDGE_TOLERANCE) & (t >= -EDGE_TOLERANCE) & (s + t <= 1 + EDGE_TOLERANCE)
    hits = np.flatnonzero(inside)
    if not hits.size:
        return
    owner = hits if quads is None else quads[hits]
    if quads is not None:
        dx, dy = dx[hits], dy[hits]
    target = block.target_index(owner, dx, dy)
    col, row = block.source_position(owner, s[hits], t[hits], second)
    lookup[0, target] = col
    lookup[1, target] = row
