"""coreg:align_dem through Processing (glacier outlines excluded) and qgis_process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rasterio
from dem_synthetic import shift_dem

ASTER = "dem/exploradores_aster/AST_L1A_00303182012144228_Z.tif"
OUTLINES = "dem/exploradores_aster/17_rgi60_glacier_outlines.gpkg"


@pytest.fixture(scope="module")
def shifted_aster(shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dem")
    shifted = folder / "aster_shifted.tif"
    truth = shift_dem(shared_data / ASTER, shifted, 0.62, -1.37, 4.5)
    return folder, shifted, truth


def test_align_dem__excluding_glacier_outlines(shared_data, shifted_aster, coreg_provider):
    import processing

    folder, shifted, truth = shifted_aster
    result = processing.run("coreg:align_dem", {
        "REFERENCE": str(shared_data / ASTER), "DEM": str(shifted),
        "EXCLUDE": [str(shared_data / OUTLINES)], "METHOD": 0,
        "OUTPUT": str(folder / "aligned.tif"), "DH_OUTPUT": str(folder / "dh.tif"),
        "REPORT": str(folder / "report.json")})
    report = json.loads(Path(result["REPORT"]).read_text())
    assert report["kind"] == "coreg.align_dem"
    assert abs(report["shift_x"] - truth[0]) <= 0.05 * 30
    assert abs(report["shift_y"] - truth[1]) <= 0.05 * 30
    assert report["shift_z"] == pytest.approx(truth[2], abs=0.05)
    assert result["NMAD_AFTER"] < 0.2 * result["NMAD_BEFORE"]
    with rasterio.open(shared_data / ASTER) as src:
        total = src.width * src.height
    assert report["n_stable_pixels"] < 0.9 * total  # the glaciers were left out
    for key in ("OUTPUT", "DH_OUTPUT"):
        assert Path(result[key]).is_file()


def test_align_dem__qgis_process(shared_data, shifted_aster, qgis_process_runner):
    folder, shifted, truth = shifted_aster
    code, stdout, stderr = qgis_process_runner(
        "run", "coreg:align_dem", "--json", "--", f"REFERENCE={shared_data / ASTER}",
        f"DEM={shifted}", "METHOD=2", "BLOCK_SIZE=128", f"OUTPUT={folder / 'b.tif'}",
        f"DH_OUTPUT={folder / 'b_dh.tif'}", f"REPORT={folder / 'b.json'}",
        f"BLOCK_VECTORS={folder / 'blocks.gpkg'}", f"SHIFT_Z_OUTPUT={folder / 'dz.tif'}",
        f"REPORT_PAGE={folder / 'b.html'}")
    assert code == 0, stderr
    assert "NMAD by slope class" in (folder / "b.html").read_text(encoding="utf-8")
    report = json.loads((folder / "b.json").read_text())
    assert report["method"] == "blockwise" and report["blocks"]
    with rasterio.open(folder / "dz.tif") as dz:
        assert float(dz.read(1).mean()) == pytest.approx(truth[2], abs=0.1)
    assert (folder / "blocks.gpkg").is_file()
    assert report["shift_z"] == pytest.approx(truth[2], abs=0.1)
    assert json.loads(stdout)["results"]["NMAD_AFTER"] == pytest.approx(report["nmad_after"])


def test_align_dem__standard_error_over_glacier_outlines(shared_data, shifted_aster,
                                                         coreg_provider):
    """AREAS (the RGI outlines, a polygon layer) gets the standard error of its mean dh.
    No change was simulated, so the mean is near zero; it is not a calibration case (the
    only error is the deterministic resampling of a noise-free copy, smaller on the
    smooth ice than on the stable rock the model is fitted on)."""
    import processing

    folder, shifted, _ = shifted_aster
    result = processing.run("coreg:align_dem", {
        "REFERENCE": str(shared_data / ASTER), "DEM": str(shifted),
        "EXCLUDE": [str(shared_data / OUTLINES)], "AREAS": [str(shared_data / OUTLINES)],
        "OUTPUT": str(folder / "aligned_areas.tif"), "REPORT": str(folder / "areas.json")})
    report = json.loads(Path(result["REPORT"]).read_text())["dh_uncertainty"]
    (glaciers,) = report["areas"]
    with rasterio.open(shared_data / ASTER) as src:
        total = src.width * src.height
    assert 0.1 * total < glaciers["pixels"] < 0.9 * total
    assert 0.5 > glaciers["standard_error_mean_dh"] > glaciers["standard_error_if_uncorrelated"] > 0
    assert abs(glaciers["mean_dh"]) < 0.15
    assert report["stable_pixels"] < total - glaciers["pixels"]


def test_align_dem__pipeline_with_deramp(tmp_path, coreg_provider):
    """The PIPELINE parameter replaces the method; the report lists the fitted tilt."""
    import processing
    from dem_sensor import SensorCase, make_pair
    from qgis.core import QgsProcessingException

    pair = make_pair(SensorCase(tilt=(2e-4, 0.0)), tmp_path)
    result = processing.run("coreg:align_dem", {
        "REFERENCE": str(pair["ref"]), "DEM": str(pair["dem"]), "METHOD": 1,
        "PIPELINE": " nuth_kaab+deramp1 ", "OUTPUT": str(tmp_path / "aligned.tif"),
        "REPORT": str(tmp_path / "report.json")})
    report = json.loads(Path(result["REPORT"]).read_text())
    assert report["method"] == "pipeline" and report["pipeline"] == "nuth_kaab+deramp1"
    assert report["corrections"][0]["tilt_x"] == pytest.approx(-2e-4, rel=0.02)
    assert abs(report["shift_x"] - pair["shift"][0]) <= 0.01 * pair["res"]
    with pytest.raises(QgsProcessingException, match="Unknown pipeline step"):
        processing.run("coreg:align_dem", {
            "REFERENCE": str(pair["ref"]), "DEM": str(pair["dem"]), "PIPELINE": "nk+ramp",
            "OUTPUT": str(tmp_path / "bad.tif")})


def test_align_dem__icp_pipeline(tmp_path, coreg_provider):
    """PIPELINE=icp: the report carries ICP's rotation and translation like LZD's."""
    import processing
    from dem_sensor import SensorCase, make_pair

    pair = make_pair(SensorCase(tilt=(2e-4, 0.0)), tmp_path)
    result = processing.run("coreg:align_dem", {
        "REFERENCE": str(pair["ref"]), "DEM": str(pair["dem"]), "PIPELINE": "icp",
        "OUTPUT": str(tmp_path / "aligned.tif"), "REPORT": str(tmp_path / "report.json")})
    report = json.loads(Path(result["REPORT"]).read_text())
    assert report["pipeline"] == "icp" and "rotation_deg" in report
    (tilt,) = report["corrections"]
    assert tilt["step"] == "lzd_tilt" and tilt["phi_rad"] == pytest.approx(2e-4, rel=0.03)
    assert abs(report["shift_x"] - pair["shift"][0]) <= 0.01 * pair["res"]
    assert abs(report["shift_y"] - pair["shift"][1]) <= 0.01 * pair["res"]


def test_align_dem__reference_points(tmp_path, coreg_provider):
    """A point layer (z in a field) replaces the reference DEM; no dh raster then."""
    import fiona
    import numpy as np
    import processing
    from dem_sensor import SensorCase, make_pair, make_points
    from qgis.core import QgsProcessingException

    pair = make_pair(SensorCase(), tmp_path)
    csv_path, _ = make_points(SensorCase(), tmp_path)
    x, y, z = np.loadtxt(csv_path, delimiter=",", skiprows=1).T
    gpkg = tmp_path / "icesat.gpkg"
    schema = {"geometry": "Point", "properties": {"h_li": "float"}}
    with fiona.open(gpkg, "w", driver="GPKG", crs="EPSG:25833", schema=schema) as dst:
        dst.writerecords({"geometry": {"type": "Point", "coordinates": (a, b)},
                          "properties": {"h_li": float(c)}} for a, b, c in zip(x, y, z))
    result = processing.run("coreg:align_dem", {
        "REFERENCE_POINTS": str(gpkg), "Z_FIELD": "h_li", "DEM": str(pair["dem"]),
        "OUTPUT": str(tmp_path / "aligned.tif"), "DH_OUTPUT": str(tmp_path / "dh.tif"),
        "REPORT": str(tmp_path / "report.json")})
    report = json.loads(Path(result["REPORT"]).read_text())
    assert abs(report["shift_x"] - pair["shift"][0]) <= 0.05 * pair["res"]
    assert abs(report["shift_y"] - pair["shift"][1]) <= 0.05 * pair["res"]
    assert "DH_OUTPUT" not in result and not (tmp_path / "dh.tif").exists()
    with pytest.raises(QgsProcessingException, match="reference DEM .* or reference points"):
        processing.run("coreg:align_dem", {"DEM": str(pair["dem"]),
                                           "OUTPUT": str(tmp_path / "none.tif")})


def test_align_dem__reference_points_selected_and_on_a_geoid(tmp_path, coreg_provider):
    """Points of a layer kept by time and quality (the others 30 m off, which would move
    the vertical shift), and a points file with ellipsoidal heights on a geoid grid file."""
    import fiona
    import numpy as np
    import processing
    from dem_sensor import SensorCase, make_pair, make_points

    pair = make_pair(SensorCase(), tmp_path)
    csv_path, count = make_points(SensorCase(), tmp_path)
    x, y, z = np.loadtxt(csv_path, delimiter=",", skiprows=1).T
    part = count // 4
    dates = np.where(np.arange(count) < part, "2018-03-01", "2019-05-01")
    quality = (np.arange(count) // part == 1).astype(int)
    bad = np.where(np.arange(count) < 2 * part, 30.0, 0.0)
    gpkg = tmp_path / "points.gpkg"
    schema = {"geometry": "Point", "properties": {"elev": "float", "day": "date",
                                                  "flag": "int"}}
    with fiona.open(gpkg, "w", driver="GPKG", crs="EPSG:25833", schema=schema) as dst:
        dst.writerecords({"geometry": {"type": "Point", "coordinates": (a, b)},
                          "properties": {"elev": float(c), "day": str(d), "flag": int(q)}}
                         for a, b, c, d, q in zip(x, y, z + bad, dates, quality))
    result = processing.run("coreg:align_dem", {
        "REFERENCE_POINTS": str(gpkg), "Z_FIELD": "elev", "TIME_FIELD": "day",
        "TIME_START": "2019-01-01", "QUALITY_FIELD": "flag", "QUALITY_MAX": 0,
        "DEM": str(pair["dem"]), "OUTPUT": str(tmp_path / "aligned.tif"),
        "REPORT": str(tmp_path / "report.json")})
    report = json.loads(Path(result["REPORT"]).read_text())
    assert report["points"]["removed_by_time"] == report["points"]["removed_by_quality"] == part
    assert report["shift_z"] == pytest.approx(pair["dz"], abs=0.1)

    geoid = tmp_path / "geoid.tif"  # a constant 25 m geoid over Svalbard
    with rasterio.open(geoid, "w", driver="GTiff", width=40, height=20, count=1,
                       dtype="float32", crs="EPSG:4326",
                       transform=rasterio.transform.from_origin(5, 85, 1, 1)) as dst:
        dst.write(np.full((20, 40), 25.0, np.float32), 1)
    ellipsoidal = tmp_path / "ellipsoidal.csv"
    np.savetxt(ellipsoidal, np.column_stack([x, y, z + 25.0]), delimiter=",", header="x,y,z",
               comments="", fmt="%.3f")
    result = processing.run("coreg:align_dem", {
        "REFERENCE_POINTS_FILE": str(ellipsoidal), "GEOID_FILE": str(geoid),
        "DEM": str(pair["dem"]), "OUTPUT": str(tmp_path / "aligned2.tif"),
        "REPORT": str(tmp_path / "report2.json")})
    report = json.loads(Path(result["REPORT"]).read_text())
    assert report["shift_z"] == pytest.approx(pair["dz"], abs=0.1)
    assert report["points"]["no_geoid_height"] == 0
