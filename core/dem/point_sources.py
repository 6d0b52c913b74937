"""Reference points with their time and quality: GeoParquet / Parquet (pyarrow), ICESat-2
ATL06 HDF5 (h5py), ATL06-like fields in any table, and the selection of the points by time
and quality before a DEM alignment.

Debian 12's GDAL has no Parquet driver, so Parquet is read with pyarrow (optional, like
h5py: without it a clear message says what to install). ATL06 names are recognised
wherever they appear: ``h_li`` (elevation), ``latitude``/``longitude``, ``delta_time``
(seconds since the ATLAS epoch 2018-01-01T00:00:00, GPS time: the 18 leap seconds it
differs from UTC are irrelevant to selecting dates) and ``atl06_quality_summary``
(0 = good, the only value kept unless another maximum is given).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

import numpy as np

from ..errors import CoregInputError

#: Names a table may give each role (case-insensitive), ATL06's included.
X_NAMES, Y_NAMES = ("x", "easting", "lon", "longitude"), ("y", "northing", "lat", "latitude")
Z_NAMES = ("z", "h", "height", "elevation", "h_li", "h_te_mean")
TIME_NAMES = ("delta_time", "time", "datetime", "date", "timestamp")
ATL06_QUALITY = "atl06_quality_summary"
ATLAS_EPOCH = np.datetime64("2018-01-01T00:00:00", "us")
#: ATL06 beams and the per-segment datasets read from each.
ATL06_BEAMS = ("gt1l", "gt1r", "gt2l", "gt2r", "gt3l", "gt3r")
ATL06_FIELDS = ("longitude", "latitude", "h_li", "delta_time", ATL06_QUALITY)
#: HDF5 fill values of ATL06 floats (3.4028235e38) and anything near: no measurement.
FILL_ABOVE = 1e30


@dataclass(frozen=True)
class PointOptions:
    """How reference points are read and selected (all optional).

    ``z_field``, ``time_field``, ``quality_field`` name the columns (default: the usual
    names, ATL06's included); points are kept from ``start`` to ``end`` (ISO dates or
    date-times, UTC; a date alone includes its whole day) and with quality at most
    ``quality_max`` (default 0 for ``atl06_quality_summary``, else no quality selection).
    ``geoid``: the DEM's heights are above this geoid while the points' are above the
    WGS 84 ellipsoid (ICESat-2, GNSS): "egm96", "egm2008" or a geoid grid file (geoid
    height in metres), see :mod:`.datum`. ``crs``: the points' CRS when the file does not
    say it.
    """

    z_field: str | None = None
    time_field: str | None = None
    quality_field: str | None = None
    start: str | date | None = None
    end: str | date | None = None
    quality_max: float | None = None
    geoid: str | os.PathLike | None = None
    crs: str | None = None


def column_named(names: Sequence[str], wanted: str | None,
                 candidates: Sequence[str]) -> str | None:
    """The column called ``wanted`` (an error if absent), else the first candidate
    present (case-insensitive); None when there is none."""
    lower = {n.strip().lower(): n for n in names}
    if wanted:
        if wanted.strip().lower() not in lower:
            raise CoregInputError(f"The points have no field '{wanted}'; they have "
                                  f"{sorted(names)}.")
        return lower[wanted.strip().lower()]
    return next((lower[c] for c in candidates if c in lower), None)


def cloud_from_columns(columns: Mapping[str, np.ndarray], crs: str,
                       options: PointOptions, source: str, *, has_xy: bool = False):
    """A :class:`.points.PointCloud` from named columns (``x``/``y``/``z`` given by the
    geometry when ``has_xy``), with the time and quality columns the options name or
    the usual names give."""
    from .points import PointCloud

    names = list(columns)
    if has_xy:
        x_name, y_name = "x", "y"
    else:
        x_name, y_name = column_named(names, None, X_NAMES), column_named(names, None, Y_NAMES)
    z_name = column_named(names, options.z_field, Z_NAMES)
    if None in (x_name, y_name, z_name):
        raise CoregInputError(f"'{source}' needs x, y and z columns (or a point geometry "
                              f"and an elevation); it has {names}.")
    if not crs and not has_xy and x_name.strip().lower() in ("lon", "longitude"):
        crs = "EPSG:4326"
    # Times are read only for a time range (a "date" column may hold anything else).
    wants_time = options.time_field or options.start is not None or options.end is not None
    time_name = column_named(names, options.time_field, TIME_NAMES) if wants_time else None
    quality_name = column_named(names, options.quality_field, (ATL06_QUALITY,))
    z = as_floats(columns[z_name], z_name)
    z[np.abs(z) > FILL_ABOVE] = np.nan
    return PointCloud(as_floats(columns[x_name], x_name), as_floats(columns[y_name], y_name),
                      z, crs,
                      time=None if time_name is None else as_times(columns[time_name],
                                                                   time_name),
                      quality=None if quality_name is None
                      else as_floats(columns[quality_name], quality_name),
                      quality_field=quality_name or "",
                      ellipsoidal=z_name.strip().lower() == "h_li")


def as_floats(values, name: str) -> np.ndarray:
    try:
        return np.array([np.nan if v is None or v == "" else v for v in values]
                        if np.asarray(values).dtype == object else values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise CoregInputError(f"The field '{name}' must hold numbers: {exc}") from exc


def as_times(values, name: str) -> np.ndarray:
    """Times as datetime64[us]: date-times, ISO 8601 text (a trailing Z is UTC), or
    ATL06's ``delta_time`` (seconds since the ATLAS epoch)."""
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.datetime64):
        return values.astype("datetime64[us]")
    if not np.issubdtype(values.dtype, np.number):  # text: numbers written out (CSV)?
        try:
            values = as_floats(values, name)
        except CoregInputError:
            pass
    if np.issubdtype(values.dtype, np.number):
        if name.strip().lower() != "delta_time":
            raise CoregInputError(f"The time field '{name}' holds numbers: give dates (ISO "
                                  "8601, e.g. 2019-05-01T10:00:00) or ATL06's delta_time.")
        seconds = values.astype(float)
        micro = np.where(np.abs(seconds) < FILL_ABOVE, seconds, np.nan) * 1e6
        out = np.full(values.shape, np.datetime64("NaT"), "datetime64[us]")
        ok = np.isfinite(micro)
        out[ok] = ATLAS_EPOCH + micro[ok].astype(np.int64).astype("timedelta64[us]")
        return out
    try:
        return np.array([_iso(v) for v in values], dtype="datetime64[us]")
    except ValueError as exc:
        raise CoregInputError(f"The time field '{name}' holds a value that is no date: "
                              f"{exc}") from exc


def _iso(value):
    if value is None or value == "":
        return "NaT"
    if isinstance(value, (datetime, date)):
        return value
    text = str(value).strip()
    return text[:-1] if text.endswith(("Z", "z")) else text


def select_points(cloud, options: PointOptions) -> tuple[object, dict[str, int]]:
    """The points within the time range and of accepted quality, and how many each
    rule removed (``read``, ``removed_by_time``, ``removed_by_quality``)."""
    counts = {"read": int(cloud.z.size)}
    keep = np.ones(cloud.z.size, bool)
    if options.start is not None or options.end is not None:
        if cloud.time is None:
            raise CoregInputError("A time range was given but the points have no time "
                                  "field: name it.")
        within = ~np.isnat(cloud.time)
        if options.start is not None:
            within &= cloud.time >= bound(options.start, "start")
        if options.end is not None:
            within &= cloud.time < bound(options.end, "end", after=True)
        counts["removed_by_time"] = int((keep & ~within).sum())
        keep &= within
    quality_max = options.quality_max
    if quality_max is None and cloud.quality_field.lower() == ATL06_QUALITY:
        quality_max = 0.0
    if quality_max is not None:
        if cloud.quality is None:
            raise CoregInputError("A quality maximum was given but the points have no "
                                  "quality field: name it.")
        good = cloud.quality <= quality_max  # NaN: unknown quality, removed
        counts["removed_by_quality"] = int((keep & ~good).sum())
        keep &= good
    elif options.quality_field:
        raise CoregInputError(f"Give the largest accepted value of the quality field "
                              f"'{options.quality_field}'.")
    return (cloud if keep.all() else subset(cloud, keep)), counts


def bound(value, which: str, after: bool = False) -> np.datetime64:
    """A time range bound; the end of a date alone is the next midnight (its whole day)."""
    try:
        parsed = np.datetime64(_iso(value))
    except ValueError as exc:
        raise CoregInputError(f"The {which} time '{value}' is no date (ISO 8601, e.g. "
                              "2019-05-01 or 2019-05-01T10:00:00).") from exc
    day_only = np.datetime_data(parsed.dtype)[0] in ("D", "M", "Y")
    if after:
        parsed = (parsed.astype("datetime64[D]") + np.timedelta64(1, "D")
                  if day_only else parsed + np.timedelta64(1, "us"))
    return parsed.astype("datetime64[us]")


def subset(cloud, keep: np.ndarray):
    """The points where ``keep`` is True."""
    return replace(cloud, x=cloud.x[keep], y=cloud.y[keep], z=cloud.z[keep],
                   time=None if cloud.time is None else cloud.time[keep],
                   quality=None if cloud.quality is None else cloud.quality[keep])


def wkb_point(wkb: bytes) -> tuple[float, float, float]:
    """(x, y, z or NaN) of a WKB point (2-D, ISO Z or EWKB Z)."""
    order = "<" if wkb[0] == 1 else ">"
    kind = struct.unpack(order + "I", wkb[1:5])[0]
    if kind not in (1, 1001, 3001, 0x80000001):
        raise CoregInputError("The geometries must be points (2-D or with Z).")
    has_z = kind != 1
    values = struct.unpack(order + ("ddd" if has_z else "dd"), wkb[5:5 + (24 if has_z else 16)])
    return (values[0], values[1], values[2] if has_z else np.nan)


def read_parquet(path: Path, options: PointOptions):
    """Points of a GeoParquet file (its primary WKB point geometry, CRS from its ``geo``
    metadata) or of a plain Parquet table with x/y/z (or lon/lat/h_li) columns."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise CoregInputError("Reading Parquet points needs the Python package pyarrow: "
                              "pip install pyarrow") from None
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise CoregInputError(f"Cannot read the points of '{path}': {exc}") from exc
    geo = json.loads((table.schema.metadata or {}).get(b"geo", b"null") or "null")
    columns = {name: table.column(name) for name in table.column_names}
    plain = {n: c.to_numpy(zero_copy_only=False) for n, c in columns.items()
             if geo is None or n != geo.get("primary_column")}
    if geo is None:
        return cloud_from_columns(plain, options.crs or "", options, str(path))
    name = geo.get("primary_column", "geometry")
    meta = geo.get("columns", {}).get(name, {})
    if meta.get("encoding", "WKB").upper() != "WKB":
        raise CoregInputError(f"'{path}': only WKB geometries are read (this one is "
                              f"{meta.get('encoding')}).")
    xyz = np.array([wkb_point(g) if g is not None else (np.nan,) * 3
                    for g in columns[name].to_pylist()], float).reshape(-1, 3)
    plain.update(x=xyz[:, 0], y=xyz[:, 1])
    if options.z_field is None and not np.isnan(xyz[:, 2]).all():
        plain["z"] = xyz[:, 2]
    return cloud_from_columns(plain, options.crs or geoparquet_crs(meta), options, str(path),
                              has_xy=True)


def geoparquet_crs(column_meta: dict) -> str:
    """The CRS of a GeoParquet geometry column: PROJJSON, absent = OGC:CRS84
    (longitude, latitude), null = unknown (then the DEM's)."""
    if "crs" not in column_meta:
        return "OGC:CRS84"
    crs = column_meta["crs"]
    if crs is None:
        return ""
    return json.dumps(crs) if isinstance(crs, dict) else str(crs)


def read_atl06(path: Path, options: PointOptions):
    """The land-ice segments of every beam of an ICESat-2 ATL06 granule (HDF5:
    gtXx/land_ice_segments/{longitude, latitude, h_li, delta_time,
    atl06_quality_summary}); heights above the WGS 84 ellipsoid."""
    try:
        import h5py
    except ImportError:
        raise CoregInputError("Reading ICESat-2 ATL06 HDF5 files needs the Python package "
                              "h5py (Debian: apt install python3-h5py; else pip install "
                              "h5py).") from None
    parts: dict[str, list] = {f: [] for f in ATL06_FIELDS}
    try:
        with h5py.File(path, "r") as h5:
            for beam in ATL06_BEAMS:
                group = h5.get(f"{beam}/land_ice_segments")
                if group is None or "h_li" not in group:
                    continue
                for field in ATL06_FIELDS:
                    data = group.get(field)
                    parts[field].append(np.asarray(data[()]) if data is not None
                                        else np.full(group["h_li"].shape, np.nan))
    except OSError as exc:
        raise CoregInputError(f"Cannot read the HDF5 file '{path}': {exc}") from exc
    if not parts["h_li"]:
        raise CoregInputError(f"'{path}' has no ATL06 land_ice_segments (gt1l ... gt3r).")
    columns = {f: np.concatenate(v) for f, v in parts.items()}
    columns = {f: v for f, v in columns.items()  # fields the granule lacks
               if not (v.dtype.kind == "f" and np.isnan(v).all())}
    return cloud_from_columns(columns, options.crs or "EPSG:4326", options, str(path))
