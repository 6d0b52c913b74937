"""The automatic tie-point window of align_local (core/local/window_choice.py): by
modality, given values kept, the reason said. The measured effect (UAVSAR, >= 70 % of the
points kept with the defaults) is in test_local_modality.py."""

from __future__ import annotations

import pytest

from coreg.core.local.window_choice import choose_grid

SHAPE = (1024, 1024)


def _share(value: float):
    asked = []

    def share(grid):
        asked.append(grid)
        return value
    return share, asked


@pytest.mark.parametrize(("share", "expected"), [(0.04, (96, 48)), (0.9, (64, 64))])
def test_auto__the_first_pass_on_intensities_decides(share, expected):
    probe, asked = _share(share)
    grid = choose_grid("auto", 0, 0, SHAPE, probe)
    assert (grid["window_size"], grid["grid_spacing"]) == expected
    assert asked == [(64, 64)]  # measured once, with the same-sensor grid
    assert grid["automatic"] == ["window_size", "grid_spacing"]
    assert ("another modality" in grid["reason"]) == (expected == (96, 48))


def test_given_values_are_kept_and_nothing_is_measured():
    probe, asked = _share(0.0)
    grid = choose_grid("sar-optical", 128, 40, SHAPE, probe)
    assert (grid["window_size"], grid["grid_spacing"], grid["automatic"]) == (128, 40, [])
    assert grid["reason"].startswith("given") and asked == []


def test_one_given_value_is_kept_the_other_chosen():
    probe, asked = _share(0.1)
    grid = choose_grid("auto", 0, 40, SHAPE, probe)
    assert (grid["window_size"], grid["grid_spacing"]) == (96, 40)
    assert asked == [(64, 40)]


@pytest.mark.parametrize(("modality", "expected"), [("sar-optical", (96, 48)),
                                                    ("same", (64, 64)),
                                                    ("optical", (64, 64)),
                                                    ("auto", (64, 64))])
def test_declared_modality_without_a_measure(modality, expected):
    """Without a measure (a dense flow's check points) auto keeps the same-sensor grid."""
    grid = choose_grid(modality, None, None, SHAPE)
    assert (grid["window_size"], grid["grid_spacing"]) == expected


def test_an_overlap_too_small_for_larger_windows_keeps_the_same_sensor_grid():
    grid = choose_grid("sar-optical", 0, 0, (90, 500))
    assert (grid["window_size"], grid["grid_spacing"]) == (64, 64)
    assert "too small" in grid["reason"]
