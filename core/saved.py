"""Alignments saved in reports, read back to be applied to other rasters."""

from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.crs import CRS

from .errors import CoregInputError
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
#: The metadata tag (and its value) by which a DISPLACEMENT raster of Coreg is known,
#: and the band names it has carried from the start (files written before the tag).
FIELD_TAG, FIELD_KIND = "COREG_FIELD", "displacement"
DISPLACEMENT_BANDS = ("dx (reference pixels)", "dy (reference pixels)")

# Bounds on what a report may hold: reports are read from files anyone may have written.
#: Largest report read, bytes (Coreg's reports, tie points included, take a few MB).
MAX_REPORT_BYTES = 50 * 1024 * 1024
#: Largest rotation, degrees: image alignments measure a few degrees at most.
MAX_ROTATION_DEG = 45.0
#: Largest horizontal shift, in multiples of the diagonal of the area it was measured on.
MAX_SHIFT_AREAS = 10.0
#: Largest vertical shift of a DEM alignment, in elevation units (metres: Everest).
MAX_VERTICAL_SHIFT = 10_000.0
#: Largest side of the alignment area: 2.5 times the Earth's circumference (metres), or
#: two turns of longitude (degrees).
MAX_AREA_M, MAX_AREA_DEG = 1e8, 720.0
#: What to do about a report that fails these checks.
REDO = "use a report written by Coreg, or run the alignment again"


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
        """The alignment that undoes this one (CoregInputError for a local field: its
        inverse is not a field on the same grid)."""
        if self.displacement is not None:
            raise CoregInputError("A local displacement field cannot be inverted; untick "
                                  "INVERT and align the images the other way round instead.")
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

    Everything read is checked (see the module constants): a report is a file anyone may
    have written, and applying it must neither damage data nor reach the network.

    Raises
    ------
    CoregInputError
        If the file is not JSON (or too large, or too deeply nested), not such a report,
        of another version, or holds missing, non-finite or implausible values.
    """
    if Path(path).suffix.lower() in (".tif", ".tiff"):
        return displacement_alignment(path)
    report = _load_json(path)
    if isinstance(report, dict) and isinstance(report.get("displacement"), str) \
            and report["displacement"]:
        # Relative to the report, so that a folder of results can be moved.
        _refuse_remote(report["displacement"], f"The displacement raster named in '{path}'")
        report = dict(report, displacement=str(Path(path).parent / report["displacement"]))
    return read_report(report, f"'{path}'")


def _load_json(path: str | os.PathLike):
    """The parsed report, or CoregInputError for a file that cannot be one."""
    try:
        size = os.path.getsize(path)
        if size == 0:
            raise CoregInputError(f"The alignment report '{path}' is empty: {REDO}.")
        if size > MAX_REPORT_BYTES:
            raise CoregInputError(
                f"The alignment report '{path}' holds {size / 2**20:.0f} MB, more than the "
                f"{MAX_REPORT_BYTES // 2**20} MB a report of Coreg can reach: {REDO}.")
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except RecursionError as exc:
        raise CoregInputError(f"The alignment report '{path}' nests too deeply to be a report "
                              f"of Coreg: {REDO}.") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CoregInputError(f"Cannot read the alignment report '{path}': {exc}") from exc


def read_report(report: dict, name: str = "The report") -> SavedAlignment:
    """The alignment of a report already parsed (see :func:`read_alignment`)."""
    kind = report.get("kind") if isinstance(report, dict) else None
    readers = {REPORT_KIND: (REPORT_VERSION, _image_alignment),
               DEM_REPORT_KIND: (DEM_REPORT_VERSION, _dem_alignment),
               LOCAL_REPORT_KIND: (LOCAL_REPORT_VERSION, _local_alignment)}
    if not isinstance(kind, str) or kind not in readers:
        raise CoregInputError(f"{name} is not an alignment report of Coreg (kind {kind!r}; "
                              f"expected one of {sorted(readers)}).")
    version, reader = readers[kind]
    if report.get("version") != version:
        raise CoregInputError(f"{name} is a version {report.get('version')!r} report; this "
                              f"version of Coreg reads version {version}.")
    try:
        return reader(report)
    except _Invalid as exc:
        raise CoregInputError(f"{name} cannot be applied: {exc}; {REDO}.") from exc


class _Invalid(Exception):
    """A value of a report that fails a check (the reader adds the report's name)."""


def _image_alignment(report: dict) -> SavedAlignment:
    crs = _crs(report, "map_units_crs")
    bounds = _bounds(report, crs)
    model = RigidModel(_number(report, "shift_x_map"), _number(report, "shift_y_map"),
                       _number(report, "rotation_deg"), _number(report, "rotation_centre_x"),
                       _number(report, "rotation_centre_y"))
    _check_model(model, bounds)
    return SavedAlignment(model, crs, bounds)


def _dem_alignment(report: dict) -> SavedAlignment:
    crs = _crs(report, "crs")
    bounds = _bounds(report, crs)
    if report.get("method") != "blockwise":
        rotation = report.get("rotation_deg", 0.0)  # LZD (core/dem_pipeline.py); else 0
        pivot = report.get("rotation_centre") or (0.0, 0.0)
        shift = RigidModel(_number(report, "shift_x"), _number(report, "shift_y"),
                           _finite(rotation, "'rotation_deg'"), _finite(pivot[0], "pivot x"),
                           _finite(pivot[1], "pivot y"))
        _check_model(shift, bounds)
        return SavedAlignment(shift, crs, bounds, _vertical(_number(report, "shift_z")))
    return SavedAlignment(RigidModel(), crs, bounds, field=_block_field(report, bounds))


def _block_field(report: dict, bounds) -> ShiftNodes:
    """The blockwise field: one finite, plausible (x, y, z) shift per block."""
    shape, blocks = report.get("block_shape"), report.get("blocks")
    if (not isinstance(shape, (list, tuple)) or len(shape) != 2
            or not all(_is_number(v, numbers.Integral) and v > 0 for v in shape)
            or not isinstance(blocks, (list, tuple)) or len(blocks) != shape[0] * shape[1]):
        raise _Invalid(f"block_shape {shape!r} does not match the {_count(blocks)} blocks")
    values = np.empty((len(blocks), 3))
    shape = int(shape[0]), int(shape[1])
    for k, block in enumerate(blocks):
        if not isinstance(block, dict):
            raise _Invalid(f"block {k} is {block!r}, not a block")
        values[k] = [_number(block, key, f"block {k} ") for key in ("shift_x", "shift_y",
                                                                     "shift_z")]
        _check_model(RigidModel(values[k, 0], values[k, 1]), bounds, f"block {k}: ")
        _vertical(values[k, 2], f"block {k}: ")
    nodes = report.get("block_nodes")
    if not isinstance(nodes, (list, tuple)) or len(nodes) != 6:
        raise _Invalid(f"block_nodes {nodes!r} is not an affine transform (6 numbers)")
    nodes = Affine(*(_finite(v, "block_nodes") for v in nodes))
    if nodes.determinant == 0:
        raise _Invalid("block_nodes is not invertible")
    return ShiftNodes(nodes, *np.moveaxis(values.reshape(shape[0], shape[1], 3), 2, 0))


def _local_alignment(report: dict) -> SavedAlignment:
    if not report.get("displacement"):
        raise _Invalid("it names no DISPLACEMENT raster (run Align image (local) with a "
                       "DISPLACEMENT output to reuse its field)")
    if not isinstance(report["displacement"], str):
        raise _Invalid(f"its displacement {report['displacement']!r} is not a file name")
    return displacement_alignment(report["displacement"])


def displacement_alignment(path: str | os.PathLike) -> SavedAlignment:
    """A DISPLACEMENT raster of ``coreg:align_local`` as an alignment (its footprint is
    the area it holds): a local GeoTIFF (never a network or virtual path), two Float32
    bands, a CRS, and the tag Coreg writes (or, for files written before the tag, its
    band names); CoregInputError otherwise."""
    path = str(path)
    _refuse_remote(path, "The displacement raster")
    if not os.path.isfile(path):
        raise CoregInputError(f"The displacement raster '{path}' does not exist (or is not a "
                              "file): give the DISPLACEMENT raster Align image (local) wrote, "
                              "beside its report.")
    try:
        with rasterio.open(path, driver="GTiff") as ds:  # no VRT reaching other files
            count, crs, bounds, dtypes = ds.count, ds.crs, tuple(ds.bounds), ds.dtypes
            tagged = ds.tags().get(FIELD_TAG) == FIELD_KIND
            named = tuple(ds.descriptions) == DISPLACEMENT_BANDS
    except (rasterio.errors.RasterioError, rasterio.errors.RasterioIOError, OSError) as exc:
        raise CoregInputError(f"The displacement raster '{path}' is not a readable GeoTIFF: "
                              f"{exc}") from exc
    if count != 2 or crs is None or set(dtypes) != {"float32"} or not (tagged or named):
        raise CoregInputError(
            f"'{path}' is not a DISPLACEMENT raster of Align image (local): it needs two "
            f"Float32 bands (dx, dy), a CRS and the {FIELD_TAG}={FIELD_KIND} tag or the band "
            f"names {DISPLACEMENT_BANDS}; it has {count} band(s) of {', '.join(dtypes)}.")
    return SavedAlignment(RigidModel(), crs, bounds, displacement=path)


def _refuse_remote(path: str, label: str) -> None:
    """CoregInputError unless ``path`` names a local file: GDAL would fetch URLs and /vsi*
    paths (``/vsicurl?url=...``), Windows network shares (``\\\\server``), so a hostile
    report could make this machine send requests. (Connection strings such as ``PG:``
    are no files: :func:`displacement_alignment` refuses them.)"""
    slashed = path.replace("\\", "/")
    if slashed.startswith(("/vsi", "//")) or "://" in path or "?" in path:
        raise CoregInputError(f"{label} ('{path}') is not a local file (network, URL and "
                              "/vsi paths are refused): copy the raster to a local folder and "
                              "give that path.")


def _crs(report: dict, key: str) -> CRS:
    value = report.get(key)
    if not isinstance(value, str) or not value:
        raise _Invalid(f"'{key}' is {value!r}, not a CRS")
    try:
        return CRS.from_user_input(value)
    except Exception as exc:  # rasterio's CRSError for anything unparseable
        raise _Invalid(f"'{key}' {value[:80]!r} is not a CRS that PROJ knows") from exc


def _number(record: dict, key: str, where: str = "") -> float:
    if key not in record:
        raise _Invalid(f"{where}lacks '{key}'")
    return _finite(record[key], f"{where}'{key}'")


def _finite(value, name: str) -> float:
    if not _is_number(value, numbers.Real) or not math.isfinite(value):
        raise _Invalid(f"{name} is {value!r}, not a finite number")
    return float(value)


def _is_number(value, kind: type) -> bool:
    """A JSON (or numpy) number of ``kind``; never a bool."""
    return isinstance(value, kind) and not isinstance(value, (bool, np.bool_))


def _count(values) -> str:
    return str(len(values)) if isinstance(values, (list, tuple)) else repr(values)


def _bounds(report: dict, crs: CRS) -> tuple[float, float, float, float]:
    """The alignment area: four finite numbers, ordered, no larger than the Earth."""
    values = report.get("alignment_bounds")
    if not isinstance(values, (list, tuple)) or len(values) != 4:
        raise _Invalid(f"alignment_bounds {values!r} is not (left, bottom, right, top)")
    left, bottom, right, top = (_finite(v, "alignment_bounds") for v in values)
    if not (left < right and bottom < top):
        raise _Invalid(f"alignment_bounds {values!r} is empty (need left < right, "
                       "bottom < top)")
    limit, unit = (MAX_AREA_DEG, 1.0) if crs.is_geographic else (MAX_AREA_M, _metres(crs))
    if max(right - left, top - bottom) * unit > limit:
        raise _Invalid(f"alignment_bounds {values!r} spans more than the Earth "
                       f"({limit:g} {'degrees' if crs.is_geographic else 'm'})")
    return left, bottom, right, top


def _metres(crs: CRS) -> float:
    try:
        return float(crs.linear_units_factor[1])
    except Exception:  # no linear unit known: take it as metres
        return 1.0


def _check_model(model: RigidModel, bounds, where: str = "") -> None:
    """A rotation within +-MAX_ROTATION_DEG about a pivot near the area, and a shift
    within MAX_SHIFT_AREAS diagonals of the area: beyond, no alignment of Coreg."""
    left, bottom, right, top = bounds
    diagonal = math.hypot(right - left, top - bottom)
    if abs(model.rotation_deg) > MAX_ROTATION_DEG:
        raise _Invalid(f"{where}rotation_deg {model.rotation_deg:g} is beyond "
                       f"+-{MAX_ROTATION_DEG:g} degrees")
    shift = math.hypot(model.shift_x, model.shift_y)
    if shift > MAX_SHIFT_AREAS * diagonal:
        raise _Invalid(f"{where}the shift of {shift:g} map units is more than "
                       f"{MAX_SHIFT_AREAS:g} times the {diagonal:g} units across the area it "
                       "was measured on")
    centre_x, centre_y = (left + right) / 2, (bottom + top) / 2
    if model.rotation_deg and math.hypot(model.pivot_x - centre_x,
                                         model.pivot_y - centre_y) > diagonal:
        raise _Invalid(f"{where}the rotation centre ({model.pivot_x:g}, {model.pivot_y:g}) "
                       "lies outside the area the alignment was measured on")


def _vertical(shift_z: float, where: str = "") -> float:
    if abs(shift_z) > MAX_VERTICAL_SHIFT:
        raise _Invalid(f"{where}the vertical shift {shift_z:g} is beyond "
                       f"+-{MAX_VERTICAL_SHIFT:g} (elevation units)")
    return shift_z
