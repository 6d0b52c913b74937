"""Render the README screenshots of the panel's STAC search offscreen, driving the real
plugin against the tests' own servers on 127.0.0.1 (tests/stac_fixture.py: nginx serving
two items made from the Abu Dhabi Sentinel-2 bands, rustac's STAC API holding them):
the search dialog after a search over the map extent, the source row chosen
(stac_search.png), and the map with the items' footprints over the reference item's NIR
asset, which the dialog handed to the panel (stac_map.png).

    scripts/headless.sh .venv/bin/python scripts/make_stac_screenshots.py [OUT_DIR]

(default OUT_DIR: docs/)

(with RUSTAC=/path/to/rustac if rustac is not on PATH; Debian's nginx, ``make deps``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIALOG_SIZE = (640, 560)
if str(REPO / "scripts") not in sys.path:  # make_screenshots.py beside this script
    sys.path.insert(0, str(REPO / "scripts"))


def make(out_dir: Path, site: dict, iface) -> dict[str, Path]:
    """Search ``site``'s API from the panel's dialog; write the two screenshots."""
    from make_screenshots import render_map, wait
    from qgis.core import QgsCoordinateReferenceSystem, QgsRectangle, QgsSettings
    from qgis.PyQt.QtCore import QDate

    from coreg.ui.panel import SETTINGS_PREFIX, CoregPanel
    from coreg.ui.stac_search import SETTINGS_PREFIX as SEARCH_SETTINGS

    for prefix in (SETTINGS_PREFIX, SEARCH_SETTINGS):
        QgsSettings().remove(prefix.rstrip("/"))
    out_dir.mkdir(parents=True, exist_ok=True)
    bbox = site["bbox"]
    canvas = iface.mapCanvas()
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
    canvas.setExtent(QgsRectangle(*bbox))
    panel = CoregPanel(iface)
    dialog = panel.open_search_dialog()
    dialog.api.setText(site["api"])
    dialog.collections.setText(site["collection"])
    dialog.use_dates.setChecked(True)
    dialog.start.setDate(QDate(2016, 1, 1))
    dialog.end.setDate(QDate(2016, 1, 31))
    assert dialog.search()
    wait(lambda: not dialog.is_searching(), 60)
    assert dialog.found == 2, dialog.status.text()
    dialog.choose("reference")
    reference = dialog.use("reference")
    dialog.choose("source")
    dialog.resize(*DIALOG_SIZE)
    shots = {"stac_search": out_dir / "stac_search.png", "stac_map": out_dir / "stac_map.png"}
    dialog.grab().save(str(shots["stac_search"]))
    dialog.layer.removeSelection()  # a selection is drawn filled: the imagery would hide
    render_map([dialog.layer, reference], dialog.layer, shots["stac_map"],
               "The footprints found (orange) over the reference item's NIR asset")
    panel.teardown()
    return shots


def main() -> None:
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["GDAL_PAM_ENABLED"] = "NO"
    packages = Path(tempfile.mkdtemp(prefix="coreg-pkg-"))
    (packages / "coreg").symlink_to(REPO, target_is_directory=True)
    sys.path[:0] = [str(packages), str(REPO / "tests")]
    from qgis.core import QgsApplication

    app = QgsApplication([], True, tempfile.mkdtemp(prefix="coreg-profile-"))
    app.initQgis()
    sys.path.append(str(Path(QgsApplication.pkgDataPath()) / "python" / "plugins"))
    from processing.core.Processing import Processing

    Processing.initialize()
    from make_screenshots import _Iface, compact_png

    from coreg.provider.provider import CoregProvider

    provider = CoregProvider()  # kept: the registry does not own a Python provider's wrapper
    QgsApplication.processingRegistry().addProvider(provider)
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs"
    import stac_fixture

    folder = Path(tempfile.mkdtemp(prefix="coreg-stac-shots-"))
    port = stac_fixture.free_port()
    data = stac_fixture.build_stac(folder / "data", f"http://127.0.0.1:{port}")
    import json

    bbox = json.loads((data.root / "reference" / "item.json").read_text())["bbox"]
    with stac_fixture.file_server(data.root, folder / "nginx", port), \
            stac_fixture.stac_api(data.root / "collection.json",
                                  data.root / "reference" / "item.json",
                                  data.root / "source" / "item.json") as api:
        site = {"api": api, "collection": stac_fixture.COLLECTION, "bbox": bbox}
        for name, path in make(out, site, _Iface()).items():
            if name == "stac_map":  # imagery: a palette quarters it
                compact_png(path)
            print(name, path)
    app.exitQgis()


if __name__ == "__main__":
    main()
