"""coreg:apply_alignment and align_image's APPLY_TO, through Processing and qgis_process."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from synthetic import Case, crop, make_secondary

BEIRUT = "optical/oscd_s2/beirut_S2_20150820_B02-B03-B04-B08.tif"


@pytest.fixture(scope="module")
def aligned(shared_data, tmp_path_factory):
    """A crop of a real scene, a 2-band secondary shifted by (+1.7, -0.6) px, its
    band 2 at 20 m, and the report of aligning band 1 through processing.run."""
    folder = tmp_path_factory.mktemp("apply")
    reference = crop(shared_data / BEIRUT, folder / "reference.tif", 200, 200, 500)
    secondary = folder / "secondary.tif"
    make_secondary(reference, 4, secondary, Case(1.7, -0.6), extra_bands=(3,))
    coarse = folder / "b04_20m.tif"
    with rasterio.open(secondary) as src:
        data = src.read(2).astype(float)[:480, :480].reshape(240, 2, 240, 2).mean(axis=(1, 3))
        profile = src.profile | {"count": 1, "width": 240, "height": 240,
                                 "transform": src.transform * Affine.scale(2)}
    with rasterio.open(coarse, "w", **profile) as dst:
        dst.write(np.round(data).astype("uint16"), 1)
    return folder, reference, secondary, coarse


def test_align_image__apply_to(aligned, coreg_provider):
    import processing

    folder, reference, secondary, coarse = aligned
    result = processing.run("coreg:align_image", {
        "REFERENCE": str(reference), "REFERENCE_BAND": 4, "SECONDARY": str(secondary),
        "TRANSFORM": 0, "OUTPUT_MODE": 0, "APPLY_TO": [str(coarse)],
        "OUTPUT": str(folder / "aligned.tif"), "SHIFT_VECTORS": "TEMPORARY_OUTPUT",
        "REPORT": str(folder / "report.json")})
    assert result["APPLIED"] == [str(folder / "b04_20m_coreg.tif")]
    report = json.loads((folder / "report.json").read_text())
    with rasterio.open(coarse) as src, rasterio.open(result["APPLIED"][0]) as out:
        assert np.array_equal(src.read(), out.read())  # geotransform only: no resampling
        assert out.transform.c == pytest.approx(src.transform.c + report["shift_x_map"])
        assert out.transform.f == pytest.approx(src.transform.f + report["shift_y_map"])


def test_apply_alignment__qgis_process(aligned, qgis_process_runner):
    folder, reference, secondary, coarse = aligned
    report = folder / "report_qp.json"
    code, _, stderr = qgis_process_runner(
        "run", "coreg:align_image", "--json", "--", f"REFERENCE={reference}",
        "REFERENCE_BAND=4", f"SECONDARY={secondary}", "TRANSFORM=0",
        f"OUTPUT={folder / 'aligned_qp.tif'}", f"SHIFT_VECTORS={folder / 'v.gpkg'}",
        f"REPORT={report}")
    assert code == 0, stderr
    output = folder / "b04_20m_qp.tif"
    code, stdout, stderr = qgis_process_runner(
        "run", "coreg:apply_alignment", "--json", "--", f"ALIGNMENT={report}",
        f"INPUT={coarse}", f"OUTPUT={output}")
    assert code == 0, stderr
    assert json.loads(stdout)["results"]["OUTPUT"] == str(output)
    shift = json.loads(report.read_text())["shift_x_px"]
    assert shift == pytest.approx(1.7, abs=0.05)
    with rasterio.open(coarse) as src, rasterio.open(output) as out:
        # Resampled onto the 20 m grid moved by the alignment: same size, moved origin.
        assert (out.width, out.height, out.dtypes) == (src.width, src.height, src.dtypes)
        assert out.transform.c - src.transform.c == pytest.approx(shift * src.transform.a / 2,
                                                                  rel=0.05)


def test_apply_alignment__wrong_report(aligned, coreg_provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    _, _, _, coarse = aligned
    report = tmp_path / "other.json"
    report.write_text(json.dumps({"kind": "something else"}))
    with pytest.raises(QgsProcessingException, match="not an alignment report"):
        processing.run("coreg:apply_alignment", {"ALIGNMENT": str(report), "INPUT": str(coarse),
                                                 "OUTPUT": str(tmp_path / "out.tif")})


# ------------------------------------------------------- INVERT and hostile reports


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def shifted(shared_data, tmp_path_factory):
    """A 4-band crop of a real scene and a report saying "move it 3 pixels east"
    (exactly: a whole-pixel truth, no resampling involved)."""
    from coreg.core.matching.fit import RigidModel
    from coreg.core.transforms.saved import alignment_record

    folder = tmp_path_factory.mktemp("invert")
    raster = crop(shared_data / BEIRUT, folder / "input.tif", 300, 300, 200)
    with rasterio.open(raster) as src:
        t, bounds, crs = src.transform, tuple(src.bounds), src.crs.to_string()
    centre = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    report = folder / "report.json"
    report.write_text(json.dumps(alignment_record(RigidModel(3 * t.a, 0.0, 0.0, *centre), crs,
                                                  bounds)))
    return folder, raster, report


@pytest.mark.parametrize("invert, columns", [(False, 3), (True, -3)])
def test_apply_alignment__invert_moves_the_other_way(shifted, coreg_provider, tmp_path,
                                                     invert, columns):
    import processing

    _, raster, report = shifted
    on_input = tmp_path / "on_input_grid.tif"
    moved = tmp_path / "moved_grid.tif"
    for output, target in ((on_input, str(raster)), (moved, None)):
        processing.run("coreg:apply_alignment", {
            "ALIGNMENT": str(report), "INPUT": str(raster), "INVERT": invert,
            "TARGET_GRID": target, "OUTPUT": str(output)})
    with rasterio.open(raster) as src, rasterio.open(on_input) as out, \
            rasterio.open(moved) as out_moved:
        data, aligned = src.read(), out.read()
        assert np.array_equal(out_moved.read(), data)  # its own grid moved: same pixels
        assert out_moved.transform.c - src.transform.c == pytest.approx(
            columns * src.transform.a, rel=1e-9)
    if columns > 0:  # the content moved east: output column c shows input column c - 3
        assert np.array_equal(aligned[:, :, columns:], data[:, :, :-columns])
    else:
        assert np.array_equal(aligned[:, :, :columns], data[:, :, -columns:])


def hostile(folder: Path, name: str, report) -> Path:
    path = folder / name
    path.write_text(report if isinstance(report, str) else json.dumps(report))
    return path


@pytest.mark.parametrize("change, message", [
    ({"shift_x_map": 1e12}, "more than 10 times the"),
    ({"rotation_deg": 1e300}, r"rotation_deg 1e\+300 is beyond \+-45 degrees"),
    ({"shift_y_map": float("nan")}, "'shift_y_map' is nan, not a finite number"),
    ("", "is empty"),
    ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
    ({"kind": "coreg.align_local", "displacement": "/vsicurl?url=http://127.0.0.1:9/f.tif"},
     "is not a local file"),
    ({"kind": "coreg.align_local", "displacement": "input.tif"},
     "is not a DISPLACEMENT raster"),
])
def test_apply_alignment__hostile_report_is_refused(shifted, coreg_provider, tmp_path, change,
                                                    message):
    """Refused with the reason; nothing written, the input and the report untouched."""
    import processing
    from qgis.core import QgsProcessingException

    folder, raster, report = shifted
    content = change if isinstance(change, str) else json.loads(report.read_text()) | change
    bad = hostile(folder, "hostile.json", content)
    before = sha256(raster), sha256(bad)
    output = tmp_path / "out.tif"
    with pytest.raises(QgsProcessingException, match=message):
        processing.run("coreg:apply_alignment", {"ALIGNMENT": str(bad), "INPUT": str(raster),
                                                 "OUTPUT": str(output)})
    assert not output.exists() and list(tmp_path.iterdir()) == []
    assert (sha256(raster), sha256(bad)) == before


def test_apply_alignment__vertical_nan_and_other_rasters_are_refused(shifted, coreg_provider,
                                                                     tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    folder, raster, report = shifted
    with rasterio.open(raster) as src:
        bounds, crs = list(src.bounds), src.crs.to_string()
    dem = hostile(folder, "dem.json", {"kind": "coreg.align_dem", "version": 1,
                                       "method": "nuth_kaab", "crs": crs, "shift_x": 0.0,
                                       "shift_y": 0.0, "shift_z": float("nan"),
                                       "alignment_bounds": bounds})
    two_bands = folder / "two_bands.tif"  # any 2-band raster is no displacement field
    with rasterio.open(raster) as src:
        profile = src.profile | {"count": 2, "dtype": "float32"}
        with rasterio.open(two_bands, "w", **profile) as dst:
            dst.write(src.read([1, 2]).astype("float32"))
    for alignment, message in ((dem, "'shift_z' is nan"),
                               (two_bands, "is not a DISPLACEMENT raster")):
        before = sha256(raster), sha256(alignment)
        with pytest.raises(QgsProcessingException, match=message):
            processing.run("coreg:apply_alignment", {
                "ALIGNMENT": str(alignment), "INPUT": str(raster),
                "OUTPUT": str(tmp_path / "out.tif")})
        assert (sha256(raster), sha256(alignment)) == before
    assert list(tmp_path.iterdir()) == []


def test_apply_alignment__local_field_cannot_be_inverted(shifted, coreg_provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    from coreg.core.transforms.saved import DISPLACEMENT_BANDS, FIELD_KIND, FIELD_TAG

    folder, raster, _ = shifted
    field = folder / "field.tif"
    with rasterio.open(raster) as src:
        profile = src.profile | {"count": 2, "dtype": "float32"}
        with rasterio.open(field, "w", **profile) as dst:
            dst.write(np.zeros((2, src.height, src.width), "float32"))
            dst.update_tags(**{FIELD_TAG: FIELD_KIND})
            dst.descriptions = DISPLACEMENT_BANDS
    with pytest.raises(QgsProcessingException, match="cannot be inverted; untick INVERT"):
        processing.run("coreg:apply_alignment", {"ALIGNMENT": str(field), "INPUT": str(raster),
                                                 "INVERT": True,
                                                 "OUTPUT": str(tmp_path / "out.tif")})
    assert list(tmp_path.iterdir()) == []
