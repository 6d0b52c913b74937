"""align_local METHOD auto (core/local/method_choice.py): one affine field for a rigid
pair, the tie points' smooth field for a non-rigid one, with the reason in the report.
Truths: a Landsat-like 30 m copy of a real Sentinel-2 band offset by whole 10 m pixels
(tests/corpus.py: block averages, no resampling kernel); GeFolki's smooth flow applied to
its Sentinel-1 patch (bilinear, GeFolki's protocol: sar_optical/MANIFEST.md)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from corpus import BEIRUT, CorpusCase, build, flow_warped_pair

from coreg.core.local.local import align_local
from coreg.core.matching.metrics import similarity_batch


def _field(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def _window_scores(reference, aligned, report) -> np.ndarray:
    """The matching score of the reference against the aligned output, window by window
    at the report's points (NaN where a window has too few valid pixels)."""
    with rasterio.open(reference) as a, rasterio.open(aligned) as b:
        images = [ds.read(1, masked=True).astype("float32").filled(np.nan) for ds in (a, b)]
    half = report["parameters"]["window_size"] // 2
    windows = [np.stack([image[p["row"] - half:p["row"] + half, p["col"] - half:p["col"] + half]
                         for p in report["points"]]) for image in images]
    return similarity_batch(*windows)[0]


def test_auto__rigid_pair_gets_one_affine_field(tmp_path):
    """Sentinel-2 B08 (10 m) against its 30 m block average offset by (4, -5) fine pixels:
    the tie points depart from one affine model like noise (measured 0.36 px RMS,
    neighbour semivariance / variance 0.97), so the field is that model, and it is the
    offset to 0.1 px RMS over the overlap (measured 0.055 px, 0.12 px at worst: the
    model's scale terms fitted to noisy 10 m / 30 m points; align_image does better on
    such a pair).

    ``matching_score_after`` is the score through that affine field, not through the
    tie-point field measured on the way: the mean score of the reference against the
    written output, window by window at the points (measured: 0.6246 reported, 0.6255 on
    the output, whose warp resamples once more; the tie-point field's score was 0.6160).
    A same-sensor pair: the automatic windows stay 64 px every 64 px."""
    pair = build(CorpusCase("beirut 10/30", "auto", BEIRUT, 1, 3, (4, -5), seed=301),
                 tmp_path / "pair")
    result = align_local(pair.reference, pair.secondary, tmp_path / "aligned.tif",
                         tmp_path / "field.tif", method="auto")

    report = result.report()
    choice = report["method_choice"]
    assert choice["chosen"] == "global" and "global" in choice["reason"]
    assert choice["structure_ratio"] > 0.8  # noise: about 1
    # What the points still show describes the field written (the affine model), not
    # the tie-point field measured on the way.
    assert report["rms_shift_after_px"] == pytest.approx(choice["affine_rms_px"], rel=1e-6)
    field = _field(tmp_path / "field.tif")
    valid = np.isfinite(field[0])
    # aligned(p) = secondary(p + d) shows the fine band at p + d + k: d = -k.
    error = np.hypot(field[0][valid] + 4, field[1][valid] - 5)
    assert valid.mean() > 0.5 and float(np.sqrt(np.mean(error**2))) <= 0.1
    assert (report["window_choice"]["window_size"], report["window_choice"]["grid_spacing"]) \
        == (64, 64)
    scores = _window_scores(pair.reference, tmp_path / "aligned.tif", report)
    before = np.array([np.nan if p["score_before"] is None else p["score_before"]
                       for p in report["points"]])
    on_output = float(np.mean(scores[np.isfinite(scores) & np.isfinite(before)]))
    assert report["matching_score_after"] == pytest.approx(on_output, abs=0.003)


def test_auto__smooth_flow_goes_local(tmp_path):
    """Sentinel-1 warped by GeFolki's flow truth: the points depart from one affine model
    by more than a pixel, smoothly (measured 1.31 px RMS, neighbour semivariance /
    variance 0.40): local."""
    *paths, truth = flow_warped_pair("S1_patch11.tif", tmp_path)

    result = align_local(*paths, None, tmp_path / "field.tif", method="auto",
                         grid_spacing=48)

    choice = result.report()["method_choice"]
    assert choice["chosen"] == "local" and "local distortion" in choice["reason"]
    assert choice["affine_rms_px"] > 1.0 and choice["structure_ratio"] < 0.5
    field = _field(tmp_path / "field.tif")
    inner = (slice(30, -30),) * 2
    epe = float(np.mean(np.hypot(field[0] + truth[0], field[1] + truth[1])[inner]))
    assert epe < 0.3  # one affine model cannot do better than about 1 px here
