"""DASK_SCHEDULER and SHIP_ENGINE in Processing: every heavy algorithm has them (advanced),
and coreg:band_math run with the session's real cluster writes the in-QGIS result."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from synthetic import crop

ALGORITHMS = ("align_stack", "align_local", "rectify_swath", "align_dem", "band_math",
              "coregistered_stack")


@pytest.mark.parametrize("name", ALGORITHMS)
def test_heavy_algorithms_take_a_dask_scheduler(name, coreg_provider):
    from qgis.core import QgsProcessingParameterDefinition

    algorithm = coreg_provider.algorithm(name)
    for key in ("DASK_SCHEDULER", "SHIP_ENGINE"):
        parameter = algorithm.parameterDefinition(key)
        assert parameter is not None, (name, key)
        assert parameter.flags() & QgsProcessingParameterDefinition.Flag.FlagAdvanced
        assert parameter.flags() & QgsProcessingParameterDefinition.Flag.FlagOptional
    assert "cluster you trust" in algorithm.parameterDefinition("DASK_SCHEDULER").description()


def test_band_math__on_a_real_dask_cluster(shared_data, tmp_path, coreg_provider,
                                           real_dask_cluster):
    import processing
    from qgis.core import QgsProcessingException

    scene = crop(shared_data / "optical" / "oscd_s2" / "cupertino_S2_20150918_B02-B03-B04-B08.tif",
                 tmp_path / "scene.tif", 100, 100, 200)
    parameters = {"INPUTS": [str(scene)], "EXPRESSION": "ndvi:(norm_diff 1.b4 1.b3)"}
    processing.run("coreg:band_math", parameters | {"OUTPUT": str(tmp_path / "here.tif")})
    processing.run("coreg:band_math", parameters | {
        "OUTPUT": str(tmp_path / "there.tif"), "DASK_SCHEDULER": real_dask_cluster[0].address})
    with rasterio.open(tmp_path / "here.tif") as a, rasterio.open(tmp_path / "there.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
    with pytest.raises(QgsProcessingException, match="^The Dask scheduler address 'localhost"):
        processing.run("coreg:band_math", parameters | {"OUTPUT": str(tmp_path / "x.tif"),
                                                        "DASK_SCHEDULER": "localhost:8786"})
    assert not (tmp_path / "x.tif").exists()
