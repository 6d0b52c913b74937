"""Aligning a time series onto one anchor scene, item by item, with a quality report.

Each item is scored against the anchor (:mod:`metrics`) as it is; above the
"already aligned" score it is passed through, otherwise aligned (:mod:`align`)
and kept only if the score improves. Items run in worker processes, or on a Dask
cluster, and a failing item is reported, never fatal.

Dask exchanges pickled code and data: a scheduler can run any code in the process that
connects to it (QGIS). Connect only to a cluster you trust.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from rasterio.crs import CRS
from rasterio.warp import transform_bounds

from ..errors import CoregInputError, CoregistrationError
from ..grid import snapped_grid
from ..io.outputs import check_output_folder, guarded_outputs, hold_outputs, write_json
from ..io.raster_io import IsCanceled, Progress, atomic_path, read_info
from ..matching.align import estimate_alignment, score_overlap
from ..matching.alignment import Alignment, PatchResult
from ..transforms.apply import apply_alignment, is_class_raster, write_shifted
from ..transforms.model import Transform, identity
from ..transforms.warp import write_resampled
from .anchor_choice import choose_anchor
from .execution import check_dask_address, dask_client, run_items

log = logging.getLogger(__name__)

STATUSES = ("aligned", "already_aligned", "not_improved", "failed")
#: Files beside a scene that travel with it: suffixes appended to its stem (or name).
SIDECARS = (".xml", ".rpc", "_rpc.txt", ".RPB", ".imd", ".IMD")
SUMMARY_FIELDS = ("input", "output_file", "status", "reason", "pixel_shift_x", "pixel_shift_y",
                  "rotation_deg", "matching_score_before", "matching_score_after",
                  "matching_score_improvement", "projection_epsg_before",
                  "projection_epsg_after")


@dataclass(frozen=True)
class StackOptions:
    """How every item is aligned (see :func:`align_stack`)."""

    band: int = 1
    anchor_band: int = 1
    transform: str = "rigid"
    max_shift: float = 20.0
    reproject: bool = False
    already_aligned: float = 0.8
    min_improvement: float = 0.001


@dataclass(frozen=True)
class ItemResult:
    """What happened to one item; :meth:`quality` is its quality JSON."""

    input: str
    output_file: str
    status: str
    reason: str
    projection_epsg_before: int | None
    projection_epsg_after: int | None
    pixel_shift: dict
    matching_score_before: float | None
    matching_score_after: float | None
    footprint: tuple[tuple[float, float], ...] = ()
    vectors: tuple[PatchResult, ...] = field(default=(), repr=False)

    @property
    def matching_score_improvement(self) -> float | None:
        if self.matching_score_before is None or self.matching_score_after is None:
            return None
        return self.matching_score_after - self.matching_score_before

    def quality(self) -> dict:
        keys = ("projection_epsg_before", "projection_epsg_after", "pixel_shift",
                "matching_score_before", "matching_score_after", "status", "reason",
                "output_file")
        report = {k: getattr(self, k) for k in keys}
        report["matching_score_improvement"] = self.matching_score_improvement
        return report

    def summary_row(self) -> dict:
        return {"input": self.input, "output_file": self.output_file, "status": self.status,
                "reason": self.reason, "pixel_shift_x": self.pixel_shift.get("x"),
                "pixel_shift_y": self.pixel_shift.get("y"),
                "rotation_deg": self.pixel_shift.get("rotation_deg"),
                "matching_score_before": self.matching_score_before,
                "matching_score_after": self.matching_score_after,
                "matching_score_improvement": self.matching_score_improvement,
                "projection_epsg_before": self.projection_epsg_before,
                "projection_epsg_after": self.projection_epsg_after}


def align_stack(
    inputs: Sequence[str | os.PathLike],
    anchor: str | os.PathLike | None,
    output_folder: str | os.PathLike,
    *,
    masks: Sequence[str | os.PathLike] = (),
    summary: str | os.PathLike | None = None,
    band: int = 1,
    anchor_band: int = 1,
    transform: str = "rigid",
    max_shift: float = 20.0,
    reproject: bool = False,
    already_aligned: float = 0.8,
    min_improvement: float = 0.001,
    workers: int | None = None,
    dask_scheduler: str | None = None,
    ship_engine: bool = True,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> list[ItemResult]:
    """Align every input onto ``anchor`` (one of the inputs) into ``output_folder``.

    Each item is scored against the anchor as it is; above ``already_aligned`` it is
    passed through (``<name>_coreg.tif``), otherwise aligned (:func:`.align.estimate_alignment`)
    and kept only if its matching score improves by ``min_improvement``. The anchor
    is copied as ``<name>_anchor.tif``; every item gets a ``<name>_quality.json``.

    Parameters
    ----------
    inputs : sequence of path
        The scenes of the time series (the anchor among them).
    anchor : path or None
        The scene the others are aligned onto; None: the one with the largest clear
        overlap with the others (:mod:`.anchor_choice`, on ``band``), whose result's
        ``reason`` says so with every scene's score.
    output_folder : path
        Folder of the outputs; it must not hold any input.
    masks : sequence of path
        Per-item masks (non-zero = clouds or bad data), matched to items whose file
        stem their own stem starts with; used for matching and carried along.
    summary : path, optional
        CSV with one row per item.
    band, anchor_band : int
        1-based band matched in every item, and in the anchor.
    transform : {"rigid", "translation"}
        Model fitted to each item.
    max_shift : float
        Largest expected shift, in anchor pixels.
    reproject : bool
        Put the items on the anchor's CRS and grid.
    already_aligned : float
        Matching score (0 to 1) above which an item is passed through unchanged.
    min_improvement : float
        Least improvement of the matching score for an alignment to be kept.
    workers : int, optional
        Worker processes (default: cores, fewer if memory is short); 1 runs in-process.
    dask_scheduler : str, optional
        Address of a Dask distributed scheduler to run the items on instead
        (``tcp://host:port`` or ``tls://host:port``). Dask exchanges pickled code: the
        scheduler can run code in this process, so give only one you trust. The
        workers read the inputs and write the outputs themselves: the paths must be
        the same on every worker (a shared file system).
    ship_engine : bool
        Send this engine to the Dask workers (a worker plugin); False: the workers
        have the same version installed (``pip install coreg``). Either way every
        worker is checked before any scene is sent.
    progress : callable, optional
        Called with the percentage of items done (0 to 100).
    is_canceled : callable, optional
        Polled between items; returning True stops the run with :class:`CanceledError`.

    Returns
    -------
    list of ItemResult
        In the order of ``inputs``, the anchor first reported with status "anchor".
        A failing item is reported (status "failed", with the reason) and logged as a
        warning, unless every item failed.

    Raises
    ------
    CoregInputError
        The anchor is not one of the inputs, a malformed ``dask_scheduler`` address,
        or an input a Dask worker cannot read (before any output is written).
    CoregOutputError
        The output folder holds an input, an output cannot be written, or a Dask
        worker does not see the output folder (before any output is written).
    CoregResourceError
        No Dask scheduler answers at ``dask_scheduler`` within
        :data:`DASK_CONNECT_TIMEOUT` seconds, it has no workers, or a worker cannot
        import this engine version (before any output is written).
    CoregistrationError
        Every item failed (the outputs and the summary, which say why, are written).
    """
    address = check_dask_address(dask_scheduler)
    # On a cluster the workers open the paths: relative to their own folder, not ours.
    named = _absolute if address else str
    inputs = [named(p) for p in inputs]
    anchor = None if anchor is None else named(anchor)
    masks = [named(m) for m in masks]
    why = ""
    if anchor is None:
        anchor, why, _ = choose_anchor(inputs, band)
        anchor_band = band
    if not any(same_file(anchor, p) for p in inputs):
        raise CoregInputError("The anchor must be one of the inputs.")
    sources = {"Inputs": inputs, "Masks": [os.fspath(m) for m in masks]}
    folder = check_output_folder(output_folder, sources)
    opts = StackOptions(band=band, anchor_band=anchor_band, transform=transform,
                        max_shift=max_shift, reproject=reproject,
                        already_aligned=already_aligned, min_improvement=min_improvement)
    with guarded_outputs({"Summary": summary}, sources), hold_outputs([folder]), \
            dask_client(address) as client:  # connected before anything is written
        if client is not None:
            from .cluster import prepare_workers

            prepare_workers(client, [*inputs, *masks], folder, ship_engine)
        folder.mkdir(parents=True, exist_ok=True)
        mask_of = match_masks(inputs, masks)
        stems = output_stems(inputs)
        anchor_result = replace(deliver_anchor(anchor, folder, mask_of.get(anchor),
                                               stems[anchor]), reason=why)
        items = [p for p in inputs if not same_file(p, anchor)]
        task = partial(align_item, anchor=anchor, folder=str(folder),
                       anchor_mask=mask_of.get(anchor), options=opts)
        arguments = [(p, mask_of.get(p), stems[p]) for p in items]
        results = run_items(task, arguments, workers, client, progress, is_canceled, _failed)
        ordered = [anchor_result] + [results[p] for p in items]
        if summary is not None:
            write_summary(ordered, summary)
    check_failures(ordered, folder)
    return ordered


def _absolute(path: str | os.PathLike) -> str:
    from .cluster import absolute  # imports distributed, if installed

    return absolute(path)


def failures(results: Sequence[ItemResult]) -> str:
    """'<n> of <m> scenes failed: <name> (<reason>); ...', or '' if none failed."""
    items = [r for r in results if r.status != "anchor"]
    failed = [r for r in items if r.status == "failed"]
    if not failed:
        return ""
    named = "; ".join(f"{Path(r.input).name} ({_short(r.reason)})" for r in failed[:3])
    more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
    return f"{len(failed)} of {len(items)} scenes failed: {named}{more}"


def check_failures(results: Sequence[ItemResult], folder) -> None:
    """CoregistrationError if every item failed; a logged warning if some did."""
    told = failures(results)
    if not told:
        return
    if all(r.status in ("anchor", "failed") for r in results):
        raise CoregistrationError(f"Every scene failed, nothing was aligned: {told}. Each "
                                  f"one's _quality.json in '{folder}' says why.")
    log.warning("%s.", told)


def _short(reason: str, limit: int = 200) -> str:
    text = " ".join(reason.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file (also when the second does not exist yet)."""
    return os.path.realpath(a) == os.path.realpath(b)


def output_stems(inputs: Sequence[str]) -> dict[str, str]:
    """Each input's output file stem: its own, numbered (``scene_2``) when scenes from
    different folders share a file name, so that no scene's output replaces another's."""
    stems, taken = {}, set()
    for path in inputs:
        stem, k = Path(path).stem, 1
        while (stem if k == 1 else f"{stem}_{k}").lower() in taken:
            k += 1
        stems[path] = stem if k == 1 else f"{stem}_{k}"
        taken.add(stems[path].lower())
    return stems


def match_masks(inputs: Sequence[str], masks: Sequence[str | os.PathLike]) -> dict[str, str]:
    """Each input's mask: the mask whose stem starts with the input's stem (longest
    stem wins, so "a_1" is not taken for "a")."""
    result = {}
    for mask in map(str, masks):
        stem = Path(mask).stem
        candidates = [p for p in inputs if stem.startswith(Path(p).stem) and not same_file(p, mask)]
        if candidates:
            result[max(candidates, key=lambda p: len(Path(p).stem))] = mask
    return result


def align_item(path: str, mask: str | None, stem: str | None = None, *, anchor: str,
               folder: str, anchor_mask: str | None, options: StackOptions) -> ItemResult:
    """Score, align if needed and deliver one item (its outputs named from ``stem``,
    default its file's); failures become status "failed"."""
    deliver = partial(_deliver, path, mask, stem or Path(path).stem, anchor, folder)
    matching_masks = [m for m in (mask, anchor_mask) if m]
    common = dict(reference_band=options.anchor_band, secondary_band=options.band,
                  masks=matching_masks)
    try:
        before = score_overlap(anchor, path, **common)
    except (ValueError, CoregistrationError) as exc:
        return deliver(None, "failed", str(exc), None, None, options)
    if before >= options.already_aligned:
        return deliver(None, "already_aligned",
                        f"matching score {before:.3f} >= {options.already_aligned}", before, None,
                        options)
    try:
        alignment = estimate_alignment(anchor, path, transform=options.transform,
                                       max_shift=options.max_shift, **common)
    except (ValueError, CoregistrationError) as exc:
        return deliver(None, "failed", str(exc), before, None,
                        options)
    after = alignment.matching_score_after
    if after - before < options.min_improvement:
        return deliver(None, "not_improved",
                        f"matching score {before:.3f} -> {after:.3f}", before, after, options)
    return deliver(alignment, "aligned", "", before, after, options)


def _deliver(path, mask, stem: str, anchor, folder, alignment: Alignment | None, status,
             reason, before, after, options: StackOptions) -> ItemResult:
    """Write the item (and its mask and sidecars) for ``status``, and its quality JSON."""
    suffix = "_coreg" if status in ("aligned", "already_aligned") else ""
    anchor_grid = read_info(anchor).grid
    info = read_info(path)
    output = _output_path(folder, stem, suffix)
    try:
        for source, target in ((path, output),
                               (mask, mask and _output_path(folder, _mask_stem(stem, path, mask),
                                                            suffix))):
            if source:
                _write_item(source, target, alignment and alignment.transform, anchor_grid,
                            options.reproject)
        _carry_sidecars(path, folder, stem + suffix)
    except (ValueError, CoregistrationError, OSError) as exc:
        status, reason, output = "failed", f"{reason}; could not write the output: {exc}", ""
    footprint = _footprint(info.grid, anchor_grid.crs)
    after_epsg = anchor_grid.crs.to_epsg() if options.reproject else None
    result = ItemResult(str(path), output, status, reason, info.grid.crs.to_epsg(), after_epsg,
                        _pixel_shift(alignment), before, after, footprint,
                        alignment.patches if alignment else ())
    write_json(Path(folder) / f"{stem}_quality.json", result.quality())
    return result


def deliver_anchor(anchor: str, folder: Path, mask: str | None,
                   stem: str | None = None) -> ItemResult:
    """The anchor, copied as ``<stem>_anchor.tif`` with its mask and sidecars."""
    stem = stem or Path(anchor).stem
    output = _output_path(folder, stem, "_anchor")
    _write_item(anchor, output, None, None, False)
    if mask:
        _write_item(mask, _output_path(folder, _mask_stem(stem, anchor, mask), "_anchor"), None,
                    None, False)
    _carry_sidecars(anchor, folder, stem + "_anchor")
    grid = read_info(anchor).grid
    return ItemResult(anchor, output, "anchor", "", grid.crs.to_epsg(), None, _pixel_shift(None),
                      None, None, _footprint(grid, grid.crs))


def _pixel_shift(alignment: Alignment | None) -> dict:
    """The shift applied, in the item's pixels (x right, y down), and the rotation."""
    if alignment is None:
        return {"x": 0.0, "y": 0.0, "rotation_deg": 0.0}
    return {"x": alignment.shift_x_px, "y": alignment.shift_y_px,
            "rotation_deg": alignment.model.rotation_deg}


def _output_path(folder, stem: str, suffix: str) -> str:
    return str(Path(folder) / f"{stem}{suffix}.tif")


def _mask_stem(stem: str, path: str, mask: str) -> str:
    """A mask's output stem: the item's output stem and what the mask's name adds."""
    return stem + Path(mask).stem[len(Path(path).stem):]


def _write_item(source: str, target: str, alignment: Transform | None, anchor_grid,
                reproject: bool) -> None:
    """The item as delivered: aligned (or not), on the anchor's CRS if asked."""
    grid = read_info(source).grid
    target_grid = None
    if reproject and grid.crs != anchor_grid.crs:
        bounds = transform_bounds(grid.crs, anchor_grid.crs, *grid.bounds, densify_pts=21)
        target_grid = snapped_grid(anchor_grid, bounds)
    if alignment is not None:
        apply_alignment(alignment, source, target, target=target_grid)
        return
    with atomic_path(target) as tmp:
        if target_grid is None:
            write_shifted(source, tmp, identity(grid.crs))
        else:
            write_resampled(source, tmp, identity(anchor_grid.crs), target_grid,
                            resampling="nearest" if is_class_raster(source) else "cubic")


def _carry_sidecars(path: str, folder, name: str) -> None:
    """Copy the scene's metadata sidecars next to its output ``name``, renamed to match."""
    source = Path(path)
    for ending in SIDECARS:
        sidecar = source.with_name(source.stem + ending)
        if sidecar.is_file():
            shutil.copyfile(sidecar, Path(folder) / f"{name}{ending}")
    aux = source.with_name(source.name + ".aux.xml")
    if aux.is_file():
        shutil.copyfile(aux, Path(folder) / f"{name}.tif.aux.xml")


def _footprint(grid, crs: CRS) -> tuple[tuple[float, float], ...]:
    left, bottom, right, top = transform_bounds(grid.crs, crs, *grid.bounds, densify_pts=21)
    return ((left, bottom), (right, bottom), (right, top), (left, top), (left, bottom))


def write_summary(results: Sequence[ItemResult], path: str | os.PathLike) -> None:
    """One CSV row per item (the anchor included, status "anchor")."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        for result in results:
            writer.writerow(result.summary_row())


def _failed(path: str, exc: Exception) -> ItemResult:
    """The result of an item whose processing raised or whose worker died."""
    log.debug("Item %s failed: %s", path, exc)  # the caller reports the failed result
    return ItemResult(path, "", "failed", f"{type(exc).__name__}: {exc}", None, None,
                      _pixel_shift(None), None, None)


