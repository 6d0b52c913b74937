"""The transformation model: map, invert, compose, save and load, apply.

Every algorithm's report must load back into the transform the algorithm applied
(load -> apply equals the algorithm's own output), reports written before the
``transform`` record must still load, and every record must validate against the
published JSON schema (docs/transform.schema.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import rasterio
from affine import Affine
from corpus import BEIRUT, CorpusCase, build
from local_synthetic import SCENE, write_pair
from rasterio.crs import CRS

from coreg.core.dem.dem import align_dem
from coreg.core.errors import CoregInputError
from coreg.core.io.raster_io import read_info
from coreg.core.local.local import align_local
from coreg.core.matching.align import align_image
from coreg.core.matching.fit import RigidModel
from coreg.core.transforms.apply import apply_alignment
from coreg.core.transforms.model import (
    AffineTransform,
    BlockField,
    Composite,
    DisplacementField,
    Rigid,
    identity,
)
from coreg.core.transforms.saved import portable_report, read_alignment, read_report

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
LYB_REF = DATA / "dem" / "longyearbyen" / "aligned_elev.tif"
LYB_DEM = DATA / "dem" / "longyearbyen" / "DEM_1995.tif"
UTM = CRS.from_epsg(32636)
BOUNDS = (500_000.0, 3_700_000.0, 510_000.0, 3_710_000.0)
POINTS = (np.array([500_100.0, 505_000.0, 509_900.0, 503_210.5]),
          np.array([3_700_200.0, 3_705_000.0, 3_709_800.0, 3_701_777.25]))


@pytest.fixture(scope="module")
def schema():
    return json.loads((ROOT / "docs" / "transform.schema.json").read_text(encoding="utf-8"))


def rigid() -> Rigid:
    return Rigid(RigidModel(3.5, -2.25, 0.4, 505_000.0, 3_705_000.0), UTM, BOUNDS, 1.5)


def scaled() -> AffineTransform:
    """A secondary whose pixels are 0.2 % too large, about the area's centre."""
    scale = Affine.translation(505_000, 3_705_000) * Affine.scale(0.998) \
        * Affine.translation(-505_000, -3_705_000)
    return AffineTransform(Affine.translation(1.0, 2.0) * scale, UTM, BOUNDS)


def block_field() -> BlockField:
    nodes = Affine(5000.0, 0, 500_000.0, 0, -5000.0, 3_710_000.0)
    x = np.array([[1.0, 1.5], [2.0, 2.5]])
    return BlockField(nodes, x, -0.5 * x, np.array([[0.1, 0.2], [0.3, 0.4]]), UTM, BOUNDS)


def close(a, b, tolerance=1e-6):
    """Coordinates equal within ``tolerance``, unknown (NaN) at the same places."""
    for u, v in zip(a, b):
        u, v = np.asarray(u, float), np.asarray(v, float)
        if not (np.array_equal(np.isnan(u), np.isnan(v)) and np.isfinite(u).any()
                and np.nanmax(np.abs(u - v)) <= tolerance):
            return False
    return True


@pytest.mark.parametrize("make", [rigid, scaled], ids=["rigid", "affine"])
def test_affine_types_invert_exactly(make):
    transform = make()
    assert close(transform.inverse(*transform.forward(*POINTS)), POINTS)
    assert close(transform.inverted().forward(*POINTS), transform.inverse(*POINTS))
    assert close(transform.affine * POINTS, transform.forward(*POINTS))


def test_composition_applies_the_steps_in_order():
    first, second = rigid(), scaled()
    both = first.then(second)
    assert isinstance(both, AffineTransform) is False  # a rigid then an affine: a chain
    assert close(both.forward(*POINTS), second.forward(*first.forward(*POINTS)))
    assert close(both.inverse(*both.forward(*POINTS)), POINTS)
    assert close(both.inverted().forward(*POINTS), both.inverse(*POINTS))
    assert close(both.affine * POINTS, both.forward(*POINTS))
    # Two rigid models about one pivot merge into one rigid model.
    merged = first.then(first)
    assert isinstance(merged, Rigid) and merged.z_offset == 3.0
    assert close(merged.forward(*POINTS), first.forward(*first.forward(*POINTS)))


def test_block_field_inverts_to_first_order():
    field = block_field()
    # Shifts of 1-2.5 m varying over 5 km: the first-order error is ~1e-6 m.
    assert close(field.inverse(*field.forward(*POINTS)), POINTS, 1e-3)
    assert close(field.inverted().forward(*POINTS), field.inverse(*POINTS))
    assert field.vertical(505_000.0, 3_705_000.0) == pytest.approx(0.25)


@pytest.fixture(scope="module")
def displacement(tmp_path_factory) -> DisplacementField:
    """A smooth displacement raster on a 10 m grid (up to 2 pixels)."""
    path = tmp_path_factory.mktemp("field") / "field.tif"
    rows, cols = np.mgrid[0:200, 0:300].astype(float)
    dx = 1.5 * np.sin(rows / 40.0) + 0.5
    dy = 2.0 * np.cos(cols / 55.0)
    profile = dict(driver="GTiff", width=300, height=200, count=2, dtype="float32", crs=UTM,
                   transform=Affine(10, 0, 500_000, 0, -10, 3_702_000))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.stack([dx, dy]).astype(np.float32))
        dst.update_tags(COREG_FIELD="displacement")
    return read_alignment(path)


def test_displacement_field_maps_both_ways(displacement):
    x = np.array([500_400.0, 501_234.5, 502_500.0])
    y = np.array([3_701_500.0, 3_700_750.0, 3_700_300.0])
    px, py = displacement.inverse(x, y)
    assert close(displacement.forward(px, py), (x, y), 1e-5)  # 1e-6 pixel of 10 m
    with pytest.raises(CoregInputError, match="cannot be inverted"):
        displacement.inverted()


@pytest.mark.parametrize("make", [rigid, scaled, block_field,
                                  lambda: Composite((rigid(), block_field()))],
                         ids=["rigid", "affine", "block_field", "composite"])
def test_records_validate_and_load_back(make, schema, tmp_path):
    transform = make()
    record = json.loads(json.dumps(transform.to_record()))
    jsonschema.validate(record, schema)
    loaded = read_report(record)
    assert loaded.to_record() == transform.to_record()
    assert close(loaded.forward(*POINTS), transform.forward(*POINTS))


def test_displacement_record_is_relative_to_its_report(displacement, schema, tmp_path):
    report = tmp_path / "moved" / "report.json"
    report.parent.mkdir()
    record = portable_report({"transform": displacement.to_record()}, report)["transform"]
    jsonschema.validate(record, schema)
    assert not Path(record["path"]).is_absolute()
    report.write_text(json.dumps(record))
    assert Path(read_alignment(report).path).resolve() == Path(displacement.path).resolve()


@pytest.mark.parametrize("change, message", [
    ({"type": "spline"}, "transform type 'spline'"),
    ({"shift_x": float("nan")}, "'shift_x' is nan"),
    ({"rotation_deg": 90.0}, "beyond"),
    ({"version": 2}, "version 2"),
])
def test_hostile_records_are_refused(change, message):
    record = {**rigid().to_record(), **change}
    with pytest.raises(CoregInputError, match=message):
        read_report(json.loads(json.dumps(record)))


def test_an_affine_record_scaling_beyond_two_is_refused():
    record = scaled().to_record()
    record["matrix"] = [3.0, 0, 0, 0, 3.0, 0]
    with pytest.raises(CoregInputError, match="scales by"):
        read_report(record)


# ----------------------------------------------------------- every algorithm's report


def without_transform(report: dict) -> dict:
    """The report as Coreg wrote it before the transform record."""
    return {key: value for key, value in report.items() if key != "transform"}


def assert_same_raster(a: Path, b: Path) -> None:
    with rasterio.open(a) as x, rasterio.open(b) as y:
        assert (x.crs, x.transform, x.shape) == (y.crs, y.transform, y.shape)
        u, v = x.read(masked=True).astype(float), y.read(masked=True).astype(float)
    assert np.array_equal(u.mask, v.mask)
    # Equal values mean equal sampled positions: 1e-6 of the data's range is far below
    # what a 1e-6 px position error could change.
    scale = max(float(np.ptp(u.compressed())), 1.0)
    assert np.abs(u - v).max() <= 1e-6 * scale


def check_round_trip(report: dict, folder: Path, source: Path, output: Path, schema,
                     **apply_options) -> None:
    path = folder / "report.json"
    path.write_text(json.dumps(portable_report(report, path)))
    jsonschema.validate(json.loads(path.read_text())["transform"], schema)
    loaded = read_alignment(path)
    again = folder / "again.tif"
    apply_alignment(loaded, source, again, target=read_info(output).grid, **apply_options)
    assert_same_raster(output, again)
    old = folder / "old.json"
    old.write_text(json.dumps(portable_report(without_transform(report), old)))
    legacy = read_alignment(old)
    assert type(legacy) is type(loaded)
    assert close(legacy.forward(*grid_points(output)), loaded.forward(*grid_points(output)),
                 1e-9 * max(read_info(output).grid.res) * 1e6)


def grid_points(path: Path):
    grid = read_info(path).grid
    x, y = grid.centres_xy()
    return x[::97, ::89].ravel(), y[::97, ::89].ravel()


def test_align_image_report_round_trips(tmp_path, schema):
    pair = build(CorpusCase("beirut rotated", "rotation", BEIRUT, 2, 2, (3, -1),
                            rotation_deg=0.3), tmp_path / "pair")
    output = tmp_path / "aligned.tif"
    alignment = align_image(pair.reference, pair.secondary, output)
    assert alignment.report()["transform"]["uncertainty"]["ce95_px"] > 0
    check_round_trip(alignment.report(), tmp_path, pair.secondary, output, schema)


@pytest.mark.parametrize("method", ["nuth_kaab", "blockwise"])
def test_align_dem_report_round_trips(method, tmp_path, schema):
    output = tmp_path / "aligned.tif"
    alignment = align_dem(LYB_REF, LYB_DEM, output, method=method)
    check_round_trip(alignment.report(), tmp_path, LYB_DEM, output, schema)


def test_align_local_report_round_trips(tmp_path, schema):
    reference, secondary = write_pair(DATA / SCENE, tmp_path, size=300)
    output, field = tmp_path / "aligned.tif", tmp_path / "field.tif"
    result = align_local(reference, secondary, output, field, grid_spacing=50)
    check_round_trip(result.report(), tmp_path, secondary, output, schema)


def test_identity_moves_nothing():
    assert close(identity(UTM).forward(*POINTS), POINTS, 0)
