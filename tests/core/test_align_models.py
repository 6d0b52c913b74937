"""The scale and affine models of align_image (core/matching/linear_model.py), on pairs
made as a sensor sees them: the fine 10 m band warped by Lanczos, then block-averaged
(tests/linear_corpus.py), never by Coreg's own cubic B-spline."""

from __future__ import annotations

import corpus
import numpy as np
import pytest
import rasterio
from linear_corpus import LinearCase, build_linear, scene_error_px

from coreg.core.matching.align import align_image
from coreg.core.matching.fit import RigidModel, fit_rigid
from coreg.core.matching.linear_model import LinearModel, decomposed, fit_linear, terms_shown
from coreg.core.transforms.model import AffineTransform
from coreg.core.transforms.saved import read_report

pytestmark = pytest.mark.skipif(not LinearCase("x").source.path.exists(),
                                reason="shared OSCD data missing")

SCALE = LinearCase("scale error 0.5 %", (1.005, 0.0, 0.0, 1.005), (2, -3), seed=1)
SHEAR = LinearCase("affine with shear", (1.003, 0.002, 0.001, 0.998), (1, 2), seed=2)
TRANSLATION = LinearCase("translation only", offset=(3, -1), seed=3)
#: Largest error of a fitted term (scale factors, shear) and of the scene (ref px).
TERM_TOLERANCE, SCENE_TOLERANCE_PX = 1e-4, 0.05


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("linear")
    return {case.name: build_linear(case, folder / str(k))
            for k, case in enumerate((SCALE, SHEAR, TRANSLATION))}


def test_scale_error_recovered(pairs, tmp_path):
    pair = pairs[SCALE.name]
    alignment = align_image(pair.reference, pair.secondary, tmp_path / "out.tif",
                            transform="scale")
    terms = alignment.report()["model_terms"]
    assert abs(terms["scale"] - 1.005) <= TERM_TOLERANCE
    assert 0 < terms["scale_se"] < TERM_TOLERANCE
    error = scene_error_px(alignment.transform.affine, pair)
    assert error <= SCENE_TOLERANCE_PX
    assert error <= alignment.ce95_px  # the radius over all four parameters holds it
    # The rigid model cannot follow it: the scale error shows as a scene error.
    rigid = align_image(pair.reference, pair.secondary, transform="rigid")
    assert scene_error_px(rigid.transform.affine, pair) > 10 * SCENE_TOLERANCE_PX
    # Written through the model's transform onto the reference grid, and saved with it.
    with rasterio.open(tmp_path / "out.tif") as out, rasterio.open(pair.reference) as ref:
        assert (out.transform, out.crs, out.shape) == (ref.transform, ref.crs, ref.shape)
    saved = read_report(alignment.report())
    assert isinstance(saved, AffineTransform) and saved.uncertainty is not None
    assert saved.affine.almost_equals(alignment.transform.affine, precision=1e-9)


def test_affine_with_shear_recovered(pairs):
    pair = pairs[SHEAR.name]
    alignment = align_image(pair.reference, pair.secondary, transform="affine")
    terms = alignment.report()["model_terms"]
    truth = decomposed(np.reshape(SHEAR.matrix, (2, 2)))
    for name in ("scale_x", "scale_y", "shear"):
        assert abs(terms[name] - truth[name]) <= TERM_TOLERANCE, name
    assert abs(terms["rotation_deg"] - truth["rotation_deg"]) <= 0.005
    error = scene_error_px(alignment.transform.affine, pair)
    assert error <= SCENE_TOLERANCE_PX and error <= alignment.ce95_px


@pytest.mark.parametrize("kind", ["scale", "affine"])
def test_translation_stays_a_translation(pairs, kind):
    """No spurious terms: within 3 standard errors of none (here exactly none, as no
    term showed), and the shift as accurate as the translation model's."""
    pair = pairs[TRANSLATION.name]
    alignment = align_image(pair.reference, pair.secondary, transform=kind)
    terms = alignment.report()["model_terms"]
    names = ("scale",) if kind == "scale" else ("scale", "scale_x", "scale_y")
    for name in names:
        assert abs(terms[name] - 1.0) <= 3 * terms[f"{name}_se"], name
    if kind == "affine":
        assert abs(terms["shear"]) <= 3 * terms["shear_se"]
    assert abs(terms["rotation_deg"]) <= 3 * terms["rotation_deg_se"]
    assert alignment.transform.translation() is not None  # a pure translation
    assert scene_error_px(alignment.transform.affine, pair) <= SCENE_TOLERANCE_PX


def test_rotation_through_the_affine_model(tmp_path):
    """A rigid corpus pair (GDAL Lanczos rotation of -0.5 degree at the fine scale, 2 x 2
    block averages): the affine model finds the rotation as the rigid one does, and its
    scale and shear stay within 3 standard errors of none."""
    case = next(c for c in corpus.global_cases() if c.name == "cupertino 20/20 rot -0.5")
    pair = corpus.build(case, tmp_path)
    alignment = align_image(pair.reference, pair.secondary, transform="affine")
    terms = alignment.report()["model_terms"]
    assert abs(terms["rotation_deg"] - case.rotation_deg) <= 0.005
    for name, none in (("scale_x", 1.0), ("scale_y", 1.0), ("shear", 0.0)):
        assert abs(terms[name] - none) <= 3 * terms[f"{name}_se"], name
    assert corpus.scene_error_px(alignment.transform, pair.truth, pair) <= SCENE_TOLERANCE_PX


def _observations(matrix, outliers: int, seed: int = 0):
    """Patch centres on a 10 x 10 grid (map units, 10 m pixels) and the displacement
    ``matrix`` about the origin gives them, plus noise and ``outliers`` wild ones."""
    rng = np.random.default_rng(seed)
    xs, ys = np.meshgrid(np.linspace(-5000, 5000, 10), np.linspace(-5000, 5000, 10))
    centres = np.column_stack([xs.ravel(), ys.ravel()])
    shifts = centres @ (np.asarray(matrix) - np.eye(2)).T + (12.0, -7.0)
    shifts += rng.normal(0, 0.2, shifts.shape)
    shifts[:outliers] += rng.uniform(-80, 80, (outliers, 2))
    return centres, shifts, np.ones(len(centres))


@pytest.mark.parametrize("kind", ["scale", "affine"])
def test_fit_ignores_outliers(kind):
    matrix = [[1.004, -0.001], [0.001, 1.004]] if kind == "scale" else \
        [[1.004, 0.002], [-0.001, 0.997]]
    centres, shifts, weights = _observations(matrix, outliers=25)
    fit = fit_linear(centres, shifts, weights, pixel_size=(10.0, 10.0),
                     model=LinearModel(kind=kind), terms=True)
    assert not fit.inliers[:25].any() and fit.inliers[25:].mean() > 0.95
    assert np.allclose(fit.model.matrix2, matrix, atol=1e-5)
    assert abs(fit.model.shift_x - 12.0) < 0.1 and abs(fit.model.shift_y + 7.0) < 0.1
    assert terms_shown(fit)


def test_no_terms_shown_in_a_translation():
    centres, shifts, weights = _observations(np.eye(2), outliers=0, seed=4)
    fit = fit_linear(centres, shifts, weights, pixel_size=(10.0, 10.0),
                     model=LinearModel(kind="affine"), terms=True)
    assert not terms_shown(fit)


def test_model_composes_and_inverts_as_affine():
    first = LinearModel(3.0, -2.0, 1.01, 0.002, -0.001, 0.99, 100.0, 200.0)
    update = LinearModel(0.5, 0.25, 0.999, 0.0, 0.003, 1.002, 100.0, 200.0)
    x, y = np.array([0.0, 1000.0, -500.0]), np.array([50.0, -300.0, 800.0])
    assert np.allclose(first.then(update).forward(x, y), update.forward(*first.forward(x, y)))
    assert np.allclose(first.inverse(*first.forward(x, y)), (x, y))
    assert np.allclose(first.affine * (x, y), first.forward(x, y))
    # The identity of the rigid model's sampling: a LinearModel without terms is one.
    rigid = RigidModel(3.0, -2.0, 0.0, 100.0, 200.0)
    assert np.allclose(LinearModel(3.0, -2.0, pivot_x=100.0, pivot_y=200.0).forward(x, y),
                       rigid.forward(x, y))


@pytest.mark.parametrize("rotation", [True, False], ids=["rigid", "translation-only refit"])
def test_a_refined_rigid_fit_keeps_the_inliers_of_the_full_search(rotation):
    """A later iteration's fit starts from no correction instead of searching samples:
    with the remaining shifts small and a fifth of them wild, the same inliers and
    numbers. Also for the estimator's translation-only refit (no rotation shown), which
    is refined the same way."""
    centres, shifts, weights = _observations(np.eye(2), outliers=20, seed=5)
    shifts[20:] -= (12.0, -7.0)  # what remains once an earlier fit is applied
    options = dict(pixel_size=(10.0, 10.0), pivot=(0.0, 0.0), rotation=rotation)
    searched = fit_rigid(centres, shifts, weights, **options)
    refined = fit_rigid(centres, shifts, weights, refined=True, **options)
    assert not refined.inliers[:20].any() and refined.inliers[20:].mean() > 0.95
    assert np.array_equal(refined.inliers, searched.inliers)
    assert refined.model == searched.model
    assert np.array_equal(refined.residuals_px, searched.residuals_px)
    assert refined.sigma_shift_px == searched.sigma_shift_px
    assert np.array_equal(refined.covariance, searched.covariance)
