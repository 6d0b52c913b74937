"""The coarse search that seeds the fine estimator: no shift limit to guess.

Both images are read block-averaged on a coarse version of the common grid (the overlap's
larger side at most :data:`COARSE_SIDE` pixels) and compared at every shift by masked
normalised cross-correlation (computed with FFTs, normalised over the pixels both images
share at that shift: Padfield, "Masked object registration in the Fourier domain", IEEE TIP
21(5), 2012), so that shifts up to half the overlap are searched while a shift leaving only
part of the overlap shared is judged on that part alone. Large overlaps are refined at finer
levels on a central window. The best peak is compared with the best other local maximum:
when they are close (repetitive texture, two similar structures) the answer is ambiguous and
is said to be, rather than guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np
from affine import Affine
from scipy import fft as sfft
from scipy import ndimage

from ..errors import AmbiguousMatchError, CoregInputError
from ..grid import Grid
from ..io.masks import masked_on_grid
from ..io.overviews import coarse_source
from ..io.raster_io import read_on_grid
from ..io.window_reads import reads_together
from .match import cloud_like
from .modality import fine_kind, search_features, search_kinds
from .ncc_sums import kept_shifts, rectangle_sums

INITIAL_OFFSET_UNITS = ("pixels", "map")
#: Largest side (pixels) of the coarsest level, and of the windows of finer levels.
COARSE_SIDE = 384
#: Finer levels are searched until the level's pixel is at most this many common pixels.
FINEST_FACTOR = 2
#: A shift is only scored when both images share at least this fraction of the smaller
#: valid area (small overlaps give high correlations by chance).
MIN_OVERLAP_FRACTION = 0.2
#: Correlation below which the best peak counts as no match.
MIN_NCC = 0.08
#: Second-best over best peak ratio above which the match is ambiguous.
AMBIGUOUS_RATIO = 0.8
#: A peak this high and this distinct needs no other features tried.
CLEAR_NCC = 0.25
CLEAR_RATIO = 0.6
#: Radius (level pixels) around the best peak where no second peak is looked for.
EXCLUSION_PX = 3
#: Search radius (level pixels of the finer level, per level pixel of the coarser one).
REFINE_RADIUS = 2.0
#: Level pixels the search spans each way, at least, when MAX_SHIFT caps it (more than
#: EXCLUSION_PX: a second peak can still be told apart).
CAP_SPAN = 4
#: A capped first level is as coarse as its span allows while its smaller side keeps this
#: many pixels: enough to tell a second peak apart, a quarter of the work of 256.
CAPPED_MIN_SIDE = 128
#: A capped first level's window spans at least this many times its search span.
CAPPED_SIDE_PER_SPAN = 32


@dataclass(frozen=True)
class CoarseResult:
    """The offset found (map units, reference CRS: the shift that aligns the secondary),
    how distinct it is, and on what."""

    shift_x: float
    shift_y: float
    peak: float
    second_peak: float
    second_x: float
    second_y: float
    factor: int
    kind: str
    found: bool
    #: Every feature kind searched at the coarsest level: (kind, peak, second peak); the
    #: one whose peak stands out most (:func:`distinctness`) was kept.
    tried: tuple = ()

    @property
    def ratio(self) -> float:
        return self.second_peak / self.peak if self.peak > 0 else 1.0

    @property
    def ambiguous(self) -> bool:
        return self.found and self.ratio > AMBIGUOUS_RATIO

    def record(self) -> dict:
        """What the report says about the search."""
        return {"shift_x": self.shift_x, "shift_y": self.shift_y, "peak": self.peak,
                "second_peak": self.second_peak, "second_shift_x": self.second_x,
                "second_shift_y": self.second_y, "level_factor": self.factor,
                "features": self.kind, "found": self.found, "ambiguous": self.ambiguous,
                "features_tried": {kind: {"peak": peak, "second_peak": second,
                                          "distinctness": distinctness((kind, None, peak,
                                                                        None, second))}
                                   for kind, peak, second in self.tried}}


def coarse_offset(ref_ds, ref_band: int, ref_nodata, sec_ds, sec_band: int, sec_nodata,
                  common: Grid, masks, *, seed: tuple[float, float] = (0.0, 0.0),
                  max_shift_map: float | None = None, modality: str = "auto",
                  refine: bool = True) -> CoarseResult:
    """Offset of the secondary (map units) found around ``seed`` within ``max_shift_map``
    (None: up to half the overlap), on the features ``modality`` calls for: intensities
    first when they may do, structure when they give no clear peak. ``refine``: refined
    on finer levels (not needed when the fine matching searches the whole cap anyway)."""
    factor = max(1, math.ceil(max(common.width, common.height) / COARSE_SIDE))
    factor = _capped_factor(factor, max_shift_map, common)
    level = level_grid(common, factor, None if max_shift_map is None else
                       _centre_window(common, factor, _capped_side(max_shift_map, factor,
                                                                  common)))
    ref, sec = _levels(ref_ds, ref_band, ref_nodata, sec_ds, sec_band, sec_nodata, level,
                       masks, seed)
    radius = None if max_shift_map is None else max_shift_map / (factor * common.res[0])
    results = []
    for kind in search_kinds(modality):
        results.append(_search(ref, sec, kind, (0.0, 0.0), radius))
        if results[-1][2] >= CLEAR_NCC and results[-1][4] < CLEAR_RATIO * results[-1][2]:
            break
    best = max(results, key=distinctness)
    kind, (row, col), peak, (row2, col2), second = best
    while refine and factor > FINEST_FACTOR and peak >= MIN_NCC:
        finer = max(FINEST_FACTOR, factor // 4)
        scale = factor / finer
        centre = (row * scale, col * scale)
        level = level_grid(common, finer, _centre_window(common, finer))
        ref, sec = _levels(ref_ds, ref_band, ref_nodata, sec_ds, sec_band, sec_nodata, level,
                           masks, seed)
        refined = _search(ref, sec, kind, centre, REFINE_RADIUS * scale)
        if refined[2] < MIN_NCC:
            break
        row, col = refined[1]  # the peaks stay the coarsest level's: compared as found
        row2, col2 = row2 * scale, col2 * scale
        factor = finer
    step_x, step_y = common.transform.a * factor, common.transform.e * factor
    return CoarseResult(seed[0] + col * step_x, seed[1] + row * step_y, peak, second,
                        seed[0] + col2 * step_x, seed[1] + row2 * step_y, factor, kind,
                        peak >= MIN_NCC, tuple((r[0], r[2], r[4]) for r in results))


def _capped_factor(factor: int, max_shift_map: float | None, common: Grid) -> int:
    """The first level's factor: no coarser than a MAX_SHIFT needs (its search then spans
    at least :data:`CAP_SPAN` level pixels each way, on a central window of
    :data:`COARSE_SIDE` pixels), so that a small cap on a large scene reads a window at a
    useful resolution rather than the whole scene too coarse to search."""
    if max_shift_map is None:
        return factor
    by_size = max(factor, min(common.width, common.height) // CAPPED_MIN_SIDE)
    return max(1, min(by_size, math.floor(max_shift_map / (CAP_SPAN * common.res[0]))))


def distinctness(result) -> float:
    """How far the best peak stands out: its height times its margin over the second."""
    peak, second = result[2], result[4]
    return peak * (1.0 - second / peak) if peak > 0 else -1.0


def level_grid(common: Grid, factor: int, window: tuple[int, int, int, int] | None) -> Grid:
    """The common grid coarsened ``factor`` times, whole or on ``window`` (row, col,
    height, width in common pixels)."""
    row, col, height, width = window or (0, 0, common.height, common.width)
    transform = common.transform * Affine.translation(col, row) * Affine.scale(factor)
    return Grid(common.crs, transform, max(1, width // factor), max(1, height // factor))


def _capped_side(max_shift_map: float, factor: int, common: Grid) -> int:
    """Side (level pixels) of the central window a capped first level searches: enough
    for :data:`CAPPED_SIDE_PER_SPAN` times the span each way, at least half of
    :data:`COARSE_SIDE` (a shift of at most the cap leaves nearly all of it shared, so a
    larger window adds reads, not certainty)."""
    span = max_shift_map / (factor * common.res[0])
    return int(min(COARSE_SIDE, max(COARSE_SIDE // 2, math.ceil(CAPPED_SIDE_PER_SPAN * span))))


def _centre_window(common: Grid, factor: int,
                   side: int = COARSE_SIDE) -> tuple[int, int, int, int]:
    side_h = min(common.height, side * factor)
    side_w = min(common.width, side * factor)
    return ((common.height - side_h) // 2, (common.width - side_w) // 2, side_h, side_w)


def _levels(ref_ds, ref_band, ref_nodata, sec_ds, sec_band, sec_nodata, level: Grid, masks,
            seed) -> list[np.ndarray]:
    """The reference and the secondary on ``level``, read at once."""
    return reads_together((ref_ds, sec_ds),
                          partial(reference_on, ref_ds, ref_band, ref_nodata, level, masks),
                          partial(secondary_on, sec_ds, sec_band, sec_nodata, level, seed))


def reference_on(ds, band: int, nodata, grid: Grid, masks) -> np.ndarray:
    """The reference on ``grid`` (a remote one read from its overviews,
    :mod:`..io.overviews`), NaN where masked or cloud-like."""
    with coarse_source(ds, band, grid) as (source, source_band):
        data = read_on_grid(source, source_band, grid, nodata=nodata)
    data[masked_on_grid(masks, grid) | cloud_like(data)] = np.nan
    return data


def secondary_on(ds, band: int, nodata, grid: Grid, seed: tuple[float, float]) -> np.ndarray:
    """The secondary on ``grid`` once moved by ``seed``: its values at X - seed."""
    moved = Grid(grid.crs, Affine.translation(-seed[0], -seed[1]) * grid.transform,
                 grid.width, grid.height)
    with coarse_source(ds, band, moved) as (source, source_band):
        data = read_on_grid(source, source_band, moved, nodata=nodata)
    data[cloud_like(data)] = np.nan
    return data


def _search(ref: np.ndarray, sec: np.ndarray, kind: str, centre: tuple[float, float],
            radius: float | None):
    """(kind, best (row, col) shift, its correlation, second (row, col), its correlation)
    for the shifts within ``radius`` of ``centre`` (level pixels)."""
    return search_featured(*search_features(ref, kind), *search_features(sec, kind), kind,
                           centre, radius)


def search_featured(f, f_ok, g, g_ok, kind: str, centre: tuple[float, float],
                    radius: float | None):
    """:func:`_search` on features already computed (:func:`.modality.search_features`)."""
    reach = None if radius is None else max(abs(centre[0]), abs(centre[1])) + radius + 1
    ncc, rows, cols = masked_ncc(f, f_ok, g, g_ok, reach)
    allowed = np.isfinite(ncc)
    if radius is not None:
        allowed &= np.hypot(rows - centre[0], cols - centre[1]) <= radius + 0.5
    surface = np.where(allowed, ncc, -np.inf)
    if not np.isfinite(surface).any():
        return kind, (0.0, 0.0), 0.0, (0.0, 0.0), 0.0
    best = np.unravel_index(np.argmax(surface), surface.shape)
    peak = float(surface[best])
    second, where = _second_peak(surface, best)
    offset = _vertex(surface, best)
    return (kind, (rows[best] + offset[0], cols[best] + offset[1]), peak,
            (float(rows[where]), float(cols[where])), second)


def _second_peak(surface: np.ndarray, best: tuple[int, int]) -> tuple[float, tuple]:
    """The highest local maximum farther than :data:`EXCLUSION_PX` from the best."""
    finite = np.where(np.isfinite(surface), surface, -1.0)
    local = finite == ndimage.maximum_filter(finite, size=2 * EXCLUSION_PX + 1, mode="nearest")
    r, c = np.indices(surface.shape)
    local &= np.hypot(r - best[0], c - best[1]) > EXCLUSION_PX
    local &= np.isfinite(surface)
    if not local.any():
        return 0.0, best
    where = np.unravel_index(np.argmax(np.where(local, finite, -np.inf)), surface.shape)
    return max(float(finite[where]), 0.0), where


def _vertex(surface: np.ndarray, best: tuple[int, int]) -> tuple[float, float]:
    """Sub-pixel offset of the peak: a parabola through it and its neighbours, per axis."""
    out = []
    for axis in (0, 1):
        lo, hi = list(best), list(best)
        lo[axis] -= 1
        hi[axis] += 1
        if lo[axis] < 0 or hi[axis] >= surface.shape[axis]:
            out.append(0.0)
            continue
        a, b, c = surface[tuple(lo)], surface[best], surface[tuple(hi)]
        curvature = a - 2 * b + c
        ok = np.isfinite(curvature) and curvature < 0
        out.append(float(np.clip(0.5 * (a - c) / curvature, -0.5, 0.5)) if ok else 0.0)
    return out[0], out[1]


def masked_ncc(f: np.ndarray, f_ok: np.ndarray, g: np.ndarray, g_ok: np.ndarray,
               reach: float | None = None):
    """Normalised cross-correlation of the multi-channel images f and g (C, M, N) at every
    shift s (rows, cols): the correlation of f(x) with g(x - s) over the x valid in both,
    channels pooled. Returns the surface (NaN where less than
    :data:`MIN_OVERLAP_FRACTION` is shared) and the row and column shift of each node.
    ``reach``: the largest shift (pixels, along either axis) that will be read from the
    surface; the transforms are then only that much longer than the images (n + reach
    instead of 2n - 1: shifts beyond it wrap around), and the surface holds only the
    shifts within it (plus a margin of EXCLUSION_PX + 1 for the second peak's scan)."""
    shape = tuple(sfft.next_fast_len(_transform_length(n, reach), real=True)
                  for n in f_ok.shape)

    def spectrum(a):  # single precision: 2.5 times as fast, and ample for a peak search
        return sfft.rfft2(a.astype(np.float32, copy=False), s=shape, axes=(-2, -1))

    def correlate(a, b):  # sum over x of a(x) b(x - s), for every s
        return sfft.irfft2(a * np.conj(b), s=shape, axes=(-2, -1))

    # Only the shifts within reach (and a margin for the second peak's neighbourhood)
    # are kept: the arithmetic below, and the callers' scans, on those alone.
    margin = None if reach is None else math.floor(reach) + EXCLUSION_PX + 1
    (ri, row_shifts), (ci, col_shifts) = (kept_shifts(n, margin) for n in shape)

    def crop(a):
        return a[..., ri[:, None], ci[None, :]]

    f1, g1 = spectrum(f * f_ok), spectrum(g * g_ok)
    # Sums over the channels are taken in the spectrum where they are linear: 2 inverse
    # transforms per channel (its sums over the shared pixels) and 3 in all, not 5 each.
    numerator = crop(correlate(f1, g1).sum(axis=0) if len(f) == 1 else correlate(
        (f1 * np.conj(g1)).sum(axis=0), np.ones(1)))
    if f_ok.all() and g_ok.all() and f.shape == g.shape:  # shared parts are rectangles
        count, sums_f, sums_g, var_f, var_g = rectangle_sums(f, g, row_shifts, col_shifts)
    else:
        mf, mg = spectrum(f_ok), spectrum(g_ok)
        count = crop(np.round(correlate(mf, mg)))
        var_f = crop(correlate(spectrum(f * f * f_ok).sum(axis=0), mg))
        var_g = crop(correlate(mf, spectrum(g * g * g_ok).sum(axis=0)))
        sums_f = (crop(correlate(f1c, mg)) for f1c in f1)
        sums_g = (crop(correlate(mf, g1c)) for g1c in g1)
    safe = np.maximum(count, 1)
    for sum_f, sum_g in zip(sums_f, sums_g):
        numerator -= sum_f * sum_g / safe
        var_f -= sum_f**2 / safe
        var_g -= sum_g**2 / safe
    least = MIN_OVERLAP_FRACTION * min(f_ok.sum(), g_ok.sum())
    denominator = np.sqrt(np.maximum(var_f, 0) * np.maximum(var_g, 0))
    ok = (count >= max(least, 16)) & (denominator > 1e-9 * max(denominator.max(), 1e-300))
    with np.errstate(invalid="ignore", divide="ignore"):
        ncc = np.where(ok, numerator / denominator, np.nan)
    rows, cols = np.meshgrid(row_shifts, col_shifts, indexing="ij")
    return ncc, rows, cols


def _transform_length(n: int, reach: float | None) -> int:
    """FFT length along an axis of n pixels for shifts up to ``reach`` without wrap-around
    (a circular correlation of length L is the linear one for |s| <= L - n)."""
    full = 2 * n - 1
    if reach is None or reach >= n - 1:
        return full
    return min(full, n + int(math.ceil(reach)) + 1)


@dataclass(frozen=True)
class Seed:
    """Where the fine estimator starts, what it compares, and what the search said."""

    shift_x: float
    shift_y: float
    fine_features: str  # "intensity" or "structure"
    fine_search_px: float  # the shift range (reference pixels) the fine patches must cover
    reliability_cap: float  # percent; below 100 when the search was ambiguous
    warnings: tuple[str, ...]
    record: dict
    initial: tuple[float, float] = (0.0, 0.0)  # map units: where MAX_SHIFT is counted from


def seed_alignment(ref_ds, ref_band, ref_nodata, sec_ds, sec_band, sec_nodata, common: Grid,
                   masks, *, reference_pixel: float, initial_map: tuple[float, float],
                   max_shift_map: float | None, modality: str, keep_unreliable: bool,
                   default_search_px: float) -> Seed:
    """Run the coarse search and turn its answer into the fine estimator's start; an
    ambiguous answer raises :class:`.AmbiguousMatchError` unless ``keep_unreliable``. A
    cap within ``default_search_px`` (which the fine patches search around the start)
    needs the first level's answer only."""
    within = max_shift_map is not None and max_shift_map <= default_search_px * reference_pixel
    found = coarse_offset(ref_ds, ref_band, ref_nodata, sec_ds, sec_band, sec_nodata, common,
                          masks, seed=initial_map, max_shift_map=max_shift_map,
                          modality=modality, refine=not within)
    fine = fine_kind(modality) or (found.kind if found.found else "intensity")
    record = {**found.record(), "modality": modality, "fine_features": fine,
              "initial_shift_x": initial_map[0], "initial_shift_y": initial_map[1]}
    if not found.found:  # the fine patches cover the cap, as before the search existed
        cap_px = default_search_px if max_shift_map is None else max_shift_map / reference_pixel
        return Seed(*initial_map, fine, max(default_search_px, cap_px), 100.0, (
            "The coarse search found no clear match over the overlap; only shifts near the "
            "initial offset were searched.",), record, initial_map)
    level_px = found.factor * common.res[0] / reference_pixel
    search_px = max(default_search_px, REFINE_RADIUS * level_px)
    start = _whole_pixels(found, initial_map, common)
    if not found.ambiguous:
        return Seed(*start, fine, search_px, 100.0, (), record, initial_map)
    first = _in_pixels(found.shift_x, found.shift_y, common, reference_pixel)
    other = _in_pixels(found.second_x, found.second_y, common, reference_pixel)
    words = (f"Ambiguous match: two offsets correlate almost equally well ({first} and {other} "
             f"reference pixels, correlation {found.peak:.2f} and {found.second_peak:.2f}); "
             + ("weak correlations: little shared content (another sensor: try MODALITY), "
                "or " if found.peak < CLEAR_NCC else "")
             + "repetitive texture or similar structures")
    if not keep_unreliable:
        raise AmbiguousMatchError(words, "Give an initial offset or a maximum shift, or keep "
                                         "the unreliable result to see the better one.")
    cap = 100.0 * (1.0 - found.ratio) / (1.0 - AMBIGUOUS_RATIO) * 0.5
    return Seed(*start, fine, search_px, cap,
                (words + "; the better one was kept, with a lowered reliability.",), record,
                initial_map)


def _whole_pixels(found: CoarseResult, initial: tuple[float, float],
                  common: Grid) -> tuple[float, float]:
    """The search's offset from the initial one rounded to whole common pixels: the fine
    matching measures the rest, and a pair within half a pixel starts exactly where it
    did before the search existed (the same numbers, to the last digit)."""
    res_x, res_y = common.transform.a, common.transform.e
    return (initial[0] + round((found.shift_x - initial[0]) / res_x) * res_x,
            initial[1] + round((found.shift_y - initial[1]) / res_y) * res_y)


def _in_pixels(x: float, y: float, common: Grid, reference_pixel: float) -> str:
    return f"({x / reference_pixel:+.1f}, {-y / reference_pixel:+.1f})"


def initial_map(offset: tuple[float, float] | None, units: str,
                 reference: Grid) -> tuple[float, float]:
    """The initial offset in map units (x east, y north)."""
    if units not in INITIAL_OFFSET_UNITS:
        raise CoregInputError(f"initial_offset_units must be one of {INITIAL_OFFSET_UNITS}, "
                              f"not {units!r}.")
    if offset is None:
        return 0.0, 0.0
    try:
        x, y = (float(v) for v in offset)
    except (TypeError, ValueError):
        raise CoregInputError(
            f"The initial offset must be two numbers x, y, not {offset!r}.") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise CoregInputError(f"The initial offset must be finite, not {offset!r}.")
    if units == "map":
        return x, y
    return x * reference.transform.a, y * reference.transform.e

