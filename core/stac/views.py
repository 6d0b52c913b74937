"""A STAC item's asset as a raster path, so that whatever takes a raster takes an item:
a one-band VRT naming the asset's ``/vsicurl`` path (:func:`.item_stack.item_view`), read
by range requests like any remote COG. Nothing is downloaded.

An item is given as its file or URL (a static item or a STAC API's
``.../collections/{c}/items/{id}``), optionally followed by ``#`` and the asset to use
(its key, a band name or a common name: ``...items/S2B_...#nir``); without it, the asset
the alignment of two items would be measured on (:func:`default_asset`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import CoregInputError
from .item_stack import item_view
from .net import DEFAULT_TIMEOUT, NETWORK_ERRORS, gdal_http, network_read_error
from .stac import StacItem, is_stac_item, read_item, slug


def split_reference(text: str) -> tuple[str, str]:
    """``item#asset`` as (item, asset); the asset is '' when not given."""
    item, _, asset = str(text).strip().partition("#")
    return item, asset.strip()


def is_item_reference(text: object) -> bool:
    """Whether ``text`` names a STAC item (with or without ``#asset``), not a raster."""
    return isinstance(text, (str, os.PathLike)) and is_stac_item(split_reference(
        os.fspath(text))[0])


def default_asset(item: StacItem) -> str:
    """The asset the alignment is measured on (NIR, red, pan...), else the first
    optical one; '' if the item has none."""
    from .align_items import MATCH_PREFERENCE, optical_assets  # scipy: on use

    for name in MATCH_PREFERENCE:
        for asset in item.assets:
            if name.lower() in (n.lower() for n in asset.names()):
                return asset.key
    assets = optical_assets(item)
    return assets[0].key if assets else ""


def asset_view(item: StacItem, name: str, folder: str | os.PathLike) -> str:
    """The VRT of the asset (or band) ``name`` of ``item`` in ``folder``, named after
    the item's id, the asset and a digest of where the item is (two catalogues' items of
    one id do not share a file); written again each time (the item may have changed)."""
    asset = item.asset(name)
    where = hashlib.sha1(f"{item.path}\n{asset.key}".encode()).hexdigest()[:10]  # noqa: S324
    path = Path(folder) / f"{slug(item.id)}_{slug(asset.key)}_{where}.vrt"
    try:
        with gdal_http(DEFAULT_TIMEOUT):
            return item_view(item, asset.href, asset.band_of(name) or 1, path)
    except NETWORK_ERRORS as exc:
        raise network_read_error(exc, f"the asset '{asset.key}' of the item '{item.id}'"
                                 ) from exc


def item_raster(text: str, folder: str | os.PathLike, *,
                timeout: float = DEFAULT_TIMEOUT) -> str:
    """The raster path of the item reference ``text`` (``item[#asset]``): the VRT of its
    asset, written in ``folder``.

    Raises
    ------
    CoregInputError
        Not an item, an unreadable item, no such asset, or no asset to choose.
    CoregResourceError
        The server did not answer within ``timeout`` seconds.
    """
    location, name = split_reference(text)
    item = read_item(location, allow_remote=True, timeout=timeout)
    name = name or default_asset(item)
    if not name:
        raise CoregInputError(f"STAC item '{item.id}' has no raster asset to align; name one "
                              f"after '#' (e.g. {location}#nir).")
    return asset_view(item, name, folder)
