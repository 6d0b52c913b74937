"""Alignments saved in reports, read back to be applied to other rasters."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace

from rasterio.crs import CRS

from .fit import RigidModel

#: The ``kind`` and ``version`` written in every align_image report.
REPORT_KIND = "coreg.align_image"
REPORT_VERSION = 1


@dataclass(frozen=True)
class SavedAlignment:
    """A rigid alignment in map units of ``crs``, and the area it was measured on.

    ``bounds`` (left, bottom, right, top, in ``crs``) is the footprint overlap of the
    two images it was measured between; it applies to rasters that overlap it.
    """

    model: RigidModel
    crs: CRS
    bounds: tuple[float, float, float, float]

    def inverted(self) -> SavedAlignment:
        """The alignment that undoes this one."""
        return replace(self, model=self.model.inverted())


def alignment_record(model: RigidModel, crs: str, bounds) -> dict:
    """The report keys that let :func:`read_alignment` rebuild the alignment."""
    return {"kind": REPORT_KIND, "version": REPORT_VERSION, "map_units_crs": crs,
            "alignment_bounds": list(bounds), "shift_x_map": model.shift_x,
            "shift_y_map": model.shift_y, "rotation_deg": model.rotation_deg,
            "rotation_centre_x": model.pivot_x, "rotation_centre_y": model.pivot_y}


def read_alignment(path: str | os.PathLike) -> SavedAlignment:
    """Read the alignment saved in a ``coreg:align_image`` JSON report.

    Raises
    ------
    ValueError
        If the file is not JSON, not such a report, or of another version.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"Cannot read the alignment report '{path}': {exc}") from exc
    kind = report.get("kind") if isinstance(report, dict) else None
    if kind != REPORT_KIND:
        raise ValueError(f"'{path}' is not an alignment report of Align image (global) "
                         f"(kind {kind!r}, expected {REPORT_KIND!r}).")
    if report.get("version") != REPORT_VERSION:
        raise ValueError(f"'{path}' is a version {report.get('version')!r} report; this "
                         f"version of Coreg reads version {REPORT_VERSION}.")
    try:
        model = RigidModel(float(report["shift_x_map"]), float(report["shift_y_map"]),
                           float(report["rotation_deg"]), float(report["rotation_centre_x"]),
                           float(report["rotation_centre_y"]))
        return SavedAlignment(model, CRS.from_user_input(report["map_units_crs"]),
                              tuple(float(v) for v in report["alignment_bounds"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"The alignment report '{path}' is incomplete: {exc}") from exc
