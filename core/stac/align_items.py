"""Co-register one STAC item onto another, catalogue to catalogue (UP42's process).

The items come from local files, static ``http(s)`` URLs or a STAC API; remote COG
assets are streamed (GDAL ``/vsicurl`` range requests: the matching reads only the
patches of the overlap). The preconditions are checked on the items' metadata before
a pixel is read; the alignment is measured once, on one asset pair, and applied to
every chosen asset of the source item, each written as a COG on its own grid, with a
STAC item and collection beside them. A failure leaves none of them behind.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import CoregInputError, CoregResourceError
from ..io.outputs import check_output_folder, guarded_outputs, write_json
from ..io.paths import is_remote, remote_reads
from ..io.prefetch import prefetch_patches
from ..io.raster_io import IsCanceled, Progress
from ..matching.align import DEFAULT_MAX_SHIFT, estimate_alignment
from ..matching.alignment import Alignment
from ..transforms.apply import apply_alignment, scaled_progress
from .net import (
    DEFAULT_TIMEOUT,
    NETWORK_ERRORS,
    forget_transfers,
    gdal_http,
    is_cloud_optimized,
    network_read_error,
    probe_asset,
    url_of,
)
from .preconditions import check_preconditions
from .stac import StacAsset, StacItem, read_item, require_pystac
from .write import write_aligned_stac

Log = Callable[[str, str], None]
#: Asset names tried, in order, to measure the alignment on when none is given: NIR is
#: the most textured band over land, then red, then a panchromatic band.
MATCH_PREFERENCE = ("nir", "B08", "red", "B04", "pan", "nir08", "green")
#: Asset roles that are never aligned (previews, metadata).
SKIPPED_ROLES = ("thumbnail", "overview", "metadata", "visual")


@dataclass
class ItemsResult:
    """What :func:`align_items` wrote and measured.

    Attributes
    ----------
    report : dict
        The align_image report keys, plus ``source_item``, ``reference_item``,
        ``match_asset``, ``assets_written``, ``stac_item`` and ``stac_collection``.
    item, collection : str
        The STAC item and collection written (``item.json``, ``collection.json``).
    outputs : dict of str to str
        Asset key -> the COG written for it.
    """

    report: dict
    item: str
    collection: str
    outputs: dict[str, str]


def align_items(
    source_item: str | os.PathLike,
    reference_item: str | os.PathLike,
    output_folder: str | os.PathLike,
    *,
    title: str = "Co-registered item",
    assets: Sequence[str] | None = None,
    match_asset: str | None = None,
    transform: str = "rigid",
    max_shift: float = DEFAULT_MAX_SHIFT,
    resampling: str | None = None,
    ignore_preconditions: bool = False,
    report_path: str | os.PathLike | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    log: Log | None = None,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> ItemsResult:
    """Align the assets of ``source_item`` onto ``reference_item``.

    Parameters
    ----------
    source_item, reference_item : path or URL
        STAC items: local JSON files, ``http(s)`` URLs (naming one is asking for the
        network), or STAC API items (``.../collections/{c}/items/{id}``).
    output_folder : path
        Where the COGs (one per asset, ``<key>.tif``), ``item.json`` and
        ``collection.json`` are written.
    title : str
        The output collection's title (its id is the title in lower case with dashes).
    assets : sequence of str, optional
        Source assets to align, by key, ``eo:bands`` name or common name; default every
        optical data asset.
    match_asset : str, optional
        The asset (the same name in both items) the alignment is measured on; default
        the first of :data:`MATCH_PREFERENCE` both items have.
    transform : {"rigid", "translation"}
        Model to fit, as in :func:`align_image`.
    max_shift : float
        Shift range (reference pixels) the fine patches cover around the coarse search's
        offset.
    resampling : {"nearest", "bilinear", "cubic"}, optional
        Default: nearest for class or mask assets, cubic otherwise.
    ignore_preconditions : bool
        Log the broken preconditions as warnings instead of refusing the pair.
    report_path : path, optional
        Also write the report there (JSON).
    timeout : float
        Seconds a server may stay silent before the run fails.
    log : callable, optional
        ``log(level, message)`` with level "info" or "warning" (the broken preconditions
        when ignored, a non-COG asset, the alignment's warnings).
    progress, is_canceled : callable, optional
        ``progress(percent)``; ``is_canceled()`` True stops the run (nothing is left).

    Returns
    -------
    ItemsResult
        The report and the files written.

    Raises
    ------
    CoregInputError
        An unreadable or unreachable item or asset (404, server down, response cut
        short), an unknown asset, a broken precondition.
    CoregResourceError
        A server stopped answering for ``timeout`` seconds.
    CoregistrationError
        No reliable match.
    """
    log = log or (lambda level, message: None)
    require_pystac("The aligned item's STAC item")
    source = read_item(source_item, allow_remote=True, timeout=timeout)
    reference = read_item(reference_item, allow_remote=True, timeout=timeout)
    match, match_name = match_pair(source, reference, match_asset)
    check_preconditions(source, reference, match, ignore=ignore_preconditions, log=log)
    chosen = chosen_assets(source, assets)
    folder = Path(output_folder)
    local_inputs = [p for p in (source.path, reference.path) if not is_remote(p)]
    check_output_folder(folder, {"Items": local_inputs})
    outputs = {a.key: str(folder / f"{_file_stem(a.key)}.tif") for a in chosen}
    stac_files = {"STAC item": folder / "item.json",
                  "STAC collection": folder / "collection.json", "Report": report_path}
    destinations = {**{f"Aligned asset '{k}'": p for k, p in outputs.items()}, **stac_files}
    read = [a.href for a in (*chosen, *match)]
    with guarded_outputs(destinations, {"Items": local_inputs,
                                        "Assets": [p for p in read if not is_remote(p)]}), \
            gdal_http(timeout), remote_reads(read), \
            _all_or_nothing([*outputs.values(), *filter(None, stac_files.values())],
                            [stac_files["STAC item"], stac_files["STAC collection"]]):
        _check_remote_assets([*match, *chosen], timeout, log)
        alignment = _measure(match, match_name, source, reference, transform=transform,
                             max_shift=max_shift, progress=scaled_progress(progress, 0, 50),
                             is_canceled=is_canceled)
        for warning in alignment.warnings:
            log("warning", warning)
        for k, asset in enumerate(chosen):
            step = scaled_progress(progress, 50 + 45 * k / len(chosen),
                                   50 + 45 * (k + 1) / len(chosen))
            with _network_reads(f"the asset '{asset.key}'", [asset.href]):
                applied = apply_alignment(alignment.transform, asset.href, outputs[asset.key],
                                          resampling=resampling, cog=True, progress=step,
                                          is_canceled=is_canceled)
            for note in applied.warnings:
                log("info", f"Asset '{asset.key}': {note}")
        report = {**alignment.report(), "source_item": source.path,
                  "reference_item": reference.path, "match_asset": match[0].key,
                  "assets_written": dict(outputs)}
        item, collection = write_aligned_stac(
            folder, title=title, source=source, reference=reference, written=outputs,
            assets={a.key: a for a in chosen}, report=report, match=match[0].key)
        report.update(stac_item=item, stac_collection=collection)
        if report_path:
            write_json(report_path, report)
    return ItemsResult(report, item, collection, outputs)


def _measure(match: tuple[StacAsset, StacAsset], name: str, source: StacItem,
             reference: StacItem, **options) -> Alignment:
    """The alignment of the source's match asset onto the reference's, their patches'
    tiles fetched first (:mod:`.prefetch`)."""
    bands = {"reference_band": match[1].band_of(name) or 1,
             "secondary_band": match[0].band_of(name) or 1}
    with _network_reads(f"the matched assets ('{match[0].key}' of '{source.id}', "
                        f"'{match[1].key}' of '{reference.id}')", [a.href for a in match]):
        prefetch_patches(match[1].href, match[0].href, max_shift=options["max_shift"],
                         **bands)
        return estimate_alignment(match[1].href, match[0].href, **bands, **options)


def match_pair(source: StacItem, reference: StacItem,
               name: str | None) -> tuple[tuple[StacAsset, StacAsset], str]:
    """((source asset, reference asset), the name chosen) to measure the alignment on."""
    if name and name.strip():
        return (source.asset(name.strip()), reference.asset(name.strip())), name.strip()
    for candidate in MATCH_PREFERENCE:
        with contextlib.suppress(CoregInputError):
            return (source.asset(candidate), reference.asset(candidate)), candidate
    for asset in optical_assets(source):
        with contextlib.suppress(CoregInputError):
            return (asset, reference.asset(asset.key)), asset.key
    raise CoregInputError(f"The items '{source.id}' and '{reference.id}' share no red, NIR "
                          "or panchromatic asset to measure the alignment on; name one "
                          "(MATCH_ASSET).")


def optical_assets(item: StacItem) -> list[StacAsset]:
    """The item's raster data assets (GeoTIFF/COG or JPEG 2000, or with bands; no
    previews nor metadata)."""
    chosen = []
    for asset in item.assets:
        if set(asset.roles) & set(SKIPPED_ROLES):
            continue
        media = asset.media_type.lower()
        raster = ("tiff" in media or "jp2" in media) if media else asset.url.lower().split(
            "?")[0].endswith((".tif", ".tiff", ".jp2"))
        if raster or any(asset.band_names):
            chosen.append(asset)
    return chosen


def chosen_assets(item: StacItem, names: Sequence[str] | None) -> list[StacAsset]:
    if names:
        chosen = [item.asset(n.strip()) for n in names if n.strip()]
    else:
        chosen = optical_assets(item)
    unique = list({a.key: a for a in chosen}.values())
    if not unique:
        raise CoregInputError(f"The source item '{item.id}' has no optical data asset to "
                              "align; name the assets (ASSETS).")
    return unique


def _check_remote_assets(assets: Sequence[StacAsset], timeout: float, log: Log) -> None:
    """Every remote asset answers (a 404 or a dead server said before any work), and
    one that is not a COG is read anyway, with a warning."""
    seen = set()
    for asset in assets:
        if not asset.remote or asset.href in seen:
            continue
        seen.add(asset.href)
        url = url_of(asset.href)
        if url.lower().startswith(("http://", "https://")) and "pc_url_signing" not in asset.href:
            probe_asset(url, f"Asset '{asset.key}'", timeout=timeout)  # GDAL signs the others
        with _network_reads(f"the asset '{asset.key}'", [asset.href]):
            optimized = is_cloud_optimized(asset.href)
        if not optimized:
            log("warning", f"Asset '{asset.key}' ({url}) is not a Cloud-Optimized GeoTIFF: "
                           "it is read with more and larger requests (slower).")


@contextlib.contextmanager
def _network_reads(what: str, paths: Sequence[str] = ()) -> Iterator[None]:
    """GDAL's read errors of ``what`` in words; a transfer that failed is forgotten,
    so that a later run reads it afresh."""
    try:
        yield
    except NETWORK_ERRORS as exc:
        error = network_read_error(exc, what)
        if not isinstance(error, CoregResourceError):  # a stalled server: not again
            forget_transfers(paths)
        raise error from exc


@contextlib.contextmanager
def _all_or_nothing(paths, catalogue=()) -> Iterator[None]:
    """If the run fails, remove what it wrote of ``paths``; and then the ``catalogue``
    files (an earlier run's STAC item) too, which would list assets no longer there."""
    before = {p: os.path.exists(p) and os.stat(p).st_mtime_ns for p in paths}
    try:
        yield
    except BaseException:
        written = [p for p, stamp in before.items()
                   if os.path.exists(p) and os.stat(p).st_mtime_ns != stamp]
        for path in written + ([p for p in catalogue if os.path.exists(p)] if written else []):
            os.remove(path)
        raise


def _file_stem(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
