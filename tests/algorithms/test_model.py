"""The example graphical model in resources/ runs headless through qgis_process:
fill nodata, align band 1 of the secondary, apply the alignment to its band 4."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rasterio
from affine import Affine

MODEL = Path(__file__).resolve().parents[2] / "resources" / "fill_and_align.model3"
PAIR = "optical/oscd_s2/abudhabi_S2_{}_B02-B03-B04-B08.tif"


def test_fill_and_align_model__runs_headless(shared_data, tmp_path, qgis_process_runner):
    reference = shared_data / PAIR.format("20160120")
    secondary = shared_data / PAIR.format("20180328")
    other = tmp_path / "secondary_b08.tif"
    with rasterio.open(secondary) as src:
        with rasterio.open(other, "w", **(src.profile | {"count": 1})) as dst:
            dst.write(src.read(4), 1)
    args = [f"reference={reference}", f"secondary={secondary}", "band=4", f"other={other}",
            f"apply:Other raster aligned={tmp_path / 'other_aligned.tif'}",
            f"align:Aligned raster={tmp_path / 'aligned.tif'}",
            f"align:Shift vectors={tmp_path / 'vectors.gpkg'}",
            f"align:Report={tmp_path / 'report.json'}"]
    code, stdout, stderr = qgis_process_runner("run", str(MODEL), "--json", "--", *args)
    assert code == 0, stderr
    report = json.loads((tmp_path / "report.json").read_text())
    # Band 1 (B02) of the filled secondary against B08 of the reference still finds
    # the real misregistration of this pair (AROSICS on B08: x -0.50, y -1.37 px).
    assert report["shift_x_px"] == pytest.approx(-0.5, abs=0.2)
    assert report["shift_y_px"] == pytest.approx(-1.37, abs=0.2)
    with rasterio.open(reference) as ref, rasterio.open(tmp_path / "aligned.tif") as out:
        assert out.transform.almost_equals(ref.transform) and out.crs == ref.crs
    with rasterio.open(other) as src, rasterio.open(tmp_path / "other_aligned.tif") as out:
        # Its own grid, moved by the alignment (a rotation enlarges it slightly).
        moved = src.transform * Affine.translation(report["shift_x_px"], report["shift_y_px"])
        assert abs(out.transform.c - moved.c) <= 2 * abs(src.transform.a)
        assert out.res == pytest.approx(src.res)
    assert json.loads(stdout)["results"]
