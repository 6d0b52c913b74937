"""SAR against optical (core/matching/modality.py, core/matching/structure_match.py):
GeFolki's Sentinel-1 and Sentinel-2 patches (same 10 m grid, already co-registered) with a
known whole-pixel
offset cut into the secondary; differential truth: the offset run less the run without it,
so the patches' own residual misregistration cancels."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from conftest import DATA

from coreg.core.errors import CoregInputError
from coreg.core.matching.align import estimate_alignment

S1, S2 = DATA / "sar_optical" / "S1_patch11.tif", DATA / "sar_optical" / "S2_patch11.tif"


def _pair(folder, offset, reference=S1, secondary=S2):
    """Both images on one footprint (the patch less |offset|); the secondary's content is
    ``offset`` (x right, y down) pixels further than its georeferencing says."""
    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(reference) as ds:
        ref, profile = ds.read(1), ds.profile
    with rasterio.open(secondary) as ds:
        sec = ds.read(1)
    kx, ky = offset
    r0, c0 = max(0, -ky), max(0, -kx)
    rows, cols = ref.shape[0] - abs(ky), ref.shape[1] - abs(kx)
    t = profile["transform"] * Affine.translation(c0, r0)
    paths = []
    for name, data in (("ref", ref[r0:r0 + rows, c0:c0 + cols]),
                       ("sec", sec[r0 + ky:r0 + ky + rows, c0 + kx:c0 + kx + cols])):
        path = folder / f"{name}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1,
                           dtype="float32", crs=profile["crs"], transform=t) as dst:
            dst.write(data.astype(np.float32), 1)
        paths.append(path)
    return paths


def test_sar_optical__known_offset_within_0_3_px(tmp_path):
    """Sentinel-2 onto Sentinel-1 with (110, -20) px added, the modality left to "auto":
    structure is chosen and the error is <= 0.3 px (0.03-0.26 px measured at offsets of 7
    to 110 px, either image as the reference), with a reliability that says so. Intensity
    phase correlation finds nothing or nonsense on this pair (off by 5 to 380 px)."""
    baseline = estimate_alignment(*_pair(tmp_path / "0", (0, 0)), transform="translation")
    found = estimate_alignment(*_pair(tmp_path / "1", (110, -20)), transform="translation")
    error = np.hypot(found.shift_x_px - baseline.shift_x_px - 110,
                     found.shift_y_px - baseline.shift_y_px + 20)
    assert error <= 0.3
    assert found.search["features"] == found.search["fine_features"] == "structure"
    assert found.reliability > 30


def test_modality__unknown_name_is_refused():
    with pytest.raises(CoregInputError, match="modality must be one of"):
        estimate_alignment(S1, S2, modality="radar")
