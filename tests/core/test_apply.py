"""Applying a saved alignment to other bands, resolutions, masks; round trip; errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from synthetic import Case, make_secondary

from coreg.core.io.raster_io import read_info
from coreg.core.matching.align import align_image
from coreg.core.matching.phase_correlation import phase_correlation
from coreg.core.transforms.apply import apply_alignment
from coreg.core.transforms.model import identity
from coreg.core.transforms.saved import read_alignment
from coreg.core.transforms.warp import write_resampled

BEIRUT = (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "optical" / "oscd_s2"
          / "beirut_S2_20150820_B02-B03-B04-B08.tif")
#: Secondary band k holds the geometry-shifted reference band REFERENCE_BANDS[k].
REFERENCE_BANDS = (4, 1, 2, 3)


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """A 4-band secondary misregistered by (+2.6, -1.4) px and 0.4 deg, aligned on its
    band 1 (B08); returns the folder, the secondary and the saved alignment."""
    folder = tmp_path_factory.mktemp("solved")
    secondary = folder / "secondary.tif"
    make_secondary(BEIRUT, 4, secondary, Case(2.6, -1.4, rotation_deg=0.4),
                   extra_bands=REFERENCE_BANDS[1:])
    alignment = align_image(BEIRUT, secondary, reference_band=4, secondary_band=1)
    report = folder / "report.json"
    report.write_text(json.dumps(alignment.report()))
    return folder, secondary, read_alignment(report)


def residual_px(output: Path, band: int, reference: Path, reference_band: int) -> float:
    """Sub-pixel distance between ``output``'s band and the reference sampled on the
    output's grid, in output pixels, over their common interior."""
    on_grid = output.with_name(output.stem + "_truth.tif")
    grid = read_info(output).grid
    write_resampled(reference, str(on_grid), identity(grid.crs), grid)
    with rasterio.open(output) as out, rasterio.open(on_grid) as ref:
        a = ref.read(reference_band).astype(float)
        b = out.read(band).astype(float)
        valid = (a != 0) & (b != (out.nodata if out.nodata is not None else -1))
    rows, cols = np.nonzero(valid)
    box = (slice(rows.min() + 20, rows.max() - 20), slice(cols.min() + 20, cols.max() - 20))
    return float(np.hypot(*phase_correlation(a[box], b[box]).shift))


def test_apply_alignment__other_bands_cover_the_whole_input(solved):
    folder, secondary, alignment = solved
    output = folder / "bands.tif"
    applied = apply_alignment(alignment, secondary, output)
    assert applied.resampling == "cubic"
    for band, reference_band in enumerate(REFERENCE_BANDS, start=1):
        assert residual_px(output, band, BEIRUT, reference_band) <= 0.05
    with rasterio.open(secondary) as src, rasterio.open(output) as out:
        assert out.count == 4 and out.dtypes == src.dtypes
        covered = (out.read(1) != out.nodata).sum()
        assert covered >= 0.98 * src.width * src.height


def test_apply_alignment__20m_band(solved):
    folder, secondary, alignment = solved
    coarse = folder / "b04_20m.tif"
    with rasterio.open(secondary) as src:
        data = src.read(4).astype(float)
        h, w = data.shape[0] // 2 * 2, data.shape[1] // 2 * 2
        averaged = data[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        profile = src.profile | {"count": 1, "width": w // 2, "height": h // 2,
                                 "transform": src.transform * Affine.scale(2)}
    with rasterio.open(coarse, "w", **profile) as dst:
        dst.write(np.round(averaged).astype(profile["dtype"]), 1)
    output = folder / "b04_20m_coreg.tif"
    apply_alignment(alignment, coarse, output)
    assert read_info(output).grid.res == pytest.approx(read_info(coarse).grid.res)
    assert residual_px(output, 1, BEIRUT, 3) <= 0.05


def test_apply_alignment__mask_stays_integer(solved):
    folder, secondary, alignment = solved
    mask = folder / "mask.tif"
    with rasterio.open(secondary) as src:
        nir = src.read(1)
        profile = src.profile | {"count": 1, "dtype": "uint8"}
    with rasterio.open(mask, "w", **profile) as dst:
        dst.write((nir > np.median(nir)).astype(np.uint8), 1)
    output = folder / "mask_coreg.tif"
    applied = apply_alignment(alignment, mask, output)
    assert applied.resampling == "nearest"
    assert any("nearest" in w for w in applied.warnings)
    with rasterio.open(output) as out:
        assert out.dtypes[0] == "uint8"
        assert set(np.unique(out.read(1))) <= {0, 1}
    assert residual_px(output, 1, BEIRUT, 4) <= 0.05


def test_apply_alignment__round_trip(solved):
    folder, secondary, alignment = solved
    forward, back = folder / "forward.tif", folder / "back.tif"
    apply_alignment(alignment, secondary, forward)
    apply_alignment(alignment.inverted(), forward, back, target=read_info(secondary).grid)
    with rasterio.open(secondary) as src, rasterio.open(back) as out:
        original, returned = src.read(1).astype(float), out.read(1).astype(float)
    inner = (slice(30, -30), slice(30, -30))
    assert np.hypot(*phase_correlation(original[inner], returned[inner]).shift) <= 0.01
    error = np.sqrt(np.mean((original[inner] - returned[inner]) ** 2)) / original[inner].std()
    assert error < 0.15  # two cubic interpolations of a sharp 10 m scene


def test_apply_alignment__geotransform_mode_needs_a_translation(solved):
    folder, secondary, alignment = solved
    with pytest.raises(ValueError, match="pure translation"):
        apply_alignment(alignment, secondary, folder / "x.tif", output_mode="geotransform")
    assert not (folder / "x.tif").exists()


def test_apply_alignment__raster_elsewhere_is_refused(solved):
    folder, secondary, alignment = solved
    far = folder / "far.tif"
    with rasterio.open(secondary) as src:
        profile = src.profile | {"transform": Affine.translation(20, 0) * src.transform}
        with rasterio.open(far, "w", **profile) as dst:
            dst.write(src.read())
    with pytest.raises(ValueError, match="does not overlap"):
        apply_alignment(alignment, far, folder / "far_coreg.tif")


@pytest.mark.parametrize("change, message", [({"kind": "something"}, "not an alignment report"),
                                             ({"version": 99}, "version 99")])
def test_read_alignment__wrong_report(solved, tmp_path, change, message):
    folder, _, _ = solved
    report = json.loads((folder / "report.json").read_text()) | change
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    with pytest.raises(ValueError, match=message):
        read_alignment(path)
