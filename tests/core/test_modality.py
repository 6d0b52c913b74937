"""SAR against optical (core/matching/modality.py, core/matching/structure_match.py):
GeFolki's Sentinel-1 and Sentinel-2 patches (same 10 m grid, already co-registered) with a
known whole-pixel
offset cut into the secondary; differential truth: the offset run less the run without it,
so the patches' own residual misregistration cancels."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA
from corpus import offset_pair

from coreg.core.errors import CoregInputError
from coreg.core.matching.align import estimate_alignment

S1, S2 = DATA / "sar_optical" / "S1_patch11.tif", DATA / "sar_optical" / "S2_patch11.tif"


def _pair(folder, offset, reference=S1, secondary=S2):
    return offset_pair(reference, secondary, folder, offset)


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
    tried = found.search["features_tried"]  # the choice and its alternative, scored
    assert tried["structure"]["distinctness"] > tried["intensity"]["distinctness"]
    assert found.reliability > 30


def test_modality__unknown_name_is_refused():
    with pytest.raises(CoregInputError, match="modality must be one of"):
        estimate_alignment(S1, S2, modality="radar")
