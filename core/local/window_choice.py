"""The tie-point window and spacing when the user leaves them automatic (0), by modality.

Across modalities (SAR against optical) a window holds less structure that both images
share, and fewer points survive: on the UAVSAR L-band / optical pair, 64 px windows every
64 px keep 60 % of the points, 96 px windows every 48 px 86 % (benchmarks/crossmodal.py).
So an automatic window is :data:`SAME_SENSOR` unless the images are of another modality,
then :data:`CROSS_MODAL`: MODALITY sar-optical says so; MODALITY auto finds it out from
the first pass, on intensities with the same-sensor grid: when fewer than
:data:`.feature_choice.AUTO_RELIABLE_SHARE` of the points are reliable there (the test
after which :mod:`.feature_choice` tries structure), the grid grows. MODALITY same and
optical keep the same-sensor grid (no measurement shows larger windows help there). A
value the user gives is kept as it is; the choice and its reason go into the report.
"""

from __future__ import annotations

from collections.abc import Callable

from .feature_choice import AUTO_RELIABLE_SHARE

#: A window size or spacing of 0 asks for the automatic choice.
AUTOMATIC = 0
#: (window, spacing), reference pixels: one sensor or similar optical sensors.
SAME_SENSOR = (64, 64)
#: (window, spacing), reference pixels: another modality (SAR against optical).
CROSS_MODAL = (96, 48)


def is_automatic(value: int | None) -> bool:
    return value is None or value == AUTOMATIC


def first_window(window_size: int | None) -> int:
    """The window a run starts with (the overlap must hold it)."""
    return SAME_SENSOR[0] if is_automatic(window_size) else int(window_size)


def choose_grid(modality: str, window_size: int | None, grid_spacing: int | None,
                shape: tuple[int, int],
                intensity_share: Callable[[tuple[int, int]], float] | None = None) -> dict:
    """The window and spacing to use, and why: ``{"window_size", "grid_spacing",
    "automatic" (which of the two were), "reason"}``. ``intensity_share((window,
    spacing))`` gives the share of reliable points on intensities with that grid (the
    :data:`SAME_SENSOR` one where automatic; MODALITY auto); without it (check points of
    a dense flow), auto keeps the same-sensor grid."""
    automatic = [name for name, value in (("window_size", window_size),
                                          ("grid_spacing", grid_spacing))
                 if is_automatic(value)]
    probe = (first_window(window_size),
             SAME_SENSOR[1] if is_automatic(grid_spacing) else int(grid_spacing))
    grid, reason = SAME_SENSOR, "MODALITY auto, not measured: same-sensor grid"
    if not automatic:
        reason = "given"
    elif modality == "sar-optical":
        grid, reason = CROSS_MODAL, "MODALITY sar-optical"
    elif modality == "auto" and intensity_share is not None:
        share = intensity_share(probe)
        if share < AUTO_RELIABLE_SHARE:
            grid = CROSS_MODAL
            reason = (f"{share:.0%} of the points are reliable on intensities with "
                      f"{_grid_words(probe)} (below {AUTO_RELIABLE_SHARE:.0%}): "
                      "another modality")
        else:
            reason = f"{share:.0%} of the points are reliable on intensities: same kind"
    elif modality in ("same", "optical"):
        reason = f"MODALITY {modality}"
    if grid == CROSS_MODAL and min(shape) <= CROSS_MODAL[0]:
        grid, reason = SAME_SENSOR, f"{reason}, but the overlap is too small for larger windows"
    window = grid[0] if "window_size" in automatic else int(window_size)
    spacing = grid[1] if "grid_spacing" in automatic else int(grid_spacing)
    reason = f"{reason}: {_grid_words((window, spacing))}"
    return {"window_size": window, "grid_spacing": spacing, "automatic": automatic,
            "reason": reason}


def _grid_words(grid: tuple[int, int]) -> str:
    return f"{grid[0]} px windows every {grid[1]} px"
