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


def test_metres_per_unit_is_one_rule_for_the_radii_and_the_dems():
    """The unit's metres for the radii (a CRS and a latitude) and the DEMs' (a window's
    centre): metres per degree on a geographic CRS, the linear unit's factor on a
    projected one (US survey feet), and no figure, or the DEMs' metres, without a unit."""
    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.windows import Window

    from coreg.core.dem.samples import metres_per_unit_at
    from coreg.core.grid import Grid, metres_per_degree, metres_per_unit

    feet = CRS.from_epsg(2263)  # NAD83 / New York Long Island (ftUS)
    assert metres_per_unit(feet, 40.0) == pytest.approx((1200 / 3937, 1200 / 3937), rel=1e-9)
    assert metres_per_unit(CRS.from_epsg(4326), 52.0) == metres_per_degree(52.0)
    local = CRS.from_wkt('LOCAL_CS["anonymous",LOCAL_DATUM["x",32767],UNIT["unknown",1],'
                         'AXIS["Easting",EAST],AXIS["Northing",NORTH]]')
    assert metres_per_unit(local, 0.0) is None
    # the DEMs' figure is taken at the window's centre: latitude 52 here
    geographic = Grid(CRS.from_epsg(4326), Affine(0.001, 0, 5.0, 0, -0.001, 52.05), 100, 100)
    assert np.array_equal(metres_per_unit_at(geographic, Window(0, 0, 100, 100)),
                          metres_per_degree(52.0))
    unitless = Grid(local, Affine(1, 0, 0, 0, -1, 0), 10, 10)
    assert np.array_equal(metres_per_unit_at(unitless, Window(0, 0, 10, 10)), [1.0, 1.0])
