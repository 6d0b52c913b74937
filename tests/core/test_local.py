"""coreg.core.local.local: a real Sentinel-2 band (480 x 480 crop) warped by a known smooth
non-rigid field (+-3 px sinusoids) is recovered through the whole raster pipeline (tiles,
DISPLACEMENT raster, warp); pasted clouds and changed areas are flagged as outliers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from local_synthetic import SCENE, field_error, paste, true_field, write_pair

from coreg.core.local import local, reader, uncertainty
from coreg.core.local.local import align_local
from coreg.core.matching.metrics import matching_score

#: Points are laid out so that their windows fit the raster: the field is known (not
#: extrapolated) from half a window inside the edges.
INSIDE = 32


@pytest.fixture(scope="module")
def pair(shared_data, tmp_path_factory):
    return write_pair(shared_data / SCENE, tmp_path_factory.mktemp("local_pair"), size=480)


@pytest.fixture(scope="module")
def tie_points_run(pair, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tie_points")
    reference, secondary = pair
    result = align_local(reference, secondary, folder / "aligned.tif", folder / "field.tif",
                         grid_spacing=48, window_size=64, max_shift=10)
    return result, folder


def test_tie_points__synthetic_field(tie_points_run):
    result, folder = tie_points_run
    error = field_error(folder / "field.tif", INSIDE)
    assert error <= 0.1, f"RMS field error {error:.3f} px"
    report = result.report()
    assert report["n_kept"] >= 0.95 * report["n_points"]
    assert report["rms_shift_before_px"] > 2.0
    assert report["rms_shift_after_px"] < 0.1  # measured before the last correction
    assert report["matching_score_after"] > report["matching_score_before"] + 0.2
    assert report["kind"] == "coreg.align_local" and report["version"] == 1
    # MODALITY auto on one sensor: intensities, without trying structure.
    assert report["features"]["features"] == "intensity"
    assert set(report["features"]["reliable_share"]) == {"intensity"}
    assert report["features"]["reliable_share"]["intensity"] >= 0.95


def test_tie_points__report_uncertainty(tie_points_run):
    """Every kept point reports its 1-sigma and 95 % radius (their calibration is
    tests/core/test_local_uncertainty.py, on sensor-simulated pairs), at least the floor."""
    report = tie_points_run[0].report()
    kept = [p for p in report["points"] if not p["outlier"]]
    floor = uncertainty.R95_PER_SIGMA * uncertainty.TIE_POINT_FLOOR_PX
    assert all(p["ce95_px"] >= floor * 0.999 and p["sigma_dx"] > 0 and p["sigma_dy"] > 0
               for p in kept)
    assert floor * 0.999 <= report["median_point_ce95_px"] <= 0.5


def test_tie_points__aligned_output(pair, tie_points_run):
    """The warped secondary matches the reference as closely as the noise allows."""
    _, folder = tie_points_run
    with rasterio.open(pair[0]) as ref, rasterio.open(folder / "aligned.tif") as out:
        a, b = ref.read(1), out.read(1)
        assert out.transform == ref.transform and out.crs == ref.crs
    inner = (slice(INSIDE, -INSIDE), slice(INSIDE, -INSIDE))
    assert np.isfinite(b[inner]).all()
    assert np.corrcoef(a[inner].ravel(), b[inner].ravel())[0, 1] > 0.99
    assert matching_score(a[inner], b[inner]) > 0.95


def test_tie_points__displacement_convention(pair, tie_points_run):
    """DISPLACEMENT band 1 is dx and band 2 dy, NaN-free over the overlap; the report
    names it with the reference grid."""
    result, folder = tie_points_run
    with rasterio.open(folder / "field.tif") as ds:
        assert ds.count == 2 and ds.dtypes == ("float32", "float32")
        dx, dy = ds.read(1), ds.read(2)
    rr, cc = np.meshgrid(np.arange(dx.shape[0]), np.arange(dx.shape[1]), indexing="ij")
    tx, ty = true_field(rr, cc)
    assert np.corrcoef(dx.ravel(), tx.ravel())[0, 1] > 0.99
    assert np.corrcoef(dy.ravel(), ty.ravel())[0, 1] > 0.99
    report = json.loads(json.dumps(result.report()))
    assert report["displacement"] == str(folder / "field.tif")
    assert report["reference_grid"]["width"] == 480


def test_tie_points__alone_write_no_field(pair, tie_points_run, monkeypatch):
    """Without an output or a DISPLACEMENT path the points come alone, the same points."""
    def no_field(*args):
        raise AssertionError("the field raster was written")

    monkeypatch.setattr(local, "write_node_field", no_field)
    result = align_local(*pair, grid_spacing=48, window_size=64, max_shift=10)
    expected = tie_points_run[0].points
    np.testing.assert_array_equal(result.points.dx, expected.dx)
    assert result.points.reason == expected.reason and result.report()["displacement"] is None


def test_tie_points__clouds_and_change_are_outliers(pair, tmp_path, monkeypatch):
    """Also read in nine tiles, to exercise the tiling."""
    monkeypatch.setattr(reader, "TILE", 200)
    reference, secondary = pair
    cloud, change = (90, 80, 130), (290, 300, 130)
    changed = tmp_path / "changed.tif"
    paste(secondary, changed, cloud=cloud, change=change)
    result = align_local(reference, changed, None, tmp_path / "field.tif", grid_spacing=32,
                         window_size=64, max_shift=10)
    p = result.points
    inside = np.zeros(len(p), bool)
    for r, c, s in (cloud, change):  # windows at least half inside a pasted square
        inside |= ((p.row >= r + 16) & (p.row < r + s - 16)
                   & (p.col >= c + 16) & (p.col < c + s - 16))
    assert inside.sum() >= 8
    assert not p.kept[inside].any(), [p.reason[k] for k in np.flatnonzero(inside & p.kept)]
    assert p.kept[~inside].mean() > 0.8
    # Away from the pasted squares the field is still right.
    with rasterio.open(tmp_path / "field.tif") as ds:
        dx, dy = ds.read(1), ds.read(2)
    rr, cc = np.meshgrid(np.arange(480), np.arange(480), indexing="ij")
    tx, ty = true_field(rr, cc)
    away = np.ones(dx.shape, bool)
    for r, c, s in (cloud, change):
        away[r - 32:r + s + 32, c - 32:c + s + 32] = False
    away[:INSIDE], away[-INSIDE:], away[:, :INSIDE], away[:, -INSIDE:] = False, False, False, False
    error = float(np.sqrt(np.mean((dx - tx)[away] ** 2 + (dy - ty)[away] ** 2)))
    assert error <= 0.15, error


def test_dense_flow__synthetic_field(shared_data, tmp_path, monkeypatch):
    """Dense flow through the pipeline, in four tiles stitched by their cores."""
    monkeypatch.setattr(reader, "TILE", 160)
    reference, secondary = write_pair(shared_data / SCENE, tmp_path, size=320)
    result = align_local(reference, secondary, tmp_path / "aligned.tif", tmp_path / "field.tif",
                         method="dense_flow", grid_spacing=64, window_size=64, max_shift=10,
                         radius=8, levels=1, iterations=4)
    error = field_error(tmp_path / "field.tif", INSIDE)
    assert error <= 0.1, f"RMS field error {error:.3f} px"
    report = result.report()
    assert report["method"] == "dense_flow" and report["n_kept"] == report["n_points"]
    assert report["rms_shift_after_px"] < 0.1 < 2.0 < report["rms_shift_before_px"]


def test_align_local__errors(pair, tmp_path):
    reference, secondary = pair
    with pytest.raises(ValueError, match="method"):
        align_local(reference, secondary, method="magic")
    with pytest.raises(ValueError, match="would replace the input"):
        align_local(reference, secondary, secondary)
    with pytest.raises(ValueError, match="band 3"):
        align_local(reference, secondary, secondary_band=3)


@pytest.mark.parametrize("spacing", [32, 160])
def test_measure_points__through_a_prior(pair, spacing):
    """Windows sampled through a prior field measure what the prior leaves, whether the
    tile is warped once for all windows (dense grid) or window by window (sparse)."""
    from coreg.core.local.points import NodeField, node_count
    from coreg.core.local.tie_points import array_tiles, grid_positions, measure_points

    with rasterio.open(pair[0]) as ref, rasterio.open(pair[1]) as sec:
        reference, secondary = ref.read(1), sec.read(1)
    rows, cols = grid_positions(*reference.shape, spacing, 64)
    nodes = node_count(reference.shape[0], 16.0)
    tx, ty = true_field(*np.mgrid[0:nodes, 0:nodes] * 16.0)
    prior = NodeField((tx - 0.3).astype(np.float32), (ty + 0.2).astype(np.float32), 16.0)
    out = measure_points(array_tiles(reference, secondary), rows, cols, 64, prior, margin=48)
    inside = (np.minimum(rows, cols) >= 64) & (np.maximum(rows, cols) < 480 - 64)
    assert np.median(out["dx"][inside]) == pytest.approx(0.3, abs=0.03)
    assert np.median(out["dy"][inside]) == pytest.approx(-0.2, abs=0.03)
    assert np.all(np.isfinite(out["ssim"][inside]))
