"""Variogram and the standard error of a mean elevation change (core/dem/variogram.py,
core/dem/dh_uncertainty.py). Truth: fields of white noise smoothed by a Gaussian filter,
whose covariance is known in closed form (a Gaussian of standard deviation sqrt(2) times
the filter's), and Monte Carlo over many such fields."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from dem_sensor import SensorCase, make_pair
from scipy import ndimage

from coreg.core.dem import variogram
from coreg.core.dem.dem import align_dem
from coreg.core.errors import CoregInputError

RES = 10.0
FILTER_PX = 3.0
#: The filtered field's covariance exp(-h^2 / (4 s^2)) is the Gaussian model of effective
#: range r with 3 / r^2 = 1 / (4 s^2).
RANGE = math.sqrt(12.0) * FILTER_PX * RES


def _field(rng, shape=(128, 128), nugget=0.3):
    smooth = ndimage.gaussian_filter(rng.standard_normal(shape), FILTER_PX, mode="wrap")
    smooth /= math.sqrt(1.0 / (4 * math.pi * FILTER_PX**2))  # unit variance
    return smooth + math.sqrt(nugget) * rng.standard_normal(shape)


def test_variogram_fit_recovers_range_and_nugget():
    rng = np.random.default_rng(3)
    values = _field(rng, (256, 256))
    values[:40, :60] = np.nan  # a void: pairs are counted where both pixels exist
    fitted = variogram.fit_variogram(variogram.empirical_variogram(values, RES, RES))
    longest = max(fitted["structures"], key=lambda s: s["sill"])
    assert abs(longest["range"] / RANGE - 1) < 0.1
    assert abs(fitted["sill"] - 1.3) < 0.15
    assert fitted["nugget"] + sum(s["sill"] for s in fitted["structures"]
                                  if s["range"] < RANGE / 3) == pytest.approx(0.3, abs=0.05)


def test_standard_error_of_a_mean_matches_monte_carlo():
    """The double sum over a disc of 20 px radius against the spread of the disc's
    mean over 300 fields (the true model; and the model fitted on one field)."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:128, 0:128]
    disc = np.hypot(yy - 64, xx - 64) <= 20
    means = [_field(rng)[disc].mean() for _ in range(300)]
    truth = float(np.std(means, ddof=1))
    model = {"nugget": 0.3, "sill": 1.3,
             "structures": [{"model": "gaussian", "range": RANGE, "sill": 1.0}]}
    sigma = np.where(disc, 1.0, np.nan)
    exact = variogram.mean_standard_error(sigma, model, RES, RES)
    assert exact["standard_error"] == pytest.approx(truth, rel=0.08)
    assert exact["standard_error"] > 3 * exact["standard_error_uncorrelated"]
    fitted = variogram.fit_variogram(variogram.empirical_variogram(_field(rng, (256, 256)),
                                                                   RES, RES))
    assert variogram.mean_standard_error(sigma, fitted, RES, RES)["standard_error"] == (
        pytest.approx(truth, rel=0.15))


def test_error_by_slope_is_heteroscedastic():
    rng = np.random.default_rng(1)
    slope = rng.uniform(0, 45, 50_000)
    dh = rng.normal(0, 1 + slope / 15)  # sigma 1 m flat, 4 m at 45 degrees
    table = variogram.error_by_slope(dh, slope)
    assert variogram.sigma_at(table, np.array([2.0]))[0] == pytest.approx(1.13, rel=0.1)
    assert variogram.sigma_at(table, np.array([40.0]))[0] == pytest.approx(3.67, rel=0.1)


def test_align_dem_reports_the_error_of_elevation_change(tmp_path):
    """A sensor pair aligned with an area (a rectangle standing for a glacier): the
    report holds the error model and the area's standard error of mean dh, larger than
    if the errors were independent (the resampling error of the relief is correlated
    over kilometres)."""
    pair = make_pair(SensorCase(noise=0.5), tmp_path)
    with rasterio.open(pair["dem"]) as ds:
        profile, shape = ds.profile, ds.shape
    area = np.zeros(shape, np.uint8)
    area[60:120, 100:200] = 1
    profile.update(dtype="uint8", nodata=None)
    with rasterio.open(tmp_path / "glacier.tif", "w", **profile) as ds:
        ds.write(area, 1)
    alignment = align_dem(pair["ref"], pair["dem"], tmp_path / "out.tif",
                          areas=[tmp_path / "glacier.tif"])
    report = alignment.report()["dh_uncertainty"]
    assert report["stable_pixels"] == pytest.approx(area.size - area.sum(), rel=0.03)
    assert report["model"]["sill"] > 0
    (glacier,) = report["areas"]
    assert glacier["name"] == "glacier" and glacier["pixels"] == area.sum()
    assert abs(glacier["mean_dh"]) < 0.1  # no change was simulated
    assert glacier["standard_error_mean_dh"] > 2 * glacier["standard_error_if_uncorrelated"]
    assert glacier["standard_error_mean_dh"] < 0.5


def test_points_reference_has_no_elevation_change_error(tmp_path):
    pair = make_pair(SensorCase(), tmp_path)
    points = tmp_path / "p.csv"
    points.write_text("x,y,z\n1,2,3\n")
    with pytest.raises(CoregInputError, match="uncertainty"):
        align_dem(points, pair["dem"], tmp_path / "out.tif", variogram=True)


def test_large_dems_are_thinned_with_short_lags_kept(tmp_path, monkeypatch):
    """A DEM above MAX_PIXELS is read every few pixels, with a full-resolution window
    for the short lags: the area's standard error stays near the unthinned one."""
    from coreg.core.dem import dh_uncertainty

    pair = make_pair(SensorCase(noise=0.5), tmp_path)
    with rasterio.open(pair["dem"]) as ds:
        profile, shape = ds.profile, ds.shape
    area = np.zeros(shape, np.uint8)
    area[60:160, 80:220] = 1
    profile.update(dtype="uint8", nodata=None)
    with rasterio.open(tmp_path / "area.tif", "w", **profile) as ds:
        ds.write(area, 1)
    align_dem(pair["ref"], pair["dem"], tmp_path / "out.tif")
    full = dh_uncertainty.elevation_change_uncertainty(pair["ref"], tmp_path / "out.tif",
                                                       areas=[tmp_path / "area.tif"])
    monkeypatch.setattr(dh_uncertainty, "MAX_PIXELS", 10_000)
    thin = dh_uncertainty.elevation_change_uncertainty(pair["ref"], tmp_path / "out.tif",
                                                       areas=[tmp_path / "area.tif"])
    assert full["grid_step"] == 1 and thin["grid_step"] == 3
    # int(): under NumPy 2 a uint64 sum minus a larger int wraps around
    assert thin["areas"][0]["pixels"] == pytest.approx(int(area.sum()), rel=0.05)
    assert thin["areas"][0]["standard_error_mean_dh"] == pytest.approx(
        full["areas"][0]["standard_error_mean_dh"], rel=0.3)
    assert min(thin["variogram"]["lag"]) < 1.5 * min(full["variogram"]["lag"])
