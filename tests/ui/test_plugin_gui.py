"""Load / unload / load of the plugin in one QGIS session: menu, toolbar, dock, provider."""

import json
import subprocess
import sys
from pathlib import Path

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
