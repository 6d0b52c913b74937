"""coreg:align_local headless through qgis_process, on a real band warped by a known
smooth field (a 300 x 300 crop so that the run takes a few seconds)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import rasterio
from local_synthetic import SCENE, true_field, write_pair

ALG = "coreg:align_local"


@pytest.fixture(scope="module")
def pair(shared_data, tmp_path_factory):
    return write_pair(shared_data / SCENE, tmp_path_factory.mktemp("local_alg"), size=300)


def test_align_local__qgis_process(pair, tmp_path, qgis_process_runner):
    reference, secondary = pair
    params = {"REFERENCE": reference, "SECONDARY": secondary, "METHOD": 0, "GRID_SPACING": 40,
              "WINDOW_SIZE": 64, "MAX_SHIFT": 10, "REJECTION": 3,
              "OUTPUT": tmp_path / "aligned.tif", "DISPLACEMENT": tmp_path / "field.tif",
              "TIE_POINTS": tmp_path / "points.gpkg", "REPORT": tmp_path / "report.json",
              "UNCERTAINTY": tmp_path / "radius.tif"}
    args = [f"{key}={value}" for key, value in params.items()]
    code, stdout, stderr = qgis_process_runner("run", ALG, "--json", "--", *args)
    assert code == 0, stdout + stderr
    results = json.loads(stdout)["results"]
    report = json.loads(Path(results["REPORT"]).read_text())
    assert report["kind"] == "coreg.align_local" and report["method"] == "tie_points"
    assert results["N_KEPT"] == report["n_kept"] >= 0.9 * report["n_points"]
    kept = [p for p in report["points"] if not p["outlier"]]
    tx, ty = true_field(np.array([p["row"] for p in kept], float),
                        np.array([p["col"] for p in kept], float))
    assert report["rms_shift_before_px"] == pytest.approx(np.sqrt(np.mean(tx**2 + ty**2)),
                                                          abs=0.05)
    assert report["rms_shift_after_px"] < 0.1
    with rasterio.open(results["DISPLACEMENT"]) as ds:
        dx, dy = ds.read(1), ds.read(2)
    rr, cc = np.meshgrid(np.arange(300), np.arange(300), indexing="ij")
    tx, ty = true_field(rr, cc)
    inner = (slice(32, -32), slice(32, -32))
    assert np.sqrt(np.mean((dx - tx)[inner] ** 2 + (dy - ty)[inner] ** 2)) < 0.1
    with rasterio.open(results["UNCERTAINTY"]) as ds:
        radius = ds.read(1)
    error = np.hypot(dx - tx, dy - ty)
    assert np.isfinite(radius).all() and 0.85 <= np.mean(error <= radius) <= 0.995
    assert report["uncertainty"] == "radius.tif"  # beside the report, as DISPLACEMENT
    with sqlite3.connect(results["TIE_POINTS"]) as db:
        table = db.execute("select table_name from gpkg_contents").fetchone()[0]
        columns = {row[1] for row in db.execute(f'pragma table_info("{table}")')}
        count = db.execute(f'select count(*) from "{table}"').fetchone()[0]
    assert {"dx", "dy", "reliability", "ssim_before", "ssim_after", "outlier",
            "reason"} <= columns
    assert count == report["n_points"]
    with rasterio.open(results["OUTPUT"]) as out, rasterio.open(reference) as ref:
        assert out.transform == ref.transform


def test_uncertainty_raster_loads_with_its_ramp(tmp_path, qgis_app):
    """The UNCERTAINTY layer draws green to red over 0-1 px, whatever its values."""
    from qgis.core import QgsRasterLayer, QgsSingleBandPseudoColorRenderer

    from coreg.algorithms.base import UNCERTAINTY_RAMP, UncertaintyOnLoad

    path = tmp_path / "radius.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1,
                       dtype="float32", crs="EPSG:32631",
                       transform=rasterio.Affine(10, 0, 0, 0, -10, 0)) as dst:
        dst.write(np.linspace(0.05, 3, 64, dtype=np.float32).reshape(8, 8), 1)
    layer = QgsRasterLayer(str(path), "radius")
    UncertaintyOnLoad().postProcessLayer(layer, None, None)
    renderer = layer.renderer()
    assert isinstance(renderer, QgsSingleBandPseudoColorRenderer)
    items = renderer.shader().rasterShaderFunction().colorRampItemList()
    assert [(i.value, i.color.name()) for i in items] == list(UNCERTAINTY_RAMP)
    assert renderer.classificationMax() == 1.0
