"""ICP, point-to-plane (Chen & Medioni 1992), as a shift step of a DEM pipeline.

The reference points p (a reference DEM's stable pixels, or a point cloud) are matched
to the closest point q of the moved DEM's surface; the residual is the distance
(p - q) . n along the surface normal n there (from the DEM's gradient). For a DEM the
closest point is found by projecting p vertically onto the surface, then onto the
tangent plane there, and again at the foot's horizontal position. Linearised with small
angles, the 6 terms (translation, rotations omega about x, phi about y, kappa about z,
about the pipeline's centre) are a robust (Huber, blunders trimmed) least squares,
iterated to convergence. The transform has LZD's parameterisation, so the pipeline
reports and applies both the same way (shift, rotation about the vertical, ``lzd_tilt``).
"""

from __future__ import annotations

import numpy as np

from ..errors import CanceledError, CoregistrationError
from .irls import huber_weights, reweighted_lstsq
from .terrain import gradient

#: Closest-point refinements per ICP iteration (vertical projection, then planes).
MATCH_STEPS = 2
#: Steepest surface (degrees) whose points are used: cliffs' normals are unreliable.
MAX_SLOPE_DEG = 70.0
#: Fewest usable points.
MIN_POINTS = 100


def huber_lstsq(design: np.ndarray, values: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Least squares by iteratively reweighted Huber weights, with residuals beyond
    :data:`.irls.TRIM_SIGMAS` robust sigmas trimmed."""
    return reweighted_lstsq(design, values, huber_weights, iterations, rtol=1e-6, atol=1e-9)


def surface(state, dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, ...]:
    """The moved DEM at the fitted points offset by (dx, dy) metres: its height and
    Horn gradient (:func:`.terrain.gradient` on the 3 x 3 neighbourhood sampled at
    one-pixel steps)."""
    w, lzd, t, scale = state.where, state.lzd, state.sampler.grid.transform, state.scale
    rx, ry = abs(t.a), abs(t.e)
    sx, sy = state.sample_shifts(w)
    rows = []
    for i in (-1, 0, 1):  # north to south, as the grid's rows go
        row = []
        for j in (-1, 0, 1):
            ox, oy = dx / scale[0] + j * rx, dy / scale[1] - i * ry
            z = state.sampler.at(state.fit, sx - ox, sy - oy)
            row.append(z + state.tz + lzd.omega * (w.y + oy - lzd.centre[1])
                       - lzd.phi * (w.x + ox - lzd.centre[0]))
        rows.append(row)
    stack = np.array(rows)
    gx, gy = gradient(stack, rx * scale[0], ry * scale[1])
    return stack[1, 1], gx[0, 0], gy[0, 0]


def match(state, pz: np.ndarray) -> tuple[np.ndarray, ...]:
    """Closest points of the moved DEM to the points (x, y, pz): the signed distance
    along the unit normal, the normal, the matched point's offset (x, y, z, metres)
    from the pipeline's centre, and 1 / cos(slope) there."""
    w, scale, c = state.where, state.scale, state.centre
    dx = dy = np.zeros(pz.size)
    for _ in range(MATCH_STEPS):
        z, gx, gy = surface(state, dx, dy)
        length = np.sqrt(1.0 + gx**2 + gy**2)
        n = np.array([-gx, -gy, np.ones_like(gx)]) / length
        # p's distance to the tangent plane at (x + dx, y + dy, z), then its foot.
        distance = -dx * n[0] - dy * n[1] + (pz - z) * n[2]
        dx, dy = np.nan_to_num(-distance * n[0]), np.nan_to_num(-distance * n[1])
    offset = np.array([(w.x - c[0]) * scale[0] + dx, (w.y - c[1]) * scale[1] + dy,
                       pz - distance * n[2] - c[2]])
    return distance, n, offset, length


def fit_icp(state, others: np.ndarray) -> None:
    """Fit the pipeline state's rigid transform (``shift``, ``tz``, ``lzd`` omega and
    phi, ``kappa``) by point-to-plane ICP, the other steps' corrections ``others``
    taken off the reference points."""
    pz = state.fit.ref - others
    extent = float(max(np.ptp(state.where.x), np.ptp(state.where.y), 1.0))
    steepest = np.sqrt(1.0 + np.tan(np.radians(MAX_SLOPE_DEG)) ** 2)
    for _ in range(state.max_iterations):
        if state.is_canceled and state.is_canceled():
            raise CanceledError("Canceled while fitting the DEM pipeline.")
        distance, n, offset, length = match(state, pz)
        ok = np.isfinite(distance) & (length <= steepest)
        if ok.sum() < MIN_POINTS:
            raise CoregistrationError("Too few stable points on the DEM for ICP.")
        design = np.column_stack([n.T, np.cross(offset.T, n.T)])
        delta = huber_lstsq(design[ok], distance[ok])
        if state.rigid_step(delta, extent, state.scale):
            return
    state.not_converged("ICP")
