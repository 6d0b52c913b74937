"""The dense flow's final adaptive smoothing (coreg.core.local.flow_smoothing): detail
within the flow's own noise is averaged away, detail above it is kept."""

from __future__ import annotations

import numpy as np

from coreg.core.local.flow_smoothing import _lee

SIZE, WIDTH = 160, 17


def test_lee__averages_noise_and_keeps_real_detail():
    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[:SIZE, :SIZE].astype(np.float32)
    smooth = 0.5 * np.sin(2 * np.pi * cols / 400)
    noise = rng.normal(0, 0.05, (SIZE, SIZE)).astype(np.float32)
    bound = np.full((SIZE, SIZE), 0.05, np.float32)
    out = _lee(smooth + noise, bound, WIDTH)
    inner = (slice(WIDTH, -WIDTH),) * 2
    error = np.sqrt(np.mean((out - smooth)[inner] ** 2))
    assert error < 0.3 * 0.05, error  # measured 0.0042: noise within its bound averaged

    step = np.where(cols < SIZE / 2, -1.0, 1.0).astype(np.float32)  # a real 2 px step
    kept = _lee(step + 0.1 * noise, 0.1 * bound, WIDTH)
    edge = (slice(None), slice(SIZE // 2 - 3, SIZE // 2 + 3))
    assert np.abs(kept - step)[edge].max() < 0.1  # measured 0.014: far above the noise

    unknown = _lee(smooth + noise, np.full((SIZE, SIZE), np.nan, np.float32), WIDTH)
    assert np.isfinite(unknown).all()  # no bound anywhere: the local mean
