"""The STAC item and collection of co-registered items, written with pystac.

The item carries the projection, eo and processing extensions, a ``derived_from`` link
to each input item, and the alignment and its quality as ``coreg:`` properties; its
assets are the COGs beside it (relative hrefs: the folder can be moved or served).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
from collections.abc import Mapping
from pathlib import Path

from ..io.outputs import write_json
from ..io.raster_io import read_info
from .stac import COG_TYPE, StacAsset, StacItem, footprint_wgs84, slug, stac_1_0

PROCESSING = "https://stac-extensions.github.io/processing/v1.1.0/schema.json"
#: Report keys copied into the item's properties (as ``coreg:<key>``).
QUALITY_KEYS = ("shift_x_px", "shift_y_px", "shift_x_map", "shift_y_map", "rotation_deg",
                "shift_uncertainty_px", "reliability", "matching_score_before",
                "matching_score_after", "n_patches_used", "n_patches", "ce90_m", "ce95_m")


def write_aligned_stac(folder: Path, *, title: str, source: StacItem, reference: StacItem,
                       written: Mapping[str, str], assets: Mapping[str, StacAsset],
                       report: dict, match: str) -> tuple[str, str]:
    """Write ``item.json`` and ``collection.json`` in ``folder`` (atomically, through
    :func:`.outputs.write_json`); return their paths."""
    import pystac
    from pystac.extensions.eo import Band, EOExtension
    from pystac.extensions.projection import ProjectionExtension

    grid = read_info(next(iter(written.values()))).grid
    geometry, bbox = footprint_wgs84(grid)
    collection_id = slug(title)
    when = _datetime(source)
    item = pystac.Item(f"{collection_id}-{slug(source.id)}", geometry, bbox, when,
                       properties={"title": title, **_processing(source, reference),
                                   **{f"coreg:{k}": report[k] for k in QUALITY_KEYS
                                      if report.get(k) is not None},
                                   "coreg:match_asset": match},
                       collection=collection_id)
    item.stac_extensions.append(PROCESSING)
    for key, path in written.items():
        info = read_info(path)
        asset = pystac.Asset(f"./{Path(path).name}", title=key, media_type=COG_TYPE,
                             roles=["data"])
        item.add_asset(key, asset)
        projection = ProjectionExtension.ext(asset, add_if_missing=True)
        projection.epsg = info.grid.crs.to_epsg()
        if projection.epsg is None:
            projection.wkt2 = info.grid.crs.to_wkt()
        projection.shape = [info.grid.height, info.grid.width]
        projection.transform = list(info.grid.transform)[:6]
        source_asset = assets[key]
        names = source_asset.band_names or ("",) * len(source_asset.common_names)
        bands = [Band.create(name=n or key, common_name=c or None)
                 for n, c in zip(names, source_asset.common_names or ("",) * len(names))]
        if bands:
            EOExtension.ext(asset, add_if_missing=True).bands = bands
    for role, parent in (("source", source), ("reference", reference)):
        item.add_link(pystac.Link("derived_from", _href(parent), pystac.MediaType.GEOJSON,
                                  title=f"The {role} item '{parent.id}'"))
    item.add_link(pystac.Link("collection", "./collection.json", pystac.MediaType.JSON))
    item.add_link(pystac.Link("parent", "./collection.json", pystac.MediaType.JSON))
    collection = pystac.Collection(
        collection_id, f"{title}: the item '{source.id}' co-registered onto '{reference.id}' "
        "by Coreg.", pystac.Extent(pystac.SpatialExtent([bbox]),
                                   pystac.TemporalExtent([[when, when]])),
        title=title, license="other")
    collection.add_link(pystac.Link("item", "./item.json", pystac.MediaType.GEOJSON))
    item_path, collection_path = folder / "item.json", folder / "collection.json"
    for path, document in ((item_path, item), (collection_path, collection)):
        write_json(path, stac_1_0(document))
    return str(item_path), str(collection_path)


def _processing(source: StacItem, reference: StacItem) -> dict:
    level = source.properties.get("processing:level")
    return {**({"processing:level": level} if level else {}),
            "processing:software": {"coreg": software_version()},
            "processing:lineage": f"Co-registered onto the item '{reference.id}' by Coreg "
                                  "(phase correlation of patches, robust rigid fit)."}


def software_version() -> str:
    """Coreg's version, as the package tells it (``coreg.__version__``: the plugin's
    metadata.txt, else the installed library's)."""
    return importlib.import_module(__name__.split(".")[0]).__version__


def _datetime(item: StacItem) -> dt.datetime:
    value = item.properties.get("datetime") or item.properties.get("start_datetime")
    try:
        stamp = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        stamp = dt.datetime.now(dt.timezone.utc)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)


def _href(item: StacItem) -> str:
    """Where an input item is: its URL, or its local file as an absolute path."""
    return item.path if item.remote else str(Path(item.path).resolve())
