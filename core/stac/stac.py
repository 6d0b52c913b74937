"""STAC 1.0 on disk: reading local items (inputs) and writing an item and its collection.

Written as plain JSON (no pystac): the few fields a stack needs, checked in the tests
against the official STAC 1.0.0 item and collection JSON schemas.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import rasterio
from rasterio.crs import CRS

from ..errors import CoregInputError
from ..grid import Grid, crs_transformer
from ..io.paths import local_input

STAC_VERSION = "1.0.0"
PROJECTION = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
#: Larger item files are refused unread (real items are a few kB).
MAX_ITEM_BYTES = 10 * 2**20
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


@dataclass(frozen=True)
class StacAsset:
    """One asset of an input item: its file (href resolved) and the names of its bands."""

    key: str
    href: str
    band_names: tuple[str, ...] = ()
    gsd: float | None = None


@dataclass(frozen=True)
class StacItem:
    """The parts of a local STAC item a stack reads."""

    path: str
    id: str
    properties: dict = field(default_factory=dict)
    assets: tuple[StacAsset, ...] = ()

    @property
    def gsd(self) -> float | None:
        return self.properties.get("gsd")


def is_stac_item(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(".json")


def read_item(path: str | os.PathLike) -> StacItem:
    """A local STAC item; asset hrefs resolve relative to the item file.

    Raises
    ------
    CoregInputError
        Not JSON, not an item, or an asset that is no local file: a URL, or a GDAL
        network path such as ``/vsicurl?url=...`` (see :mod:`.paths`).
    """
    try:
        if os.path.getsize(path) > MAX_ITEM_BYTES:
            raise CoregInputError(f"STAC item '{path}' is larger than "
                                  f"{MAX_ITEM_BYTES // 2**20} MB; no item is that large.")
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CoregInputError(f"STAC item '{path}' cannot be read: {exc}") from exc
    if not isinstance(data, dict) or data.get("type") != "Feature" or not isinstance(
            data.get("assets"), dict):
        raise CoregInputError(f"'{path}' is no STAC item (a GeoJSON Feature with assets).")
    folder = Path(path).resolve().parent
    assets = []
    for key, asset in data["assets"].items():
        if not isinstance(asset, dict):
            raise CoregInputError(f"Asset '{key}' of '{path}' is not a JSON object.")
        href = str(asset.get("href", ""))
        local = local_input(folder / href.removeprefix("file://") if href and not (
            href.lower().startswith("/vsi") or "://" in href.removeprefix("file://"))
            else href, f"Asset '{key}' of STAC item '{Path(path).name}'")
        names = tuple(str(b.get("name") or b.get("common_name") or "")
                      for b in asset.get("eo:bands", []) if isinstance(b, dict))
        assets.append(StacAsset(key, str(local), names, asset.get("gsd")))
    return StacItem(str(path), str(data.get("id", Path(path).stem)),
                    dict(data.get("properties") or {}), tuple(assets))


def slug(text: str) -> str:
    """An id from a title: lower case, letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "stack"


def item_document(*, item_id: str, collection_id: str, title: str, geometry: dict,
                  bbox: list[float], times: dict, projection: dict, assets: dict) -> dict:
    """A STAC item (JSON-ready) whose assets are files beside it."""
    return {
        "type": "Feature", "stac_version": STAC_VERSION, "stac_extensions": [PROJECTION],
        "id": item_id, "collection": collection_id, "geometry": geometry, "bbox": bbox,
        "properties": {"title": title, **times, **projection},
        "links": [{"rel": "collection", "href": "./collection.json", "type": "application/json"},
                  {"rel": "parent", "href": "./collection.json", "type": "application/json"}],
        "assets": assets,
    }


def collection_document(*, collection_id: str, title: str, description: str,
                        bbox: list[float], interval: list, item_file: str) -> dict:
    """The STAC collection holding the stack's item."""
    return {
        "type": "Collection", "stac_version": STAC_VERSION, "stac_extensions": [],
        "id": collection_id, "title": title, "description": description, "license": "various",
        "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [interval]}},
        "links": [{"rel": "item", "href": f"./{item_file}", "type": "application/geo+json"}],
    }


def footprint_wgs84(grid: Grid) -> tuple[dict, list[float]]:
    """GeoJSON polygon and bbox of ``grid``'s corners in WGS 84 (STAC geometry)."""
    xs, ys = grid.corner_xy()  # clockwise for a north-up grid: reversed, as GeoJSON wants
    lons, lats = crs_transformer(grid.crs, CRS.from_epsg(4326)).transform(xs[::-1], ys[::-1])
    ring = [[float(x), float(y)] for x, y in zip(lons, lats)]
    geometry = {"type": "Polygon", "coordinates": [ring + [ring[0]]]}
    return geometry, [min(lons), min(lats), max(lons), max(lats)]


def acquisition_times(sources: Sequence[str | StacItem]) -> dict:
    """STAC times of what ``sources`` (items, rasters with an ACQUISITION_DATE(TIME)
    tag) were acquired: ``datetime`` of one date, else ``start/end_datetime``; the
    creation time when none says (RFC 3339, UTC)."""
    stamps = sorted({t for t in map(_acquired, sources) if t})
    if not stamps:
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"datetime": now}
    if len(stamps) == 1:
        return {"datetime": stamps[0]}
    return {"datetime": None, "start_datetime": stamps[0], "end_datetime": stamps[-1]}


def _acquired(source: str | StacItem) -> str | None:
    if isinstance(source, StacItem):
        value = source.properties.get("datetime") or source.properties.get("start_datetime")
    else:
        with rasterio.open(source) as ds:
            tags = ds.tags()
        value = tags.get("ACQUISITION_DATETIME") or tags.get("ACQUISITION_DATE")
    try:
        stamp = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
