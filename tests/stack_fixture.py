"""A time-series stack made from real scenes, with known per-item misregistrations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, calculate_default_transform, reproject
from synthetic import Case, crop, make_secondary

OPTICAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "optical"
BEIRUT = OPTICAL / "oscd_s2" / "beirut_S2_20150820_B02-B03-B04-B08.tif"
HAZY = OPTICAL / "s2_timeseries_eolearn" / "l1c_13band" / "S2_L1C_20150820_13band.tif"

#: Item name -> correction (dx, dy px); None for the items without a known shift.
SHIFTS = {"t1_shifted": (2.4, -1.7), "t2_shifted": (-3.1, 2.2), "t3_shifted": (1.6, 2.9)}

QUALITY_KEYS = {"projection_epsg_before", "projection_epsg_after", "pixel_shift",
                "matching_score_before", "matching_score_after", "matching_score_improvement",
                "status", "reason", "output_file"}


def check_results(items, out: Path, results, reproject: bool) -> None:
    """Every item's status, name, shift (within 0.05 px of the truth) and reports."""
    by_name = {Path(r.input).stem: r for r in results}
    assert by_name[items["anchor"].stem].status == "anchor"
    assert (out / f"{items['anchor'].stem}_anchor.tif").is_file()
    for name, (dx, dy) in SHIFTS.items():
        result = by_name[name]
        assert result.status == "aligned"
        assert Path(result.output_file).name == f"{name}_coreg.tif"
        assert result.pixel_shift["x"] == pytest.approx(dx, abs=0.05)
        assert result.pixel_shift["y"] == pytest.approx(dy, abs=0.05)
        assert result.matching_score_after > result.matching_score_before
    assert by_name["t4_aligned"].status == "already_aligned"
    assert by_name["t4_aligned"].matching_score_after is None
    assert by_name["t5_utm"].status == "aligned"
    assert by_name["t5_utm"].projection_epsg_before == 32636
    assert by_name["t5_utm"].projection_epsg_after == (4326 if reproject else None)
    failed = by_name["t6_elsewhere"]
    assert failed.status == "failed" and "overlap" in failed.reason
    assert Path(failed.output_file).name == "t6_elsewhere.tif"  # keeps its name
    for name in (*SHIFTS, "t4_aligned", "t5_utm", "t6_elsewhere"):
        quality = json.loads((out / f"{name}_quality.json").read_text())
        assert set(quality) == QUALITY_KEYS
        assert quality["status"] == by_name[name].status
    assert not (out / f"{items['anchor'].stem}_quality.json").exists()
    assert (out / "t1_shifted_cloudmask_coreg.tif").is_file()  # the mask travels along
    assert (out / "t1_shifted_coreg.xml").read_text() == "<metadata>t1</metadata>"


def build_stack(folder: Path) -> dict[str, Path]:
    """anchor, three shifted items, an already aligned item, an item in UTM 36N, a
    scene elsewhere (the hazy eo-learn date: it cannot be aligned) and a mask."""
    folder.mkdir(parents=True, exist_ok=True)
    anchor = crop(BEIRUT, folder / "t0_anchor_scene.tif", 250, 250, 500, bands=(4,))
    items = {"anchor": anchor}
    for name, (dx, dy) in SHIFTS.items():
        items[name] = folder / f"{name}.tif"
        make_secondary(anchor, 1, items[name], Case(dx, dy, seed=len(items)))
    items["t4_aligned"] = folder / "t4_aligned.tif"
    make_secondary(anchor, 1, items["t4_aligned"], Case(0.0, 0.0, seed=9))
    items["t5_utm"] = folder / "t5_utm.tif"
    _to_utm(folder / "t5_tmp.tif", items["t5_utm"], anchor, Case(-1.8, 1.1, seed=5))
    items["t6_elsewhere"] = folder / "t6_elsewhere.tif"
    with rasterio.open(HAZY) as src, rasterio.open(items["t6_elsewhere"], "w",
                                                   **(src.profile | {"count": 1})) as dst:
        dst.write(src.read(8), 1)
    mask = folder / "t1_shifted_cloudmask.tif"
    with rasterio.open(items["t1_shifted"]) as src:
        values = np.zeros((src.height, src.width), np.uint8)
        values[:60, :60] = 1
        with rasterio.open(mask, "w", **(src.profile | {"dtype": "uint8", "nodata": None})) as m:
            m.write(values, 1)
    (folder / "t1_shifted.xml").write_text("<metadata>t1</metadata>")
    items["mask"] = mask
    return items


def _to_utm(tmp: Path, out: Path, anchor: Path, case: Case) -> None:
    make_secondary(anchor, 1, tmp, case)
    with rasterio.open(tmp) as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:32636", src.width, src.height, *src.bounds, resolution=10.0)
        profile = src.profile | {"crs": "EPSG:32636", "transform": transform, "width": width,
                                 "height": height, "nodata": 0}
        with rasterio.open(out, "w", **profile) as dst:
            reproject(rasterio.band(src, 1), rasterio.band(dst, 1), dst_nodata=0,
                      resampling=Resampling.cubic)  # GDAL 3.6 lanczos shifts by 0.5 px
    tmp.unlink()
