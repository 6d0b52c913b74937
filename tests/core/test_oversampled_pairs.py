"""Pairs delivered on a finer grid than they were sampled on (a 20 m band at 10 m, a
provider's upsampling): a known limit of the global estimator, kept as a test.

Exact truth, as in the corpus: both images are 4 x 4 block averages of Beirut's real
10 m band, the secondary's blocks offset by whole fine pixels (1/4 and 3/4 of a block).
Upsampled 2 x 2 by GDAL's Lanczos kernel, the pair has no detail of its own above half
its grid's Nyquist frequency; the whitened phase correlation weighs what the kernel
leaves there (mirror images of the spectrum, whose phases follow the original sampling)
as real detail, and the shift leans towards whole pixels of the original grid: 0.19
instead of 0.25 block, 0.82 instead of 0.75 (the native pair: within 0.006). A narrower
refinement band shrinks it (to about 0.01 block with a quarter of the usual band), so
the fix is a band chosen by the data; until then the upsampled case is an expected
failure, strict: fixing it makes this test fail until the mark is removed.
"""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from corpus import BEIRUT, block_average, read_fine
from rasterio.enums import Resampling

from coreg.core.matching.align import estimate_alignment

BLOCK = 4
OFFSETS = ((0, 1), (1, 3))  # fine pixels (rows, cols): truth (1/4, 0) and (3/4, 1/4) block


def _write(path: Path, data: np.ndarray, profile: dict, transform: Affine) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0],
                       count=1, dtype="float32", crs=profile["crs"], transform=transform) as dst:
        dst.write(data.astype(np.float32), 1)
    return path


def _upsampled(path: Path) -> Path:
    """``path`` resampled onto a grid of half its pixel size by GDAL's Lanczos kernel."""
    with rasterio.open(path) as src:
        data = src.read(1, out_shape=(2 * src.height, 2 * src.width),
                        resampling=Resampling.lanczos)
        profile, transform = src.profile, src.transform * Affine.scale(0.5)
    return _write(path.with_name(path.stem + "_x2.tif"), data, profile, transform)


def _errors(tmp_path: Path, upsample: bool) -> list[float]:
    """Per offset, the estimated shift's error in blocks (the native pixels)."""
    fine, profile = read_fine(BEIRUT)
    rows = cols = (min(fine.shape) - 2 * BLOCK) // BLOCK
    transform = profile["transform"] * Affine.scale(BLOCK)
    errors = []
    for k, (row, col) in enumerate(OFFSETS):
        ref = _write(tmp_path / f"ref{k}.tif", block_average(fine, BLOCK, 0, 0, rows, cols),
                     profile, transform)
        sec = _write(tmp_path / f"sec{k}.tif",
                     block_average(fine, BLOCK, row, col, rows, cols), profile, transform)
        if upsample:
            ref, sec = _upsampled(ref), _upsampled(sec)
        alignment = estimate_alignment(ref, sec, transform="translation")
        scale = 0.5 if upsample else 1.0  # the shift in blocks
        errors.append(float(np.hypot(alignment.shift_x_px * scale - col / BLOCK,
                                     alignment.shift_y_px * scale - row / BLOCK)))
    return errors


def test_a_native_pair_is_within_a_hundredth_of_a_pixel(tmp_path):
    assert max(_errors(tmp_path, upsample=False)) <= 0.01


@pytest.mark.xfail(strict=True, reason="the sub-pixel refinement weighs the band above an "
                   "upsampled pair's own detail (see the module's docstring)")
def test_a_pair_upsampled_two_times_is_within_two_hundredths_of_a_native_pixel(tmp_path):
    assert max(_errors(tmp_path, upsample=True)) <= 0.02
