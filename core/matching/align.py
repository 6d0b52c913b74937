"""Global alignment of a secondary raster onto a reference: estimate, then apply."""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import rasterio

from ..errors import CoregInputError, CoregistrationError
from ..grid import Grid, common_grid, pixel_size_in
from ..io.masks import PolygonMask, masked_on_grid
from ..io.outputs import file_paths, guarded_outputs
from ..io.raster_io import (
    IsCanceled,
    Progress,
    RasterInfo,
    atomic_path,
    decoded_bytes,
    raster_bytes,
    read_info,
    read_on_grid,
)
from ..io.window_reads import ReadAhead, cached_window, reads_together
from ..parallel import single_threaded_blas
from ..resources import memory_guard, require_memory
from ..transforms.apply import scaled_progress, write_shifted
from ..transforms.resample import spline_order
from ..transforms.warp import require_resample_memory, write_resampled
from .alignment import Alignment
from .band_choice import choose_bands as chosen_bands
from .coarse_search import initial_map, seed_alignment
from .estimator import SCORED_PATCHES, Estimator
from .fit import RigidModel
from .linear_estimator import LinearEstimator
from .match import (
    MIN_RELATIVE_TEXTURE,
    Patch,
    SecondarySampler,
    layout_patches,
    patch_size_for,
    prepare_patches,
    sparse_layout,
)
from .metrics import mean_matching_score
from .modality import check_modality
from .patch_screening import WholeImage
from .patch_union import patch_union

log = logging.getLogger(__name__)

TRANSFORMS = ("translation", "rigid", "scale", "affine")
OUTPUT_MODES = ("geotransform", "resample")
#: Shift range (reference pixels) the fine patches cover around the coarse search's offset
#: (:mod:`.coarse_search`); there is no largest shift by default.
DEFAULT_MAX_SHIFT = 20.0
#: What to do when the patches do not fit in memory (their side grows with MAX_SHIFT).
PATCH_ADVICE = "choose a smaller MAX_SHIFT, or align a smaller area first"
#: Secondaries of at least this many bytes (decoded) have the matching scores computed on a
#: thread of their own while they are written: the write (a quarter of a second and more)
#: hides them, and the report that follows (the plugin's, the command line's) finds them
#: (5000² pixels: 0.05 s). A caller that never reads them spends that CPU for nothing.
SCORES_BESIDE_WRITE_BYTES = 2**25


def estimate_alignment(
    reference: str | os.PathLike,
    secondary: str | os.PathLike,
    *,
    reference_band: int = 1,
    secondary_band: int = 1,
    masks: Sequence[str | os.PathLike | PolygonMask] = (),
    transform: str = "rigid",
    max_shift: float | None = None,
    reference_nodata: float | None = None,
    secondary_nodata: float | None = None,
    initial_offset: tuple[float, float] | None = None,
    initial_offset_units: str = "pixels",
    modality: str = "auto",
    keep_unreliable: bool = False,
    choose_bands: bool = False,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
    read_ahead: ReadAhead | None = None,
) -> Alignment:
    """Estimate the motion (rigid by default) that puts ``secondary`` on ``reference``.

    Patches spread over the footprint overlap are matched by phase correlation on a
    common grid (reference CRS, coarser resolution); the model is fitted robustly and
    refined by resampling the secondary until it moves less than 0.01 px.

    Parameters
    ----------
    reference, secondary : path
        GDAL-readable rasters with a CRS and a geotransform.
    reference_band, secondary_band : int
        1-based bands to match.
    masks : sequence of path or PolygonMask
        Areas to leave out (non-zero raster pixels, polygons).
    transform : {"translation", "rigid", "scale", "affine"}
        Model to fit; "rigid" adds a rotation about the overlap centre, "scale" a rotation
        and one scale factor (a pixel-size error), "affine" any linear map (scale per axis,
        shear); the report's ``model_terms`` gives their terms with standard errors.
    max_shift : float, optional
        Largest accepted shift, in reference pixels; larger shifts raise. None: no cap
        (a coarse search over the overlap, :mod:`.coarse_search`, finds the offset).
    reference_nodata, secondary_nodata : float, optional
        Override the files' nodata values.
    initial_offset : (float, float), optional
        Expected correction (x right, y down in reference pixels; x east, y north in map
        units): the search starts there.
    initial_offset_units : {"pixels", "map"}
    modality : {"auto", "same", "optical", "sar-optical"}
        What the images are (see :mod:`.modality`): the features compared.
    keep_unreliable : bool
        Return an ambiguous match (two offsets correlating almost equally well) with a
        warning and a lowered reliability instead of raising.
    choose_bands : bool
        Match the band pair whose coarse correlation stands out most (every pair is tried,
        :mod:`.band_choice`) instead of ``reference_band`` and ``secondary_band``; the
        report's ``search.band_choice`` lists every pair's score.
    read_ahead : ReadAhead, optional
        The secondary's bands being read on a thread (:func:`align_image`, which writes
        from them): a small secondary is matched from that read instead of its own.

    Raises
    ------
    ValueError
        Bad input: unreadable file, missing band or CRS, no overlap, all-nodata overlap.
    CoregistrationError
        No reliable match, an ambiguous one, or a shift beyond ``max_shift``.
    """
    if transform not in TRANSFORMS:
        raise CoregInputError(f"transform must be one of {TRANSFORMS}, not {transform!r}.")
    if max_shift is not None and not (isinstance(max_shift, (int, float))
                                      and 0 < max_shift < math.inf):
        raise CoregInputError(f"The maximum shift must be a positive number of reference "
                              f"pixels (or none), not {max_shift!r}.")
    check_modality(modality)
    ref_info, sec_info, common = _open_pair(reference, secondary, reference_band,
                                            secondary_band)
    ref_nodata = ref_info.nodata if reference_nodata is None else reference_nodata
    sec_nodata = sec_info.nodata if secondary_nodata is None else secondary_nodata
    pixel = ref_info.grid.res[0]
    max_shift_map = None if max_shift is None else max_shift * pixel
    layouts: dict[int, list[Grid]] = {}  # patch layouts by side, laid out once
    if max_shift is not None:  # the largest patches the cap allows, refused before any read
        size = _patch_size(max_shift, ref_info, common)
        _require_patch_memory(common, size, _layout(layouts, common, size))
    # Small matrices (patch filters, DFTs): BLAS's threads only spin beside the work.
    with rasterio.open(reference) as ref_ds, rasterio.open(secondary) as sec_ds, \
            memory_guard("matching the patches", PATCH_ADVICE), single_threaded_blas():
        start = initial_map(initial_offset, initial_offset_units, ref_info.grid)
        choice = chosen_bands(ref_ds, ref_nodata, sec_ds, sec_nodata, common, masks,
                              seed=start, max_shift_map=max_shift_map,
                              modality=modality) if choose_bands else None
        if choice:
            reference_band, secondary_band = choice.reference_band, choice.secondary_band
        ref_ds, sec_ds = _cached_pair(ref_ds, reference_band, sec_ds, secondary_band, common,
                                      read_ahead)
        seed = seed_alignment(
            ref_ds, reference_band, ref_nodata, sec_ds, secondary_band, sec_nodata, common,
            masks, reference_pixel=pixel, max_shift_map=max_shift_map, modality=modality,
            initial_map=start, keep_unreliable=keep_unreliable,
            default_search_px=DEFAULT_MAX_SHIFT)
        if choice:
            seed.record["band_choice"] = choice.record()
        size = _patch_size(seed.fine_search_px, ref_info, common)
        grids = _layout(layouts, common, size)
        _require_patch_memory(common, size, grids)
        sparse = sparse_layout(grids)
        sampler = SecondarySampler(sec_ds, secondary_band, sec_nodata, common)
        options = (sampler, common, transform == "rigid", max_shift_map, progress,
                   is_canceled, seed)
        estimator = Estimator(*options) if transform in ("translation", "rigid") else \
            LinearEstimator(transform, *options)
        prepared = _Screened()  # the sparse pass's, reused by the full one
        if len(sparse) < len(grids):
            try:
                patches = _screened_beside_load(ref_ds, reference_band, ref_nodata,
                                                [grids[i] for i in sparse], masks, prepared,
                                                sampler, estimator.model)
                alignment = estimator.run(patches, ref_info, sec_info, sparse=True)
            except (CoregInputError, CoregistrationError):
                estimator.restart()
            else:
                if alignment is not None:
                    return alignment
        patches = _reference_patches(ref_ds, reference_band, ref_nodata, grids, masks,
                                     prepared)
        return estimator.run(patches, ref_info, sec_info)


def _cached_pair(ref_ds, reference_band: int, sec_ds, secondary_band: int, common: Grid,
                 read_ahead: ReadAhead | None):
    """Both rasters read once when the overlap is small (:func:`cached_window`): the
    coarse search and the patches share the pixels. Two local files are read at once."""
    return reads_together((ref_ds, sec_ds),
                          partial(cached_window, ref_ds, [reference_band], common),
                          partial(cached_window, sec_ds, [secondary_band], None, read_ahead))


def score_overlap(
    reference: str | os.PathLike,
    secondary: str | os.PathLike,
    *,
    reference_band: int = 1,
    secondary_band: int = 1,
    masks: Sequence[str | os.PathLike | PolygonMask] = (),
) -> float:
    """Matching score (0..1, :mod:`metrics`) of the secondary as it is against the
    reference, on the patches :func:`estimate_alignment` would score."""
    ref_info, sec_info, common = _open_pair(reference, secondary, reference_band,
                                            secondary_band)
    with rasterio.open(reference) as ref_ds, rasterio.open(secondary) as sec_ds:
        grids = layout_patches(common, _patch_size(DEFAULT_MAX_SHIFT, ref_info, common))
        patches = [p for p in _reference_patches(ref_ds, reference_band, ref_info.nodata, grids,
                                                 masks)
                   if not p.reason]
        sampler = SecondarySampler(sec_ds, secondary_band, sec_info.nodata, common)
        left, bottom, right, top = common.bounds
        identity = RigidModel(pivot_x=(left + right) / 2, pivot_y=(bottom + top) / 2)
        step = -(-len(patches) // SCORED_PATCHES)
        return mean_matching_score((p.reference, sampler.sample(p.grid, identity))
                                   for p in patches[::step])


def _open_pair(reference, secondary, reference_band: int,
               secondary_band: int) -> tuple[RasterInfo, RasterInfo, Grid]:
    """Both rasters' headers, their bands checked, and the common grid."""
    ref_info, sec_info = read_info(reference, "Reference"), read_info(secondary, "Secondary")
    ref_info.check_band(reference_band, "Reference")
    sec_info.check_band(secondary_band, "Secondary")
    return ref_info, sec_info, common_grid(ref_info.grid, sec_info.grid)


def _patch_size(max_shift: float, reference: RasterInfo, common: Grid) -> int:
    """Patch side for a largest shift given in reference pixels."""
    return patch_size_for(max_shift * reference.grid.res[0] / common.res[0], common)


def _layout(layouts: dict[int, list[Grid]], common: Grid, size: int) -> list[Grid]:
    """:func:`layout_patches` for ``size``, kept in ``layouts``."""
    if size not in layouts:
        layouts[size] = layout_patches(common, size)
    return layouts[size]


def _require_patch_memory(common: Grid, size: int, grids: list[Grid]) -> None:
    """Refuse patches that cannot fit (``grids``: their layout for ``size``): every
    patch's reference and secondary samples are held (float32), and one patch at a time
    is correlated (complex FFTs)."""
    side = min(size, common.width, common.height)
    count = len(grids)
    require_memory(side * side * (8.0 * count + 96.0),
                   f"Matching {count} patches of {side} x {side} pixels", PATCH_ADVICE)


@dataclass
class _Screened:
    """Reference patches screened (:func:`.match.prepare_patches`), by :func:`_place`, and
    the images they were cut from when read together (:mod:`.patch_union`), by the same
    key: a later pass takes the patches it shares, and the image's filters if it is cut
    from the same one."""

    patches: dict = field(default_factory=dict)
    wholes: dict = field(default_factory=dict)


def _reference_patches(ds, band, nodata, grids: list[Grid], masks,
                       prepared: _Screened | None = None) -> list[Patch]:
    """The reference patches on ``grids``, those of too little texture (relative to the
    median) marked; ``prepared`` keeps each grid's screened patch for a later call (its
    cloud screening is its own whatever the others; its texture, read on the gradients
    of the image it was cut from, only where no data are missing)."""
    prepared = _Screened() if prepared is None else prepared
    new = [g for g in grids if _place(g) not in prepared.patches]
    if new:
        references, union = _read_patches(ds, band, nodata, new, prepared.wholes)
        prepared.patches.update(zip(map(_place, new), prepare_patches(
            new, references, [masked_on_grid(masks, g) for g in new], union)))
    patches = [replace(prepared.patches[_place(g)]) for g in grids]  # the floor marks copies
    textures = [p.texture for p in patches if not p.reason]
    if not textures:
        raise CoregInputError("The overlap of the two rasters holds no valid reference data "
                              "(all nodata, masked or cloud-like).")
    floor = MIN_RELATIVE_TEXTURE * float(np.median(textures))
    for p in patches:
        if not p.reason and p.texture <= floor:
            p.reason = "low texture"
    return patches


def _screened_beside_load(ref_ds, band, nodata, grids: list[Grid], masks,
                          prepared: _Screened, sampler: SecondarySampler,
                          model: RigidModel) -> list[Patch]:
    """:func:`_reference_patches` on ``grids``, while the secondary's chunk that they will
    sample through ``model`` is read and prepared (:meth:`.SecondarySampler.load`) on
    another thread when they are sampled as one grid: two independent pieces of array
    work (17 ms each for a 512² pair, whose run they shortened by 8 %). Patches sampled
    one by one gained nothing so (a 1024² pair), and remote files are read in the
    calling thread (:func:`..io.window_reads.reads_together`)."""
    screen = partial(_reference_patches, ref_ds, band, nodata, grids, masks, prepared)
    if patch_union(grids) is None:
        return screen()
    return reads_together((ref_ds, sampler.ds), screen, partial(sampler.load, grids, model))[0]


def _place(grid: Grid) -> tuple:
    """A patch grid's key in ``prepared``: its transform and size (every patch is on the
    common grid's CRS; hashing the CRS itself took 8 us, 1.3 ms a run at 256²)."""
    return grid.transform, grid.width, grid.height


def _read_patches(ds, band, nodata, grids: list[Grid], wholes: dict):
    """The reference on each of ``grids``: slices of one read when they densely cover a
    small area (:mod:`.patch_union`), else one read each; and that read (a
    :class:`.patch_screening.WholeImage`, kept in ``wholes`` by its grid) with each
    slice's (row, col) corner in it (None without one)."""
    union = patch_union(grids)
    if union is None:
        return [read_on_grid(ds, band, g, nodata=nodata) for g in grids], None
    key = _place(union[0])
    if key not in wholes:
        wholes[key] = WholeImage(read_on_grid(ds, band, union[0], nodata=nodata))
    data = wholes[key].image
    return [data[r:r + g.height, c:c + g.width].copy()
            for g, (r, c) in zip(grids, union[1])], (wholes[key], union[1])


def align_image(
    reference: str | os.PathLike,
    secondary: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    reference_band: int = 1,
    secondary_band: int = 1,
    masks: Sequence[str | os.PathLike | PolygonMask] = (),
    transform: str = "rigid",
    max_shift: float | None = None,
    reference_nodata: float | None = None,
    secondary_nodata: float | None = None,
    initial_offset: tuple[float, float] | None = None,
    initial_offset_units: str = "pixels",
    modality: str = "auto",
    keep_unreliable: bool = False,
    choose_bands: bool = False,
    output_mode: str = "resample",
    resampling: str = "cubic",
    cog: bool = False,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> Alignment:
    """Estimate the alignment of ``secondary`` onto ``reference`` and write the result.

    The matching options are those of :func:`estimate_alignment`; the output is written
    to a temporary file beside ``output`` and moved into place only once complete.

    Parameters
    ----------
    reference, secondary : path
        GDAL-readable rasters with a CRS and a geotransform; every band of the
        secondary is written.
    output : path, optional
        GeoTIFF (or COG if ``cog``) to write. Nothing is written if None (the
        alignment is only measured).
    reference_band, secondary_band : int
        1-based bands to match.
    masks : sequence of path or PolygonMask
        Areas to leave out of the matching (rasters: non-zero pixels; polygons).
    transform : {"rigid", "translation", "scale", "affine"}
        Model to fit (see :func:`estimate_alignment`).
    max_shift : float, optional
        Largest accepted shift, in reference pixels; a larger shift raises. None: no cap.
    reference_nodata, secondary_nodata : float, optional
        Override the files' nodata values.
    initial_offset, initial_offset_units, modality, keep_unreliable, choose_bands
        As :func:`estimate_alignment`'s.
    output_mode : {"resample", "geotransform"}
        "resample" warps the secondary onto the reference grid; "geotransform" copies
        it unchanged with a translated geotransform (no data lost; needs
        ``transform="translation"``).
    resampling : {"cubic", "bilinear", "nearest"}
        Resampling of the "resample" mode.
    cog : bool
        Write a Cloud-Optimized GeoTIFF.
    progress : callable, optional
        Called with the percentage done (0 to 100).
    is_canceled : callable, optional
        Polled during the run; returning True stops it with :class:`CanceledError`.

    Returns
    -------
    Alignment
        The model, the shift in secondary pixels, its uncertainty, reliability, the
        matching score before and after, every patch; ``report()`` gives the JSON
        report and ``transform`` the alignment to apply to other rasters.

    Raises
    ------
    CoregInputError
        Unreadable input, missing band or CRS, no overlap, an option out of range.
    CoregOutputError
        ``output`` would replace an input, or cannot be written.
    CoregistrationError
        No reliable match, an ambiguous one (unless ``keep_unreliable``), or a shift
        beyond ``max_shift``.
    CoregResourceError
        Not enough memory or disk space.
    CanceledError
        ``is_canceled`` returned True (or a signal, see
        :func:`.outputs.terminate_cleanly`).
    """
    if output_mode not in OUTPUT_MODES:
        raise CoregInputError(f"output_mode must be one of {OUTPUT_MODES}, not {output_mode!r}.")
    spline_order(resampling)  # a known name, checked before the matching, not after it
    if output is not None and output_mode == "geotransform" and transform != "translation":
        raise CoregInputError("The geotransform-only output needs the translation model "
                              "(a rotation cannot be written as a shifted geotransform).")
    with guarded_outputs({"Output": output}, {"Reference": reference, "Secondary": secondary,
                                              "Masks": file_paths(masks)}):
        ahead = None
        if output is not None and output_mode == "resample":  # before the matching
            info = read_info(secondary, "Secondary")  # a usable file, else a clear error
            require_resample_memory(secondary, read_info(reference, "Reference").grid,
                                    cog=cog)
            # its bands read and decoded on a thread while the matching runs
            ahead = ReadAhead(secondary, decoded_bytes(info.grid, info.count, info.dtype))
        with ahead or contextlib.nullcontext():
            alignment = estimate_alignment(
                reference, secondary, reference_band=reference_band,
                secondary_band=secondary_band, masks=masks, transform=transform,
                max_shift=max_shift, reference_nodata=reference_nodata,
                secondary_nodata=secondary_nodata, initial_offset=initial_offset,
                initial_offset_units=initial_offset_units, modality=modality,
                keep_unreliable=keep_unreliable, choose_bands=choose_bands,
                progress=scaled_progress(progress, 0, 60),
                is_canceled=is_canceled, read_ahead=ahead)
            if output is None:
                return alignment
            return _write_aligned(alignment, reference, secondary, output,
                                  output_mode=output_mode, resampling=resampling, cog=cog,
                                  nodata=secondary_nodata,
                                  progress=scaled_progress(progress, 60, 100),
                                  is_canceled=is_canceled,
                                  source=ahead.source() if ahead else None)


def _covered_bytes(secondary: RasterInfo, reference: Grid, cog: bool) -> int:
    """The least space the resampled output needs: only the part of the reference grid
    the secondary covers is written (a small scene on a huge grid stays small)."""
    sx, sy = pixel_size_in(secondary.grid, reference.crs)
    covered = secondary.grid.width * secondary.grid.height * sx * sy / (
        reference.res[0] * reference.res[1])
    grid = Grid(reference.crs, reference.transform, 1,
                int(min(covered, reference.width * reference.height)))
    return raster_bytes(grid, secondary.count, "float32", cog=cog)


def _write_aligned(alignment: Alignment, reference, secondary, output, *, output_mode: str,
                   resampling: str, cog: bool, nodata: float | None,
                   progress: Progress | None, is_canceled: IsCanceled | None,
                   source=None) -> Alignment:
    """Write the secondary moved by ``alignment``: shifted or resampled onto the reference
    (from ``source``, its pixels read ahead, if given)."""
    info = read_info(secondary, "Secondary")
    if decoded_bytes(info.grid, info.count, info.dtype) >= SCORES_BESIDE_WRITE_BYTES:
        alignment.scores.start()
    if output_mode == "geotransform":
        with atomic_path(output, size=raster_bytes(info.grid, info.count, info.dtype,
                                                   cog=cog)) as tmp:
            write_shifted(secondary, tmp, alignment.transform, cog=cog, progress=progress,
                          is_canceled=is_canceled)
        return alignment
    reference_grid = read_info(reference).grid
    with atomic_path(output, size=_covered_bytes(info, reference_grid, cog)) as tmp:
        out_nodata = write_resampled(secondary, tmp, alignment.transform, reference_grid,
                                     resampling=resampling, nodata=nodata, cog=cog,
                                     progress=progress, is_canceled=is_canceled,
                                     source=source)
    if nodata is None and info.nodata is None:
        note = (f"The secondary has no nodata value; {out_nodata} marks the areas it does "
                "not cover in the output.")
        alignment = replace(alignment, warnings=alignment.warnings + (note,))
    return alignment

