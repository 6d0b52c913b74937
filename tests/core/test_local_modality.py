"""align_local tie points across modalities (core/local/feature_choice.py, structure matching
in core/local/tie_points.py): GeFolki's Sentinel-2 patch warped by its smooth ground-truth
flow (bilinear, GeFolki's own protocol: sar_optical/MANIFEST.md), registered onto the
Sentinel-1 patch of the same grid. The flow to recover is minus the truth."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from corpus import flow_warped_pair

from coreg.core.errors import CoregistrationError
from coreg.core.local.local import align_local

#: GeFolki's evaluation margin on the 448 x 448 patches (sar_optical/MANIFEST.md).
EPE_MARGIN = 30
#: gefolki 1.1.0 on this protocol (S2 warped onto S1, levels 4), and the zero-flow EPE.
GEFOLKI_CROSS_EPE = 1.64
ZERO_FLOW_EPE = 2.94
#: Tie points every 48 px, 96 px windows (measured: field EPE 1.08 px, 47 of 64 points kept,
#: kept points 0.86 px from the truth at their centres, median; the truth varies by up to
#: a pixel across a window and the patches' own misregistration is about half a pixel).
FIELD_EPE_MAX = 1.25
MIN_KEPT_SHARE = 0.7


@pytest.fixture(scope="module")
def warped_pair(tmp_path_factory):
    """(S1 path, S2-warped-by-the-truth path, truth (2, H, W))."""
    return flow_warped_pair("S2_patch11.tif", tmp_path_factory.mktemp("sar_optical_local"))


def test_tie_points__sentinel2_onto_sentinel1_recover_the_flow(warped_pair, tmp_path):
    """MODALITY auto: intensities give almost no reliable point on this pair, so structure
    is chosen (and said so); at least 70 % of the points are kept and the field beats both
    the zero flow and GeFolki's own cross-modal figure on the same protocol. METHOD auto
    sees the flow as local distortion (measured: 1.52 px RMS from one affine model,
    neighbour semivariance / variance 0.51)."""
    reference, secondary, truth = warped_pair
    result = align_local(reference, secondary, None, tmp_path / "field.tif",
                         grid_spacing=48, window_size=96, method="auto")

    report = result.report()
    assert report["window_choice"]["reason"] == "given: 96 px windows every 48 px"
    assert report["features"]["features"] == "structure"
    assert report["features"]["reliable_share"]["intensity"] < 0.2
    assert "another modality" in report["features"]["reason"]
    assert report["method_choice"]["chosen"] == "local", report["method_choice"]
    assert report["n_kept"] >= MIN_KEPT_SHARE * report["n_points"]
    with rasterio.open(tmp_path / "field.tif") as src:
        field = src.read()
    inner = (slice(EPE_MARGIN, -EPE_MARGIN),) * 2
    epe = float(np.mean(np.hypot(field[0] + truth[0], field[1] + truth[1])[inner]))
    assert epe <= FIELD_EPE_MAX and epe < GEFOLKI_CROSS_EPE
    assert float(np.mean(np.hypot(truth[0], truth[1])[inner])) > ZERO_FLOW_EPE - 0.01


def test_tie_points__intensities_fail_sar_against_optical(warped_pair):
    """MODALITY same (intensity phase correlation, as before MODALITY existed) keeps too
    few points on this pair and says so rather than writing a field."""
    reference, secondary, _ = warped_pair
    with pytest.raises(CoregistrationError, match="tie points are reliable"):
        align_local(reference, secondary, grid_spacing=48, window_size=96, modality="same")


#: The UAVSAR pair of sar_optical/ (an L-band Pauli tile and an optical tile of one area).
UAVSAR = "lngley_05521_09059_000_090813_L090_CX_01_pauli_x016_y020_{}.tif"


def _centre_crop(source, target, side: int = 384):
    """Band 1 of ``source``'s central ``side`` x ``side`` pixels, georeferenced (no
    resampling)."""
    from rasterio.windows import Window

    with rasterio.open(source) as ds:
        window = Window((ds.width - side) // 2, (ds.height - side) // 2, side, side)
        profile = dict(ds.profile, width=side, height=side, count=1,
                       transform=ds.window_transform(window))
        data = ds.read(1, window=window)
    with rasterio.open(target, "w", **profile) as out:
        out.write(data, 1)
    return target


def test_tie_points__uavsar_radar_onto_optical_keep_most_points_with_defaults(shared_data,
                                                                             tmp_path):
    """Radar against optical at 5 m (UAVSAR L-band Pauli band 1 onto the optical tile's
    band 1, the central 384 x 384 pixels), every option left to its default: few points
    are reliable on intensities with the same-sensor 64 px windows, so the windows grow to
    96 px every 48 px (core/local/window_choice.py), MODALITY auto matches on structure and
    at least 70 % of the points are kept (benchmarks/crossmodal.py measures the whole tile,
    as delivered and moved). Their flow truth is not in the shared data: the accuracy is
    the benchmark's differential figure."""
    folder = shared_data / "sar_optical"
    optical = _centre_crop(folder / UAVSAR.format("optique"), tmp_path / "optical.tif")
    radar = _centre_crop(folder / UAVSAR.format("radar"), tmp_path / "radar.tif")

    result = align_local(optical, radar, None, tmp_path / "field.tif")

    report = result.report()
    assert report["window_choice"]["window_size"] == 96, report["window_choice"]
    assert report["window_choice"]["grid_spacing"] == 48
    assert "another modality" in report["window_choice"]["reason"]
    assert report["parameters"]["window_size"] == 96
    assert report["features"]["features"] == "structure"
    assert report["n_kept"] / report["n_points"] >= MIN_KEPT_SHARE
