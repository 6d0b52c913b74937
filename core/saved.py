"""Alignments saved in reports, read back to be applied to other rasters."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.crs import CRS

from .fit import RigidModel

#: The ``kind`` and ``version`` written in every align_image report.
REPORT_KIND = "coreg.align_image"
REPORT_VERSION = 1
#: The same for align_dem reports (written by core/dem.py) and align_local reports
#: (core/local.py), whose alignment is their DISPLACEMENT raster.
DEM_REPORT_KIND = "coreg.align_dem"
DEM_REPORT_VERSION = 1
LOCAL_REPORT_KIND = "coreg.align_local"
LOCAL_REPORT_VERSION = 1


@dataclass(frozen=True)
class ShiftNodes:
    """A smooth shift field (blockwise DEM alignment): x, y (map units) and z values on
    nodes, ``nodes`` mapping node (col, row) + 0.5 to map coordinates; bilinear between."""

    nodes: Affine
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray

    def negated(self) -> ShiftNodes:
        """The field that undoes this one (to first order in its gradient)."""
        return replace(self, x=-self.x, y=-self.y, z=-self.z)


@dataclass(frozen=True)
class SavedAlignment:
    """A rigid alignment in map units of ``crs``, and the area it was measured on.

    ``bounds`` (left, bottom, right, top, in ``crs``) is the footprint overlap of the
    two images it was measured between; it applies to rasters that overlap it.
    DEM alignments add ``z_offset`` to the values, or carry a ``field`` of shifts
    (blockwise) instead of the model; local alignments a ``displacement`` raster.
    """

    model: RigidModel
    crs: CRS
    bounds: tuple[float, float, float, float]
    z_offset: float = 0.0
    field: ShiftNodes | None = field(default=None, compare=False)
    displacement: str | None = None

    def inverted(self) -> SavedAlignment:
        """The alignment that undoes this one."""
        if self.displacement is not None:
            raise ValueError("A local displacement field cannot be inverted; align the "
                             "images the other way round instead.")
        return replace(self, model=self.model.inverted(), z_offset=-self.z_offset,
                       field=None if self.field is None else self.field.negated())


def alignment_record(model: RigidModel, crs: str, bounds) -> dict:
    """The report keys that let :func:`read_alignment` rebuild the alignment."""
    return {"kind": REPORT_KIND, "version": REPORT_VERSION, "map_units_crs": crs,
            "alignment_bounds": list(bounds), "shift_x_map": model.shift_x,
            "shift_y_map": model.shift_y, "rotation_deg": model.rotation_deg,
            "rotation_centre_x": model.pivot_x, "rotation_centre_y": model.pivot_y}


def read_alignment(path: str | os.PathLike) -> SavedAlignment:
    """Read the alignment saved in a ``coreg:align_image``, ``coreg:align_dem`` or
    ``coreg:align_local`` JSON report, or a DISPLACEMENT raster of the latter.

    Raises
    ------
    ValueError
        If the file is not JSON, not such a report, or of another version.
    """
    if Path(path).suffix.lower() in (".tif", ".tiff"):
        return displacement_alignment(path)
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"Cannot read the alignment report '{path}': {exc}") from exc
    if isinstance(report, dict) and isinstance(report.get("displacement"), str):
        # Relative to the report, so that a folder of results can be moved.
        report = dict(report, displacement=str(Path(path).parent / report["displacement"]))
    return read_report(report, f"'{path}'")


def read_report(report: dict, name: str = "The report") -> SavedAlignment:
    """The alignment of a report already parsed (see :func:`read_alignment`)."""
    kind = report.get("kind") if isinstance(report, dict) else None
    readers = {REPORT_KIND: (REPORT_VERSION, _image_alignment),
               DEM_REPORT_KIND: (DEM_REPORT_VERSION, _dem_alignment),
               LOCAL_REPORT_KIND: (LOCAL_REPORT_VERSION, _local_alignment)}
    if kind not in readers:
        raise ValueError(f"{name} is not an alignment report of Coreg (kind {kind!r}; "
                         f"expected one of {sorted(readers)}).")
    version, reader = readers[kind]
    if report.get("version") != version:
        raise ValueError(f"{name} is a version {report.get('version')!r} report; this "
                         f"version of Coreg reads version {version}.")
    try:
        return reader(report)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"{name} is an incomplete alignment report: {exc}") from exc


def _image_alignment(report: dict) -> SavedAlignment:
    model = RigidModel(float(report["shift_x_map"]), float(report["shift_y_map"]),
                       float(report["rotation_deg"]), float(report["rotation_centre_x"]),
                       float(report["rotation_centre_y"]))
    return SavedAlignment(model, CRS.from_user_input(report["map_units_crs"]),
                          _bounds(report))


def _dem_alignment(report: dict) -> SavedAlignment:
    crs = CRS.from_user_input(report["crs"])
    if report["method"] != "blockwise":
        return SavedAlignment(RigidModel(float(report["shift_x"]), float(report["shift_y"])),
                              crs, _bounds(report), float(report["shift_z"]))
    rows, cols = (int(v) for v in report["block_shape"])
    values = np.array([[b["shift_x"], b["shift_y"], b["shift_z"]] for b in report["blocks"]],
                      float).reshape(rows, cols, 3)
    nodes = Affine(*(float(v) for v in report["block_nodes"]))
    return SavedAlignment(RigidModel(), crs, _bounds(report),
                          field=ShiftNodes(nodes, *np.moveaxis(values, 2, 0)))


def _local_alignment(report: dict) -> SavedAlignment:
    if not report["displacement"]:
        raise ValueError("it names no DISPLACEMENT raster (run Align image (local) with a "
                         "DISPLACEMENT output to reuse its field)")
    return displacement_alignment(report["displacement"])


def displacement_alignment(path: str | os.PathLike) -> SavedAlignment:
    """A DISPLACEMENT raster of ``coreg:align_local`` as an alignment (its footprint is
    the area it holds)."""
    try:
        with rasterio.open(path) as ds:
            count, crs, bounds = ds.count, ds.crs, tuple(ds.bounds)
    except rasterio.errors.RasterioError as exc:
        raise ValueError(f"Cannot read the displacement raster '{path}': {exc}") from exc
    if count != 2 or crs is None:
        raise ValueError(f"'{path}' is not a DISPLACEMENT raster of Align image (local): it "
                         "needs two bands (dx, dy) and a CRS.")
    return SavedAlignment(RigidModel(), crs, bounds, displacement=str(path))


def _bounds(report: dict) -> tuple[float, float, float, float]:
    left, bottom, right, top = (float(v) for v in report["alignment_bounds"])
    return left, bottom, right, top
