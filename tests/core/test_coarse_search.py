"""No shift limit to guess (core/matching/coarse_search.py): large offsets found with the defaults
on sensor-simulated real pairs (tests/corpus.py), ambiguity said, the cap and the seed."""

from __future__ import annotations

import pickle

import corpus
import numpy as np
import pytest
import rasterio
from affine import Affine

from coreg.core.errors import AmbiguousMatchError, CoregInputError, CoregistrationError
from coreg.core.matching.align import estimate_alignment
from coreg.core.matching.coarse_search import initial_map, masked_ncc
from coreg.core.stack.coregistered_stack import not_aligned_reason

LARGE = corpus.large_shift_cases()


@pytest.mark.parametrize("case", LARGE, ids=[c.name for c in LARGE])
def test_large_shift__found_with_defaults(case, tmp_path):
    """50 to 300 reference px (up to 39 % of the overlap's smaller side), and the 21.7 px
    of the user's report: error <= 0.05 reference px with align_image's defaults."""
    row = corpus.run_case(case, tmp_path)
    assert row["err_px"] <= 0.05, row
    assert row["reliability"] > 50


def test_masked_ncc__shift_sign_and_partial_overlap():
    rng = np.random.default_rng(1)
    image = rng.normal(size=(120, 140))
    f = image[20:100, 10:110]
    g = image[20 + 17:100 + 17, 10 - 9:110 - 9]  # g(x) shows f at x + (17, -9)
    ok = np.ones(f.shape, bool)
    ncc, rows, cols = masked_ncc(f[None], ok, g[None], ok)
    best = np.unravel_index(np.nanargmax(ncc), ncc.shape)
    assert (rows[best], cols[best]) == (17, -9)
    assert ncc[best] == pytest.approx(1.0, abs=1e-6)


def _tiled_pair(tmp_path, shift_px: int):
    """A real band made periodic (a 200 px tile repeated) and a copy whose content is
    ``shift_px`` columns further: every tile period fits as well."""
    with rasterio.open(corpus.BEIRUT.path) as ds:
        tile = ds.read(4)[300:500, 300:500].astype(np.float32)
    big = np.tile(tile, (3, 4))
    t = Affine(10.0, 0, 500000.0, 0, -10.0, 4000000.0)
    paths = []
    for name, data in (("ref", big[:, :600]), ("sec", big[:, shift_px:shift_px + 600])):
        path = tmp_path / f"{name}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=600, height=600, count=1,
                           dtype="float32", crs="EPSG:32636", transform=t) as dst:
            dst.write(data, 1)
        paths.append(path)
    return paths


def test_ambiguous__refused_then_kept_with_low_reliability(tmp_path):
    ref, sec = _tiled_pair(tmp_path, 30)
    with pytest.raises(CoregistrationError, match="Ambiguous"):
        estimate_alignment(ref, sec, transform="translation")
    kept = estimate_alignment(ref, sec, transform="translation", keep_unreliable=True)
    assert any("Ambiguous" in w for w in kept.warnings)
    assert kept.reliability <= 50
    assert kept.report()["search"]["ambiguous"]


def test_ambiguous__a_stack_gives_its_own_advice_and_the_error_pickles(tmp_path):
    """A stack has no initial offset nor maximum shift: its reason sends the user to
    align the input on its own. The error comes back from Dask workers pickled."""
    ref, sec = _tiled_pair(tmp_path, 30)
    with pytest.raises(AmbiguousMatchError) as raised:
        estimate_alignment(ref, sec, transform="translation")
    error = pickle.loads(pickle.dumps(raised.value))
    assert str(error) == str(raised.value) and "maximum shift, or keep" in str(error)
    reason = not_aligned_reason(error)
    assert reason.startswith(error.finding) and "Align image (global)" in reason
    assert "keep the unreliable" not in reason
    assert not_aligned_reason(CoregistrationError("No match.")) == "No match."


def test_ambiguous__resolved_by_a_cap_around_an_initial_offset(tmp_path):
    """The careful user's answer: an initial offset near the truth and a cap smaller than
    the period (200 px)."""
    ref, sec = _tiled_pair(tmp_path, 30)
    found = estimate_alignment(ref, sec, transform="translation", initial_offset=(25, 0),
                               max_shift=40)
    assert found.shift_x_px == pytest.approx(30, abs=0.05)
    assert found.shift_y_px == pytest.approx(0, abs=0.05)


def test_max_shift__a_cap_still_refuses_a_larger_shift(tmp_path):
    case = LARGE[0]  # 50, -30 px
    pair = corpus.build(case, tmp_path)
    with pytest.raises(CoregistrationError, match="larger than MAX_SHIFT|No reliable"):
        estimate_alignment(pair.reference, pair.secondary, max_shift=20)


def test_initial_offset__units_and_bad_values():
    from coreg.core.grid import Grid

    grid = Grid(None, Affine(10.0, 0, 0, 0, -20.0, 0), 10, 10)
    assert initial_map((3, 2), "pixels", grid) == (30.0, -40.0)
    assert initial_map((3, 2), "map", grid) == (3.0, 2.0)
    with pytest.raises(CoregInputError, match="two numbers"):
        initial_map(("a", 2), "pixels", grid)
    with pytest.raises(CoregInputError, match="units"):
        initial_map((1, 2), "metres", grid)


def test_masked_ncc__short_transforms_read_the_same_surface_within_reach():
    """With a reach, the FFTs are only as long as those shifts need: the surface within it
    is the full one's (a masked part included), to single precision (the transforms')."""
    rng = np.random.default_rng(2)
    image = rng.normal(size=(150, 170))
    f, g = image[10:130, 10:150], image[13:133, 5:145]
    f_ok, g_ok = np.ones(f.shape, bool), np.ones(g.shape, bool)
    g_ok[:25, :40] = False
    full, rows, cols = masked_ncc(f[None], f_ok, g[None], g_ok)
    short, rows_s, cols_s = masked_ncc(f[None], f_ok, g[None], g_ok, reach=12)
    near = np.hypot(rows_s, cols_s) <= 12
    assert full.shape != short.shape
    lookup = {(r, c): v for r, c, v in zip(rows.ravel(), cols.ravel(), full.ravel())}
    expected = np.array([lookup[(r, c)] for r, c in zip(rows_s[near], cols_s[near])])
    assert np.allclose(short[near], expected, atol=1e-6, equal_nan=True)
    best = np.unravel_index(np.nanargmax(np.where(near, short, np.nan)), short.shape)
    assert (rows_s[best], cols_s[best]) == (3, -5)
