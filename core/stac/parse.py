"""A STAC item document parsed by pystac, each way it can be wrong said in words.

pystac refuses an item with neither ``datetime`` nor ``start_datetime`` and
``end_datetime`` (``Item.__init__``: "If datetime is None, a start_datetime and
end_datetime must be supplied"). Coreg reads pixels and footprints, not dates: such an
item (a hand-made one, a catalogue that leaves the date out) is read as undated, and an
output derived from it is stamped with its creation time (:mod:`.write`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CoregInputError

if TYPE_CHECKING:
    import pystac

#: A stand-in date for pystac's check, removed again once the item is parsed.
UNDATED = "1970-01-01T00:00:00Z"
TIME_FIELDS = ("datetime", "start_datetime", "end_datetime")


def parse_item(data: object, where: str) -> pystac.Item:
    """The pystac item of the JSON ``data`` read from ``where`` (a file or a URL),
    as written (no migration to a newer STAC version).

    Raises
    ------
    CoregInputError
        Not a JSON object, another kind of STAC document (a collection, a catalogue,
        an ItemCollection: the message says which), no properties or assets, a date
        that is not RFC 3339, or anything else pystac cannot read.
    """
    import pystac

    if not isinstance(data, dict):
        raise CoregInputError(f"'{where}' is no STAC item: not a JSON object.")
    kind = str(data.get("type") or "")
    if kind != "Feature":
        raise CoregInputError(f"'{where}' is no STAC item (a GeoJSON Feature with assets)"
                              + (f" but a {_kind_words(kind)}" if kind else "") + ".")
    properties = data.get("properties")
    if not isinstance(properties, dict) or not isinstance(data.get("assets"), dict):
        missing = "properties" if not isinstance(properties, dict) else "assets"
        raise CoregInputError(f"'{where}' is no STAC item: its {missing} are missing or not "
                              "a JSON object.")
    _check_times(properties, where)
    _check_assets(data["assets"], where)
    undated = not properties.get("datetime") and not (
        properties.get("start_datetime") and properties.get("end_datetime"))
    document = {**data, "properties": {**properties, "datetime": UNDATED}} if undated else data
    try:
        item = pystac.Item.from_dict(document, migrate=False, preserve_dict=True)
    except (pystac.STACError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CoregInputError(f"'{where}' is not a valid STAC item: {exc}") from None
    if undated:
        item.datetime = None
        item.properties = dict(properties)
    return item


def _check_times(properties: dict, where: str) -> None:
    """Each time field given is an RFC 3339 date (pystac's words are dateutil's)."""
    from pystac.utils import str_to_datetime

    for name in TIME_FIELDS:
        value = properties.get(name)
        if value is None:
            continue
        try:
            str_to_datetime(str(value))
        except (ValueError, OverflowError, TypeError):
            raise CoregInputError(f"STAC item '{where}': its {name} '{value}' is not an "
                                  "RFC 3339 date (e.g. 2024-05-01T10:30:00Z).") from None


def _check_assets(assets: dict, where: str) -> None:
    """Each asset is an object with an href (pystac's words would be a KeyError's)."""
    for key, asset in assets.items():
        if not isinstance(asset, dict):
            raise CoregInputError(f"Asset '{key}' of STAC item '{where}' is not a JSON "
                                  "object.")
        if not str(asset.get("href") or "").strip():
            raise CoregInputError(f"Asset '{key}' of STAC item '{where}' has no href.")


def _kind_words(kind: str) -> str:
    """What a document of GeoJSON/STAC ``type`` ``kind`` is, for a message."""
    words = {"FeatureCollection": "FeatureCollection (a search result: give one of its "
                                  "items' URLs)",
             "Collection": "STAC collection (give one of its items' URLs)",
             "Catalog": "STAC catalogue (give one of its items' URLs)"}
    return words.get(kind, f"document of type '{kind}'")
