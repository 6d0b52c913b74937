"""coreg:band_math headless through qgis_process, and its error message in Processing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from numpy.testing import assert_allclose
from synthetic import crop


@pytest.fixture
def scenes(shared_data, tmp_path):
    folder = shared_data / "optical" / "oscd_s2"
    paths = [crop(folder / f"cupertino_S2_{date}_B02-B03-B04-B08.tif", tmp_path / f"{date}.tif",
                  100, 100, 200) for date in ("20150918", "20180326")]
    for path in paths:
        with rasterio.open(path, "r+") as ds:
            ds.descriptions = ("B02", "B03", "B04", "B08")
    return paths


def test_band_math__qgis_process(scenes, tmp_path, qgis_process_runner):
    out = tmp_path / "change.tif"
    code, stdout, stderr = qgis_process_runner(
        "run", "coreg:band_math", "--json", "--", f"INPUTS={scenes[0]}", f"INPUTS={scenes[1]}",
        "EXPRESSION=change:(- (norm_diff 2.B08 2.B04) (norm_diff 1.b4 1.b3))", f"OUTPUT={out}")
    assert code == 0, stderr
    assert json.loads(stdout)["results"]["OUTPUT"] == str(out)
    with rasterio.open(scenes[0]) as a, rasterio.open(scenes[1]) as b:
        (b3, b4), (c3, c4) = (a.read([3, 4]).astype(np.float32),
                              b.read([3, 4]).astype(np.float32))
    with rasterio.open(out) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert_allclose(ds.read(1), (c4 - c3) / (c4 + c3) - (b4 - b3) / (b4 + b3), atol=1e-6)


def test_band_math__error_names_the_position(scenes, tmp_path, coreg_provider):
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match=r"Unknown asset '3.b1' .*character 9"):
        processing.run("coreg:band_math", {"INPUTS": [str(s) for s in scenes],
                                           "EXPRESSION": "(+ 1.b1 3.b1)",
                                           "OUTPUT": str(tmp_path / "x.tif")})
