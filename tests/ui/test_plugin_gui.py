"""Load / unload / load of the plugin in one QGIS session: menu, toolbar, dock, provider."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("plugin_cycle.py")


def test_load_unload_load_leaves_nothing_behind(tmp_path):
    completed = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)],
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    steps = json.loads(completed.stdout)
    for cycle in ("first", "second"):
        loaded, opened, unloaded = (steps[f"{cycle} {step}"]
                                    for step in ("load", "open", "unload"))
        # Other Coreg entries may share Raster > Coreg; the toolbar icon is the panel's.
        assert "Coregister…" in loaded["menu"] and loaded["toolbar"] == ["Coregister…"]
        assert "coreg:align_image" in loaded["algorithms"]
        assert loaded["docks"] == []
        assert opened["docks"] == ["CoregDock"] and opened["methods"] >= 2
        assert unloaded == {"menu": [], "toolbar": [], "docks": [], "algorithms": []}


DESKTOP = Path(__file__).with_name("desktop_session.py")
PAIR = ("optical/oscd_s2/abudhabi_S2_20160120_B02-B03-B04-B08.tif",
        "optical/oscd_s2/abudhabi_S2_20180328_B02-B03-B04-B08.tif")
BEIRUT = "optical/oscd_s2/beirut_S2_20150820_B02-B03-B04-B08.tif"


def test_panel_in_the_qgis_desktop(tmp_path, shared_data):
    """The real QGIS desktop under Xvfb, the panel driven by mouse and keyboard events:
    default layers, a path typed from '/', two runs, before/after, compare, a failure and
    a cancel; no Python error, no stale result (~40 s)."""
    import os
    import shutil

    from synthetic import Case, make_secondary

    if not shutil.which("xvfb-run") or not shutil.which("qgis"):
        pytest.skip("needs xvfb-run and the QGIS desktop (apt-get install xvfb qgis)")
    big_secondary = tmp_path / "beirut_secondary.tif"
    make_secondary(shared_data / BEIRUT, 4, big_secondary, Case(2.3, -1.6))
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "coreg").symlink_to(Path(__file__).resolve().parents[2],
                                   target_is_directory=True)
    settings = tmp_path / "profiles" / "profiles" / "default" / "QGIS"
    settings.mkdir(parents=True)
    (settings / "QGIS3.ini").write_text("[PythonPlugins]\ncoreg=true\n")
    out = tmp_path / "out"
    out.mkdir()
    result = tmp_path / "result.json"
    env = dict(os.environ, QGIS_PLUGINPATH=str(plugins), COREG_DESKTOP_ARGS=json.dumps({
        "pair": [str(shared_data / p) for p in PAIR],
        "big_pair": [str(shared_data / BEIRUT), str(big_secondary)],
        "out": str(out), "result": str(result)}))
    for name in ("QT_QPA_PLATFORM", "QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH"):
        env.pop(name, None)
    completed = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", "qgis", "--nologo",
         "--profiles-path", str(tmp_path / "profiles"), "--code", str(DESKTOP)],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.is_file(), (f"QGIS exited with {completed.returncode}:\n"
                              f"{completed.stdout}{completed.stderr}")
    state = json.loads(result.read_text())
    assert "failure" not in state, state["failure"]
    assert state["errors"] == []
    dock = state["dock"]
    assert dock["reference"] != dock["secondary"] and dock["errors_shown"] == []
    assert dock["horizontal_scroll"] == 0 and dock["width"] >= dock["panel_minimum"]
    assert "20160120" in dock["shown"][0] and "20180328" in dock["shown"][1]
    assert state["typed"]["path"].endswith("aligned.tif") and state["typed"]["errors"] == []
    first, second = state["runs"]
    assert first["status"].startswith("Done") and second["status"].startswith("Done")
    assert "replacing the previous run's" in second["status"]
    assert second["title"] == "Result of run 2"
    assert len(second["names"]) == len(set(second["names"])) == len(first["names"])
    assert second["summary"]["Shift (map units)"].endswith("degrees (EPSG:4326)")
    after = state["after_unticked"]
    assert not after["aligned_visible"] and after["secondary_visible"]
    assert after["first_run_layers_left"] == []
    compare = state["compare"]
    assert compare["tool_active"] and compare["blinked"] and compare["ended_by_pan"]
    assert abs(compare["split_x"] - compare["canvas_width"] // 3) <= 2
    assert Path(state["report_page"]).is_file()
    failed = state["failed"]
    assert failed["status"].startswith("Failed: ") and "Maximum expected shift" in failed["status"]
    assert failed["results_hidden"] and failed["summary_rows"] == 0
    canceled = state["canceled"]
    assert canceled["status"] == "Canceled: nothing was written."
    assert canceled["files"] == [] and canceled["results_hidden"]
