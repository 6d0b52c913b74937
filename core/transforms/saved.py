"""Alignments saved in reports, read back as transforms (core/transforms/model.py) to be
applied to other rasters; reports written before the transform record still load.

Longer than most modules (about 470 lines) because a report is a file anyone may have
written: every value read is checked here, in one place, against the limits below."""

from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.crs import CRS

from ..errors import CoregInputError
from ..matching.fit import RigidModel
from .model import (
    TRANSFORM_KIND,
    TRANSFORM_VERSION,
    AffineTransform,
    BlockField,
    Composite,
    DisplacementField,
    Rigid,
    Transform,
    Uncertainty,
)

#: The ``kind`` and ``version`` written in every align_image report.
REPORT_KIND = "coreg.align_image"
REPORT_VERSION = 1
#: The same for align_dem reports (written by core/dem/dem.py) and align_local reports
#: (core/local/local.py), whose alignment is their DISPLACEMENT raster.
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
#: Largest scale of an affine alignment, either way (a wrong pixel size of the secondary).
MAX_SCALE = 2.0
#: Most steps in a composite transform (global + local is two).
MAX_STEPS = 8


def alignment_record(model: RigidModel, crs: str, bounds) -> dict:
    """The legacy keys of an align_image report (kept for the scripts that read them;
    :func:`read_alignment` reads the report's ``transform`` record)."""
    return {"kind": REPORT_KIND, "version": REPORT_VERSION, "map_units_crs": crs,
            "alignment_bounds": list(bounds), "shift_x_map": model.shift_x,
            "shift_y_map": model.shift_y, "rotation_deg": model.rotation_deg,
            "rotation_centre_x": model.pivot_x, "rotation_centre_y": model.pivot_y}


def read_alignment(path: str | os.PathLike) -> Transform:
    """Read the alignment saved in a ``coreg:align_image``, ``coreg:align_dem`` or
    ``coreg:align_local`` JSON report (its ``transform`` record, or the keys of reports
    written before it), a transform record of its own, or a DISPLACEMENT raster.

    Everything read is checked (see the module constants): a report is a file anyone may
    have written, and applying it must neither damage data nor reach the network.
    File names in it are relative to the report, so that a folder of results can move.

    Raises
    ------
    CoregInputError
        If the file is not JSON (or too large, or too deeply nested), not such a report,
        of another version, or holds missing, non-finite or implausible values.
    """
    if Path(path).suffix.lower() in (".tif", ".tiff"):
        return displacement_alignment(path)
    return read_report(_load_json(path), f"'{path}'", folder=Path(path).parent)


def portable_report(report: dict, report_path: str | os.PathLike) -> dict:
    """``report`` with the files it names (displacement and uncertainty rasters) relative
    to the folder of ``report_path``, as :func:`read_alignment` reads them, so that a
    folder of results can be moved; absolute where they cannot be (another Windows drive)."""
    folder = os.path.dirname(os.path.abspath(report_path))

    def beside(path):
        if not isinstance(path, str) or not path:
            return path
        try:
            return os.path.relpath(os.path.abspath(path), folder)
        except ValueError:
            return os.path.abspath(path)

    def record(value):
        if not isinstance(value, dict):
            return value
        value = dict(value)
        if value.get("type") == "displacement_field":
            value["path"] = beside(value.get("path"))
        if isinstance(value.get("steps"), list):
            value["steps"] = [record(step) for step in value["steps"]]
        return value

    portable = dict(report)
    for key in ("displacement", "uncertainty"):
        if key in portable:
            portable[key] = beside(portable[key])
    if "transform" in portable:
        portable["transform"] = record(portable["transform"])
    return portable


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


def read_report(report: dict, name: str = "The report",
                folder: str | os.PathLike | None = None) -> Transform:
    """The alignment of a report already parsed (see :func:`read_alignment`); relative
    file names are taken in ``folder`` (default: the working folder)."""
    kind = report.get("kind") if isinstance(report, dict) else None
    versions = {REPORT_KIND: REPORT_VERSION, DEM_REPORT_KIND: DEM_REPORT_VERSION,
                LOCAL_REPORT_KIND: LOCAL_REPORT_VERSION, TRANSFORM_KIND: TRANSFORM_VERSION}
    if not isinstance(kind, str) or kind not in versions:
        raise CoregInputError(f"{name} is not an alignment report of Coreg (kind {kind!r}; "
                              f"expected one of {sorted(versions)}).")
    if report.get("version") != versions[kind]:
        raise CoregInputError(f"{name} is a version {report.get('version')!r} report; this "
                              f"version of Coreg reads version {versions[kind]}.")
    try:
        if kind == TRANSFORM_KIND:
            return _transform(report, folder)
        if "transform" in report:
            return _transform(_versioned(report["transform"]), folder)
        return _LEGACY_READERS[kind](report, folder)
    except _Invalid as exc:
        raise CoregInputError(f"{name} cannot be applied: {exc}; {REDO}.") from exc


def _versioned(record) -> dict:
    """A report's ``transform`` record, of the version this Coreg reads."""
    if not isinstance(record, dict) or record.get("kind") != TRANSFORM_KIND:
        raise _Invalid(f"its transform is not a record of kind {TRANSFORM_KIND!r}")
    if record.get("version") != TRANSFORM_VERSION:
        raise _Invalid(f"its transform record is version {record.get('version')!r}, not "
                       f"{TRANSFORM_VERSION}")
    return record


def _transform(record: dict, folder, depth: int = 0) -> Transform:
    """A transform record (docs/transform.schema.json), every value checked."""
    kind = record.get("type")
    if kind == "composite":
        steps = record.get("steps")
        if depth or not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
            raise _Invalid(f"a composite transform holds 1 to {MAX_STEPS} steps, none of them "
                           "composite")
        try:
            return Composite(tuple(_transform(_mapping(step, "step"), folder, depth + 1)
                                   for step in steps))
        except CoregInputError as exc:
            raise _Invalid(str(exc)) from exc
    if kind == "displacement_field":
        path = record.get("path")
        if not isinstance(path, str) or not path:
            raise _Invalid(f"the displacement field's path {path!r} is not a file name")
        return displacement_alignment(_in_folder(path, folder))
    crs = _crs(record, "crs")
    bounds = _bounds(record, crs, "bounds")
    if kind == "rigid":
        model = RigidModel(*(_number(record, key) for key in (
            "shift_x", "shift_y", "rotation_deg", "pivot_x", "pivot_y")))
        _check_model(model, bounds)
        return Rigid(model, crs, bounds, _vertical(_number(record, "shift_z")),
                     _uncertainty(record.get("uncertainty")))
    if kind == "affine":
        matrix = _affine(record, "matrix")
        _check_affine(matrix, bounds)
        return AffineTransform(matrix, crs, bounds, _vertical(_number(record, "shift_z")))
    if kind == "block_field":
        return _block_field(record, crs, bounds)
    raise _Invalid(f"its transform type {kind!r} is none of rigid, affine, block_field, "
                   "displacement_field, composite")


def _mapping(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise _Invalid(f"a {what} is {value!r}, not a record")
    return value


def _in_folder(path: str, folder) -> str:
    """``path`` (refused if remote) relative to ``folder``."""
    _refuse_remote(path, "The displacement raster named in the report")
    return str(Path(folder or ".") / path)


def _uncertainty(record) -> Uncertainty | None:
    if record is None:
        return None
    record = _mapping(record, "uncertainty")
    covariance = record.get("covariance")
    if not (isinstance(covariance, list) and len(covariance) == 3
            and all(isinstance(row, list) and len(row) == 3 for row in covariance)):
        raise _Invalid("the uncertainty's covariance is not 3 x 3")
    return Uncertainty(tuple(tuple(_finite(v, "covariance") for v in row) for row in covariance),
                       _number(record, "ce90_px"), _number(record, "ce95_px"),
                       _optional_number(record, "ce90_m"), _optional_number(record, "ce95_m"))


def _optional_number(record: dict, key: str) -> float | None:
    return None if record.get(key) is None else _number(record, key)


def _affine(record: dict, key: str) -> Affine:
    values = record.get(key)
    if not isinstance(values, (list, tuple)) or len(values) != 6:
        raise _Invalid(f"{key} {values!r} is not an affine transform (6 numbers)")
    matrix = Affine(*(_finite(v, key) for v in values))
    if matrix.determinant == 0:
        raise _Invalid(f"{key} is not invertible")
    return matrix


class _Invalid(Exception):
    """A value of a report that fails a check (the reader adds the report's name)."""


def _image_alignment(report: dict, folder) -> Rigid:
    """An align_image report written before the ``transform`` record."""
    crs = _crs(report, "map_units_crs")
    bounds = _bounds(report, crs)
    model = RigidModel(_number(report, "shift_x_map"), _number(report, "shift_y_map"),
                       _number(report, "rotation_deg"), _number(report, "rotation_centre_x"),
                       _number(report, "rotation_centre_y"))
    _check_model(model, bounds)
    return Rigid(model, crs, bounds)


def _dem_alignment(report: dict, folder) -> Rigid | BlockField:
    """An align_dem report written before the ``transform`` record."""
    crs = _crs(report, "crs")
    bounds = _bounds(report, crs)
    if report.get("method") != "blockwise":
        shift = RigidModel(_number(report, "shift_x"), _number(report, "shift_y"))
        _check_model(shift, bounds)
        return Rigid(shift, crs, bounds, _vertical(_number(report, "shift_z")))
    shape, blocks = report.get("block_shape"), report.get("blocks")
    if (not isinstance(shape, (list, tuple)) or len(shape) != 2
            or not isinstance(blocks, (list, tuple)) or len(blocks) != _cells(shape)):
        raise _Invalid(f"block_shape {shape!r} does not match the {_count(blocks)} blocks")
    values = {key: [_number(_mapping(block, f"block {k}"), f"shift_{key}", f"block {k} ")
                    for k, block in enumerate(blocks)] for key in "xyz"}
    return _block_field({"shape": shape, "nodes": list(_affine(report, "block_nodes"))[:6],
                         **values}, crs, bounds)


def _cells(shape) -> int:
    """Nodes of a (rows, cols) shape; -1 unless both are positive integers."""
    if not all(_is_number(v, numbers.Integral) and v > 0 for v in shape):
        return -1
    return int(shape[0]) * int(shape[1])


def _block_field(record: dict, crs: CRS, bounds) -> BlockField:
    """The blockwise field: one finite, plausible (x, y, z) shift per node."""
    shape = record.get("shape")
    if not isinstance(shape, (list, tuple)) or len(shape) != 2 or _cells(shape) < 0:
        raise _Invalid(f"the block field's shape {shape!r} is not (rows, cols)")
    shape = int(shape[0]), int(shape[1])
    components = []
    for key in ("x", "y", "z"):
        values = np.asarray(_flat(record.get(key)), dtype=object).ravel()
        if values.size != shape[0] * shape[1]:
            raise _Invalid(f"the block field's {key} holds {values.size} values for "
                           f"{shape[0]} x {shape[1]} nodes")
        components.append(np.array([_finite(v, f"block field {key}") for v in values],
                                   float).reshape(shape))
    x, y, z = components
    for k, (dx, dy, dz) in enumerate(zip(x.ravel(), y.ravel(), z.ravel())):
        _check_model(RigidModel(dx, dy), bounds, f"block {k}: ")
        _vertical(dz, f"block {k}: ")
    return BlockField(_affine(record, "nodes"), x, y, z, crs, bounds)


def _flat(values) -> list:
    """Nested lists of numbers as one list (an empty list for anything else)."""
    if isinstance(values, (list, tuple)):
        return [v for item in values for v in (_flat(item) if isinstance(item, (list, tuple))
                                               else [item])]
    return []


def _local_alignment(report: dict, folder) -> DisplacementField:
    """An align_local report written before the ``transform`` record."""
    path = report.get("displacement")
    if not path:
        raise _Invalid("it names no DISPLACEMENT raster (run Align image (local) with a "
                       "DISPLACEMENT output to reuse its field)")
    if not isinstance(path, str):
        raise _Invalid(f"its displacement {path!r} is not a file name")
    return displacement_alignment(_in_folder(path, folder))


_LEGACY_READERS = {REPORT_KIND: _image_alignment, DEM_REPORT_KIND: _dem_alignment,
                   LOCAL_REPORT_KIND: _local_alignment}


def displacement_alignment(path: str | os.PathLike) -> DisplacementField:
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
    return DisplacementField(path, crs, bounds)


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


def _bounds(report: dict, crs: CRS, key: str = "alignment_bounds"
            ) -> tuple[float, float, float, float]:
    """The alignment area: four finite numbers, ordered, no larger than the Earth."""
    values = report.get(key)
    if not isinstance(values, (list, tuple)) or len(values) != 4:
        raise _Invalid(f"{key} {values!r} is not (left, bottom, right, top)")
    left, bottom, right, top = (_finite(v, key) for v in values)
    if not (left < right and bottom < top):
        raise _Invalid(f"{key} {values!r} is empty (need left < right, bottom < top)")
    limit, unit = (MAX_AREA_DEG, 1.0) if crs.is_geographic else (MAX_AREA_M, _metres(crs))
    if max(right - left, top - bottom) * unit > limit:
        raise _Invalid(f"{key} {values!r} spans more than the Earth "
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


def _check_affine(matrix: Affine, bounds) -> None:
    """An affine map that scales by at most MAX_SCALE either way and moves the area's
    centre by at most MAX_SHIFT_AREAS diagonals: beyond, no alignment of Coreg."""
    singular = np.linalg.svd(np.array([[matrix.a, matrix.b], [matrix.d, matrix.e]]),
                             compute_uv=False)
    if singular.max() > MAX_SCALE or singular.min() < 1 / MAX_SCALE:
        raise _Invalid(f"the affine matrix scales by {singular.min():g} to {singular.max():g}, "
                       f"beyond 1/{MAX_SCALE:g} to {MAX_SCALE:g}")
    left, bottom, right, top = bounds
    centre = (left + right) / 2, (bottom + top) / 2
    moved = matrix * centre
    _check_model(RigidModel(moved[0] - centre[0], moved[1] - centre[1]), bounds)
