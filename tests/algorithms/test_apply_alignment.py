"""coreg:apply_alignment and align_image's APPLY_TO, through Processing and qgis_process."""

from __future__ import annotations

import json

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
