"""The patches of a small, densely covered overlap sampled as one grid: one window read,
one cloud mask, one spline prefilter and one interpolation for all of them (their
samples are slices of it), instead of a chunk and a call per patch, whose Python
overhead dominated small pairs (49 patches of 64 px on a 256 px overlap)."""

from __future__ import annotations

from affine import Affine

from ..grid import Grid

#: Patches are sampled as one grid when the grid around them holds at most this many
#: pixels ...
UNION_PIXELS = 2**21
#: ... and at most this many times the pixels of the patches themselves (a dense layout:
#: a sparse one over a large overlap would sample mostly pixels no patch uses).
UNION_DENSITY = 1.5


def patch_union(grids: list[Grid]) -> tuple[Grid, list[tuple[int, int]]] | None:
    """The grid around ``grids`` (sub-grids of one grid, whole pixels apart) and each
    one's (row, col) offset in it; None when they are not such sub-grids, or the grid
    around them is too large or too sparsely covered (:data:`UNION_PIXELS`,
    :data:`UNION_DENSITY`)."""
    if not grids:
        return None
    first = grids[0].transform
    linear = first[:2] + first[3:5]
    inverse = ~Affine(first.a, first.b, first.c, first.d, first.e, first.f)
    offsets = []
    for grid in grids:
        t = grid.transform
        if t[:2] + t[3:5] != linear or grid.crs != grids[0].crs:
            return None
        col, row = inverse * (t.c, t.f)
        r, c = round(row), round(col)
        if abs(row - r) > 1e-6 or abs(col - c) > 1e-6:
            return None
        offsets.append((r, c))
    r0 = min(r for r, _ in offsets)
    c0 = min(c for _, c in offsets)
    height = max(r + g.height for (r, _), g in zip(offsets, grids)) - r0
    width = max(c + g.width for (_, c), g in zip(offsets, grids)) - c0
    area = sum(g.width * g.height for g in grids)
    if width * height > min(UNION_PIXELS, UNION_DENSITY * area):
        return None
    union = Grid(grids[0].crs, first * Affine.translation(c0, r0), width, height)
    return union, [(r - r0, c - c0) for r, c in offsets]
