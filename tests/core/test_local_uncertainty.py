"""coreg.core.local.uncertainty: the uncertainty the local methods report holds the truth at
its stated rate on held-out pairs of the sensor-simulated local corpus (tests/local_corpus.py:
block averages of real bands, smooth fields and rotations by Lanczos-3 at the fine scale).
The constants were fitted on the other half of the corpus (benchmarks/calibration_local.py,
benchmarks/results/calibration_local.json); these tests run a few held-out cases."""

from __future__ import annotations

import numpy as np
import pytest
from local_corpus import build, local_cases, mixed_cases, split, write_pair

from coreg.core.local import uncertainty
from coreg.core.local.dense_flow import estimate_flow
from coreg.core.local.local import align_local
from coreg.core.local.tie_points import array_tiles, estimate_tie_points

HELD_OUT = {c.name: c for c in split(local_cases())[1]}
#: Small held-out cases (a few seconds in all): smooth fields, a rotation, 20-60 m pixels.
CASES = ("hongkong red 20 smooth 3", "beirut red 40 smooth 8", "cupertino 30 rot -0.8",
         "everest 60 smooth 3")


@pytest.fixture(scope="module")
def pairs(shared_data):
    return {name: build(HELD_OUT[name]) for name in CASES}


def _coverage(ex, ey, sx, sy) -> tuple[float, float]:
    """Share of errors inside the 95 % radius; median radius / 95th percentile error."""
    error, radius = np.hypot(ex, ey), uncertainty.radius95(sx, sy)
    return float(np.mean(error <= radius)), float(np.median(radius) / np.percentile(error, 95))


def test_tie_points__95_percent_radius_holds_the_truth(pairs):
    errors = []
    for pair in pairs.values():
        points, _, _ = estimate_tie_points(array_tiles(pair.reference, pair.secondary),
                                           pair.reference.shape, grid_spacing=32)
        kept = points.kept
        sx, sy = points.sigmas()
        r, c = points.row[kept], points.col[kept]
        errors.append(np.stack([points.dx[kept] - pair.truth_dx[r, c],
                                points.dy[kept] - pair.truth_dy[r, c], sx[kept], sy[kept]]))
    ex, ey, sx, sy = np.concatenate(errors, axis=1)
    assert np.isfinite(sx).all() and len(ex) >= 150
    covered, ratio = _coverage(ex, ey, sx, sy)
    assert 0.88 <= covered <= 0.99, f"the 95 % radius holds {covered:.1%} of the points"
    assert 0.5 <= ratio <= 3.0, f"median radius / 95th percentile error {ratio:.2f}"


def test_dense_flow__95_percent_radius_holds_the_truth(pairs):
    errors = []
    for pair in pairs.values():
        dx, dy = estimate_flow(pair.reference, pair.secondary)
        sx, sy = uncertainty.flow_sigmas(pair.reference, pair.secondary, dx, dy, radius=8)
        h, w = dx.shape
        rows, cols = np.mgrid[:h:4, :w:4]
        src_x, src_y = cols + pair.truth_dx[rows, cols], rows + pair.truth_dy[rows, cols]
        inside = (src_x >= 0) & (src_x <= w - 1) & (src_y >= 0) & (src_y <= h - 1)
        r, c = rows[inside], cols[inside]
        errors.append(np.stack([dx[r, c] - pair.truth_dx[r, c], dy[r, c] - pair.truth_dy[r, c],
                                sx[r, c], sy[r, c]]))
    ex, ey, sx, sy = np.concatenate(errors, axis=1)
    ok = np.isfinite(sx) & np.isfinite(sy)
    assert ok.mean() > 0.97
    covered, ratio = _coverage(ex[ok], ey[ok], sx[ok], sy[ok])
    assert 0.85 <= covered <= 0.99, f"the 95 % radius holds {covered:.1%} of the pixels"
    assert 0.2 <= ratio <= 3.0, f"median radius / 95th percentile error {ratio:.2f}"


def test_tie_points__mixed_resolutions_through_align_local(shared_data, tmp_path):
    """A 20 m secondary on a 10 m reference (exact whole-pixel truth): the report's
    uncertainty is counted in the coarser image's pixels and holds the truth."""
    case = next(c for c in mixed_cases() if c.name == "saclay 10/20 offset")
    reference, secondary, pair = write_pair(case, tmp_path)
    points = align_local(reference, secondary, grid_spacing=32).points
    assert points.pixel_ratio == pytest.approx(2.0)
    kept = points.kept
    sx, sy = points.sigmas()
    r, c = points.row[kept], points.col[kept]
    covered, ratio = _coverage(points.dx[kept] - pair.truth_dx[r, c],
                               points.dy[kept] - pair.truth_dy[r, c], sx[kept], sy[kept])
    assert kept.sum() >= 200
    assert 0.88 <= covered <= 0.995, f"the 95 % radius holds {covered:.1%} of the points"
    assert 0.5 <= ratio <= 3.0, f"median radius / 95th percentile error {ratio:.2f}"


def test_window_bounds__noise_and_texture(pairs):
    """The bound grows as the noise (twice the noise, twice the bound) and explodes on a
    flat window, where no shift can be measured."""
    image = pairs["hongkong red 20 smooth 3"].reference
    windows = np.stack([image[r:r + 64, c:c + 64] for r in (0, 100, 200) for c in (0, 90, 180)])
    rng = np.random.default_rng(1)
    noise = rng.normal(size=windows.shape) * windows.std()
    low = uncertainty.window_bounds(windows + 0.02 * noise, windows)[0]
    high = uncertainty.window_bounds(windows + 0.04 * noise, windows)[0]
    assert np.all(np.abs(high / low - 2) < 0.2)
    flat = np.full((1, 64, 64), 100.0)
    assert uncertainty.window_bounds(flat + rng.normal(size=flat.shape), flat)[0][0] > 100 * \
        np.median(low)
    empty = np.full((2, 64, 64), np.nan)  # a window under nodata or clouds: unknown
    empty[1] = windows[1]
    bounds = uncertainty.window_bounds(empty, windows[:2])
    assert np.isnan(bounds[0][0]) and bounds[0][1] == pytest.approx(0.0, abs=1e-6)


def test_calibrated__floor_and_scale():
    sigma = uncertainty.calibrated(np.array([0.0, 0.1, np.nan]), 2.0, 0.03)
    assert sigma[0] == pytest.approx(0.03) and sigma[1] == pytest.approx(np.hypot(0.2, 0.03))
    assert np.isnan(sigma[2])
    assert uncertainty.radius95(np.array([1.0]), np.array([1.0]))[0] == pytest.approx(2.4477, 1e-4)
