"""Pairs delivered on a finer grid than they were sampled on (a 20 m band at 10 m, a
provider's upsampling).

Exact truth, as in the corpus: both images are 4 x 4 block averages of Beirut's real
10 m band, the secondary's blocks offset by whole fine pixels (1/4 and 3/4 of a block).
Upsampled 2 x 2 by GDAL's Lanczos kernel, the pair has no detail of its own above half
its grid's Nyquist frequency; a whitened phase correlation weighs what the kernel leaves
there (mirror images of the spectrum, whose phases follow the original sampling) as real
detail, and the shift leant towards whole pixels of the original grid (0.19 instead of
0.25 block, 0.82 instead of 0.75) until the refinement band followed the pair's band
limit (:mod:`coreg.core.matching.band_limit`): now within 0.02 block, the native pair
within 0.006.
"""

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from corpus import BEIRUT, _write, block_average, read_fine
from rasterio.enums import Resampling

from coreg.core.matching.align import estimate_alignment

BLOCK = 4
OFFSETS = ((0, 1), (1, 3))  # fine pixels (rows, cols): truth (1/4, 0) and (3/4, 1/4) block


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


def test_a_pair_upsampled_two_times_is_within_two_hundredths_of_a_native_pixel(tmp_path):
    assert max(_errors(tmp_path, upsample=True)) <= 0.02


def test_the_band_limit_is_the_whole_band_on_native_data_and_half_on_upsampled(tmp_path):
    from coreg.core.matching.band_limit import band_limit

    fine, profile = read_fine(BEIRUT)
    native = fine[:512, :512].astype(np.float32)
    path = _write(tmp_path / "native.tif", native, profile, profile["transform"])
    with rasterio.open(_upsampled(path)) as src:
        upsampled = src.read(1)

    def patches(image):
        return np.stack([image[r:r + 64, c:c + 64] for r in range(0, 448, 96)
                         for c in range(0, 448, 96)])

    assert band_limit(patches(native)) == 0.5
    assert 0.25 <= band_limit(patches(upsampled)) <= 0.35
