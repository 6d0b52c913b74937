"""A time series of STAC items aligned onto one of them (:func:`.stack.align_stack`).

Each item (file, URL or STAC API item) gives one asset (``nir``, ``B08``...). The
assets stay where they are: a single-band VRT per item names the asset's ``/vsicurl``
path, so the stack's worker processes stream them as the item said, and the outputs are
named after the item ids. Without an anchor, the item the others overlap most, weighted
by its clear fraction (100 % minus ``eo:cloud_cover``), is chosen, from the metadata.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from xml.sax.saxutils import escape

import rasterio
from rasterio.dtypes import dtype_rev, typename_fwd

from ..errors import CoregInputError
from ..io.outputs import guarded_outputs
from ..io.paths import remote_reads
from ..stack.stack import ItemResult, align_stack, write_summary
from .net import DEFAULT_TIMEOUT, gdal_http
from .preconditions import item_overlap
from .stac import StacItem, read_item, slug

Log = Callable[[str, str], None]


def align_item_stack(items: Sequence[str | os.PathLike], output_folder: str | os.PathLike, *,
                     asset: str, anchor: str | None = None,
                     summary: str | os.PathLike | None = None,
                     timeout: float = DEFAULT_TIMEOUT, log: Log | None = None,
                     **options) -> list[ItemResult]:
    """Align ``asset`` of every item onto the anchor item's (``anchor``: one of
    ``items``; default :func:`choose_anchor`'s). ``options`` are
    :func:`.stack.align_stack`'s (band, transform, workers, dask_scheduler...); the
    results' ``input`` is the item as given.

    Raises
    ------
    CoregInputError
        Fewer than two items, an unreadable item, an item without ``asset``, or an
        anchor that is not one of the items.
    """
    log = log or (lambda level, message: None)
    sources = [os.fspath(i) for i in items]
    if len(sources) < 2:
        raise CoregInputError("A time series needs two STAC items at least.")
    read = [read_item(s, allow_remote=True, timeout=timeout) for s in sources]
    chosen = [item.asset(asset) for item in read]
    if anchor is None:
        anchor_item, why = choose_anchor(read)
        log("info", f"Anchor: item '{anchor_item.id}' ({why}).")
    else:
        matches = [item for item in read if item.path == os.fspath(anchor)]
        if not matches:
            raise CoregInputError(f"The anchor '{anchor}' is not one of the items.")
        anchor_item = matches[0]
    hrefs = [a.href for a in chosen]
    with guarded_outputs({"Summary": summary}, {}), gdal_http(timeout), remote_reads(hrefs), \
            tempfile.TemporaryDirectory(prefix="coreg-items-") as tmp:
        stems = _stems(read)
        views = {item.path: item_view(item, a.href, a.band_of(asset) or 1,
                                      Path(tmp) / f"{stems[item.path]}.vrt")
                 for item, a in zip(read, chosen)}
        results = align_stack(list(views.values()), views[anchor_item.path], output_folder,
                              **options)
        by_view = {view: path for path, view in views.items()}
        results = [replace(r, input=by_view.get(r.input, r.input)) for r in results]
        if summary is not None:
            write_summary(results, summary)
    return results


def choose_anchor(items: Sequence[StacItem]) -> tuple[StacItem, str]:
    """The item with the largest clear overlap: its mean footprint overlap with the
    others times its clear fraction; and why, in words, with every item's score."""
    def score(item: StacItem) -> tuple[float, float, float]:
        overlaps = [item_overlap(item, other) for other in items if other is not item]
        overlap = sum(o for o in overlaps if o is not None) / max(len(overlaps), 1)
        cloud = item.properties.get("eo:cloud_cover")
        clear = 1.0 - float(cloud) / 100.0 if isinstance(cloud, (int, float)) else 1.0
        return overlap * clear, overlap, clear

    best = max(items, key=score)
    value, overlap, clear = score(best)
    scores = ", ".join(f"{item.id} {score(item)[0]:.2f}" for item in items)
    return best, (f"the largest clear overlap: it overlaps the others by "
                  f"{100 * overlap:.0f} % on average and is {100 * clear:.0f} % clear; "
                  f"clear overlap of every item: {scores}")


def item_view(item: StacItem, href: str, band: int, path: Path) -> str:
    """A single-band VRT of ``href``'s band ``band`` (the whole raster)."""
    with rasterio.open(href) as ds:
        t, crs = ds.transform, ds.crs
        width, height = ds.width, ds.height
        dtype = typename_fwd[dtype_rev[ds.dtypes[band - 1]]]
        nodata = ds.nodatavals[band - 1]
    if crs is None:
        raise CoregInputError(f"The asset of item '{item.id}' has no CRS.")
    no = "" if nodata is None else f"<NoDataValue>{nodata!r}</NoDataValue>"
    path.write_text(
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">'
        f"<SRS>{escape(crs.to_wkt())}</SRS>"
        f"<GeoTransform>{t.c!r}, {t.a!r}, {t.b!r}, {t.f!r}, {t.d!r}, {t.e!r}</GeoTransform>"
        f'<VRTRasterBand dataType="{dtype}" band="1">{no}'
        f"<Description>{escape(item.id)}</Description><SimpleSource>"
        f'<SourceFilename relativeToVRT="0">{escape(href)}</SourceFilename>'
        f"<SourceBand>{band}</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>",
        encoding="utf-8")
    return str(path)


def _stems(items: Sequence[StacItem]) -> dict[str, str]:
    """Each item's output file stem: its id as a file name, numbered when repeated."""
    stems, taken = {}, set()
    for item in items:
        stem = slug(item.id) or "item"
        name, k = stem, 1
        while name in taken:
            k += 1
            name = f"{stem}_{k}"
        taken.add(name)
        stems[item.path] = name
    return stems
