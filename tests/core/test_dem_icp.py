"""ICP (point-to-plane) as a shift step of the DEM pipeline, on sensor-simulated truth:
block averages of the real Longyearbyen DEM with a whole-fine-pixel shift, a vertical
offset and an analytic tilt (tests/dem_sensor.py), and altimeter-like reference points."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from affine import Affine
from dem_sensor import SensorCase, make_pair, make_points

from coreg.core.dem.bias import Deramp
from coreg.core.dem.pipeline import estimate_dem_pipeline, parse_pipeline
from coreg.core.dem.points import estimate_dem_to_points
from coreg.core.errors import CoregInputError

TILT = (2e-4, -1e-4)  # radians of rotation about y (phi) and x (-omega)


def _shift_error_px(alignment, pair) -> float:
    return max(abs(alignment.shift_x - pair["shift"][0]),
               abs(alignment.shift_y - pair["shift"][1])) / pair["res"]


def test_icp__shift_and_vertical_offset(tmp_path):
    pair = make_pair(SensorCase(), tmp_path)
    alignment = estimate_dem_pipeline(pair["ref"], pair["dem"], "icp")
    assert _shift_error_px(alignment, pair) <= 0.01
    assert alignment.shift_z == pytest.approx(pair["dz"], abs=0.02)
    assert alignment.converged and alignment.nmad_after < 0.6
    report = json.loads(json.dumps(alignment.report()))
    assert report["pipeline"] == "icp" and report["corrections"][0]["step"] == "lzd_tilt"


def test_icp__rotation_of_a_sensor_pair_with_a_deramp(tmp_path):
    """The tilt is a small rotation about x and y: ICP takes it whole, in LZD's terms,
    and a deramp fitted jointly is left with nothing."""
    pair = make_pair(SensorCase(tilt=TILT), tmp_path)
    for pipeline in ("icp", "icp+deramp1"):
        alignment = estimate_dem_pipeline(pair["ref"], pair["dem"], pipeline)
        assert _shift_error_px(alignment, pair) <= 0.01
        tilt = alignment.corrections[-1]
        assert tilt["phi_rad"] == pytest.approx(TILT[0], rel=0.03)
        assert tilt["omega_rad"] == pytest.approx(-TILT[1], rel=0.05)
        assert abs(np.radians(alignment.rotation_deg)) < 1e-5
    deramp = alignment.corrections[0]
    assert abs(deramp["tilt_x"]) < 2e-6 and abs(deramp["tilt_y"]) < 2e-5


def test_icp__point_cloud_reference(tmp_path):
    pair = make_pair(SensorCase(tilt=TILT), tmp_path)
    path, _ = make_points(SensorCase(), tmp_path)  # sparse tracks, 1 % blunders
    alignment = estimate_dem_to_points(path, pair["dem"], pipeline="icp")
    assert _shift_error_px(alignment, pair) <= 0.05
    (tilt,) = alignment.corrections
    assert tilt["phi_rad"] == pytest.approx(TILT[0], rel=0.05)


def test_icp__parsing_and_geographic_refused(tmp_path):
    steps = parse_pipeline("icp+deramp1")
    assert steps[0] == "icp" and isinstance(steps[1], Deramp)
    with pytest.raises(CoregInputError, match="one shift step"):
        parse_pipeline("icp+lzd")
    z = np.add.outer(np.arange(60.0), np.arange(60.0) ** 1.5)
    for name in ("ref", "dem"):
        with rasterio.open(tmp_path / f"{name}.tif", "w", driver="GTiff", width=60, height=60,
                           count=1, dtype="float32", crs="EPSG:4326",
                           transform=Affine(1e-3, 0, 15.0, 0, -1e-3, 78.0)) as dst:
            dst.write(z.astype(np.float32), 1)
    with pytest.raises(CoregInputError, match="ICP needs a DEM in a projected CRS"):
        estimate_dem_pipeline(tmp_path / "ref.tif", tmp_path / "dem.tif", "icp")
