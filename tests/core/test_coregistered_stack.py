"""Co-registered stack: grid, shifts, COGs, expressions and STAC on real Sentinel-2 data."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import rasterio
from numpy.testing import assert_allclose
from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate as validate_cog
from rasterio.warp import Resampling, calculate_default_transform, reproject
from stac_validation import validator
from synthetic import Case, crop, make_secondary

from coreg.core.bandmath.band_math import BandMathError
from coreg.core.errors import CanceledError, CoregOutputError, CoregResourceError
from coreg.core.io.cog_tiles import CogAssembler
from coreg.core.io.raster_io import read_info, read_on_grid
from coreg.core.stack import coregistered_stack as stack_module
from coreg.core.stack.coregistered_stack import (
    _measured_while_writing,
    coregistered_stack,
    parse_aoi,
    resolve_asset,
    stack_grid,
)

#: Input 2 and 3: corrections in reference pixels (x right, y down).
CASE2 = Case(2.4, -1.7, seed=2)
CASE3 = Case(-1.6, 1.2, factor=2, seed=3)  # then reprojected to UTM 36N
EXPRESSIONS = ("ndvi:(norm_diff 1.B08 1.B04)\n"
               "change:(- (norm_diff 2.B08 2.B04) (norm_diff 1.B08 1.B04));"
               "average:(/ (+ 1.B04 2.B04) 2); anomaly:(- 1.B04 (mean 1.B04))")


def _item(path: Path, asset_file: Path, bands: list[str], **properties) -> Path:
    """A local STAC item with one multi-band asset (eo:bands) beside it."""
    path.write_text(json.dumps({
        "type": "Feature", "stac_version": "1.0.0", "id": path.stem, "geometry": None,
        "properties": {"datetime": "2017-10-03T08:30:00Z", **properties}, "links": [],
        "assets": {"image": {"href": asset_file.name, "type": "image/tiff",
                             "eo:bands": [{"name": b} for b in bands]}}}))
    return path


def _to_utm(path: Path, out: Path) -> Path:
    with rasterio.open(path) as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:32636", src.width, src.height, *src.bounds, resolution=20.0)
        profile = src.profile | {"crs": "EPSG:32636", "transform": transform, "width": width,
                                 "height": height, "nodata": 0}
        with rasterio.open(out, "w", **profile) as dst:
            for band in (1, 2):
                reproject(rasterio.band(src, band), rasterio.band(dst, band), dst_nodata=0,
                          resampling=Resampling.cubic)
    return out


@pytest.fixture(scope="module")
def scenes(shared_data, tmp_path_factory):
    """Input 1: a 640 px Beirut crop (4 bands, raster). Inputs 2 and 3: STAC items of
    its B04 and B08 displaced by known shifts, the second at 20 m, another level."""
    folder = tmp_path_factory.mktemp("stack_in")
    beirut = shared_data / "optical" / "oscd_s2" / "beirut_S2_20150820_B02-B03-B04-B08.tif"
    first = crop(beirut, folder / "s2_first.tif", 300, 400, 640)
    with rasterio.open(first, "r+") as ds:
        ds.descriptions = ("B02", "B03", "B04", "B08")
        ds.update_tags(ACQUISITION_DATE="2015-08-20")
    truths = {}
    for k, case, level in ((2, CASE2, "L1C"), (3, CASE3, "L2A")):
        tif = folder / f"s2_item{k}.tif"
        truths[k] = make_secondary(first, 3, tif, case, extra_bands=(4,))
        if k == 3:  # 20 m pixels in UTM 36N: another CRS and resolution
            tif = _to_utm(tif, folder / "s2_item3_utm.tif")
        _item(folder / f"item{k}.json", tif, ["B04", "B08"], **{
            "eo:cloud_cover": 30.0 if k == 2 else 5.0, "processing:level": level})
    return {"paths": [first, folder / "item2.json", folder / "item3.json"], "truths": truths}


@pytest.fixture(scope="module")
def stack(scenes, tmp_path_factory):
    out = tmp_path_factory.mktemp("stack_out")
    messages = []
    with rasterio.open(scenes["paths"][0]) as ds:
        left, bottom, right, top = ds.bounds
    w, h = right - left, top - bottom  # AOI: the central 90 % (EPSG:4326)
    aoi = (f"POLYGON(({left + .05 * w} {bottom + .05 * h}, {right - .05 * w} {bottom + .05 * h},"
           f" {right - .05 * w} {top - .05 * h}, {left + .05 * w} {bottom + .05 * h}))")
    result = coregistered_stack(
        scenes["paths"], "1.B04,1.B08,2.B04,2.B08,3.B04", "1.B04", out, aoi=aoi,
        expressions=EXPRESSIONS, title="Beirut change stack",
        log=lambda level, message: messages.append((level, message)))
    return {"result": result, "messages": messages, "aoi": aoi, "out": out}


def test_stack_grid_is_the_reference_grid_clipped_to_the_aoi(scenes, stack):
    ref = read_info(scenes["paths"][0]).grid
    aoi_bounds = parse_aoi(stack["aoi"])[1]
    for path in stack["result"].outputs.values():
        grid = read_info(path).grid
        assert grid.crs == ref.crs and np.allclose(grid.res, ref.res, rtol=1e-12)
        col, row = ~ref.transform * (grid.transform.c, grid.transform.f)
        assert abs(col - round(col)) < 1e-6 and abs(row - round(row)) < 1e-6
        left, bottom, right, top = grid.bounds
        assert left <= aoi_bounds[0] < left + ref.res[0] and right - ref.res[0] < aoi_bounds[2]
        assert (grid.width, grid.height) == (576, 576)  # 90 % of 640, pixels touching it


def test_every_output_is_a_float32_cog_with_overviews(stack):
    assert set(stack["result"].outputs) == {"1.B04", "1.B08", "2.B04", "2.B08", "3.B04",
                                            "ndvi", "change", "average", "anomaly"}
    for name, path in stack["result"].outputs.items():
        assert Path(path).name == f"{name}.tif"
        with rasterio.open(path) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert ds.profile["tiled"] and ds.count == 1 and ds.dtypes[0] == "float32"
            assert ds.overviews(1), name
            assert ds.nodata == 0 if name == "3.B04" else np.isnan(ds.nodata)  # input's fill
        errors, _, structure = validate_cog(path, full_check=True)  # GDAL's COG validator
        assert not errors and "overview_0" in structure["ifd_offsets"], (name, errors)


def test_each_input_is_shifted_as_its_known_misregistration(scenes, stack):
    shifts = stack["result"].shifts
    assert shifts[1]["status"] == "reference"
    for k in (2, 3):
        truth = scenes["truths"][k]
        assert shifts[k]["status"] == "aligned"
        res = read_info(scenes["paths"][0]).grid.res[0]
        assert shifts[k]["x_map"] == pytest.approx(truth.shift_x, abs=0.1 * res)
        assert shifts[k]["y_map"] == pytest.approx(truth.shift_y, abs=0.1 * res)


def test_coregistered_assets_sit_on_the_reference(scenes, stack):
    """The aligned 2.B04 is the reference's B04 up to the radiometric change."""
    outputs = stack["result"].outputs
    ref, moved = (_read(outputs[n])[20:-20, 20:-20] for n in ("1.B04", "2.B04"))
    with rasterio.open(scenes["paths"][0]) as ds:
        window = ds.window(*read_info(outputs["1.B04"]).grid.bounds)
        original = ds.read(3, window=window.round_offsets().round_lengths())
    assert_allclose(_read(outputs["1.B04"]), original, rtol=1e-5, atol=1e-2)
    with rasterio.open(scenes["paths"][1].parent / "s2_item2.tif") as ds:
        unaligned = read_on_grid(ds, 1, read_info(outputs["1.B04"]).grid,
                                 nodata=None)[20:-20, 20:-20]
    aligned_r = np.corrcoef(ref.ravel(), moved.ravel())[0, 1]
    assert aligned_r > 0.98 and aligned_r > np.corrcoef(ref.ravel(), unaligned.ravel())[0, 1] + 0.1


def test_expressions_match_numpy_on_the_stack(stack):
    a = {n: _read(p).astype(np.float64) for n, p in stack["result"].outputs.items()}
    ndvi = (a["1.B08"] - a["1.B04"]) / (a["1.B08"] + a["1.B04"])
    expected = {"ndvi": ndvi,
                "change": (a["2.B08"] - a["2.B04"]) / (a["2.B08"] + a["2.B04"]) - ndvi,
                "average": (a["1.B04"] + a["2.B04"]) / 2,
                "anomaly": a["1.B04"] - np.nanmean(a["1.B04"])}
    for name, values in expected.items():
        assert_allclose(a[name], values, rtol=1e-5, atol=1e-4, equal_nan=True, err_msg=name)


def test_preconditions_are_logged(stack):
    warnings = [m for level, m in stack["messages"] if level == "warning"]
    assert any("30 % cloudy" in m for m in warnings)
    assert any("3.B04" in m and "ground sampling distance" in m for m in warnings)
    assert any("processing levels" in m and "L2A" in m for m in warnings)
    assert not any("2.B04" in m and "ground sampling" in m for m in warnings)


def _validator(name: str) -> jsonschema.Draft7Validator:
    return validator(name)


def test_stac_item_and_collection_are_valid_stac(stack):
    item = json.loads(Path(stack["result"].item).read_text())
    collection = json.loads(Path(stack["result"].collection).read_text())
    _validator("item.json").validate(item)
    _validator("collection.json").validate(collection)
    assert collection["title"] == item["properties"]["title"] == "Beirut change stack"
    assert set(item["assets"]) == set(stack["result"].outputs)
    for name, asset in item["assets"].items():
        assert (stack["out"] / asset["href"]).resolve() == Path(
            stack["result"].outputs[name]).resolve()
    assert item["assets"]["1.B04"]["roles"] == ["data", "reference"]
    assert item["assets"]["2.B08"]["coreg:shift"]["status"] == "aligned"
    assert item["assets"]["2.B08"]["coreg:source"]["stac_asset"] == "image"
    assert item["assets"]["ndvi"]["coreg:expression"] == "ndvi:(norm_diff 1.B08 1.B04)"
    assert item["properties"]["start_datetime"] < item["properties"]["end_datetime"]
    ring = np.array(item["geometry"]["coordinates"][0])
    area = np.sum(ring[:-1, 0] * ring[1:, 1] - ring[1:, 0] * ring[:-1, 1]) / 2
    assert area > 0, "GeoJSON exterior rings run counter-clockwise"
    assert item["bbox"] == [ring[:, 0].min(), ring[:, 1].min(), ring[:, 0].max(),
                            ring[:, 1].max()]
    broken = dict(item, assets={"x": {"title": "no href"}})
    with pytest.raises(jsonschema.ValidationError):
        _validator("item.json").validate(broken)


def test_grid_without_aoi_is_the_area_every_asset_covers(scenes):
    sources = [str(scenes["paths"][0]), str(scenes["paths"][0])]
    from coreg.core.stac.stac import read_item
    stack = [resolve_asset("1.B04", sources),
             resolve_asset("2.B04", [sources[0], read_item(scenes["paths"][1])])]
    grid = stack_grid(stack[0], stack, None)
    inner = read_info(scenes["paths"][1].parent / "s2_item2.tif").grid
    assert grid.bounds[0] >= inner.bounds[0] - 1e-9 and grid.bounds[2] <= inner.bounds[2] + 1e-9
    assert grid.width >= inner.width - 2 and grid.crs == stack[0].grid.crs


@pytest.mark.parametrize("kwargs, message", [
    ({"assets": "1.B04,2.B99"}, "no asset or band 'B99'; its assets are image"),
    ({"assets": "1.B05"}, "has no band 'B05'"),
    ({"assets": "4.B04"}, "there is no input 4"),
    ({"assets": "1.B04,2.B04,1.b04"}, "listed twice: 1.B04"),
    ({"reference_asset": "2.B08"}, "not one of the stacked assets"),
    ({"aoi": "POINT(1 2)"}, "WKT POLYGON"),
    ({"aoi": "POLYGON((0 0, 1 0, 1 1, 0 0))"}, "less than 8 x 8 pixels"),
])
def test_bad_parameters_are_clear_errors(scenes, tmp_path, kwargs, message):
    args = {"assets": "1.B04,2.B04", "reference_asset": "1.B04", **kwargs}
    with pytest.raises(ValueError, match=message):
        coregistered_stack(scenes["paths"], args["assets"], args["reference_asset"], tmp_path,
                           aoi=kwargs.get("aoi"))
    assert not list(tmp_path.glob("*.tif"))


@pytest.mark.parametrize("text, crs, bounds", [
    ("POLYGON((1 2, 3 2, 3 4, 1 2))", 4326, (1, 2, 3, 4)),
    ("  SRID=32631 ;  polygon z ((1 2 9, 3 2 9, 3 4 9, 1 2 9))  ", 32631, (1, 2, 3, 4)),
    ("MULTIPOLYGON ZM(((1 2 0 0, 3 2 0 0, 3 5 0 0, 1 2 0 0)))", 4326, (1, 2, 3, 5)),
])
def test_aoi_forms(text, crs, bounds):
    parsed_crs, parsed_bounds = parse_aoi(text)
    assert parsed_crs.to_epsg() == crs and parsed_bounds == bounds


SPACES = " " * 100_000
HOSTILE_AOIS = {"spaces": SPACES + "X", "spaces after POLYGON": "POLYGON" + SPACES + "X",
                "spaces after SRID": "SRID=4326;" + SPACES + "X",
                "spaces after Z": "POLYGON Z" + SPACES + "(",
                "unclosed": "POLYGON((" + "1 " * 50_000}


@pytest.mark.parametrize("text", HOSTILE_AOIS.values(), ids=HOSTILE_AOIS.keys())
def test_a_hostile_aoi_is_refused_within_a_second(text):
    start = time.perf_counter()
    with pytest.raises(ValueError, match="AOI"):
        parse_aoi(text)
    assert time.perf_counter() - start < 1.0


def test_unknown_asset_in_an_expression_fails_before_any_work(scenes, tmp_path):
    with pytest.raises(BandMathError, match="Unknown asset '2.B08'"):
        coregistered_stack(scenes["paths"], "1.B04,2.B04", "1.B04", tmp_path,
                           expressions="x:(- 2.B08 1.B04)")
    assert not list(tmp_path.iterdir())


def test_footprints_overlapping_too_little_are_an_error(scenes, shared_data, tmp_path):
    landsat = shared_data / "optical" / "landsat_pairs" / "taizhou_LE07_20000317_B1-5_7.tif"
    messages = []
    with pytest.raises(ValueError, match="overlaps the reference 1.B04 by 0 %"):
        coregistered_stack([scenes["paths"][0], landsat], "1.B04,2.b3", "1.B04", tmp_path,
                           log=lambda level, m: messages.append(level))
    assert messages == []  # said once, by the exception


def _read(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_real_misregistration_of_two_utm_tiles_is_corrected(shared_data, tmp_path):
    """Abu Dhabi, two dates from tiles of two UTM zones (grids differ): the stack on a
    central AOI finds the manifest's misregistration, about -0.5 px E-W and -1.3 px N-S,
    as the whole-scene alignment does (-0.53, -1.30 px)."""
    folder = shared_data / "optical" / "oscd_s2"
    first, second = (folder / f"abudhabi_S2_{d}_B02-B03-B04-B08.tif" for d in ("20160120",
                                                                               "20180328"))
    with rasterio.open(first) as ds:
        left, bottom, right, top = ds.bounds
    w, h = right - left, top - bottom
    corners = [(left + fx * w, bottom + fy * h) for fx, fy in ((.3, .3), (.7, .3), (.7, .7),
                                                               (.3, .7), (.3, .3))]
    aoi = "POLYGON((" + ", ".join(f"{x} {y}" for x, y in corners) + "))"
    result = coregistered_stack([first, second], "1.B08,2.B08", "1.B08", tmp_path, aoi=aoi)
    assert result.shifts[2]["x_px"] == pytest.approx(-0.53, abs=0.1)
    assert result.shifts[2]["y_px"] == pytest.approx(-1.30, abs=0.1)
    assert read_info(result.outputs["2.B08"]).grid == read_info(result.outputs["1.B08"]).grid


@pytest.mark.parametrize("failing", [1, 2])
def test_a_failed_cog_write_leaves_nothing(shared_data, tmp_path, monkeypatch, failing):
    """A COG whose write fails (the first asset's, or the last) stops the stack with its
    error, and no output, scratch file or temporary is left."""
    done = []
    finish = CogAssembler.finish

    def failing_finish(self):
        finish(self)
        done.append(self.path)
        if len(done) == failing:
            raise CoregOutputError("The disk is full.")

    monkeypatch.setattr(CogAssembler, "finish", failing_finish)
    folder = shared_data / "sar_optical"
    with pytest.raises(CoregOutputError, match="disk is full"):
        coregistered_stack([folder / "S2_patch11.tif", folder / "S1_patch11.tif"], "1.1,2.1",
                           "1.b1", tmp_path / "out", expressions="d:(- 2.b1 1.b1)")
    assert len(done) == failing
    assert list((tmp_path / "out").glob("*")) == []


def _polls_until_stopped(stop) -> None:
    """A side that keeps working until told to stop (then raises as a cancel would)."""
    deadline = time.monotonic() + 10
    while not stop():
        assert time.monotonic() < deadline, "never told to stop"
        time.sleep(0.005)
    raise CanceledError("stopped")


def test_the_reference_is_written_while_the_shifts_are_measured():
    """Both sides run at once: the measurement waits for the writing to have started."""
    started = threading.Event()

    def measure(stop):
        assert started.wait(5), "the writing did not run during the measurement"
        return {2: "shift"}

    assert _measured_while_writing(measure, lambda stop: started.set(), None) == {2: "shift"}


def test_a_failed_measurement_stops_the_writing_and_is_raised():
    def measure(stop):
        raise CoregResourceError("Not enough memory for the patches.")

    with pytest.raises(CoregResourceError, match="Not enough memory"):
        _measured_while_writing(measure, _polls_until_stopped, None)


def test_a_failed_write_stops_the_measurement_and_is_raised():
    measured = []

    def measure(stop):
        try:
            _polls_until_stopped(stop)
        finally:
            measured.append("stopped")

    def write(stop):
        raise CoregOutputError("The disk is full.")

    with pytest.raises(CoregOutputError, match="disk is full"):
        _measured_while_writing(measure, write, None)
    assert measured == ["stopped"]


def test_a_cancel_stops_both_sides():
    with pytest.raises(CanceledError):
        _measured_while_writing(_polls_until_stopped, _polls_until_stopped, lambda: True)


def test_a_failed_measurement_in_a_stack_leaves_nothing(shared_data, tmp_path, monkeypatch):
    """The reference's asset, written during the measurement, is removed with the rest:
    the measurement fails only once that asset's COG is complete."""
    written = threading.Event()
    finish = CogAssembler.finish

    def finishing(self):
        finish(self)
        written.set()

    def failing(*args, **kwargs):
        assert written.wait(60), "the reference's asset was never written"
        raise CoregResourceError("Not enough memory for the patches.")

    monkeypatch.setattr(CogAssembler, "finish", finishing)
    monkeypatch.setattr(stack_module, "measured_shifts", failing)
    folder = shared_data / "sar_optical"
    with pytest.raises(CoregResourceError, match="Not enough memory"):
        coregistered_stack([folder / "S2_patch11.tif", folder / "S1_patch11.tif"], "1.1,2.1",
                           "1.b1", tmp_path / "out")
    assert list((tmp_path / "out").glob("*")) == []


def test_sar_on_optical_without_a_reliable_match_is_stacked_unshifted(shared_data, tmp_path):
    """GeFolki's Sentinel-2 and Sentinel-1 patches share a grid and are co-registered
    (their manifest): the cross-modal match is unreliable, so no shift is applied and the
    log says why; the SAR band still stacks and enters expressions. A derived band that
    is nodata everywhere is a warning, and the stack is still written."""
    folder = shared_data / "sar_optical"
    messages = []
    aoi = "SRID=32631;POLYGON((400440 5096000, 402440 5096000, 402440 5098000, 400440 5098000, " \
          "400440 5096000))"
    result = coregistered_stack(
        [folder / "S2_patch11.tif", folder / "S1_patch11.tif"], "1.1,2.1", "1.b1", tmp_path,
        aoi=aoi, expressions="bright:(where (> 2.b1 0.5) 1 0); nothing:(/ 2.b1 0)",
        log=lambda level, m: messages.append((level, m)))
    assert result.shifts[2]["status"] == "not_aligned"
    # The stack matches intensities (modality "same"): the coarse search refuses the pair
    # (ambiguous or no clear match) or the patches measure it unreliable.
    assert ("Ambiguous" in result.shifts[2].get("reason", "")
            or "No reliable" in result.shifts[2].get("reason", "")
            or result.shifts[2]["measured"]["reliability"] < 20), result.shifts[2]
    assert any(level == "warning" and "without a shift" in m for level, m in messages)
    grid = read_info(result.outputs["1.b1"]).grid
    assert (grid.width, grid.height) == (200, 200)
    with rasterio.open(folder / "S1_patch11.tif") as ds:
        window = ds.window(*grid.bounds).round_offsets().round_lengths()
        s1 = ds.read(1, window=window)
    assert_allclose(_read(result.outputs["2.b1"]), s1, rtol=1e-5)
    assert_allclose(_read(result.outputs["bright"]), np.where(s1 > 0.5, 1.0, 0.0))
    assert np.isnan(_read(result.outputs["nothing"])).all()
    assert [m for level, m in messages if "no valid pixel" in m] == [
        "The derived band nothing has no valid pixel: 'nothing:(/ 2.b1 0)' is nodata "
        "everywhere on the stack grid (its assets have no data there, or the expression is "
        "nodata for every value)."]
    assert any(level == "warning" and "derived band nothing" in m for level, m in messages)


def test_sar_on_optical_with_modality_is_aligned(shared_data, tmp_path):
    """MODALITY sar-optical: Sentinel-1 stacked on Sentinel-2 (GeFolki's patches), once as
    delivered and once with its georeference moved by whole pixels (content unchanged:
    exact truth, no resampling). Both are matched on structure; the difference of the two
    shifts is the georeference change within 0.1 px (measured 0.057 px:
    benchmarks/results/crossmodal.json), so the pair's own residual misregistration
    cancels."""
    folder = shared_data / "sar_optical"
    moved = tmp_path / "s1_moved.tif"
    with rasterio.open(folder / "S1_patch11.tif") as src:
        profile = dict(src.profile, count=1, driver="GTiff")
        profile["transform"] = src.transform * rasterio.Affine.translation(6, -4)
        with rasterio.open(moved, "w", **profile) as dst:
            dst.write(src.read(1), 1)
    result = coregistered_stack([folder / "S2_patch11.tif", folder / "S1_patch11.tif", moved],
                                "1.1,2.1,3.1", "1.1", tmp_path / "out", modality="sar-optical")
    as_delivered, shifted = result.shifts[2], result.shifts[3]
    assert as_delivered["status"] == shifted["status"] == "aligned"
    assert as_delivered["features"] == shifted["features"] == "structure"
    # Georeferenced 6 px east and 4 px north of its content: moved back by -6, +4.
    error = np.hypot(shifted["x_px"] - as_delivered["x_px"] + 6,
                     shifted["y_px"] - as_delivered["y_px"] - 4)
    assert error <= 0.1


def test_unknown_modality_is_refused(tmp_path):
    with pytest.raises(ValueError, match="modality must be one of"):
        coregistered_stack(["a.tif"], "1.1", "1.1", tmp_path, modality="radar")
