"""A co-registered stack of single-band assets, derived bands, as COGs with a STAC item.

Every asset (a band of a raster or of a local STAC item's asset) is co-located on
the reference asset's grid, clipped to an area of interest, and co-registered to
the reference by the global alignment (:mod:`align`, estimated once per input on
its band nearest to the reference's and applied to all of that input's assets:
they share one geometry). Band-math expressions (:mod:`band_math`) are then
evaluated on the stacked assets, strip by strip.

About 660 lines: the stack's grid, its shifts, its outputs and its STAC record are one
run's steps, read in order; the STAC writing itself is :mod:`..stac.write`.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import rasterio
from pyproj import Geod
from rasterio.crs import CRS
from rasterio.dtypes import dtype_rev, typename_fwd
from rasterio.warp import transform_bounds

from ..bandmath.band_math import Definition, parse_definitions, shown
from ..bandmath.raster_math import AssetSource, check_assets, write_expressions
from ..distributed import check_dask_address, cluster_client
from ..errors import AmbiguousMatchError, CanceledError, CoregInputError
from ..grid import Grid, crs_transformer, footprint_bounds, footprint_overlap
from ..io.outputs import guarded_outputs, write_json
from ..io.paths import remote_reads
from ..io.raster_io import IsCanceled, Progress, atomic_path, read_info
from ..matching.modality import check_modality
from ..stac.net import (
    NETWORK_ERRORS,
    forget_transfers,
    gdal_http,
    is_url,
    network_read_error,
)
from ..stac.stac import (
    COG_TYPE,
    StacItem,
    acquisition_times,
    collection_document,
    footprint_wgs84,
    is_stac_item,
    item_document,
    read_item,
    require_pystac,
    slug,
)
from ..transforms import model as transforms
from ..transforms.apply import scaled_progress
from ..transforms.warp import write_resampled
from .shift_tasks import measured_shifts

#: (level, message) -> None; level is "info" or "warning" (a failure raises instead).
Log = Callable[[str, str], None]
#: Preconditions (fractions): least footprint overlap, largest GSD difference, cloud cover.
MIN_OVERLAP, MAX_GSD_DIFFERENCE, MAX_CLOUD_COVER = 0.20, 0.25, 25.0
#: Below this reliability (%, :class:`align.Alignment`) a measured shift is not applied:
#: a match that weak (e.g. SAR against optical) moves the data more often than it aligns.
MIN_RELIABILITY = 20.0
#: Extra source pixels around the stack grid in each asset's view: room for the shift
#: search (the alignment's default largest shift, 20 px) and the resampling kernel.
VIEW_MARGIN = 32


@dataclass(frozen=True)
class StackAsset:
    """One asset of the stack: ``name`` (``1.B04``), where its values come from."""

    name: str
    input_index: int
    path: str
    band: int
    band_name: str
    nodata: float | None
    grid: Grid
    stac_key: str | None = None
    gsd: float | None = None


@dataclass
class StackResult:
    """What :func:`coregistered_stack` wrote: one COG per asset and expression, the
    STAC item and collection, and the shift applied to each input."""

    outputs: dict[str, str]
    item: str
    collection: str
    shifts: dict[int, dict] = field(default_factory=dict)


def coregistered_stack(
    inputs: Sequence[str | os.PathLike],
    assets: str | Sequence[str],
    reference_asset: str,
    output_folder: str | os.PathLike,
    *,
    aoi: str | None = None,
    expressions: str = "",
    resampling: str = "cubic",
    title: str = "Co-registered stack",
    modality: str = "same",
    log: Log | None = None,
    dask_scheduler: str | None = None,
    ship_engine: bool = True,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> StackResult:
    """Stack ``assets`` of ``inputs`` on ``reference_asset``'s grid, co-registered.

    Parameters
    ----------
    inputs : sequence of path or URL
        Rasters, or STAC items whose assets are GeoTIFFs: local JSON files, or
        ``http(s)`` item URLs (a STAC API's ``.../collections/{c}/items/{id}``), whose
        remote assets are streamed (:mod:`.stac_net`).
    assets : str or sequence of str
        ``N.band`` (comma-separated in a string): N the input's 1-based position;
        band a band description, a STAC asset key or ``eo:bands`` name, or a 1-based
        band number (``1.4``, named ``1.b4``).
    reference_asset : str
        One of ``assets``: its grid (CRS, pixel size and phase) is the stack's.
    aoi : str, optional
        WKT polygon in EPSG:4326, or EWKT (``SRID=32631;POLYGON(...)``); its bounding
        box clips the grid. Default: the largest area all assets cover.
    expressions : str
        ``name:(expression)`` per line or separated by ``;`` (:mod:`band_math`).
    resampling : {"nearest", "bilinear", "cubic"}
    modality : {"same", "auto", "optical", "sar-optical"}
        What the inputs are, for matching each on the reference
        (:mod:`..matching.modality`). "same" (the default) matches intensities only, so
        that a SAR input among optical ones is stacked unshifted rather than moved by a
        match it may not support; "sar-optical" or "auto" co-register it on structure.
    log : callable, optional
        Receives the precondition checks and alignment notes as (level, message).
    dask_scheduler : str, optional
        A Dask scheduler (``tcp://host:port``) whose workers measure the inputs'
        shifts, resample the assets' strips and evaluate the expressions' strips,
        reading the rasters themselves: the inputs, and the views and outputs in the
        output folder (paths every worker sees the same). The outputs are the
        in-process ones. Local inputs only. Only a cluster you trust: Dask exchanges
        pickled code.
    ship_engine : bool
        Send this engine to the Dask workers; False: they have it installed.

    Raises
    ------
    ValueError
        Bad input (unknown asset, malformed expression or AOI, footprints
        overlapping less than 20 %) or an output that would overwrite an input.
    """
    log = log or (lambda level, message: None)
    if check_dask_address(dask_scheduler):
        output_folder = os.path.abspath(output_folder)  # the workers' folder is another
        if any(is_url(os.fspath(p)) for p in inputs):
            raise CoregInputError("On a Dask cluster the inputs must be files every worker "
                                  "sees; STAC item URLs are read in-process only.")
    check_modality(modality)
    require_pystac("The co-registered stack's STAC item")
    sources = [read_item(p, allow_remote=is_url(os.fspath(p))) if is_stac_item(p) else str(p)
               for p in inputs]
    remote = [a.href for s in sources if isinstance(s, StacItem) for a in s.assets if a.remote]
    with gdal_http(), remote_reads(remote):
        try:
            return _stack_sources(sources, inputs, assets, reference_asset,
                                  Path(output_folder), aoi=aoi, expressions=expressions,
                                  resampling=resampling, title=title, modality=modality,
                                  log=log, progress=progress, is_canceled=is_canceled,
                                  cluster=(dask_scheduler, ship_engine))
        except NETWORK_ERRORS as exc:
            if not remote:
                raise
            forget_transfers(remote)  # a later run reads them afresh
            raise network_read_error(exc, "the STAC items' remote assets") from exc


def _stack_sources(sources, inputs, assets, reference_asset: str, folder: Path, *, aoi,
                   expressions: str, resampling: str, title: str, modality: str, log: Log,
                   progress: Progress | None, is_canceled: IsCanceled | None,
                   cluster: tuple = (None, True)) -> StackResult:
    """:func:`coregistered_stack` once its inputs are read."""
    stack = [resolve_asset(spec, sources) for spec in split_assets(assets)]
    _check_unique(stack)
    reference = _reference(stack, resolve_asset(reference_asset.strip(), sources).name)
    definitions = parse_definitions(expressions) if expressions.strip() else []
    check_assets(definitions, {a.name: a for a in stack})
    outputs = {name: str(folder / f"{name}.tif")
               for name in [a.name for a in stack] + [d.name for d in definitions]}
    destinations = {**{f"Stacked band '{name}'": path for name, path in outputs.items()},
                    "STAC item": folder / "item.json",
                    "STAC collection": folder / "collection.json"}
    local = [os.fspath(p) for p in inputs if not is_url(os.fspath(p))]
    with guarded_outputs(destinations, {"Inputs": local}), \
            cluster_client(cluster[0], [a.path for a in stack], [folder],
                           cluster[1]) as client:
        return _build_stack(stack, reference, sources, definitions, outputs, folder,
                            aoi=aoi, resampling=resampling, title=title, modality=modality,
                            log=log, progress=progress, is_canceled=is_canceled,
                            client=client)


def _build_stack(stack: list[StackAsset], reference: StackAsset, sources, definitions,
                 outputs: dict[str, str], folder: Path, *, aoi, resampling: str, title: str,
                 modality: str, log: Log, progress: Progress | None,
                 is_canceled: IsCanceled | None, client=None) -> StackResult:
    """:func:`coregistered_stack` once its outputs are known to be safe to write (on a
    Dask cluster the asset views are beside the outputs, where the workers read them)."""
    check_preconditions(stack, reference, sources, log)
    grid = stack_grid(reference, stack, aoi)
    log("info", f"Stack grid: {grid.width} x {grid.height} pixels of {grid.res[0]:.6g} "
                f"{_units(grid.crs)} in {grid.crs.to_string()}.")
    if client is not None:
        folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".coreg-stack-" if client else "coreg-stack-",
                                     dir=folder if client else None) as tmp, \
            contextlib.ExitStack() as written:
        views = {a.name: asset_view(a, grid, Path(tmp)) for a in stack}

        def write(asset: StackAsset, model, stop: IsCanceled | None) -> None:
            write_resampled(views[asset.name], written.enter_context(
                atomic_path(outputs[asset.name])), model, grid, resampling=resampling,
                dtype="float32", cog=True, is_canceled=stop, client=client)

        fixed, moved = _fixed_and_moved(stack, reference)
        measured = _measured_while_writing(
            lambda stop: _measure_pairs(stack, reference, views, modality,
                                        scaled_progress(progress, 0, 40), stop, client),
            lambda stop: [write(a, transforms.identity(reference.grid.crs), stop)
                          for a in fixed],
            is_canceled)
        shifts = _shifts(stack, reference, measured, log)
        for k, asset in enumerate(moved, start=len(fixed)):
            if progress:  # the fixed assets are written, each moved one when it is
                progress(40 + 40 * k / len(stack))
            write(asset, shifts[asset.input_index]["model"], is_canceled)
        if progress:
            progress(80)
    sources_on_grid = {a.name: AssetSource(outputs[a.name], 1, _written_nodata(outputs[a.name]))
                       for a in stack}
    valid = write_expressions(definitions, sources_on_grid, grid,
                              {d.name: outputs[d.name] for d in definitions},
                              progress=scaled_progress(progress, 80, 100),
                              is_canceled=is_canceled, client=client)
    _warn_empty(definitions, valid, log)
    item, collection = write_stac(folder, title, grid, stack, reference, definitions, shifts,
                                  sources)
    return StackResult(outputs, item, collection,
                       {k: {key: v for key, v in s.items() if key != "model"}
                        for k, s in shifts.items()})


def _fixed_and_moved(stack: list[StackAsset], reference: StackAsset,
                     ) -> tuple[list[StackAsset], list[StackAsset]]:
    """The assets of the reference's input (written as they are) and the others (each
    written through its input's measured model)."""
    fixed: list[StackAsset] = []
    moved: list[StackAsset] = []
    for asset in stack:
        (fixed if asset.input_index == reference.input_index else moved).append(asset)
    return fixed, moved


# ------------------------------------------------------------------------ assets


def split_assets(assets: str | Sequence[str]) -> list[str]:
    specs = assets.split(",") if isinstance(assets, str) else list(assets)
    specs = [s.strip() for s in specs if s.strip()]
    if not specs:
        raise CoregInputError("List the assets to stack, e.g. 1.B04,1.B08,2.B04,2.B08.")
    return specs


def resolve_asset(spec: str, sources: Sequence[str | StacItem]) -> StackAsset:
    """The asset ``N.band`` names; ValueError saying which bands input N has."""
    match = re.fullmatch(r"(\d+)\.(.+)", spec)
    if not match:
        raise CoregInputError(f"Asset '{spec}' is not written N.band (e.g. 1.B04, 2.b3).")
    index, band = int(match.group(1)), match.group(2)
    if not 1 <= index <= len(sources):
        raise CoregInputError(f"Asset '{spec}': there is no input {index} ({len(sources)} "
                              "input(s), numbered from 1).")
    source = sources[index - 1]
    if isinstance(source, StacItem):
        return _stac_asset(index, band, source)
    return _raster_asset(index, band, source)


def _raster_asset(index: int, band: str, path: str) -> StackAsset:
    info = read_info(path, f"Input {index}")
    with rasterio.open(path) as ds:
        descriptions = [d or "" for d in ds.descriptions]
    number, name = _band_number(band, descriptions)
    if not 1 <= number <= info.count:
        raise CoregInputError(f"Input {index} ('{Path(path).name}') has no band '{band}': its "
                              f"bands are 1..{info.count}"
                              + (f" ({', '.join(descriptions)})" if any(descriptions) else "")
                              + ".")
    return StackAsset(_asset_name(index, name), index, path, number, descriptions[number - 1]
                      or f"band {number}", info.nodata, info.grid)


def _band_number(band: str, descriptions: list[str]) -> tuple[int, str]:
    """1-based band and its name for a description (exact, then any case) or a band
    number (``4`` or ``b4``, named ``b4``); band 0 if neither."""
    for key, candidates in ((band, descriptions), (band.lower(),
                                                   [d.lower() for d in descriptions])):
        if key in candidates:
            number = candidates.index(key) + 1
            return number, descriptions[number - 1]
    number = re.fullmatch(r"[bB]?(\d+)", band)
    return (int(number.group(1)), f"b{int(number.group(1))}") if number else (0, band)


def _stac_asset(index: int, band: str, item: StacItem) -> StackAsset:
    for asset in item.assets:
        number = asset.band_of(band)
        if number is None:
            continue
        info = read_info(asset.href, f"Asset '{asset.key}' of input {index}")
        info.check_band(number, f"Asset '{asset.key}' of input {index}")
        return StackAsset(_asset_name(index, band), index, asset.href, number, band,
                          info.nodata, info.grid, asset.key, asset.gsd or item.gsd)
    keys = ", ".join(a.key for a in item.assets)
    raise CoregInputError(f"Input {index} (STAC item '{item.id}') has no asset or band '{band}'; "
                          f"its assets are {keys}.")


def _asset_name(index: int, band: str) -> str:
    """``N.band`` usable in expressions and as a file name."""
    return f"{index}.{re.sub(r'[^A-Za-z0-9_-]', '_', band)}"


def _reference(stack: list[StackAsset], name: str) -> StackAsset:
    for asset in stack:
        if asset.name == name:
            return asset
    raise CoregInputError(f"The reference asset '{name}' is not one of the stacked assets "
                          f"({', '.join(a.name for a in stack)}).")


def _check_unique(stack: list[StackAsset]) -> None:
    names = [a.name for a in stack]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise CoregInputError(f"Asset(s) listed twice: {', '.join(repeated)}.")


def _warn_empty(definitions: Sequence[Definition], valid: dict[str, int], log: Log) -> None:
    """A derived band that is nodata everywhere is a warning, not an error: the rest of
    the stack is good, and the band stays in it (and in the STAC item) as written."""
    for d in definitions:
        if not valid.get(d.name):
            log("warning", f"The derived band {d.name} has no valid pixel: "
                           f"'{shown(d.text)}' is nodata everywhere on the stack grid (its "
                           "assets have no data there, or the expression is nodata for every "
                           "value).")


def _written_nodata(path: str) -> float | None:
    return read_info(path).nodata


# ------------------------------------------------------------------------ preconditions


def check_preconditions(stack: list[StackAsset], reference: StackAsset,
                        sources: Sequence[str | StacItem], log: Log) -> None:
    """Log what co-registration needs: footprint overlap >= 20 % (else ValueError),
    GSDs within 25 %, cloud cover < 25 % and one processing level (warnings)."""
    ref_gsd = asset_gsd(reference)
    for asset in stack:
        overlap = overlap_fraction(asset.grid, reference.grid)
        if overlap < MIN_OVERLAP:
            message = (f"Asset {asset.name} overlaps the reference {reference.name} by "
                       f"{100 * overlap:.0f} % only (at least {100 * MIN_OVERLAP:.0f} % needed).")
            raise CoregInputError(message)  # reported once, by whoever catches it
        difference = abs(asset_gsd(asset) - ref_gsd) / ref_gsd
        if difference > MAX_GSD_DIFFERENCE:
            log("warning", f"Asset {asset.name} has a ground sampling distance of "
                           f"{asset_gsd(asset):.1f} m against {ref_gsd:.1f} m for the reference "
                           f"({100 * difference:.0f} % apart): the alignment is less precise.")
    items = {k: s for k, s in enumerate(sources, start=1) if isinstance(s, StacItem)}
    for k, item in items.items():
        cloud = item.properties.get("eo:cloud_cover")
        if isinstance(cloud, (int, float)) and cloud >= MAX_CLOUD_COVER:
            log("warning", f"Input {k} ('{item.id}') is {cloud:g} % cloudy: clouds can "
                           "pull the alignment and hide the ground.")
    levels = {k: i.properties["processing:level"] for k, i in items.items()
              if "processing:level" in i.properties}
    if len(set(levels.values())) > 1:
        listed = ", ".join(f"input {k}: {v}" for k, v in levels.items())
        log("warning", f"The inputs have different processing levels ({listed}): their "
                       "values are not comparable.")


def overlap_fraction(a: Grid, b: Grid) -> float:
    """Area of the footprints' intersection over the smaller footprint (bounding boxes
    in ``b``'s CRS)."""
    box = footprint_overlap(a, b)
    if box is None:
        return 0.0
    ax0, ay0, ax1, ay1 = footprint_bounds(a, b.crs)
    bx0, by0, bx1, by1 = b.bounds
    smaller = min((ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0))
    return (box[2] - box[0]) * (box[3] - box[1]) / smaller


def asset_gsd(asset: StackAsset) -> float:
    """Ground sampling distance in metres: the STAC ``gsd`` if given, else the pixel
    size (geodesic for geographic CRSs)."""
    if asset.gsd:
        return float(asset.gsd)
    grid = asset.grid
    if not grid.crs.is_geographic:
        return math.sqrt(grid.res[0] * grid.res[1]) * grid.crs.linear_units_factor[1]
    lon, lat = grid.transform * (grid.width / 2, grid.height / 2)
    geod = Geod(ellps="WGS84")
    dx = geod.inv(lon, lat, lon + grid.res[0], lat)[2]
    dy = geod.inv(lon, lat, lon, lat + grid.res[1])[2]
    return math.sqrt(dx * dy)


def _units(crs: CRS) -> str:
    return "degrees" if crs.is_geographic else "m"


# ------------------------------------------------------------------------ grid


def parse_aoi(text: str) -> tuple[CRS, tuple[float, float, float, float]]:
    """CRS and bounds of a WKT/EWKT polygon (EPSG:4326 unless ``SRID=n;`` says)."""
    # No two adjacent \s* (around an optional part): splitting a run of spaces between
    # them made a failed match quadratic (20 000 spaces: 9 s).
    match = re.fullmatch(r"\s*(?:SRID=(\d+)\s*;\s*)?((?:MULTI)?POLYGON)\s*(?:(Z|M|ZM)\s*)?"
                         r"(\(.*\))\s*", text, re.IGNORECASE | re.DOTALL)
    if not match:
        raise CoregInputError("The AOI must be a WKT POLYGON or MULTIPOLYGON, e.g. "
                              "POLYGON((35.5 33.8, 35.6 33.8, 35.6 33.9, 35.5 33.9, 35.5 33.8)), "
                              "optionally prefixed by SRID=<EPSG code>;")
    crs = CRS.from_epsg(int(match.group(1) or 4326))
    stride = 2 + len(match.group(3) or "")
    numbers = [float(v) for v in re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?",
                                             match.group(4))]
    if len(numbers) < 3 * stride or len(numbers) % stride:
        raise CoregInputError("The AOI polygon has no valid coordinates.")
    xs, ys = numbers[0::stride], numbers[1::stride]
    return crs, (min(xs), min(ys), max(xs), max(ys))


def stack_grid(reference: StackAsset, stack: list[StackAsset], aoi: str | None) -> Grid:
    """The reference asset's grid clipped to the AOI's bounding box (pixels touching
    it), or without AOI to the area every asset covers (pixels inside it)."""
    ref = reference.grid
    if ref.transform.b or ref.transform.d:
        raise CoregInputError("The reference asset has a rotated geotransform; warp it north-up.")
    bounds = list(ref.bounds)
    if aoi:
        aoi_crs, aoi_bounds = parse_aoi(aoi)
        crs_transformer(aoi_crs, ref.crs)
        inside = [transform_bounds(aoi_crs, ref.crs, *aoi_bounds, densify_pts=21)]
    else:
        inside = [footprint_bounds(a.grid, ref.crs) for a in stack]
    for left, bottom, right, top in inside:
        bounds = [max(bounds[0], left), max(bounds[1], bottom),
                  min(bounds[2], right), min(bounds[3], top)]
    return _window_grid(ref, bounds, inward=not aoi)


def _window_grid(ref: Grid, bounds, inward: bool) -> Grid:
    res_x, res_y = ref.res
    ox, oy = ref.transform.c, ref.transform.f
    inner, outer = (math.ceil, math.floor) if inward else (math.floor, math.ceil)
    eps = 1e-6 if inward else -1e-6
    col0 = max(inner((bounds[0] - ox) / res_x - eps), 0)
    col1 = min(outer((bounds[2] - ox) / res_x + eps), ref.width)
    row0 = max(inner((oy - bounds[3]) / res_y - eps), 0)
    row1 = min(outer((oy - bounds[1]) / res_y + eps), ref.height)
    if col1 - col0 < 8 or row1 - row0 < 8:
        raise CoregInputError("The area of interest (or the area common to all assets) holds "
                              "less than 8 x 8 pixels of the reference asset.")
    return ref.subgrid(row0, col0, row1 - row0, col1 - col0)


# ------------------------------------------------------------------------ co-registration


def asset_view(asset: StackAsset, grid: Grid, folder: Path) -> str:
    """A single-band VRT of the asset over ``grid`` plus :data:`VIEW_MARGIN` pixels:
    the alignment measures and resamples only what the stack needs."""
    src = asset.grid
    left, bottom, right, top = footprint_bounds(grid, src.crs)
    cols, rows = zip(*(~src.transform * (x, y) for x in (left, right) for y in (bottom, top)))
    col0 = max(math.floor(min(cols)) - VIEW_MARGIN, 0)
    row0 = max(math.floor(min(rows)) - VIEW_MARGIN, 0)
    col1 = min(math.ceil(max(cols)) + VIEW_MARGIN, src.width)
    row1 = min(math.ceil(max(rows)) + VIEW_MARGIN, src.height)
    if col1 <= col0 or row1 <= row0:
        raise CoregInputError(f"Asset {asset.name} does not cover the stack's area.")
    width, height = col1 - col0, row1 - row0
    t = src.transform * src.transform.translation(col0, row0)
    with rasterio.open(asset.path) as ds:
        dtype = typename_fwd[dtype_rev[ds.dtypes[asset.band - 1]]]
    nodata = "" if asset.nodata is None else f"<NoDataValue>{asset.nodata!r}</NoDataValue>"
    vrt = (f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">'
           f"<SRS>{escape(src.crs.to_wkt())}</SRS>"
           f"<GeoTransform>{t.c!r}, {t.a!r}, {t.b!r}, {t.f!r}, {t.d!r}, {t.e!r}</GeoTransform>"
           f'<VRTRasterBand dataType="{dtype}" band="1">{nodata}'
           f"<Description>{escape(asset.name)}</Description><SimpleSource>"
           f'<SourceFilename relativeToVRT="0">{escape(os.path.abspath(asset.path))}'
           f"</SourceFilename><SourceBand>{asset.band}</SourceBand>"
           f'<SrcRect xOff="{col0}" yOff="{row0}" xSize="{width}" ySize="{height}"/>'
           f'<DstRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/>'
           "</SimpleSource></VRTRasterBand></VRTDataset>")
    path = folder / f"{asset.name}.vrt"
    path.write_text(vrt, encoding="utf-8")
    return str(path)


def _measured_while_writing(measure: Callable[[IsCanceled], dict],
                            write_fixed: Callable[[IsCanceled], object],
                            is_canceled: IsCanceled | None) -> dict:
    """``measure(stop)`` on a thread while ``write_fixed(stop)`` runs here: the reference
    input's assets need no shift, so a second core (or Dask worker) writes them during
    the measurement. Either side failing stops the other (``stop`` turns true); the
    failure that came first is raised."""
    stop = threading.Event()

    def stopped() -> bool:
        return stop.is_set() or bool(is_canceled and is_canceled())

    with ThreadPoolExecutor(1, thread_name_prefix="coreg-measure") as pool:
        measuring = pool.submit(measure, stopped)
        measuring.add_done_callback(lambda done: done.exception() and stop.set())
        try:
            write_fixed(stopped)
        except BaseException as exc:
            stop.set()
            cause = measuring.exception()
            if isinstance(exc, CanceledError) and cause is not None \
                    and not isinstance(cause, CanceledError):
                raise cause from None  # the writing was stopped by the measurement's error
            raise
        return measuring.result()


def _measure_pairs(stack, reference, views, modality: str, progress, is_canceled,
                   client=None) -> dict[int, object]:
    """Per input other than the reference's: its alignment on the reference (or the
    exception that stopped it), measured on its band nearest to the reference's (the
    features matched chosen by ``modality``)."""
    others = sorted({a.input_index for a in stack} - {reference.input_index})
    pairs = [(views[reference.name], views[_moving(stack, reference, index).name], modality)
             for index in others]
    results = dict(measured_shifts(pairs, progress, is_canceled, client))
    return {index: results[k] for k, index in enumerate(others)}


def _moving(stack, reference, index: int) -> StackAsset:
    """The asset of input ``index`` matched on the reference: the same band, else its
    first."""
    candidates = [a for a in stack if a.input_index == index]
    return next((a for a in candidates if a.band_name == reference.band_name), candidates[0])


def _shifts(stack, reference, alignments: dict[int, object], log) -> dict[int, dict]:
    """Per input: the transform aligning it to the reference and how it was found (a
    failed or unreliable measurement leaves the input unshifted, with a warning)."""
    ref_crs = reference.grid.crs
    identity = transforms.identity(ref_crs)
    shifts = {reference.input_index: {"status": "reference", "model": identity}}
    for index, alignment in alignments.items():
        moving = _moving(stack, reference, index)
        if isinstance(alignment, Exception):
            exc = alignment
            reason = not_aligned_reason(exc)
            log("warning", f"Input {index} could not be co-registered ({reason}); its assets "
                           "are stacked without a shift.")
            shifts[index] = {"status": "not_aligned", "reason": reason, "model": identity}
            continue
        measured = {"matched_asset": moving.name,
                    "x_px": alignment.shift_x_px, "y_px": alignment.shift_y_px,
                    "x_map": alignment.model.shift_x, "y_map": alignment.model.shift_y,
                    "map_units_crs": ref_crs.to_string(),
                    "uncertainty_px": alignment.shift_uncertainty_px,
                    "reliability": alignment.reliability,
                    "features": alignment.search.get("fine_features", "intensity")}
        summary = (f"shift {alignment.shift_x_px:+.2f}, {alignment.shift_y_px:+.2f} px "
                   f"(matched {moving.name} on {reference.name}, reliability "
                   f"{alignment.reliability:.0f} % on {measured['features']}, uncertainty "
                   f"{alignment.shift_uncertainty_px:.2f} px)")
        if alignment.reliability < MIN_RELIABILITY:
            reason = f"unreliable match: {summary}"
            log("warning", f"Input {index} is stacked without a shift: {reason}.")
            shifts[index] = {"status": "not_aligned", "reason": reason, "model": identity,
                             "measured": measured}
            continue
        shifts[index] = {"status": "aligned", **measured, "model": alignment.transform}
        log("info", f"Input {index}: {summary}.")
    return shifts


# ------------------------------------------------------------------------ STAC


def not_aligned_reason(exc: Exception) -> str:
    """Why an input stays unshifted, in words that fit a stack: an ambiguous match is
    settled by aligning that input on its own (a stack has no initial offset nor
    maximum shift to give)."""
    if isinstance(exc, AmbiguousMatchError):
        return (f"{exc.finding}; align this input on its own with Align image (global), "
                "giving an initial offset or a maximum shift, to settle it")
    return str(exc)


def write_stac(folder: Path, title: str, grid: Grid, stack: list[StackAsset],
               reference: StackAsset, definitions: list[Definition], shifts: dict,
               sources: Sequence[str | StacItem]) -> tuple[str, str]:
    """``item.json`` and ``collection.json`` in ``folder``; returns their paths."""
    collection_id = slug(title)
    geometry, bbox = footprint_wgs84(grid)
    times = acquisition_times(sources)
    assets = {a.name: _stac_stacked(a, reference, shifts, sources) for a in stack}
    for d in definitions:
        assets[d.name] = {"href": f"./{d.name}.tif", "type": COG_TYPE, "title": d.name,
                          "roles": ["data", "derived"], "coreg:role": "derived",
                          "coreg:expression": d.text, "coreg:inputs": d.assets}
    epsg = grid.crs.to_epsg()
    projection = {"proj:epsg": epsg, "proj:shape": [grid.height, grid.width],
                  "proj:transform": list(grid.transform)[:6]}
    if epsg is None:
        projection["proj:wkt2"] = grid.crs.to_wkt()
    item = item_document(item_id=f"{collection_id}-item", collection_id=collection_id,
                         title=title, geometry=geometry, bbox=bbox, times=times,
                         projection=projection, assets=assets)
    start = times.get("start_datetime", times.get("datetime"))
    end = times.get("end_datetime", times.get("datetime"))
    collection = collection_document(
        collection_id=collection_id, title=title, interval=[start, end], bbox=bbox,
        item_file="item.json",
        description=f"{title}: {len(stack)} assets co-registered to {reference.name}"
                    + (f" and {len(definitions)} derived bands" if definitions else "") + ".")
    paths = []
    for name, document in (("item.json", item), ("collection.json", collection)):
        write_json(folder / name, document)
        paths.append(str(folder / name))
    return paths[0], paths[1]


def _stac_stacked(asset: StackAsset, reference: StackAsset, shifts: dict,
                  sources: Sequence[str | StacItem]) -> dict:
    role = "reference" if asset is reference else "coregistered"
    source = sources[asset.input_index - 1]
    shift = {k: v for k, v in shifts[asset.input_index].items() if k != "model"}
    return {"href": f"./{asset.name}.tif", "type": COG_TYPE, "title": asset.name,
            "roles": ["data", role], "coreg:role": role, "coreg:band": asset.band_name,
            "coreg:source": {"input": source.path if isinstance(source, StacItem) else source,
                             "file": asset.path, "band": asset.band,
                             "stac_asset": asset.stac_key},
            "coreg:shift": shift}
