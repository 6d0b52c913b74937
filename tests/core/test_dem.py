"""DEM alignment on real DEMs: known synthetic shifts, the real Longyearbyen pair,
the demcompare SRTM pair, blockwise warping and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from child import run_measured
from dem_synthetic import shift_dem

from coreg.core.dem import block_tasks
from coreg.core.dem.dem import align_dem, estimate_dem_alignment
from coreg.core.dem.terrain import median_and_nmad, nmad, sorted_median_and_nmad
from coreg.core.errors import CoregistrationError
from coreg.core.io.raster_io import read_info
from coreg.core.transforms.apply import apply_alignment
from coreg.core.transforms.saved import read_alignment

DEM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dem"
LYB_REF, LYB_DEM = DEM / "longyearbyen" / "aligned_elev.tif", DEM / "longyearbyen" / "DEM_1995.tif"
SRTM = DEM / "demcompare_srtm"

SYNTHETIC = [(LYB_DEM, 2.35, -1.6, 3.2), (SRTM / "srtm_ref.tif", 1.3, 0.4, 2.0),
             (DEM / "exploradores_aster" / "AST_L1A_00303182012144228_Z.tif", -0.73, 1.45, -5.0),
             (DEM / "exploradores_aster" / "AST_L1A_00303182012144228_Z.tif", 1.0, -1.0, 20.0)]


@pytest.mark.parametrize("path, dx, dy, dz", SYNTHETIC,
                         ids=[f"{s[0].parent.name}-dz{s[3]}" for s in SYNTHETIC])
def test_estimate_dem_alignment__synthetic(path, dx, dy, dz, tmp_path):
    shifted = tmp_path / "shifted.tif"
    truth = shift_dem(path, shifted, dx, dy, dz)
    alignment = estimate_dem_alignment(path, shifted)
    with rasterio.open(path) as src:
        res_x, res_y = src.res
    assert abs(alignment.shift_x - truth[0]) / res_x <= 0.05
    assert abs(alignment.shift_y - truth[1]) / res_y <= 0.05
    assert alignment.shift_z == pytest.approx(truth[2], abs=0.05)
    assert alignment.nmad_after < 0.2 * alignment.nmad_before


def test_align_dem__longyearbyen_real_pair(tmp_path):
    """DEM_1995 onto its LZD-coregistered copy (glaciers are the reference's nodata).
    xdem's Nuth & Kääb: x 10.00, y 1.95, z -1.97 m, NMAD 2.57 -> 1.25 m; xdem's LZD
    transform that made the reference: x 10.25, y 1.91, z -1.94 m plus small rotations."""
    output, dh = tmp_path / "aligned.tif", tmp_path / "dh.tif"
    alignment = align_dem(LYB_REF, LYB_DEM, output, dh_output=dh)
    assert alignment.shift_x == pytest.approx(10.00, abs=0.3)
    assert alignment.shift_y == pytest.approx(1.95, abs=0.3)
    assert alignment.shift_z == pytest.approx(-1.97, abs=0.3)
    assert alignment.nmad_before == pytest.approx(2.55, abs=0.05)
    assert alignment.nmad_after < 1.3
    with rasterio.open(LYB_DEM) as src, rasterio.open(output) as out, rasterio.open(dh) as d:
        assert out.transform == src.transform and out.dtypes[0] == "float32"
        assert d.transform == src.transform
        assert nmad(d.read(1)[np.isfinite(d.read(1))]) == pytest.approx(alignment.nmad_after,
                                                                         abs=0.05)


def test_estimate_dem_alignment__demcompare_srtm_pair():
    """demcompare's published Nuth & Kääb offsets on this pair: dx = 3, dy = 5 px."""
    alignment = estimate_dem_alignment(SRTM / "srtm_ref.tif",
                                       SRTM / "srtm_blurred_and_shifted.tif")
    with rasterio.open(SRTM / "srtm_ref.tif") as src:
        t = src.transform
    assert alignment.shift_x / t.a == pytest.approx(3.0, abs=0.05)
    assert alignment.shift_y / t.e == pytest.approx(5.0, abs=0.05)


def test_align_dem__blockwise_beats_a_single_shift(tmp_path):
    """The Longyearbyen reference holds small rotations: blockwise fields follow them."""
    single = align_dem(LYB_REF, LYB_DEM, tmp_path / "a.tif", dh_output=tmp_path / "a_dh.tif")
    blocks = align_dem(LYB_REF, LYB_DEM, tmp_path / "b.tif", dh_output=tmp_path / "b_dh.tif",
                       method="blockwise", block_size=256)
    with rasterio.open(tmp_path / "a_dh.tif") as a, rasterio.open(tmp_path / "b_dh.tif") as b:
        assert nmad(b.read(1)) < 0.5 * nmad(a.read(1))
    assert blocks.block_shape == (4, 6) and len(blocks.blocks) == 24
    assert single.nmad_after > blocks.nmad_after


def test_blockwise_parts_give_the_same_blocks_wherever_they_run(monkeypatch):
    """The blockwise tasks (a row of blocks each, three rounds) give the same alignment
    on one thread, and when no round finds what an earlier one collected (a Dask worker
    that did not run the part before): the cluster's result is the in-process one."""
    options = dict(method="blockwise", block_size=512)
    here = estimate_dem_alignment(LYB_REF, LYB_DEM, **options)
    monkeypatch.setattr(block_tasks, "in_threads", serial_in_threads)
    monkeypatch.setattr(block_tasks, "_keep", lambda *args: None)
    elsewhere = estimate_dem_alignment(LYB_REF, LYB_DEM, **options)
    assert elsewhere.report() == here.report()
    assert here.block_shape == (2, 3) and here.converged


def test_the_median_and_nmad_of_sorted_parts_are_those_of_their_union():
    """The blockwise statistics come from the parts' sorted dh: the same median and NMAD
    as of all values at once, ties, empty parts and even counts included."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        parts = [np.sort(np.round(rng.normal(size=rng.integers(0, 30)), rng.integers(0, 3)))
                 for _ in range(rng.integers(1, 5))]
        union = np.concatenate(parts)
        if union.size:
            assert sorted_median_and_nmad(parts) == median_and_nmad(union)
    assert np.isnan(sorted_median_and_nmad([np.array([])])).all()


def serial_in_threads(work, items, progress=None, is_canceled=None) -> None:
    for item in reversed(items):  # and in the other order
        work(item)


def test_estimate_dem_alignment__vertical_only():
    alignment = estimate_dem_alignment(LYB_REF, LYB_DEM, method="vertical")
    assert (alignment.shift_x, alignment.shift_y) == (0.0, 0.0)
    assert alignment.shift_z == pytest.approx(alignment.median_before, abs=1e-6)
    assert alignment.median_after == pytest.approx(0.0, abs=1e-6)


def test_estimate_dem_alignment__int16_dem_on_another_grid(tmp_path):
    """An int16 DEM on a coarser grid than the reference (demcompare's Copernicus pair)."""
    cop = DEM / "grenoble_copernicus"
    alignment = estimate_dem_alignment(cop / "Copernicus_DSM_10_N45_00_E005_00_DEM.tif",
                                       cop / "Copernicus_blurred_and_shifted.tif")
    assert alignment.nmad_after < 0.3 * alignment.nmad_before


def test_align_dem__int16_dem_keeps_sub_metre_values(tmp_path):
    """An int16 DEM 0.4 m below its reference: the aligned DEM is Float32 (a correction
    rounded to whole metres would be lost), with the DEM's nodata value kept."""
    with rasterio.open(SRTM / "srtm_blurred_and_shifted.tif") as src:
        window = ((300, 500), (300, 500))
        z = src.read(1, window=window)
        profile = src.profile | {"width": 200, "height": 200, "nodata": -32768,
                                 "transform": src.window_transform(window)}
    z[:20, :20] = profile["nodata"]
    with rasterio.open(tmp_path / "dem.tif", "w", **profile) as dst:
        dst.write(z, 1)
    with rasterio.open(tmp_path / "ref.tif", "w", **profile | {"dtype": "float32"}) as dst:
        dst.write(np.where(z == profile["nodata"], z, z + 0.4).astype(np.float32), 1)
    alignment = align_dem(tmp_path / "ref.tif", tmp_path / "dem.tif", tmp_path / "out.tif")
    assert alignment.shift_z == pytest.approx(0.4, abs=0.02)
    with rasterio.open(tmp_path / "out.tif") as out:
        assert out.dtypes[0] == "float32" and out.nodata == profile["nodata"]
        aligned = out.read(1, masked=True)
    assert aligned.mask[:20, :20].all()
    inside = ~aligned.mask
    assert inside.sum() > 0.9 * (z.size - 400)
    assert np.median(aligned.data[inside] - z[inside]) == pytest.approx(0.4, abs=0.02)
    fraction = np.abs(aligned.data[inside] - np.round(aligned.data[inside]))
    assert np.median(fraction) > 0.3


def test_errors__no_overlap(tmp_path):
    far = tmp_path / "far.tif"
    with rasterio.open(LYB_DEM) as src:
        profile = src.profile | {"transform": Affine.translation(1e6, 0) * src.transform}
        with rasterio.open(far, "w", **profile) as dst:
            dst.write(src.read())
    with pytest.raises(ValueError, match="do not overlap"):
        estimate_dem_alignment(LYB_REF, far)


def test_errors__not_enough_stable_pixels(tmp_path):
    mask = tmp_path / "all_unstable.tif"
    with rasterio.open(LYB_DEM) as src:
        profile = src.profile | {"dtype": "uint8", "nodata": None}
        with rasterio.open(mask, "w", **profile) as dst:
            dst.write(np.ones((src.height, src.width), np.uint8), 1)
    with pytest.raises(CoregistrationError, match="stable pixels"):
        estimate_dem_alignment(LYB_REF, LYB_DEM, exclude=[mask])


def test_errors__output_equal_to_input(tmp_path):
    with pytest.raises(ValueError, match="would replace the input"):
        align_dem(LYB_REF, LYB_DEM, LYB_DEM)


LARGE_RUN = """
from coreg.core.dem.dem import align_dem
a = align_dem(sys.argv[1], sys.argv[2], sys.argv[3])
result = {"x": a.shift_x, "y": a.shift_y, "z": a.shift_z}
"""


@pytest.mark.slow
def test_align_dem__10000_px_dem_memory_is_bounded(tmp_path):
    """A real DEM tiled to 10000 x 10000 px, its geotransform moved by (+0.4, -0.3) px
    and raised by 2 m: peak RSS of the whole run stays under 2 GiB."""
    with rasterio.open(LYB_DEM) as src:
        tile, transform, crs = src.read(1), src.transform, src.crs
    size = 10000
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="float32", crs=crs,
                   transform=transform, tiled=True, blockxsize=512, blockysize=512,
                   compress="deflate", zlevel=1)
    big = np.tile(tile, (size // tile.shape[0] + 1, size // tile.shape[1] + 1))[:size, :size]
    ref, dem = tmp_path / "ref.tif", tmp_path / "dem.tif"
    with rasterio.open(ref, "w", **profile) as dst:
        dst.write(big, 1)
    moved = transform * Affine.translation(0.4, -0.3)
    with rasterio.open(dem, "w", **(profile | {"transform": moved})) as dst:
        dst.write(big + 2.0, 1)
    del big
    result = run_measured(LARGE_RUN, ref, dem, tmp_path / "out.tif")
    assert result["rss_mib"] < 2048
    assert result["x"] / transform.a == pytest.approx(-0.4, abs=0.05)
    assert result["y"] / transform.e == pytest.approx(0.3, abs=0.05)
    assert result["z"] == pytest.approx(-2.0, abs=0.05)


@pytest.mark.parametrize("method", ["nuth_kaab", "blockwise"])
def test_saved_dem_alignment_applies_like_align_dem(method, tmp_path):
    """Solve once, apply anywhere: the report re-applied to the DEM (on its own grid)
    gives align_dem's output (z included); a uint8 mask of the same grid stays integer
    and gets no z."""
    alignment = align_dem(LYB_REF, LYB_DEM, tmp_path / "aligned.tif", method=method)
    report = tmp_path / "report.json"
    report.write_text(json.dumps(alignment.report()))
    saved = read_alignment(report)
    apply_alignment(saved, LYB_DEM, tmp_path / "again.tif", target=read_info(LYB_DEM).grid)
    with rasterio.open(tmp_path / "aligned.tif") as a, rasterio.open(tmp_path / "again.tif") as b:
        first, second = a.read(1, masked=True), b.read(1, masked=True)
    both = ~(first.mask | second.mask)
    assert both.sum() > 0.9 * first.size
    assert np.abs(first.data[both] - second.data[both]).max() < 1e-3

    with rasterio.open(LYB_DEM) as src:
        profile = dict(src.profile, dtype="uint8", nodata=255, count=1)
        mask = (src.read(1) > 400).astype(np.uint8)
    with rasterio.open(tmp_path / "mask.tif", "w", **profile) as dst:
        dst.write(mask, 1)
    apply_alignment(saved, tmp_path / "mask.tif", tmp_path / "mask_moved.tif")
    with rasterio.open(tmp_path / "mask_moved.tif") as moved:
        assert moved.dtypes[0] == "uint8"
        assert set(np.unique(moved.read(1))) <= {0, 1, 255}


def test_saved_blockwise_dem_alignment_needs_the_same_crs(tmp_path):
    alignment = estimate_dem_alignment(LYB_REF, LYB_DEM, method="blockwise")
    with pytest.raises(ValueError, match="own CRS"):
        apply_alignment(alignment.transform, LYB_REF, tmp_path / "x.tif")  # EPSG:32633
