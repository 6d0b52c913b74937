"""The batched patch kernels of the tie points and the cloud test's filters. A batch whose
pixels are all valid takes a shorter path than one with gaps; both must give the numbers
of a pair on its own. The filters must give ndimage's numbers."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from local_synthetic import SCENE
from scipy import ndimage

from coreg.core import parallel
from coreg.core.grid import Grid
from coreg.core.matching import match, phase_correlation
from coreg.core.matching.match import Patch, match_batch, measure_batch
from coreg.core.matching.metrics import similarity, similarity_batch
from coreg.core.matching.patch_screening import (
    WholeImage,
    _box_mean,
    _dilated,
    cloud_like_batch,
    cloud_like_within,
    texture_batch,
    textures_within,
)
from coreg.core.matching.phase_correlation import _lowpass


@pytest.fixture(scope="module")
def windows(shared_data):
    """Eight 64-pixel windows of a real Sentinel-2 band, and the same windows one row
    and two columns up-left."""
    with rasterio.open(shared_data / SCENE) as ds:
        band = ds.read(4, window=rasterio.windows.Window(200, 200, 300, 300)).astype(np.float32)
    corners = [(r, c) for r in (10, 120) for c in (10, 80, 150, 220)]
    reference = np.stack([band[r:r + 64, c:c + 64] for r, c in corners])
    moving = np.stack([band[r - 1:r + 63, c - 2:c + 62] for r, c in corners])
    return reference, moving


def test_similarity_batch__all_valid_and_gapped_batches_agree_with_single_pairs(windows):
    reference, moving = windows
    gapped = moving.copy()
    gapped[0, :12] = np.nan  # one pair with a gap: the whole batch takes the masked path,
    # the other seven pairs on their own the all-valid one
    for batch in (moving, gapped):
        scores, ssims = similarity_batch(reference, batch)
        single = np.array([similarity(r, m) for r, m in zip(reference, batch)])
        np.testing.assert_allclose(scores, single[:, 0], atol=1e-5)
        np.testing.assert_allclose(ssims, single[:, 1], atol=1e-5)


def test_match_batch__finds_the_shift_with_and_without_gaps(windows):
    reference, moving = windows
    gapped = moving.copy()
    gapped[1, :, :10] = np.nan
    for batch in (moving, gapped):
        shifts, peaks, snrs = match_batch(reference, batch, snr=False)
        np.testing.assert_allclose(shifts, np.tile([-1.0, -2.0], (8, 1)), atol=0.05)
        assert np.isnan(snrs).all() and (peaks > 0.5).all()
    assert np.isfinite(match_batch(reference, moving)[2]).all()


def test_match_batch__a_windows_shift_does_not_depend_on_its_batch(windows):
    reference, moving = windows
    gapped = moving.copy()
    gapped[1, :, :10] = np.nan
    alone = match_batch(reference[:1], moving[:1], snr=False)[0]
    beside_a_gap = match_batch(reference, gapped, snr=False)[0][:1]
    np.testing.assert_array_equal(beside_a_gap, alone)


@pytest.mark.parametrize("refine_sigma", [0.1, 0.05, 0.025])
def test_match_batch__a_narrow_refinement_band_has_no_subnormal_weight(windows, monkeypatch,
                                                                       refine_sigma):
    """A narrow band (an upsampled pair's) left single-precision weights of 1e-43 far out
    in the spectrum, whose arithmetic made the refinement 2.7 times slower; zero, they
    change no shift."""
    reference, moving = windows
    weights = _lowpass((64, 64), refine_sigma)[0]
    assert not ((weights > 0) & (weights < np.finfo(np.float32).tiny * 1e6)).any()
    floored = match_batch(reference, moving, snr=False, refine_sigma=refine_sigma)
    monkeypatch.setattr(phase_correlation, "LOWPASS_FLOOR", 0.0)
    _lowpass.cache_clear()
    try:
        unfloored = match_batch(reference, moving, snr=False, refine_sigma=refine_sigma)
    finally:
        _lowpass.cache_clear()
    for a, b in zip(floored, unfloored):
        np.testing.assert_array_equal(a, b)


def test_measure_batch__shares_on_threads_give_the_numbers_of_one_thread(windows,
                                                                            monkeypatch):
    reference, moving = windows
    gapped = moving.copy()
    gapped[1, :, :10] = np.nan
    grid = Grid("EPSG:32636", rasterio.Affine(10, 0, 0, 0, -10, 0), 64, 64)
    patches = [Patch(grid, r, 1.0, "") for r in reference]
    whole = measure_batch(patches, list(gapped))
    monkeypatch.setattr(match, "THREADED_PIXELS", 1)
    monkeypatch.setattr(parallel, "THREADS", 1)
    serial = measure_batch(patches, list(gapped))
    monkeypatch.setattr(parallel, "THREADS", 2)
    threaded = measure_batch(patches, list(gapped))
    assert threaded == serial == whole and all(m is not None for m in serial)


def test_textures_within__one_gradient_pass_gives_each_patchs_texture(shared_data):
    """The textures of half-overlapping patches from one pass over their union: within
    a few percent of each patch's own (its border pixels are left out), a flat patch
    beside textured ones still the flattest by far, and each patch's valid pixels only
    (a cloud's masked pixels left out)."""
    with rasterio.open(shared_data / SCENE) as ds:
        band = ds.read(4, window=rasterio.windows.Window(200, 200, 160, 160)).astype(np.float32)
    flat = band[:64, :64]
    flat[:] = flat.mean() + 0.01 * (flat - flat.mean())  # a lake beside fields
    corners = [(r, c) for r in range(0, 97, 32) for c in range(0, 97, 32)]
    stack = np.stack([band[r:r + 64, c:c + 64] for r, c in corners])
    valid = np.ones(stack.shape, bool)
    valid[5, 20:40, 20:40] = False
    whole = textures_within(WholeImage(band), corners, valid)
    own = texture_batch(np.where(valid, stack, np.nan))
    flat = own.argmin()
    assert corners[flat] == (0, 0) and whole.argmin() == flat
    assert whole[flat] < 0.05 * np.median(whole)
    np.testing.assert_allclose(np.delete(whole, flat), np.delete(own, flat), rtol=0.05)
    unmasked = textures_within(WholeImage(band), corners, np.ones(stack.shape, bool))
    assert abs(unmasked[5] - whole[5]) > 1e-6 * whole[5]


def test_cloud_like_within__each_patchs_mask_but_at_its_edges(shared_data):
    """One local-variance pass over half-overlapping patches gives each patch's own cloud
    mask (a saturated roof, a flat lake across patch edges, a nodata corner) except
    within 2 px of its edge, where the variance sees the pixels beyond the edge."""
    with rasterio.open(shared_data / SCENE) as ds:
        band = ds.read(4, window=rasterio.windows.Window(200, 200, 160, 160)).astype(np.float32)
    band[20:30, 70:84] = band.max() + 100  # saturated: a plateau at each patch's top
    band[40:90, 50:110] = 800.0  # a flat lake across several patches' edges
    band[:12, :12] = np.nan
    corners = [(r, c) for r in range(0, 97, 32) for c in range(0, 97, 32)]
    stack = np.stack([band[r:r + 64, c:c + 64] for r, c in corners])
    own, whole = cloud_like_batch(stack), cloud_like_within(WholeImage(band), corners, (64, 64))
    roof = corners.index((0, 64))
    assert own[roof, 20:30, 6:20].all() and whole[roof, 20:30, 6:20].all()
    assert own.sum() > 0.1 * own.size
    inner = np.zeros(own.shape, bool)
    inner[:, 2:-2, 2:-2] = True
    np.testing.assert_array_equal(whole[inner], own[inner])
    assert (whole != own).mean() < 0.01


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.3])
def test_dilated__equals_ndimage_binary_dilation(fraction):
    mask = np.random.default_rng(3).random((61, 47)) < fraction
    mask[0, 3] = mask[-1, -1] = fraction > 0
    np.testing.assert_array_equal(_dilated(mask, 2), ndimage.binary_dilation(mask, iterations=2))


@pytest.mark.parametrize("size", [3, 5])
def test_box_mean__equals_ndimage_uniform_filter(size):
    image = np.random.default_rng(4).normal(size=(37, 29)).astype(np.float32)
    np.testing.assert_allclose(_box_mean(image, size), ndimage.uniform_filter(image, size),
                               atol=1e-6)
