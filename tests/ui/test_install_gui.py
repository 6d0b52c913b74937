"""The Install message bar in the real QGIS desktop under Xvfb (1366x768, a common laptop
screen), clicked as a user would: a required package that is missing is installed by pip
from a local folder of wheels (no network), with the download size shown first and the
installed packages listed after, each text on one line of the bar."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fake_wheels import wheel as _wheel

from coreg.provider import installer

SESSION = Path(__file__).with_name("install_session.py")


def test_install_flow_in_the_qgis_desktop(tmp_path):
    if not shutil.which("xvfb-run") or not shutil.which("qgis"):
        pytest.skip("needs xvfb-run and the QGIS desktop (apt-get install xvfb qgis)")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    a = _wheel(wheels, "coregfake-a", "1.0", ["numpy>=1.0", "coregfake-b"], 300_000)
    b = _wheel(wheels, "coregfake-b", "1.0", [], 100_000)
    _wheel(wheels, "numpy", "99.0", [], 50_000)  # never installed over the system's
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "coreg").symlink_to(Path(__file__).resolve().parents[2], target_is_directory=True)
    profile = tmp_path / "profiles" / "profiles" / "default"
    (profile / "QGIS").mkdir(parents=True)
    (profile / "QGIS" / "QGIS3.ini").write_text("[PythonPlugins]\ncoreg=true\n")
    out = tmp_path / "out"
    out.mkdir()
    result = tmp_path / "result.json"
    env = dict(os.environ, QGIS_PLUGINPATH=str(plugins), PIP_CONFIG_FILE=os.devnull,
               PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels),
               COREG_INSTALL_ARGS=json.dumps({"out": str(out), "result": str(result),
                                              "fake": ["coregfake_a", "coregfake-a", "1.0"]}))
    for name in ("QT_QPA_PLATFORM", "QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH"):
        env.pop(name, None)
    completed = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1366x768x24", "qgis", "--nologo",
         "--profiles-path", str(tmp_path / "profiles"), "--code", str(SESSION)],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.is_file(), (f"QGIS exited with {completed.returncode}:\n"
                              f"{completed.stdout}{completed.stderr}")
    state = json.loads(result.read_text())
    assert "failure" not in state, state["failure"]
    assert state["errors"] == []
    messages = {message["step"]: message for message in state["messages"]}
    assert all(message["fits"] for message in messages.values()), messages
    assert messages["01_offer"]["text"].startswith("Coreg needs coregfake-a (not")
    size = installer.format_size(a.stat().st_size + b.stat().st_size)
    assert messages["04_plan"]["text"] == (
        f"Download {size} to install coregfake-a 1.0 + 1 more?")
    assert messages["04_plan"]["buttons"] == ["Install", "Details"]
    assert "numpy" not in state["05_plan_details"].split("Download:")[0]
    assert messages["07_done"]["text"] == ("Installed coregfake-a 1.0, coregfake-b 1.0; "
                                           "no restart needed.")
    site = profile / "python" / "coreg-deps"
    assert sorted(path.name for path in site.rglob("*.dist-info")) == [
        "coregfake_a-1.0.dist-info", "coregfake_b-1.0.dist-info"]
    assert state["problems_after"] == [] and state["stand_ins_left"] == []
