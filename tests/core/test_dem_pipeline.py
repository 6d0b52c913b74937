"""DEM pipelines (shift step + bias corrections) on sensor-simulated truth: block
averages of the real Longyearbyen DEM with a whole-fine-pixel shift and analytic tilt,
undulation and elevation-dependent bias (tests/dem_sensor.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from dem_sensor import DEM, SensorCase, make_pair

from coreg.core.dem.dem import align_dem
from coreg.core.dem.pipeline import estimate_dem_pipeline, parse_pipeline
from coreg.core.dem.terrain import nmad
from coreg.core.errors import CoregInputError

TILT = (2e-4, -1e-4)  # 2.6 m and 1.0 m across the scene's half-widths
UNDULATION = (1.5, 4000.0, 20.0)  # amplitude (m), wavelength (m), track azimuth (deg)
LYB_REF, LYB_DEM = DEM / "longyearbyen" / "aligned_elev.tif", DEM / "longyearbyen" / "DEM_1995.tif"


def _shift_error_px(alignment, pair) -> float:
    return max(abs(alignment.shift_x - pair["shift"][0]),
               abs(alignment.shift_y - pair["shift"][1])) / pair["res"]


def test_pipeline__recovers_shift_tilt_and_undulation(tmp_path):
    pair = make_pair(SensorCase(tilt=TILT, undulation=UNDULATION), tmp_path)
    alignment = estimate_dem_pipeline(pair["ref"], pair["dem"], "nuth_kaab+deramp1+directional")
    assert _shift_error_px(alignment, pair) <= 0.01
    deramp, directional = alignment.corrections
    # The corrections are added to the DEM: they undo what the simulation added.
    assert deramp["tilt_x"] == pytest.approx(-TILT[0], rel=0.02)
    assert deramp["tilt_y"] == pytest.approx(-TILT[1], rel=0.02)
    assert directional["angle_deg"] == pytest.approx(UNDULATION[2], abs=0.5)
    (sine,) = directional["sines"]
    assert sine["amplitude"] == pytest.approx(UNDULATION[0], rel=0.02)
    assert sine["wavelength"] == pytest.approx(UNDULATION[1], rel=0.02)
    assert alignment.nmad_after < 0.6  # the simulated noise: 0.3 m on each of two averages
    json.dumps(alignment.report())


def test_pipeline__order_does_not_matter(tmp_path):
    """Backfitting: a correction written first still sees the shift removed."""
    pair = make_pair(SensorCase(tilt=TILT), tmp_path)
    first = estimate_dem_pipeline(pair["ref"], pair["dem"], "deramp1+nuth_kaab")
    assert _shift_error_px(first, pair) <= 0.01
    assert first.corrections[0]["tilt_x"] == pytest.approx(-TILT[0], rel=0.02)


def test_pipeline__given_angle_and_binned_profile(tmp_path):
    pair = make_pair(SensorCase(undulation=UNDULATION), tmp_path)
    alignment = estimate_dem_pipeline(pair["ref"], pair["dem"],
                                      f"nuth_kaab+directional_bins:{UNDULATION[2]}")
    assert alignment.corrections[0]["angle_deg"] == UNDULATION[2]
    assert not alignment.corrections[0]["angle_estimated"]
    assert _shift_error_px(alignment, pair) <= 0.01
    assert alignment.nmad_after < 0.6


def test_pipeline__elevation_dependent_bias_written(tmp_path):
    """A bias of 4 mm per metre of elevation: the binned correction follows it and
    the written DEM carries it (its dh has the NMAD the estimate reports)."""
    pair = make_pair(SensorCase(), tmp_path)
    with rasterio.open(pair["dem"], "r+") as ds:
        z = ds.read(1)
        ds.write(z + 0.004 * (z - 400.0), 1)
    dh_path = tmp_path / "dh.tif"
    alignment = align_dem(pair["ref"], pair["dem"], tmp_path / "out.tif", dh_output=dh_path,
                          pipeline="nuth_kaab+terrain_elevation")
    (terrain,) = alignment.corrections
    slope = np.polyfit(terrain["knots"], terrain["values"], 1)[0]
    assert slope == pytest.approx(-0.004, rel=0.05)
    assert _shift_error_px(alignment, pair) <= 0.01
    with rasterio.open(dh_path) as ds:
        dh = ds.read(1)
    assert nmad(dh[np.isfinite(dh)]) == pytest.approx(alignment.nmad_after, abs=0.05)


def test_pipeline__dh_minimisation(tmp_path):
    pair = make_pair(SensorCase(), tmp_path)
    alignment = estimate_dem_pipeline(pair["ref"], pair["dem"], "dhminimize")
    assert _shift_error_px(alignment, pair) <= 0.01
    assert alignment.shift_z == pytest.approx(pair["dz"], abs=0.02)


@pytest.mark.parametrize("text, words", [("nuth_kaab+ramp", "Unknown pipeline step"),
                                         ("nuth_kaab+dhminimize", "one shift step"),
                                         ("deramp1:3", "takes no option"),
                                         ("directional:north", "must be a number")])
def test_parse_pipeline__clear_errors(text, words):
    with pytest.raises(CoregInputError, match=words):
        parse_pipeline(text)


#: The LZD transform xdem published with aligned_elev.tif (shared data MANIFEST.md): the
#: matrix applied to DEM_1990/95 about its centroid to make that file.
XDEM_LZD = np.array([[0.999999985, 1.17578419e-4, -1.30099078e-4, 10.2548967],
                     [-1.17594385e-4, 0.999999986, -1.22719549e-4, 1.90590312],
                     [1.30084647e-4, 1.22734846e-4, 0.999999984, -1.93544013]])
XDEM_CENTROID = np.array([515650.83, 8663888.17, 353.11])


def test_lzd__recovers_the_published_transform_of_the_real_longyearbyen_pair(tmp_path):
    """aligned_elev.tif is DEM_1995's terrain moved by xdem's LZD: fitting DEM_1995 onto
    it must give that transform back (translation taken at Coreg's centre) and leave
    dh at the resampling noise."""
    dh_path = tmp_path / "dh.tif"
    alignment = align_dem(LYB_REF, LYB_DEM, tmp_path / "out.tif", dh_output=dh_path,
                          pipeline="lzd")
    (tilt,) = alignment.corrections
    centre = np.array(tilt["centre"])
    rotation = XDEM_LZD[:, :3] - np.eye(3)
    translation = XDEM_LZD[:, 3] + rotation @ (centre - XDEM_CENTROID)
    assert [alignment.shift_x, alignment.shift_y, alignment.shift_z] == pytest.approx(
        translation, abs=0.02)
    kappa, phi, omega = rotation[1, 0], rotation[0, 2], rotation[2, 1]
    assert np.radians(alignment.rotation_deg) == pytest.approx(kappa, rel=0.02)
    assert tilt["phi_rad"] == pytest.approx(phi, rel=0.02)
    assert tilt["omega_rad"] == pytest.approx(omega, rel=0.02)
    assert alignment.nmad_after < 0.12  # Nuth & Kääb's translation leaves 1.25 m
    assert alignment.transform.model.rotation_deg == alignment.rotation_deg
    with rasterio.open(dh_path) as ds:
        dh = ds.read(1)
    assert nmad(dh[np.isfinite(dh)]) == pytest.approx(alignment.nmad_after, abs=0.02)


def test_lzd__tilt_of_a_sensor_pair(tmp_path):
    pair = make_pair(SensorCase(tilt=TILT), tmp_path)
    alignment = estimate_dem_pipeline(pair["ref"], pair["dem"], "lzd")
    assert _shift_error_px(alignment, pair) <= 0.01
    (tilt,) = alignment.corrections
    # The DEM was raised by TILT . (X, Y); LZD lowers it by omega Y - phi X.
    assert tilt["phi_rad"] == pytest.approx(TILT[0], rel=0.02)
    assert tilt["omega_rad"] == pytest.approx(-TILT[1], rel=0.02)


@pytest.mark.parametrize("step", ["dhminimize", "lzd", "icp"])
def test_blockwise_wraps_any_shift_step(step, tmp_path):
    pair = make_pair(SensorCase(), tmp_path)
    alignment = estimate_dem_pipeline(pair["ref"], pair["dem"], f"blockwise:{step}",
                                      block_size=128)
    assert alignment.method == "blockwise" and len(alignment.blocks) == 6
    for block in alignment.blocks:
        assert abs(block.fitted_x - pair["shift"][0]) / pair["res"] <= 0.01
        assert abs(block.fitted_y - pair["shift"][1]) / pair["res"] <= 0.01
    with pytest.raises(CoregInputError, match="wraps a shift step"):
        estimate_dem_pipeline(pair["ref"], pair["dem"], "blockwise:deramp1")


def test_bootstrap_standard_errors(tmp_path):
    """Noisy pair (1 m): every term gets a standard error, and the shift's error is
    within three of them (calibration over many cases: benchmarks/dem_uncertainty.py)."""
    pair = make_pair(SensorCase(noise=1.0, tilt=TILT), tmp_path)
    alignment = estimate_dem_pipeline(pair["ref"], pair["dem"], "nuth_kaab+deramp1",
                                      bootstrap=12)
    se = alignment.uncertainty["standard_error"]
    assert alignment.uncertainty["replicates"] == 12
    assert 0.0 < se["shift_x"] < 0.1 * pair["res"] and 0.0 < se["shift_y"] < 0.1 * pair["res"]
    assert abs(alignment.shift_x - pair["shift"][0]) <= 3 * se["shift_x"]
    assert abs(alignment.shift_y - pair["shift"][1]) <= 3 * se["shift_y"]
    assert se["deramp1.tilt_x"] > 0
    # The larger of the bootstrap's and the terrain jackknife's; t with 11 degrees of freedom.
    boot = alignment.uncertainty["standard_error_bootstrap"]
    terrain = alignment.uncertainty["standard_error_terrain"]
    assert all(se[k] == max(boot[k], terrain[k]) for k in boot)
    assert 0 < terrain["shift_x"] < 0.1 * pair["res"]
    assert alignment.uncertainty["t95"] == pytest.approx(2.201, abs=1e-3)
    assert alignment.uncertainty["interval_95"]["shift_x"] == pytest.approx(2.201 * se["shift_x"],
                                                                            rel=1e-3)
    json.dumps(alignment.report())


def _benchmark_module(name: str, monkeypatch):
    """A benchmarks/ script as a module (its own imports resolve in benchmarks/)."""
    folder = Path(__file__).resolve().parents[2] / "benchmarks"
    monkeypatch.syspath_prepend(str(folder))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, folder / "results"


def test_calibration_of_the_committed_uncertainty_runs(monkeypatch):
    """The calibration standard on every committed run of benchmarks/dem_uncertainty.py
    (sensor-simulated pairs): the 95 % intervals hold 90-98 % of the true terms, and are
    useful, not just wide: their median half-width is at most 3x the 95th percentile of
    the observed error, term by term."""
    bench, results = _benchmark_module("dem_uncertainty", monkeypatch)
    runs = sorted(results.glob("dem_uncertainty*.json"))
    assert runs
    for path in runs:
        rows = json.loads(path.read_text())["rows"]
        names = list(rows[0]["errors"])
        covered = np.mean([[abs(r["errors"][n]) <= r["t95"] * bench.combined(r, n)
                            for n in names] for r in rows])
        assert 0.90 <= covered <= 0.98, f"{path.name}: coverage {covered:.3f}"
        for name in names:
            ratio = bench.width_ratio(rows, name)
            assert ratio <= 3.0, f"{path.name} {name}: half-width / p95 error {ratio:.2f}"
