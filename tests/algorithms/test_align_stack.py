"""coreg:align_stack headless through qgis_process, on a list of files."""

from __future__ import annotations

import csv
import json

import pytest
from stack_fixture import SHIFTS, build_stack


def test_align_stack__qgis_process(tmp_path, qgis_process_runner):
    items = build_stack(tmp_path / "in")
    out = tmp_path / "out"
    scenes = [f"INPUTS={path}" for name, path in items.items() if name != "mask"]
    code, stdout, stderr = qgis_process_runner(
        "run", "coreg:align_stack", "--json", "--", *scenes, f"ANCHOR={items['anchor']}",
        f"MASKS={items['mask']}", "TRANSFORM=0", "WORKERS=2", f"OUTPUT_FOLDER={out}",
        f"SUMMARY={out / 'summary.csv'}", f"FOOTPRINTS={out / 'footprints.gpkg'}",
        f"SHIFT_VECTORS={out / 'vectors.gpkg'}")
    assert code == 0, stderr
    results = json.loads(stdout)["results"]
    assert len(results["OUTPUTS"]) == len(scenes)
    rows = {r["input"].rsplit("/", 1)[-1]: r for r in csv.DictReader(open(out / "summary.csv"))}
    for name, (dx, dy) in SHIFTS.items():
        assert rows[f"{name}.tif"]["status"] == "aligned"
        assert float(rows[f"{name}.tif"]["pixel_shift_x"]) == pytest.approx(dx, abs=0.05)
        assert float(rows[f"{name}.tif"]["pixel_shift_y"]) == pytest.approx(dy, abs=0.05)
    assert rows["t6_elsewhere.tif"]["status"] == "failed"
    assert (out / "footprints.gpkg").is_file() and (out / "vectors.gpkg").is_file()


def test_align_stack__no_dask_scheduler_is_a_processing_error(tmp_path, coreg_provider,
                                                              monkeypatch):
    """A scheduler that does not answer is a message in the dialog, not a traceback (after
    a connection timeout shortened to 2 s: the suite need not wait 10 s)."""
    import socket

    import processing
    from qgis.core import QgsProcessingException

    from coreg.core.stack import execution

    monkeypatch.setattr(execution, "DASK_CONNECT_TIMEOUT", 2)

    items = build_stack(tmp_path / "in")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    parameters = {"INPUTS": [str(p) for n, p in items.items() if n != "mask"],
                  "ANCHOR": str(items["anchor"]), "DASK_SCHEDULER": address,
                  "OUTPUT_FOLDER": str(tmp_path / "out"), "SUMMARY": str(tmp_path / "s.csv"),
                  "FOOTPRINTS": "TEMPORARY_OUTPUT"}
    with pytest.raises(QgsProcessingException) as info:
        processing.run("coreg:align_stack", parameters)
    assert str(info.value).startswith(f"No Dask scheduler answers at {address} (waited")
    assert "Traceback" not in str(info.value)
    with pytest.raises(QgsProcessingException, match="^The Dask scheduler address 'localhost"):
        processing.run("coreg:align_stack", parameters | {"DASK_SCHEDULER": "localhost:8786"})


def test_align_stack__every_scene_failed_is_a_processing_error(tmp_path, coreg_provider):
    import processing
    from qgis.core import QgsProcessingException

    items = build_stack(tmp_path / "in")
    parameters = {"INPUTS": [str(items["anchor"]), str(items["t6_elsewhere"])],
                  "ANCHOR": str(items["anchor"]), "WORKERS": 1,
                  "OUTPUT_FOLDER": str(tmp_path / "out"), "SUMMARY": str(tmp_path / "s.csv"),
                  "FOOTPRINTS": "TEMPORARY_OUTPUT"}
    with pytest.raises(QgsProcessingException, match="^Every scene failed, nothing was "
                       r"aligned: 1 of 1 scenes failed: t6_elsewhere\.tif \("):
        processing.run("coreg:align_stack", parameters)


def test_align_stack__qgis_process_on_a_real_dask_cluster(tmp_path, qgis_process_runner,
                                                         real_dask_cluster):
    """The issue's run: qgis_process with DASK_SCHEDULER, workers started on their own
    (they get the plugin's engine from the run)."""
    cluster, _ = real_dask_cluster
    items = build_stack(tmp_path / "in")
    out = tmp_path / "out"
    names = ("anchor", "t2_shifted", "t6_elsewhere")
    code, stdout, stderr = qgis_process_runner(
        "run", "coreg:align_stack", "--json", "--", *[f"INPUTS={items[n]}" for n in names],
        f"ANCHOR={items['anchor']}", f"DASK_SCHEDULER={cluster.address}",
        f"OUTPUT_FOLDER={out}", f"SUMMARY={out / 'summary.csv'}")
    assert code == 0, stderr
    rows = {r["input"].rsplit("/", 1)[-1]: r for r in csv.DictReader(open(out / "summary.csv"))}
    assert rows["t2_shifted.tif"]["status"] == "aligned"
    assert float(rows["t2_shifted.tif"]["pixel_shift_x"]) == pytest.approx(-3.1, abs=0.05)
    assert float(rows["t2_shifted.tif"]["pixel_shift_y"]) == pytest.approx(2.2, abs=0.05)
    assert rows["t6_elsewhere.tif"]["status"] == "failed"
    assert "1 of 2 scenes failed: t6_elsewhere.tif (" in stdout + stderr


def test_align_stack__without_an_anchor_chooses_one(shared_data, tmp_path, coreg_provider):
    """The Slovenia series without ANCHOR: the chosen scene is delivered as the anchor,
    the log says why, and the footprints layer is written in its CRS."""
    import processing
    from qgis.core import QgsProcessingFeedback, QgsVectorLayer

    class Feedback(QgsProcessingFeedback):
        text = ""

        def pushInfo(self, info):  # noqa: N802 - QGIS API
            self.text += info + "\n"

    series = sorted((shared_data / "optical" / "s2_timeseries_eolearn" / "l1c_13band")
                    .glob("*.tif"))
    feedback = Feedback()
    results = processing.run("coreg:align_stack", {
        "INPUTS": [str(p) for p in series], "BAND": 8, "WORKERS": 1,
        "OUTPUT_FOLDER": str(tmp_path / "out"), "FOOTPRINTS": str(tmp_path / "f.gpkg")},
        feedback=feedback)
    assert (tmp_path / "out" / "S2_L1C_20150830_13band_anchor.tif").is_file()
    assert "S2_L1C_20150830_13band.tif: chosen as the anchor" in feedback.text
    footprints = QgsVectorLayer(results["FOOTPRINTS"])
    assert footprints.featureCount() == len(series) and footprints.crs().authid() == "EPSG:32633"
