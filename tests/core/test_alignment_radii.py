"""The Monte Carlo radii of a global alignment in several units: a unit that is a
multiple of another on both axes takes its radii scaled, which agree with a run of
their own to the Monte Carlo's noise."""

from __future__ import annotations

import numpy as np
import pytest

from coreg.core.matching.uncertainty import radii, radii_per_unit

STATISTICAL = np.array([[4.0, 1.0, 0.02], [1.0, 9.0, -0.01], [0.02, -0.01, 1e-4]])
SYSTEMATIC = np.diag([0.0625, 0.0625, 0.0])
EXTENT = (3000.0, 2000.0)  # map units


def _radii_in(units):
    calls.append(units)
    scale = np.diag([units[0], units[1], 1.0])
    mean_r2 = ((EXTENT[0] * units[0]) ** 2 + (EXTENT[1] * units[1]) ** 2) / 12
    return radii(scale @ STATISTICAL @ scale, scale @ SYSTEMATIC @ scale, mean_r2, 12.0)


calls: list = []


@pytest.fixture(autouse=True)
def _no_calls():
    calls.clear()


def test_metres_beside_square_pixels_are_the_pixel_radii_scaled():
    out = radii_per_unit(_radii_in, {"px": (1 / 10, -1 / 10), "m": (1.0, 1.0)})
    assert calls == [(1 / 10, -1 / 10)]
    # a run of their own: the same distribution, other samples (the rotation is not
    # scaled, so the factor of the covariance differs): Monte Carlo noise
    np.testing.assert_allclose(out["m"], _radii_in((1.0, 1.0)), rtol=0.03)
    np.testing.assert_allclose(out["m"], [10 * v for v in out["px"]], rtol=1e-12)


def test_a_unit_of_other_proportions_runs_its_own_monte_carlo():
    out = radii_per_unit(_radii_in, {"px": (1 / 10, -1 / 10), "m": (1.0, 0.5),
                                     "none": None})
    assert calls == [(1 / 10, -1 / 10), (1.0, 0.5)] and out["none"] is None
    assert not np.allclose(out["m"], [10 * v for v in out["px"]], rtol=1e-3)


@pytest.mark.parametrize("latitude", [-78.5, -33.0, 0.0, 12.3, 45.0, 60.0, 89.5])
def test_metres_per_degree_is_the_geodesic_over_a_pixel(latitude):
    """WGS 84's radii of curvature against PROJ's geodesic over a 10 m pixel (1e-4°)."""
    from pyproj import Geod

    from coreg.core.grid import metres_per_degree

    geod, step = Geod(ellps="WGS84"), 1e-4
    along_x = geod.inv(10.0, latitude, 10.0 + step, latitude)[2] / step
    along_y = geod.inv(10.0, latitude, 10.0, latitude + step)[2] / step
    assert np.allclose(metres_per_degree(latitude), (along_x, along_y), rtol=2e-8)
