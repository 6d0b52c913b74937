"""The per-pixel UNCERTAINTY raster of align_local (coreg.core.local.field_uncertainty):
on held-out pairs of the sensor-simulated local corpus (tests/local_corpus.py), the true
field lies inside the per-pixel 95 % radius for 90-98 % of the pixels, over the whole
image (beyond the outermost tie points too), and the radius is useful (its median no more
than 3x the observed 95th percentile error). MODEL_GAIN was fitted on the other half
(benchmarks/calibration_local.py)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from local_corpus import build, local_cases, split, write_pair

from coreg.core.local import reader
from coreg.core.local.field_uncertainty import (
    UNCERTAINTY_KIND,
    UNCERTAINTY_TAG,
    tie_point_radius,
)
from coreg.core.local.local import align_local
from coreg.core.local.tie_points import array_tiles, estimate_tie_points

HELD_OUT = {c.name: c for c in split(local_cases())[1]}
CASES = ("hongkong red 20 smooth 3", "beirut red 40 smooth 8", "cupertino 30 rot -0.8",
         "everest 60 smooth 3")


@pytest.fixture(scope="module")
def fields(shared_data):
    """Per case: the field's error per pixel, the radius, the distance to the points."""
    out = {}
    for name in CASES:
        pair = build(HELD_OUT[name])
        shape = pair.reference.shape
        points, field, _ = estimate_tie_points(array_tiles(pair.reference, pair.secondary),
                                               shape, grid_spacing=32)
        fx, fy = field.on_grid(0, 0, *shape)
        radius = tie_point_radius(points, shape, field.step, 32).on_grid(0, 0, *shape)[0]
        kept = points.kept
        span = np.zeros(shape, bool)
        span[points.row[kept].min():points.row[kept].max() + 1,
             points.col[kept].min():points.col[kept].max() + 1] = True
        out[name] = (np.hypot(fx - pair.truth_dx, fy - pair.truth_dy), radius, span)
    return out


def test_tie_points__per_pixel_radius_holds_the_truth(fields):
    error = np.concatenate([e.ravel() for e, _, _ in fields.values()])
    radius = np.concatenate([r.ravel() for _, r, _ in fields.values()])
    assert np.isfinite(radius).all()
    covered = np.mean(error <= radius)
    ratio = np.median(radius) / np.percentile(error, 95)
    assert 0.90 <= covered <= 0.98, f"the per-pixel 95 % radius holds {covered:.1%}"
    assert ratio <= 3.0, f"median radius / 95th percentile error {ratio:.2f}"


def test_tie_points__radius_grows_beyond_the_outermost_points(fields):
    """Outside the points' span the field is extrapolated: larger errors, larger radii,
    and still covered."""
    error = np.concatenate([e[~s] for e, _, s in fields.values()])
    radius = np.concatenate([r[~s] for _, r, s in fields.values()])
    inner = np.concatenate([r[s] for _, r, s in fields.values()])
    assert np.median(radius) > 2 * np.median(inner)
    assert np.mean(error <= radius) >= 0.88


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds.tags(), ds.count


@pytest.mark.parametrize("method, tile", [("tie_points", None), ("dense_flow", None),
                                          ("dense_flow", 96)])
def test_align_local__writes_the_uncertainty_raster(shared_data, tmp_path, monkeypatch,
                                                     method, tile):
    """Through align_local on files: one band on the reference grid, tagged, finite over
    the overlap, and it holds the truth (dense flow: its per-pixel calibration; in tiles
    of 96 px too, whose seams must not show)."""
    if tile:
        monkeypatch.setattr(reader, "TILE", tile)
    case = HELD_OUT["hongkong red 20 smooth 3"]
    reference, secondary, pair = write_pair(case, tmp_path)
    result = align_local(reference, secondary, displacement=tmp_path / "field.tif",
                         uncertainty=tmp_path / "radius.tif", method=method, grid_spacing=32)
    radius, tags, count = _read(tmp_path / "radius.tif")
    assert count == 1 and tags[UNCERTAINTY_TAG] == UNCERTAINTY_KIND
    assert result.report()["uncertainty"] == str(tmp_path / "radius.tif")
    with rasterio.open(tmp_path / "field.tif") as ds:
        dx, dy = ds.read(1), ds.read(2)
    known = np.isfinite(dx) & np.isfinite(radius)
    assert known.mean() > 0.97
    error = np.hypot(dx - pair.truth_dx, dy - pair.truth_dy)[known]
    covered = np.mean(error <= radius[known])
    assert 0.85 <= covered <= 0.995, f"{method}: the 95 % radius holds {covered:.1%}"
    assert np.median(radius[known]) <= 3 * np.percentile(error, 95)
