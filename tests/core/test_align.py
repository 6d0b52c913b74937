"""Global alignment on real imagery: the sensor-simulated corpus (tests/corpus.py, exact
truths), real pairs, masks, errors and memory."""

from __future__ import annotations

import pickle
from pathlib import Path

import corpus
import numpy as np
import pytest
import rasterio
from affine import Affine
from child import run_measured
from rasterio.warp import Resampling, calculate_default_transform, reproject
from synthetic import Case, make_secondary, scene_rms_error_px

from coreg.core import parallel
from coreg.core.errors import CoregistrationError
from coreg.core.io.masks import PolygonMask
from coreg.core.matching import align as align_module
from coreg.core.matching.align import align_image, estimate_alignment

OPTICAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "optical"
BEIRUT = (OPTICAL / "oscd_s2" / "beirut_S2_20150820_B02-B03-B04-B08.tif", 4)
NANJING = (OPTICAL / "landsat_pairs" / "nanjing_LT05_20000503_B1-5_7.tif", 4)
EVEREST = (OPTICAL / "single_scene" / "everest_LE07_20001030_B4.tif", 1)

# ------------------------------------------------------------- validation corpus
# Sensor-simulated pairs (tests/corpus.py): block averages of real bands, exact truths,
# no interpolation by Coreg's own kernel. The whole corpus is aligned once, with
# align_image's defaults; the figures are the targets.

CORPUS = corpus.global_cases()


@pytest.fixture(scope="module")
def corpus_rows(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return {row["case"]: row for row in corpus.run_corpus(CORPUS, folder)}


def test_corpus__truth_is_the_content_shift(tmp_path):
    """Without noise, the secondary's pixel at X holds the reference's at truth(X)."""
    case = corpus.CorpusCase("t", "t", corpus.BEIRUT, 2, 2, (4, -6), noise=0.0)
    pair = corpus.build(case, tmp_path)
    with rasterio.open(pair.reference) as r, rasterio.open(pair.secondary) as s:
        ref, sec = r.read(1), s.read(1)
    rows, cols = np.mgrid[5:50, 5:50]
    x, y = pair.secondary_transform * (cols + 0.5, rows + 0.5)
    ref_col, ref_row = ~pair.reference_transform * pair.truth.forward(x, y)
    np.testing.assert_allclose(ref_col % 1, 0.5)
    moved = ref[np.rint(ref_row - 0.5).astype(int), np.rint(ref_col - 0.5).astype(int)]
    gain, offset = np.polyfit(moved.ravel(), sec[rows, cols].ravel(), 1)
    assert gain == pytest.approx(0.8)
    np.testing.assert_allclose(sec[rows, cols], gain * moved + offset, rtol=1e-5)


def test_corpus__has_every_sub_pixel_phase_and_mix():
    phases = {(c.sec_block, k % c.sec_block) for c in CORPUS for k in c.offset}
    assert {(2, 1), (3, 1), (3, 2), (4, 1), (4, 2), (4, 3)} <= phases
    assert {(1, 2), (1, 3), (1, 4), (2, 4), (2, 1)} <= {(c.ref_block, c.sec_block)
                                                       for c in CORPUS}
    assert len(CORPUS) >= 30 and max(abs(c.rotation_deg) for c in CORPUS) == 1.0


@pytest.mark.parametrize("name", [c.name for c in CORPUS])
def test_corpus__case(name, corpus_rows):
    row = corpus_rows[name]
    assert row["err_px"] <= 0.05, row
    assert row["rot_err_deg"] <= 0.005, row


def test_corpus__scene_rms(corpus_rows):
    errors = np.array([r["err_px"] for r in corpus_rows.values()])
    assert np.sqrt(np.mean(errors**2)) <= 0.02


def test_corpus__uncertainty_is_calibrated(corpus_rows):
    """The true error lies inside the reported 95 % radius in 90-98 % of the cases, and
    the radii are not more than 3x the observed errors' 95th percentile (median)."""
    rows = list(corpus_rows.values())
    errors = np.array([r["err_px"] for r in rows])
    ce95 = np.array([r["ce95_px"] for r in rows])
    assert 0.90 <= np.mean(errors <= ce95) <= 0.98
    assert np.median(ce95) <= 3 * np.percentile(errors, 95)


def test_corpus__report_keys(tmp_path):
    case = next(c for c in CORPUS if c.name == "beirut red 20/40 rot -1.0")
    pair = corpus.build(case, tmp_path)
    report = align_image(pair.reference, pair.secondary).report()
    covariance = np.array(report["covariance"])
    assert covariance.shape == (3, 3) and np.allclose(covariance, covariance.T)
    assert np.all(np.linalg.eigvalsh(covariance) >= 0) and covariance[2, 2] > 0
    assert 0 < report["ce90_px"] < report["ce95_px"] < 0.1
    # EPSG:4326 reference, 20 m pixels (about 2e-4 degrees at Beirut).
    assert report["ce95_m"] / report["ce95_px"] == pytest.approx(20, rel=0.1)
    assert report["shift_uncertainty_px"] > 0


def test_alignment__scores_wait_for_the_report_and_survive_pickling(tmp_path):
    """The matching scores are computed when first read (not by the alignment itself),
    and a pickled alignment (a worker's result) carries the numbers."""
    case = next(c for c in CORPUS if c.name == "beirut 20/40")
    pair = corpus.build(case, tmp_path)
    alignment = estimate_alignment(pair.reference, pair.secondary)
    assert alignment.scores._value is None
    report = alignment.report()
    before, after = report["matching_score_before"], report["matching_score_after"]
    assert 0 < before < after <= 1
    copy = pickle.loads(pickle.dumps(alignment))
    assert (copy.matching_score_before, copy.matching_score_after) == (before, after)


def test_align_image__a_large_secondary_has_its_scores_computed_beside_the_write(
        tmp_path, monkeypatch):
    """Past SCORES_BESIDE_WRITE_BYTES the scores run on a thread during the write: the
    report then finds the very numbers it computes itself otherwise."""
    case = next(c for c in CORPUS if c.name == "beirut 20/40")
    pair = corpus.build(case, tmp_path)
    lazily = align_image(pair.reference, pair.secondary, tmp_path / "lazy.tif")
    assert lazily.scores._value is None and lazily.scores._future is None
    monkeypatch.setattr(align_module, "SCORES_BESIDE_WRITE_BYTES", 1)
    beside = align_image(pair.reference, pair.secondary, tmp_path / "beside.tif")
    assert beside.scores._future is not None
    assert beside.scores.value() == lazily.scores.value()
    assert 0 < beside.matching_score_before < beside.matching_score_after <= 1


def test_estimate_alignment__the_same_numbers_on_one_thread_as_on_two(tmp_path, monkeypatch):
    """The secondary's chunk is prepared beside the reference's screening, the patches
    are matched in shares on two threads: neither changes a digit of the result."""
    case = next(c for c in CORPUS if c.name == "beirut 20/40")
    pair = corpus.build(case, tmp_path)
    results = []
    for threads in (1, 2):
        monkeypatch.setattr(parallel, "THREADS", threads)
        alignment = estimate_alignment(pair.reference, pair.secondary)
        results.append((alignment.model, alignment.ce90_px,
                        [(p.dx_px, p.dy_px, p.used) for p in alignment.patches]))
    assert results[0] == results[1]


def test_estimate_alignment__across_crs(tmp_path):
    """Secondary delivered in UTM while the reference is geographic."""
    path, band = BEIRUT
    shifted = tmp_path / "shifted.tif"
    truth = make_secondary(path, band, shifted, Case(3.2, -2.1))
    utm = tmp_path / "utm.tif"
    with rasterio.open(shifted) as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:32636", src.width, src.height, *src.bounds, resolution=8.0)
        with rasterio.open(utm, "w", **(src.profile | {"crs": "EPSG:32636", "transform": transform,
                                                       "width": width, "height": height})) as dst:
            reproject(rasterio.band(src, 1), rasterio.band(dst, 1), resampling=Resampling.lanczos)
    alignment = estimate_alignment(path, utm, reference_band=band, transform="translation")
    assert alignment.model.shift_x / truth.shift_x == pytest.approx(1, abs=0.05 / 3.2)
    assert alignment.model.shift_y / truth.shift_y == pytest.approx(1, abs=0.05 / 2.1)
    assert alignment.secondary_crs == "EPSG:32636"


def test_estimate_alignment__oscd_abudhabi_agrees_with_arosics():
    """Real two-date pair from two UTM-zone tiles; AROSICS finds x -0.496, y -1.370 px."""
    folder = OPTICAL / "oscd_s2"
    alignment = estimate_alignment(folder / "abudhabi_S2_20160120_B02-B03-B04-B08.tif",
                                   folder / "abudhabi_S2_20180328_B02-B03-B04-B08.tif",
                                   reference_band=4, secondary_band=4, transform="translation")
    assert alignment.shift_x_px == pytest.approx(-0.496, abs=0.1)
    assert alignment.shift_y_px == pytest.approx(-1.370, abs=0.1)
    assert alignment.reliability > 50


def test_estimate_alignment__polygon_mask_excludes_patches(tmp_path):
    path, band = NANJING
    secondary = tmp_path / "secondary.tif"
    truth = make_secondary(path, band, secondary, Case(1.5, 0.5))
    with rasterio.open(path) as ds:
        left, bottom, right, top = ds.bounds
    half = {"type": "Polygon", "coordinates": [[(left, bottom), ((left + right) / 2, bottom),
                                                ((left + right) / 2, top), (left, top),
                                                (left, bottom)]]}
    alignment = estimate_alignment(path, secondary, reference_band=band, transform="translation",
                                   masks=[PolygonMask([half], "EPSG:32650")])
    masked = [p for p in alignment.patches if p.reason == "nodata or masked"]
    assert masked and all(p.x < (left + right) / 2 for p in masked)
    assert not any(p.used and p.x < (left + right) / 2 - 128 * 30 for p in alignment.patches)
    assert scene_rms_error_px(alignment.model, truth, secondary) <= 0.05


def test_estimate_alignment__raster_mask(tmp_path):
    path, band = NANJING
    secondary = tmp_path / "secondary.tif"
    make_secondary(path, band, secondary, Case(1.5, 0.5))
    mask = tmp_path / "mask.tif"
    with rasterio.open(path) as ds:
        values = np.zeros((ds.height, ds.width), np.uint8)
        values[: ds.height // 2] = 1
        with rasterio.open(mask, "w", **(ds.profile | {"count": 1, "dtype": "uint8"})) as dst:
            dst.write(values, 1)
    alignment = estimate_alignment(path, secondary, reference_band=band, masks=[mask],
                                   transform="translation")
    top = [p for p in alignment.patches if p.reason == "nodata or masked"]
    assert len(top) >= len(alignment.patches) // 3
    assert alignment.shift_x_px == pytest.approx(1.5, abs=0.05)


# ----------------------------------------------------------------------- errors


def _write(path, data, transform, crs="EPSG:32650", nodata=None):
    profile = dict(driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                   dtype=data.dtype, transform=transform, crs=crs, nodata=nodata)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


@pytest.fixture
def nanjing_band(tmp_path):
    path, band = NANJING
    with rasterio.open(path) as ds:
        return ds.read(band), ds.transform


def test_errors__no_overlap(tmp_path, nanjing_band):
    data, transform = nanjing_band
    far = Affine.translation(1e5, 0) * transform
    ref = _write(tmp_path / "a.tif", data, transform)
    with pytest.raises(ValueError, match="do not overlap"):
        estimate_alignment(ref, _write(tmp_path / "b.tif", data, far))


def test_errors__no_crs(tmp_path, nanjing_band):
    data, transform = nanjing_band
    ref = _write(tmp_path / "a.tif", data, transform)
    with pytest.raises(ValueError, match="no coordinate reference system"):
        estimate_alignment(ref, _write(tmp_path / "b.tif", data, transform, crs=None))


def test_errors__no_transformation_between_the_crss(tmp_path, nanjing_band):
    data, transform = nanjing_band
    ref = _write(tmp_path / "a.tif", data, transform)
    local = ('LOCAL_CS["arbitrary",UNIT["metre",1],AXIS["Easting",EAST],'
             'AXIS["Northing",NORTH]]')
    with pytest.raises(ValueError, match="No coordinate transformation"):
        estimate_alignment(ref, _write(tmp_path / "b.tif", data, transform, crs=local))


def test_errors__all_nodata_overlap(tmp_path, nanjing_band):
    data, transform = nanjing_band
    ref = _write(tmp_path / "a.tif", data, transform)
    empty = _write(tmp_path / "b.tif", np.zeros_like(data), transform, nodata=0)
    with pytest.raises((ValueError, CoregistrationError), match="no valid|No reliable"):
        estimate_alignment(ref, empty)


def test_errors__shift_beyond_search_range_is_reported(tmp_path):
    path, band = NANJING
    secondary = tmp_path / "secondary.tif"
    make_secondary(path, band, secondary, Case(12.0, -9.0))
    with pytest.raises(CoregistrationError, match="larger than MAX_SHIFT"):
        estimate_alignment(path, secondary, reference_band=band, max_shift=5)


def test_errors__band_out_of_range(tmp_path):
    path, _ = NANJING
    with pytest.raises(ValueError, match="band 7 does not exist"):
        estimate_alignment(path, path, reference_band=7)


def test_errors__truncated_file(tmp_path):
    path, _ = NANJING
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(path.read_bytes()[: 200_000])
    with pytest.raises(ValueError, match="truncated|cannot be read"):
        estimate_alignment(path, truncated, reference_band=4, secondary_band=4)


def test_errors__output_equal_to_input(tmp_path):
    path, _ = NANJING
    with pytest.raises(ValueError, match="would replace the input"):
        align_image(path, path, path)


# ------------------------------------------------------------------------ memory

LARGE_RUN = """
from coreg.core.matching.align import align_image
a = align_image(sys.argv[1], sys.argv[2], sys.argv[3], transform="rigid", max_shift=20)
result = {"dx": a.shift_x_px, "dy": a.shift_y_px}
"""


def test_align_image__full_s2_tile_memory_is_bounded(tmp_path):
    """A 10980 x 10980 band (a real band tiled), misregistered by moving its
    geotransform (+0.3, -0.2) px: peak RSS of the whole run stays under 2 GiB. The tiling
    repeats every 1070 px, so the coarse search rightly calls the match ambiguous without
    the cap a careful user gives (max_shift=20)."""
    path, band = BEIRUT
    with rasterio.open(path) as ds:
        tile, transform, crs = ds.read(band), ds.transform, ds.crs
    size = 10980
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint16", crs=crs,
                   transform=transform, tiled=True, blockxsize=512, blockysize=512)
    reps = (size // tile.shape[0] + 1, size // tile.shape[1] + 1)
    big = np.tile(tile, reps)[:size, :size]
    ref = tmp_path / "ref.tif"
    with rasterio.open(ref, "w", **profile) as dst:
        dst.write(big, 1)
    sec = tmp_path / "sec.tif"
    moved = transform * Affine.translation(-0.3, 0.2)
    with rasterio.open(sec, "w", **(profile | {"transform": moved})) as dst:
        dst.write(big, 1)
    del big
    result = run_measured(LARGE_RUN, ref, sec, tmp_path / "out.tif")
    assert result["rss_mib"] < 2048
    assert result["dx"] == pytest.approx(0.3, abs=0.05)
    assert result["dy"] == pytest.approx(-0.2, abs=0.05)


def test_align_image__geotransform_mode_keeps_every_pixel_and_writes_cog(tmp_path):
    path, band = NANJING
    secondary = tmp_path / "secondary.tif"
    with rasterio.open(path) as src:
        profile = src.profile | {"transform": src.transform * Affine.translation(0.6, -0.4),
                                 "nodata": 255}
        with rasterio.open(secondary, "w", **profile) as dst:
            dst.write(src.read())
            dst.descriptions = tuple(f"TM band {b}" for b in range(1, src.count + 1))
    output = tmp_path / "aligned.tif"
    alignment = align_image(path, secondary, output, reference_band=band, secondary_band=band,
                            transform="translation", output_mode="geotransform", cog=True)
    # Content placed 0.6 px too far right and 0.4 px too high: the correction undoes it.
    assert alignment.shift_x_px == pytest.approx(-0.6, abs=0.05)
    assert alignment.shift_y_px == pytest.approx(0.4, abs=0.05)
    with rasterio.open(secondary) as sec, rasterio.open(output) as out:
        assert out.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert np.array_equal(sec.read(), out.read())
        assert (out.dtypes, out.nodata, out.descriptions) == (sec.dtypes, 255, sec.descriptions)
        moved = sec.transform * Affine.translation(alignment.shift_x_px, alignment.shift_y_px)
        assert out.transform.almost_equals(moved, precision=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aligned.tif", "secondary.tif"]
