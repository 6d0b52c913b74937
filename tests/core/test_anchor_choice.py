"""The anchor of a time series chosen from the pixels (core/stack/anchor_choice.py) on the
real Sentinel-2 series over Slovenia: 2015-08-20 is hazy (its data manifest: phase
correlation against 2015-07-11 fails there), which no cloud plateau test sees."""

from __future__ import annotations

import rasterio
from conftest import DATA

from coreg.core.stack.anchor_choice import choose_anchor
from coreg.core.stack.stack import align_stack

SERIES = sorted((DATA / "optical" / "s2_timeseries_eolearn" / "l1c_13band").glob("*.tif"))
HAZY = "S2_L1C_20150820_13band.tif"
B08 = 8


def test_choose_anchor__hazy_scene_scores_lowest_and_scores_are_told():
    """Measured: 0.03 for the hazy date, 0.24-0.48 for the others (20150830 chosen)."""
    anchor, why, scores = choose_anchor(SERIES, B08)
    by_name = {p.split("/")[-1]: s for p, s in scores.items()}
    assert min(by_name, key=by_name.get) == HAZY and by_name[HAZY] < 0.1
    assert anchor.endswith("S2_L1C_20150830_13band.tif")
    assert all(f"{name} {score:.2f}" in why for name, score in by_name.items())


def test_choose_anchor__a_scene_cut_to_a_third_loses(tmp_path):
    """The best scene cut to its left third sees a third of the others' clear area at
    most: another scene is chosen."""
    best = SERIES[3]
    cut = tmp_path / "cut.tif"
    with rasterio.open(best) as src:
        window = rasterio.windows.Window(0, 0, src.width // 3, src.height)
        profile = dict(src.profile, width=window.width, height=window.height,
                       transform=src.window_transform(window))
        with rasterio.open(cut, "w", **profile) as dst:
            dst.write(src.read(window=window))
    inputs = [*SERIES[:3], cut, SERIES[4]]
    anchor, _, scores = choose_anchor(inputs, B08)
    assert anchor != str(cut) and scores[str(cut)] < 0.5 * max(scores.values())


def test_align_stack__without_an_anchor_chooses_one(tmp_path):
    results = align_stack(SERIES, None, tmp_path / "out", band=B08, workers=1)
    assert results[0].status == "anchor"
    assert results[0].input.endswith("S2_L1C_20150830_13band.tif")
    assert results[0].reason.startswith("chosen as the anchor")
