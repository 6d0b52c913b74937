"""STAC 1.0 items: reading them (local files, or URLs when remote reads are asked for)
and the documents a stack writes (checked in the tests against the official schemas).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import rasterio
from rasterio.crs import CRS

from ..errors import CoregInputError, CoregResourceError
from ..grid import Grid, crs_transformer
from ..io.paths import is_remote, local_input
from .net import DEFAULT_TIMEOUT, fetch_json, is_url, vsicurl
from .parse import parse_item

if TYPE_CHECKING:
    import pystac

STAC_VERSION = "1.0.0"
PROJECTION = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
#: Larger item files are refused unread (real items are a few kB).
MAX_ITEM_BYTES = 10 * 2**20
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
#: The host of Microsoft's Planetary Computer (its assets need signing).
PLANETARY_COMPUTER = "planetarycomputer.microsoft.com"


@dataclass(frozen=True)
class StacAsset:
    """One asset of an input item: the path GDAL opens (a local file, or a ``/vsicurl``
    path for a remote one), its bands' names and common names, its GSD."""

    key: str
    href: str
    band_names: tuple[str, ...] = ()
    gsd: float | None = None
    common_names: tuple[str, ...] = ()
    url: str = ""  # the absolute href as the item gives it
    media_type: str = ""
    roles: tuple[str, ...] = ()

    @property
    def remote(self) -> bool:
        return is_remote(self.href)

    def names(self) -> tuple[str, ...]:
        """What a user may call it: its key, its bands' names and common names."""
        return tuple(n for n in (self.key, *self.band_names, *self.common_names) if n)

    def band_of(self, name: str) -> int | None:
        """The 1-based band ``name`` designates (the key: band 1), None if none."""
        if name == self.key:
            return 1
        for names in (self.band_names, self.common_names):
            if name in names:
                return names.index(name) + 1
        return None


@dataclass(frozen=True)
class StacItem:
    """The parts of a STAC item Coreg reads; ``path`` is the file or URL it came from."""

    path: str
    id: str
    properties: dict = field(default_factory=dict)
    assets: tuple[StacAsset, ...] = ()
    geometry: dict | None = None
    bbox: tuple[float, ...] = ()
    collection: str = ""

    @property
    def gsd(self) -> float | None:
        return self.properties.get("gsd")

    @property
    def remote(self) -> bool:
        return is_remote(self.path)

    def asset(self, name: str) -> StacAsset:
        """The asset called ``name``: its key first, then a band name, then a common name
        (any case); CoregInputError listing what the item has."""
        for field_name in ("key", "band_names", "common_names"):
            for asset in self.assets:
                values = getattr(asset, field_name)
                values = (values,) if isinstance(values, str) else values
                if name in values or name.lower() in (v.lower() for v in values):
                    return asset
        listed = "; ".join(f"{a.key} ({', '.join(a.names()[1:])})" if a.names()[1:] else a.key
                           for a in self.assets)
        raise CoregInputError(f"STAC item '{self.id}' has no asset or band '{name}'; its "
                              f"assets are {listed}.")


def is_stac_item(path: str | os.PathLike) -> bool:
    text = str(path)
    return text.lower().endswith(".json") or (is_url(text) and "/items/" in text)


def read_item(path: str | os.PathLike, *, allow_remote: bool = False,
              timeout: float = DEFAULT_TIMEOUT) -> StacItem:
    """A STAC item from a local file or, if ``allow_remote``, an ``http(s)`` URL (a
    static file or a STAC API's ``.../collections/{c}/items/{id}``), parsed by pystac
    (:mod:`.parse`; an item without a date is read as undated); asset hrefs resolve
    relative to the item.

    Raises
    ------
    CoregInputError
        Not JSON, not an item, an unreachable or missing URL, or an asset that is no
        local file while ``allow_remote`` is False (see :mod:`.paths`).
    CoregResourceError
        The server did not answer within ``timeout`` seconds, or pystac is missing.
    """
    require_pystac("Reading a STAC item")
    text = os.fspath(path)
    if is_url(text) and allow_remote:
        data = fetch_json(text, "STAC item", timeout=timeout)
    else:
        data = _read_local_json(local_input(text, "STAC item"))
    item = parse_item(data, text)
    item_id = str(item.id or Path(text).stem)
    collection = str(item.collection_id or "")
    assets = tuple(_asset(key, asset, text, item_id, allow_remote, timeout, collection)
                   for key, asset in item.assets.items())
    bbox = item.bbox if isinstance(item.bbox, list) else []
    return StacItem(text, item_id, dict(item.properties), assets,
                    item.geometry if isinstance(item.geometry, dict) else None,
                    tuple(float(v) for v in bbox if isinstance(v, (int, float))), collection)


def _read_local_json(path: str) -> object:
    try:
        if os.path.getsize(path) > MAX_ITEM_BYTES:
            raise CoregInputError(f"STAC item '{path}' is larger than "
                                  f"{MAX_ITEM_BYTES // 2**20} MB; no item is that large.")
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise CoregInputError(f"STAC item '{path}' cannot be read: {exc}") from exc


def needs_pc_signing(item: str, href: str) -> bool:
    """Whether an asset is Planetary Computer data on Azure Blob Storage, readable only
    with a SAS token (GDAL asks Planetary Computer's token service for it)."""
    host = (urllib.parse.urlparse(href).hostname or "").lower()
    source = (urllib.parse.urlparse(item).hostname or "").lower() if is_url(item) else ""
    return host.endswith(".blob.core.windows.net") and source.endswith(PLANETARY_COMPUTER)


def _asset(key: str, asset: pystac.Asset, item: str, item_id: str, allow_remote: bool,
           timeout: float, collection: str = "") -> StacAsset:
    """One asset, its href resolved against the item's file or URL."""
    href = str(asset.href or "").strip()
    label = f"Asset '{key}' of STAC item '{item_id}'"
    if not href:
        raise CoregInputError(f"{label} has no href.")
    if is_url(item) and not (href.lower().startswith("/vsi") or "://" in href):
        href = urllib.parse.urljoin(item, href)  # relative to the item's URL
    if is_url(href):
        signed = collection if needs_pc_signing(item, href) else None
        url = href
        path = vsicurl(href, timeout=timeout, pc_collection=signed) if allow_remote else href
    elif href.lower().startswith("s3://"):  # an object store (CDSE's eodata...): GDAL's S3
        url, path = href, "/vsis3/" + href[len("s3://"):]
    elif href.lower().startswith("/vsi") or "://" in href.removeprefix("file://"):
        url = path = href
    else:
        url = path = str(Path(item).resolve().parent / href.removeprefix("file://"))
    path = local_input(path, label, allow_remote=allow_remote)
    # STAC 1.0 eo:bands, or STAC 1.1 bands (eo:common_name); one entry per band ("" if
    # unnamed): the position is the band number.
    extra = asset.extra_fields
    bands = [b for b in extra.get("eo:bands") or extra.get("bands") or [] if isinstance(b, dict)]
    gsd = extra.get("gsd")
    return StacAsset(key, str(path), tuple(str(b.get("name") or "") for b in bands),
                     gsd if isinstance(gsd, (int, float)) else None,
                     tuple(str(b.get("common_name") or b.get("eo:common_name") or "")
                           for b in bands),
                     url, str(asset.media_type or ""),
                     tuple(str(r) for r in asset.roles or () if isinstance(r, str)))


def slug(text: str) -> str:
    """An id from a title: lower case, letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "stack"


def item_document(*, item_id: str, collection_id: str, title: str, geometry: dict,
                  bbox: list[float], times: dict, projection: dict, assets: dict) -> dict:
    """A STAC item (JSON-ready, built with pystac) whose assets are files beside it;
    ``assets`` are asset dictionaries (their extra fields kept as they are)."""
    import pystac

    stamps = {k: _instant(v) for k, v in times.items()}
    item = pystac.Item(item_id, geometry, bbox, stamps.get("datetime"),
                       properties={"title": title, **projection}, collection=collection_id,
                       start_datetime=stamps.get("start_datetime"),
                       end_datetime=stamps.get("end_datetime"))
    item.stac_extensions.append(PROJECTION)
    for key, asset in assets.items():
        item.add_asset(key, pystac.Asset.from_dict(asset))
    for rel in ("collection", "parent"):
        item.add_link(pystac.Link(rel, "./collection.json", pystac.MediaType.JSON))
    return stac_1_0(item)


def collection_document(*, collection_id: str, title: str, description: str,
                        bbox: list[float], interval: list, item_file: str) -> dict:
    """The STAC collection (JSON-ready, built with pystac) holding the stack's item."""
    import pystac

    extent = pystac.Extent(pystac.SpatialExtent([bbox]),
                           pystac.TemporalExtent([[_instant(t) for t in interval]]))
    collection = pystac.Collection(collection_id, description, extent, title=title,
                                   license="various")
    collection.add_link(pystac.Link("item", f"./{item_file}", pystac.MediaType.GEOJSON))
    return stac_1_0(collection)


def require_pystac(what: str) -> None:
    """Refuse a run whose STAC output needs pystac before any work, if it is missing."""
    if importlib.util.find_spec("pystac") is None:
        raise CoregResourceError(f"{what} is written with the Python package pystac, which "
                                 "is not installed: pip install pystac (Coreg's About / "
                                 "diagnostics dialog lists the optional packages).")


def stac_1_0(document) -> dict:
    """A pystac item or collection as a STAC 1.0.0 dictionary (pystac writes 1.1.0; the
    fields Coreg writes are both versions'), its links as given (relative)."""
    return {**document.to_dict(include_self_link=False, transform_hrefs=False),
            "stac_version": STAC_VERSION}


def _instant(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


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
