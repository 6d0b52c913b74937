"""core/local/field_fit.py: the smooth field fitted through the kept tie points."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import RBFInterpolator

from coreg.core.local import field_fit
from coreg.core.local.field_fit import fit_field
from coreg.core.local.points import TiePoints
from coreg.core.local.tie_points import grid_positions


@pytest.fixture
def points() -> TiePoints:
    """A 19 x 19 grid (spacing 50) with a smooth field plus noise, a tenth rejected."""
    rng = np.random.default_rng(0)
    rows, cols = grid_positions(1000, 1000, 50, 64)
    p = TiePoints(rows, cols)
    p.dx = 3 * np.sin(rows / 150) + 0.1 * rng.normal(size=len(rows))
    p.dy = 2 * np.cos(cols / 200) + 0.1 * rng.normal(size=len(rows))
    p.reason = ["" if r > 0.1 else "rejected" for r in rng.random(len(rows))]
    return p


def test_fit_field__is_scipys_smoothing_thin_plate_spline(points):
    field = fit_field(points, (1000, 1000), 12.0, 50)
    kept = points.kept
    spline = RBFInterpolator(np.column_stack([points.row[kept], points.col[kept]]) / 50,
                             np.column_stack([points.dx[kept], points.dy[kept]]),
                             kernel="thin_plate_spline", smoothing=field_fit.SMOOTHING)
    nodes = np.arange(field.dx.shape[0]) * 12.0 / 50
    nr, nc = np.meshgrid(nodes, nodes, indexing="ij")
    expected = spline(np.column_stack([nr.ravel(), nc.ravel()])).reshape(*nr.shape, 2)
    np.testing.assert_allclose(field.dx, expected[..., 0], atol=1e-5)
    np.testing.assert_allclose(field.dy, expected[..., 1], atol=1e-5)


def test_fit_field__nearest_points_spline_for_many_points(points, monkeypatch):
    whole = fit_field(points, (1000, 1000), 12.0, 50)
    monkeypatch.setattr(field_fit, "GLOBAL_SPLINE_POINTS", 100)
    local = fit_field(points, (1000, 1000), 12.0, 50)
    inside = (slice(3, 81), slice(3, 81))  # nodes among the points (pixels 32 to 968)
    largest = max(np.abs(local.dx - whole.dx)[inside].max(),
                  np.abs(local.dy - whole.dy)[inside].max())
    assert 0 < largest < 0.05
