"""The STAC tests search without an extent: the whole catalogue. search_stac would take
the map canvas's extent when none is given, and the canvas of the test session is the one
the panel's tests moved (pytest-qgis's iface): without a canvas, as in qgis_process."""

import pytest


@pytest.fixture(autouse=True)
def no_map_canvas(monkeypatch):
    from coreg.algorithms import search_stac

    monkeypatch.setattr(search_stac, "canvas_extent", lambda crs: None)
