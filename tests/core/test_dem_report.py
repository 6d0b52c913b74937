"""The DEM report page: its figures are those of the rasters (recomputed here whole,
independently of the strip-wise survey), and it is written safely."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
import rasterio

ASTER = "dem/exploradores_aster/AST_L1A_00303182012144228_Z.tif"


@pytest.fixture(scope="module")
def dem_run(shared_data, tmp_path_factory):
    """An ASTER crop, the same crop moved by whole pixels and raised (exact truth, no
    resampling), aligned by Nuth & Kääb."""
    from coreg import align_dem

    folder = tmp_path_factory.mktemp("dem_report")
    with rasterio.open(shared_data / ASTER) as src:
        z = src.read(1, window=((300, 700), (200, 600))).astype(np.float32)
        profile = src.profile | {"width": 400, "height": 400, "dtype": "float32",
                                 "transform": src.window_transform(((300, 700), (200, 600)))}
        nodata = src.nodata
    if nodata is not None:
        z[z == nodata] = np.nan
    profile["nodata"] = np.nan
    moved = np.full_like(z, np.nan)
    moved[:, 2:] = z[:, :-2] + 3.0  # content 2 px east, 3 m up
    paths = {name: folder / f"{name}.tif" for name in ("ref", "dem", "aligned")}
    for name, values in (("ref", z), ("dem", moved)):
        with rasterio.open(paths[name], "w", **profile) as dst:
            dst.write(values, 1)
    alignment = align_dem(paths["ref"], paths["dem"], paths["aligned"])
    return paths, alignment


def _slope_degrees(z: np.ndarray, res: float) -> np.ndarray:
    """Horn slope written out again, NaN on the border."""
    p = np.pad(z, 1, constant_values=np.nan)
    dzdx = ((p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:])
            - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])) / (8 * res)
    dzdy = ((p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
            - (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:])) / (8 * res)
    return np.degrees(np.arctan(np.hypot(dzdx, dzdy)))


def _nmad(v: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def test_slope_classes_and_maps_are_those_of_the_whole_rasters(dem_run, monkeypatch):
    from coreg.core.dem import report as dem_report

    paths, _ = dem_run
    monkeypatch.setattr(dem_report, "BLOCK", 64)  # several strips, each with its halo
    figures = dem_report.survey(paths["ref"], paths["dem"], paths["aligned"])
    with rasterio.open(paths["ref"]) as r, rasterio.open(paths["dem"]) as d, \
            rasterio.open(paths["aligned"]) as a:
        ref, dem, aligned, res = r.read(1), d.read(1), a.read(1), r.res[0]
    before, after, slope = ref - dem, ref - aligned, _slope_degrees(ref, res)
    valid = np.isfinite(before) & np.isfinite(after) & np.isfinite(slope)
    assert figures.sampled_every == 1 and figures.before.size == valid.sum()
    rows = dem_report.slope_table(figures)
    checked = 0
    for row, low, high in zip(rows, dem_report.SLOPE_CLASSES[:-1], dem_report.SLOPE_CLASSES[1:]):
        inside = valid & (slope >= low) & (slope < high)
        assert row["pixels"] == inside.sum()
        if inside.sum() > 100:
            assert row["nmad_before"] == pytest.approx(_nmad(before[inside]), rel=1e-5)
            assert row["nmad_after"] == pytest.approx(_nmad(after[inside]), rel=1e-5)
            checked += 1
    assert checked >= 3
    # a 2 px shift matters more on steep slopes; the alignment removes it everywhere
    steep = [r for r in rows if r["pixels"] > 100][-1]
    assert steep["nmad_before"] > 3 * rows[0]["nmad_before"]
    assert all(r["nmad_after"] < 0.5 * r["nmad_before"] for r in rows if r["pixels"] > 100)
    factor = -(-400 // dem_report.MAP_WIDTH)
    assert figures.before_map.shape == (-(-400 // factor),) * 2
    assert np.nanmean(figures.after_map) == pytest.approx(np.nanmean(after), abs=0.05)


def test_a_sample_of_a_large_dem_gives_the_same_figures(dem_run, monkeypatch):
    from coreg.core.dem import report as dem_report

    paths, _ = dem_run
    whole = dem_report.slope_table(dem_report.survey(paths["ref"], paths["dem"],
                                                     paths["aligned"]))
    monkeypatch.setattr(dem_report, "SAMPLE_PIXELS", 40_000)  # one pixel in 2 x 2
    sampled = dem_report.survey(paths["ref"], paths["dem"], paths["aligned"])
    assert sampled.sampled_every == 2
    for a, b in zip(whole, dem_report.slope_table(sampled)):
        if a["pixels"] > 2000:
            assert b["pixels"] == pytest.approx(a["pixels"] / 4, rel=0.1)
            assert b["nmad_before"] == pytest.approx(a["nmad_before"], rel=0.1)


def test_report_page_shows_the_terms_maps_and_histograms(dem_run, tmp_path):
    from coreg import write_dem_report

    paths, alignment = dem_run
    page = tmp_path / "report.html"
    write_dem_report(alignment.report(), page, reference=paths["ref"], dem=paths["dem"],
                     aligned=paths["aligned"])
    text = page.read_text(encoding="utf-8")
    assert f"{alignment.shift_z:.5g}" in text and "NMAD by slope class" in text
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)
    assert len(images) == 2 and text.count("<polyline") == 2
    png = base64.b64decode(images[0])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*"))  # no temporary left


def test_point_reference_report_has_terms_only(dem_run, tmp_path):
    from coreg import write_dem_report

    _, alignment = dem_run
    page = tmp_path / "points.html"
    report = alignment.report() | {"points": {"read": 120, "removed_by_time": 7, "used": 113}}
    write_dem_report(report, page, reference=object(), dem="dem.tif", aligned=None)
    text = page.read_text(encoding="utf-8")
    assert "Fitted terms" in text and "data:image/png" not in text and ">points<" in text
    assert "<td>removed by time</td><td class='num'>7</td>" in text


def test_report_page_shows_the_variogram_and_the_areas(dem_run, tmp_path):
    from coreg import elevation_change_uncertainty, write_dem_report
    from coreg.core.io.masks import PolygonMask

    paths, alignment = dem_run
    with rasterio.open(paths["ref"]) as src:
        left, bottom, right, top = src.bounds
        crs = src.crs.to_string()
    square = {"type": "Polygon", "coordinates": [[
        (left + 3000, bottom + 3000), (right - 3000, bottom + 3000),
        (right - 3000, top - 3000), (left + 3000, top - 3000), (left + 3000, bottom + 3000)]]}
    uncertainty = elevation_change_uncertainty(paths["ref"], paths["aligned"],
                                               areas=[PolygonMask([square], crs)])
    report = alignment.report() | {"dh_uncertainty": uncertainty}
    page = tmp_path / "report.html"
    write_dem_report(report, page, reference=paths["ref"], dem=paths["dem"],
                     aligned=paths["aligned"])
    text = page.read_text(encoding="utf-8")
    assert "Uncertainty of elevation change" in text
    assert text.count("<circle") == len(uncertainty["variogram"]["lag"]) > 3
    area = uncertainty["areas"][0]
    assert f"{area['standard_error_mean_dh']:.4f}" in text
