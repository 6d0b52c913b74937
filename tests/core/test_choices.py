"""The automatic choices of align_local on controlled inputs: the features
(core/local/feature_choice.py) and the global / local decision (core/local/method_choice.py)."""

from __future__ import annotations

import numpy as np
import pytest

from coreg.core.errors import CoregInputError
from coreg.core.local.feature_choice import choose_features
from coreg.core.local.method_choice import affine_fit, choose_method, structure_ratio
from coreg.core.local.points import TiePoints
from coreg.core.local.tie_points import grid_positions


def _measured(reliability) -> dict:
    return {"reliability": np.asarray(reliability, float)}


def test_choose_features__auto_keeps_reliable_intensities_without_trying_structure():
    asked = []

    def measure(kind):
        asked.append(kind)
        return _measured([80] * 9 + [10])

    features, _, record = choose_features("auto", measure, 30.0)
    assert features == "intensity" and asked == ["intensity"]
    assert record["reliable_share"] == {"intensity": 0.9}


def test_choose_features__auto_takes_structure_when_more_points_are_reliable_on_it():
    shares = {"intensity": [10] * 9 + [80], "structure": [80] * 7 + [10] * 3}
    features, measured, record = choose_features(
        "auto", lambda kind: _measured(shares[kind]), 30.0)
    assert features == "structure" and measured["reliability"][0] == 80
    assert record["reliable_share"] == {"intensity": 0.1, "structure": 0.7}
    assert "another modality" in record["reason"]


def test_choose_features__given_modality_is_obeyed_and_unknown_refused():
    assert choose_features("sar-optical", lambda kind: _measured([0]), 30.0)[0] == "structure"
    assert choose_features("optical", lambda kind: _measured([0]), 30.0)[0] == "intensity"
    with pytest.raises(CoregInputError):
        choose_features("radar", lambda kind: _measured([0]), 30.0)


def _points(dx: np.ndarray, dy: np.ndarray, rows, cols) -> TiePoints:
    p = TiePoints(rows, cols)
    p.dx, p.dy, p.reason = dx, dy, [""] * len(rows)
    return p


@pytest.fixture
def grid():
    return grid_positions(1000, 1000, 50, 64)


def test_choose_method__affine_plus_noise_is_global(grid):
    """A shift, a 1e-3 scale and 0.5 px of white noise: the affine model is recovered and
    the residuals read as noise (semivariance / variance near 1)."""
    rows, cols = grid
    rng = np.random.default_rng(1)
    dx = 2.0 + 1e-3 * cols + rng.normal(0, 0.5, len(rows))
    dy = -1.0 + 1e-3 * rows + rng.normal(0, 0.5, len(rows))
    points = _points(dx, dy, rows, cols)
    chosen, record = choose_method(points, 50)
    assert chosen == "global" and 0.8 < record["structure_ratio"] < 1.2
    coef, _ = affine_fit(points)
    centre = np.array([1.0, 500.0, 500.0]) @ coef  # (1, col, row)
    assert centre == pytest.approx([2.5, -0.5], abs=0.1)
    assert coef[1, 0] == pytest.approx(1e-3, abs=4e-4)  # 4 standard errors
    assert coef[2, 1] == pytest.approx(1e-3, abs=4e-4)  # 4 standard errors


def test_choose_method__smooth_field_is_local_and_small_one_global(grid):
    rows, cols = grid
    wave = np.sin(2 * np.pi * rows / 600) * np.cos(2 * np.pi * cols / 700)
    chosen, record = choose_method(_points(1.5 * wave, -wave, rows, cols), 50)
    assert chosen == "local" and record["structure_ratio"] < 0.2
    assert choose_method(_points(0.05 * wave, 0 * wave, rows, cols), 50)[0] == "global"


def test_structure_ratio__white_noise_is_about_one(grid):
    rows, cols = grid
    residuals = np.random.default_rng(2).normal(size=(len(rows), 2))
    points = _points(residuals[:, 0], residuals[:, 1], rows, cols)
    assert structure_ratio(points, residuals, 50) == pytest.approx(1.0, abs=0.15)
