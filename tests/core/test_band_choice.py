"""The band pair chosen for multi-band inputs with different band sets
(core/matching/band_choice.py): a 30 m 4-band Sentinel-2-like reference (B02 B03 B04
B08, block averages of the real 10 m
bands) and a 10 m secondary with another band set (a noise band, NIR, blue) whose content
is 60 px (10 m) off: a pair that sees the same thing is matched, every score is reported."""

from __future__ import annotations

import numpy as np
import rasterio
from affine import Affine
from corpus import BEIRUT

from coreg.core.matching.align import estimate_alignment


def _write(path, data, profile, transform):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype="float32", crs=profile["crs"],
                       transform=transform) as dst:
        dst.write(data.astype(np.float32))
    return path


def _blocks(fine, block, row, col, rows, cols):
    part = fine[:, row:row + rows * block, col:col + cols * block]
    return part.reshape(len(fine), rows, block, cols, block).mean(axis=(2, 4))


def test_choose_bands__matches_a_pair_of_the_same_band(tmp_path):
    with rasterio.open(BEIRUT.path) as ds:
        fine, profile = ds.read().astype(np.float64), ds.profile
    t = profile["transform"]
    reference = _blocks(fine, 3, 0, 0, 390, 350)
    moved = _blocks(fine, 1, 40 - 30, 40 + 60, 1000, 900)  # content 60 px right, 30 up
    noise = np.random.default_rng(0).normal(1000, 50, moved[0].shape)
    secondary = np.stack([noise, moved[3], moved[0]])
    ref = _write(tmp_path / "ref.tif", reference, profile, t * Affine.scale(3))
    sec = _write(tmp_path / "sec.tif", secondary, profile, t * Affine.translation(40, 40))
    found = estimate_alignment(ref, sec, choose_bands=True, transform="translation")
    choice = found.search["band_choice"]
    assert (choice["reference_band"], choice["secondary_band"]) in ((1, 3), (4, 2))
    assert len(choice["scores"]) == 4 * 3
    noise_scores = [s["score"] for s in choice["scores"] if s["secondary_band"] == 1]
    assert max(noise_scores) < 0.2
    # Secondary pixels are 10 m: 60 px right, 30 px up to 0.05 reference (30 m) pixel.
    assert abs(found.shift_x_px - 60) <= 0.15 and abs(found.shift_y_px + 30) <= 0.15
