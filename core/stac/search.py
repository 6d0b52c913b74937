"""Searching a STAC API (pystac-client): the items over an area and a time range, under
a cloud cover, each with the URL Coreg's STAC inputs take.

Credentials travel as HTTP headers given by the caller (the plugin reads them from
QGIS's authentication manager); they are never part of a message, a result or a URL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import CoregInputError, CoregResourceError
from .net import DEFAULT_TIMEOUT, is_url

#: Items examined at most per item kept (the cloud filter is applied here, since not
#: every API has the query or filter extension).
SCAN_FACTOR = 10


@dataclass(frozen=True)
class Hit:
    """One item found: what the footprint layer shows."""

    id: str
    collection: str
    datetime: str
    cloud_cover: float | None
    gsd: float | None
    url: str
    geometry: dict


def search_items(api_url: str, *, collections: Sequence[str] = (),
                 bbox: Sequence[float] | None = None, datetime: str | None = None,
                 max_cloud: float | None = None, limit: int = 20,
                 headers: Mapping[str, str] | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> list[Hit]:
    """Up to ``limit`` items of ``collections`` intersecting ``bbox`` (WGS 84 west,
    south, east, north) in ``datetime`` (RFC 3339 instant or ``start/end``), with a
    cloud cover below ``max_cloud`` % (items that do not say are kept).

    Raises
    ------
    CoregInputError
        Not a URL, an API that cannot be reached or refuses the search.
    CoregResourceError
        The API did not answer within ``timeout`` seconds.
    """
    from pystac_client import Client
    from pystac_client.exceptions import APIError

    if not is_url(api_url):
        raise CoregInputError(f"The STAC API '{api_url}' is not an http(s) URL.")
    if not 1 <= int(limit) <= 10000:
        raise CoregInputError(f"The number of items must be 1 to 10000, not {limit}.")
    api_url = api_url.rstrip("/")
    try:
        client = Client.open(api_url, headers=dict(headers or {}), timeout=timeout)
        search = client.search(collections=list(collections) or None,
                               bbox=list(bbox) if bbox else None, datetime=datetime or None,
                               max_items=int(limit) * SCAN_FACTOR,
                               limit=min(100, int(limit) * 2))
        hits = []
        for item in search.items_as_dicts():  # as served: pystac would refuse undated items
            hit = _hit(item, api_url)
            if max_cloud is None or hit.cloud_cover is None or hit.cloud_cover < max_cloud:
                hits.append(hit)
            if len(hits) >= limit:
                break
        return hits
    except (APIError, OSError) as exc:  # pystac-client wraps requests' errors in APIError
        if "timed out" in str(exc).lower():
            raise CoregResourceError(f"The STAC API '{api_url}' did not answer within "
                                     f"{timeout:g} s; try again later.") from None
        if "Connection refused" in str(exc) or "Failed to establish" in str(exc):
            raise CoregInputError(f"The STAC API '{api_url}' cannot be reached (connection "
                                  "refused). Is it running, and is the address right?"
                                  ) from None
        status = getattr(exc, "status_code", None)
        raise CoregInputError(f"The STAC API '{api_url}' refused the search"
                              + (f" (HTTP {status})" if status else "") + f": {_short(exc)}"
                              ) from None
    except (ValueError, TypeError) as exc:  # pystac-client's checks of the arguments
        raise CoregInputError(f"The search of '{api_url}' is malformed: {exc}") from None


def _hit(item: dict, api_url: str) -> Hit:
    """What the footprint layer shows of one item of a search's pages (a GeoJSON
    Feature; :mod:`.parse` reads it again when it is aligned)."""
    properties = item.get("properties") if isinstance(item.get("properties"), dict) else {}
    item_id, collection = str(item.get("id") or ""), str(item.get("collection") or "")
    links = [link for link in item.get("links") or () if isinstance(link, dict)]
    self_link = next((str(link.get("href")) for link in links if link.get("rel") == "self"),
                     "")
    url = self_link if is_url(self_link) else (
        f"{api_url}/collections/{collection}/items/{item_id}")
    cloud = properties.get("eo:cloud_cover")
    gsd = properties.get("gsd")
    geometry = item.get("geometry")
    return Hit(item_id, collection, str(properties.get("datetime")
                                        or properties.get("start_datetime") or ""),
               float(cloud) if isinstance(cloud, (int, float)) else None,
               float(gsd) if isinstance(gsd, (int, float)) else None, url,
               geometry if isinstance(geometry, dict) else {})


def _short(exc: Exception) -> str:
    text = str(exc).strip().replace("\n", " ")
    return text[:300] + ("..." if len(text) > 300 else "")
