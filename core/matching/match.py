"""Patches on the common grid and their sub-pixel shifts by phase correlation."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import rasterio

from ..grid import Grid, pixel_size_in
from ..io.raster_io import covering_window, read_window
from ..parallel import shares, together
from ..transforms.resample import SourceMapping, interpolate, interpolate_affine, prepare
from .fit import RigidModel
from .linear_model import model_transform
from .patch_filters import (
    filter_stack,
    gaussian_weights,
)
from .patch_screening import (
    WholeImage,
    cloud_like,
    cloud_like_batch,
    cloud_like_within,
    texture_batch,
    textures_within,
)
from .patch_union import patch_union
from .phase_correlation import PeakMatch, phase_correlation_batch

#: Largest number of patches along one axis of the overlap.
MAX_PATCHES_PER_AXIS = 8
#: Patches with less valid area than this are skipped.
MIN_VALID_FRACTION = 0.6
#: Patches whose texture is below this fraction of the median texture are skipped.
MIN_RELATIVE_TEXTURE = 0.25
#: Normalised correlation peak below which a patch match counts as noise (an
#: unrelated pair gives about 0.05 for 128-pixel patches).
MIN_PEAK = 0.12
#: Valid fraction (both images) below which a patch is refined in the usual band even
#: when a narrower one is asked for (see :func:`match_batch`).
NARROW_REFINE_VALID = 0.9
#: Peak height at which a match counts as fully reliable.
FULL_RELIABILITY_PEAK = 0.5
#: Largest number of patches along one axis of the first pass (:func:`sparse_layout`).
SPARSE_PER_AXIS = 4
#: Pixels of the patches processed in one batch (bounds the memory of the batched
#: steps: about 40 bytes a pixel).
BATCH_PIXELS = 2**20
#: Patch pixels from which :func:`measure_batch` shares the patches among threads (fewer
#: gain nothing: the Python between the array operations holds the GIL; the 16 patches of
#: 64 px of a 256 px overlap's first pass gain a fifth).
THREADED_PIXELS = 2**16


@dataclass
class Patch:
    """A square patch of the common grid with the reference data on it."""

    grid: Grid
    reference: np.ndarray  # float32, NaN where no data, masked or cloud-like
    texture: float
    reason: str = ""  # why the patch is not measured; empty if it is

    @property
    def centre(self) -> tuple[float, float]:
        return self.grid.transform * (self.grid.width / 2, self.grid.height / 2)


@dataclass(frozen=True)
class Measurement:
    """Displacement still needed at a patch, in map units, with the match quality (the
    correlation peak: the fit's weight and the patch's reliability)."""

    shift_x: float
    shift_y: float
    peak: float


def patch_size_for(max_shift_px: float, grid: Grid) -> int:
    """Patch side (pixels): 128, at least four times the largest expected shift, and
    smaller (down to 64) on small overlaps so that several patches fit across it."""
    size = 128 if max_shift_px <= 32 else int(2 ** np.ceil(np.log2(4 * max_shift_px)))
    fitting = 2 ** int(np.floor(np.log2(max(min(grid.width, grid.height) / 3, 1))))
    return int(max(min(size, fitting), 64, 2 ** np.ceil(np.log2(2 * max_shift_px))))


def layout_patches(grid: Grid, size: int) -> list[Grid]:
    """Square sub-grids of side ``size`` spread evenly over ``grid`` (may overlap)."""
    size = min(size, grid.width, grid.height)
    positions = []
    for extent in (grid.height, grid.width):
        n = int(np.clip(np.ceil((extent - size) / (size / 2)) + 1, 1, MAX_PATCHES_PER_AXIS))
        positions.append(np.linspace(0, extent - size, n).round().astype(int))
    return [grid.subgrid(r, c, size, size) for r in positions[0] for c in positions[1]]


def sparse_layout(grids: list[Grid]) -> list[int]:
    """Indices of a first-pass subset of the patches of :func:`layout_patches`: ones that
    do not overlap one another (every other one where the layout overlaps them by half),
    at most :data:`SPARSE_PER_AXIS` along each axis, spread from edge to edge."""
    if not grids:
        return []
    size = grids[0].width
    picked = []
    for axis in (5, 2):  # transform.f (rows), transform.c (columns)
        starts = sorted({g.transform[axis] for g in grids}, reverse=axis == 5)
        step = abs(grids[0].transform[4 if axis == 5 else 0]) * size
        kept = [starts[0]]
        for value in starts[1:]:
            if abs(value - kept[-1]) >= step * (1 - 1e-9):
                kept.append(value)
        spread = np.linspace(0, len(kept) - 1, min(len(kept), SPARSE_PER_AXIS)).round()
        picked.append({kept[int(k)] for k in spread})
    return [i for i, g in enumerate(grids)
            if g.transform.f in picked[0] and g.transform.c in picked[1]]


def prepare_patch(grid: Grid, reference: np.ndarray, masked: np.ndarray) -> Patch:
    """A patch whose reference pixels that are masked or cloud-like are set to NaN."""
    return prepare_patches([grid], [reference], [masked])[0]


def prepare_patches(grids: list[Grid], references: list[np.ndarray],
                    masked: list[np.ndarray],
                    union: tuple[WholeImage, list[tuple[int, int]]] | None = None,
                    ) -> list[Patch]:
    """:func:`prepare_patch` of equally sized patches, screened at once: on ``union``, if
    given (the image the references are slices of, and each one's (row, col) corner in
    it: :mod:`.patch_screening`'s ``..._within``), else as a stack."""
    patches, valid = [], []
    clouds = _cloud_masks(references, union)
    for batch in _in_batches(list(range(len(grids))), references[0].size if grids else 1):
        raw = np.stack([references[k] for k in batch])
        mask = np.stack([masked[k] for k in batch])
        data = np.where(mask | np.stack([clouds[k] for k in batch]), np.float32(np.nan), raw)
        valid.extend(np.isfinite(data).mean(axis=(1, 2)))
        for k, kept, shown, hidden in zip(batch, data, np.isfinite(raw).mean(axis=(1, 2)),
                                          mask.mean(axis=(1, 2))):
            reason = "" if valid[k] >= MIN_VALID_FRACTION else (
                "cloud-like or saturated" if shown >= MIN_VALID_FRACTION
                and not hidden > 1 - MIN_VALID_FRACTION else "nodata or masked")
            patches.append(Patch(grids[k], kept, 0.0, reason))
    textured = [k for k, fraction in enumerate(valid) if fraction > 0.1]
    within = None if union is None else (union[0], [union[1][k] for k in textured])
    for k, value in zip(textured, _textures([patches[k].reference for k in textured], within)):
        patches[k].texture = float(value)
    return patches


def _cloud_masks(references: list[np.ndarray],
                 union: tuple[WholeImage, list[tuple[int, int]]] | None) -> list[np.ndarray]:
    """The cloud-like pixels of each reference (:mod:`.patch_screening`)."""
    if union is not None:
        return list(cloud_like_within(union[0], union[1], references[0].shape))
    return [cloud for batch in _in_batches(references)
            for cloud in cloud_like_batch(np.stack(batch))]


def _textures(references: list[np.ndarray],
              union: tuple[WholeImage, list[tuple[int, int]]] | None) -> list[float]:
    """The texture of each reference (NaN where masked, :mod:`.patch_screening`)."""
    if not references:
        return []
    if union is not None:
        return list(textures_within(union[0], union[1],
                                    np.stack([np.isfinite(r) for r in references])))
    return [value for batch in _in_batches(references)
            for value in texture_batch(np.stack(batch))]


def _in_batches(items: list, size: int | None = None) -> list[list]:
    """``items`` (equally sized arrays, or anything of ``size`` pixels) in consecutive
    groups of :data:`BATCH_PIXELS` pixels at most, at least one item each."""
    if not items:
        return []
    step = max(1, BATCH_PIXELS // max(items[0].size if size is None else size, 1))
    return [items[start:start + step] for start in range(0, len(items), step)]


#: Extra pixels read around a patch so that small model updates reuse the same chunk.
CHUNK_SLACK = 6


@dataclass(frozen=True)
class _Chunk:
    """Spline coefficients and validity of a secondary window starting at (row, col)."""

    row: int
    col: int
    coefficients: np.ndarray
    valid: np.ndarray | None  # None when every pixel is valid

    def covers(self, rows: np.ndarray, cols: np.ndarray, margin: int) -> bool:
        h, w = self.coefficients.shape
        return bool(rows.min() - margin >= self.row and cols.min() - margin >= self.col
                    and rows.max() + margin <= self.row + h - 1
                    and cols.max() + margin <= self.col + w - 1)


class SecondarySampler:
    """Samples one secondary band at aligned positions, through a rigid model.

    Each sample is a single cubic B-spline interpolation of the native secondary
    pixels (no intermediate warp), after an anti-alias blur when the common grid is
    coarser than the secondary. Cloud-like pixels count as invalid.
    """

    def __init__(self, ds: rasterio.DatasetReader, band: int, nodata: float | None,
                 common: Grid) -> None:
        self.ds, self.band, self.nodata = ds, band, nodata
        self.common_crs = common.crs
        self.crs, self.transform = ds.crs, ds.transform  # kept: read without the file
        src_grid = Grid(ds.crs, ds.transform, ds.width, ds.height)
        sec_res = pixel_size_in(src_grid, common.crs)
        ratio = np.sqrt(common.res[0] * common.res[1] / (sec_res[0] * sec_res[1]))
        self.blur = 0.4 * np.sqrt(ratio**2 - 1) if ratio > 1.05 else 0.0
        self._cache: dict[tuple, _Chunk] = {}
        self._wide: _Chunk | None = None  # the last chunk of patches sampled as one grid

    def sample_all(self, grids: list[Grid], model: RigidModel) -> list[np.ndarray]:
        """:meth:`sample` of every grid, the chunks they need loaded first (:meth:`load`).
        Patches densely covering a small area are sampled as one grid
        (:mod:`.patch_union`)."""
        union = self.load(grids, model)
        if union is None:
            return [self.sample(grid, model) for grid in grids]
        values = self.sample(union[0], model)
        self._wide = self._cache.get(_key(union[0]), self._wide)
        return [values[r:r + g.height, c:c + g.width].copy()
                for g, (r, c) in zip(grids, union[1])]

    def load(self, grids: list[Grid], model: RigidModel,
             ) -> tuple[Grid, list[tuple[int, int]]] | None:
        """Read and prepare the chunks that :meth:`sample_all` of ``grids`` through
        ``model`` needs and that are not cached yet (their cloud masks computed together:
        the same chunks); the grids' union (:func:`.patch_union.patch_union`) when they
        are sampled as one grid, else None. It reads nothing of the reference: it may
        run beside the reference patches' screening."""
        union = patch_union(grids)
        if union is not None:
            corners = self._corners(union[0], model)
            if corners is not None:  # else (a reprojection) sample() reads it
                self._chunk(union[0], *corners)
            return union
        missing: dict[tuple, list] = {}
        for grid in grids:
            corners = self._corners(grid, model)
            if corners is not None and self._stale(grid, *corners):
                window = covering_window(*corners, self._margin() + CHUNK_SLACK)
                missing.setdefault((window.height, window.width), []).append((grid, window))
        for group in missing.values():
            reads = [(grid, window, *read_window(self.ds, [self.band], window, self.nodata))
                     for grid, window in group]
            for part in _in_batches(reads, reads[0][3].size):
                clouds = cloud_like_batch(np.stack([np.where(v, d[0], np.nan)
                                                    for _, _, d, v in part]))
                for (grid, window, data, valid), cloud in zip(part, clouds):
                    self._store(grid, window, data[0], valid & ~cloud)
        return None

    def _corners(self, grid: Grid, model: RigidModel) -> tuple[np.ndarray, np.ndarray] | None:
        """Source (rows, cols) of the corners of ``grid`` when the mapping is affine."""
        mapping = SourceMapping(model_transform(model, self.common_crs), self.crs,
                                self.transform)
        affine = mapping.affine(grid)
        if affine is None:
            return None
        matrix, offset = affine
        corners = np.array([[0, 0], [0, grid.width - 1], [grid.height - 1, 0],
                            [grid.height - 1, grid.width - 1]], float)
        rows, cols = (corners @ matrix.T + offset).T
        return rows, cols

    def sample(self, grid: Grid, model: RigidModel) -> np.ndarray:
        """Secondary values at the centres of ``grid`` once aligned by ``model``;
        float32, NaN where the secondary has no data."""
        mapping = SourceMapping(model_transform(model, self.common_crs), self.crs,
                                self.transform)
        affine = mapping.affine(grid)
        if affine is not None:  # one CRS: the fast path
            matrix, offset = affine
            rows, cols = self._corners(grid, model)
            chunk = self._chunk(grid, rows, cols)
            values = interpolate_affine(chunk.coefficients, chunk.valid, matrix,
                                        offset - (chunk.row, chunk.col),
                                        (grid.height, grid.width), 3)
            return values.astype(np.float32)
        rows, cols = mapping.indices(grid)
        chunk = self._chunk(grid, rows, cols)
        return interpolate(chunk.coefficients, chunk.valid, rows - chunk.row, cols - chunk.col,
                           3).astype(np.float32)

    def cached(self, grids: list[Grid], model: RigidModel) -> bool:
        """Whether :meth:`sample` of every grid through ``model`` needs no read (its
        chunks are cached): it may then run after the file is closed."""
        union = patch_union(grids)
        for grid in grids if union is None else [union[0]]:
            corners = self._corners(grid, model)
            if corners is None or self._stale(grid, *corners):
                return False
        return True

    def _margin(self) -> int:
        return 4 + int(np.ceil(3 * self.blur))

    def _stale(self, grid: Grid, rows: np.ndarray, cols: np.ndarray) -> bool:
        """Whether no cached chunk covers (rows, cols) of ``grid``."""
        return self._cached_chunk(grid, rows, cols) is None

    def _cached_chunk(self, grid: Grid, rows: np.ndarray, cols: np.ndarray) -> _Chunk | None:
        """``grid``'s own cached chunk, or that of the patches last sampled as one grid,
        if it covers (rows, cols)."""
        for chunk in (self._cache.get(_key(grid)), self._wide):
            if chunk is not None and chunk.covers(rows, cols, self._margin()):
                return chunk
        return None

    def _store(self, grid: Grid, window, data: np.ndarray, valid: np.ndarray) -> _Chunk:
        """Cache the chunk of ``grid``: ``data`` read on ``window``, valid where not
        nodata nor cloud-like."""
        chunk = self._cache[_key(grid)] = _Chunk(
            int(window.row_off), int(window.col_off), prepare(data, valid, 3, self.blur),
            None if valid.all() else valid)
        return chunk

    def _chunk(self, grid: Grid, rows: np.ndarray, cols: np.ndarray) -> _Chunk:
        """The cached spline coefficients around ``grid``, re-read if the model left them."""
        chunk = self._cached_chunk(grid, rows, cols)
        if chunk is not None:
            return chunk
        window = covering_window(rows, cols, self._margin() + CHUNK_SLACK)
        data, valid = read_window(self.ds, [self.band], window, self.nodata)
        return self._store(grid, window, data[0],
                           valid & ~cloud_like(np.where(valid, data[0], np.nan)))


def _key(grid: Grid) -> tuple:
    """The chunk cache's key of a grid."""
    return grid.transform, grid.width, grid.height


def match_arrays(reference: np.ndarray, moving: np.ndarray, *,
                 refine_sigma: float | None = None) -> PeakMatch | None:
    """Phase correlation of two co-located patches (NaN = no data, faded out by a
    weight); None when fewer than :data:`MIN_VALID_FRACTION` pixels are valid in both.
    The shift is (row, col) pixels to apply to ``moving`` (see :class:`PeakMatch`);
    ``refine_sigma`` as :func:`.phase_correlation.phase_correlation_batch`'s."""
    shifts, peaks, snrs = match_batch(reference[None], moving[None], refine_sigma=refine_sigma)
    if not np.isfinite(peaks[0]):
        return None
    return PeakMatch((float(shifts[0, 0]), float(shifts[0, 1])), float(peaks[0]),
                     float(snrs[0]))


def match_batch(reference: np.ndarray, moving: np.ndarray, *, upsample_factor: int = 100,
                snr: bool = True, refine_sigma: float | None = None,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`match_arrays` of K patch pairs (K, M, N) at once: (row, col) shifts (K, 2),
    peaks and SNRs (K,; NaN unless ``snr``), NaN where too few pixels are valid.
    ``refine_sigma``: the narrower band of the sub-pixel refinement
    (:func:`.phase_correlation.phase_correlation_batch`), for patches with at least
    :data:`NARROW_REFINE_VALID` of their pixels valid."""
    valid = np.isfinite(reference)
    valid &= np.isfinite(moving)
    count = valid.sum(axis=(1, 2))
    ok = count >= MIN_VALID_FRACTION * valid[0].size
    shifts = np.full((len(valid), 2), np.nan)
    peaks, snrs = np.full(len(valid), np.nan), np.full(len(valid), np.nan)
    if not ok.any():
        return shifts, peaks, snrs
    if not ok.all():
        reference, moving, valid, count = reference[ok], moving[ok], valid[ok], count[ok]
    weight = None
    partial = count < valid[0].size
    if partial.any():  # fade invalid pixels out, fill them with the valid mean
        # In the patches' own dtype: a full patch's weight of 1 then leaves its Hann
        # window and pixels exact, so its match does not depend on its batch-mates.
        weight = np.ones(valid.shape, reference.dtype)
        smooth = gaussian_weights(2.0)
        weight[partial] = filter_stack(valid[partial], smooth, smooth) * valid[partial]
        count = count[:, None, None]
        reference, moving = (np.where(valid, x, (np.where(valid, x, 0).sum(
            axis=(1, 2), keepdims=True) / count).astype(x.dtype)) for x in (reference, moving))
    # A narrow refinement band on patches with much missing data reads the fade as
    # content: its scatter there was 3x the usual band's, so they keep the usual band.
    narrow = count.reshape(-1) >= NARROW_REFINE_VALID * valid[0].size
    if refine_sigma is None or narrow.all() or not narrow.any():
        sigma = refine_sigma if narrow.all() else None
        shifts[ok], peaks[ok], snrs[ok] = phase_correlation_batch(
            reference, moving, weight=weight, upsample_factor=upsample_factor, snr=snr,
            refine_sigma=sigma)
        return shifts, peaks, snrs
    rows = np.flatnonzero(ok)
    for group, sigma in ((narrow, refine_sigma), (~narrow, None)):
        shifts[rows[group]], peaks[rows[group]], snrs[rows[group]] = phase_correlation_batch(
            reference[group], moving[group], weight=None if weight is None else weight[group],
            upsample_factor=upsample_factor, snr=snr, refine_sigma=sigma)
    return shifts, peaks, snrs


def reliability_percent(peak: float) -> float:
    """Reliability of a match, 0 % at :data:`MIN_PEAK` (noise) to 100 % at
    :data:`FULL_RELIABILITY_PEAK`."""
    return 100.0 * min(max(float(peak - MIN_PEAK) / (FULL_RELIABILITY_PEAK - MIN_PEAK), 0.0),
                       1.0)


def measure_batch(patches: list[Patch], moving: list[np.ndarray], *,
                  refine_sigma: float | None = None) -> list[Measurement | None]:
    """:func:`measure` of equally sized patches, correlated in batches (the same numbers,
    without a call per patch), shared among threads when there are
    :data:`THREADED_PIXELS` or more (a patch's match does not depend on its batch)."""
    if sum(m.size for m in moving) < THREADED_PIXELS:
        return _measure_batch(patches, moving, refine_sigma)
    parts = together(*(functools.partial(_measure_batch, p, m, refine_sigma)
                       for p, m in zip(shares(patches), shares(moving))))
    return [measurement for part in parts for measurement in part]


def _measure_batch(patches: list[Patch], moving: list[np.ndarray],
                   refine_sigma: float | None) -> list[Measurement | None]:
    out: list[Measurement | None] = []
    for batch in _in_batches(list(zip(patches, moving)), moving[0].size if moving else 1):
        group = [patch for patch, _ in batch]
        shifts, peaks, _ = match_batch(np.stack([p.reference for p in group]),
                                       np.stack([m for _, m in batch]), snr=False,
                                       refine_sigma=refine_sigma)
        for patch, (drow, dcol), peak in zip(group, shifts, peaks):
            if not np.isfinite(peak):
                out.append(None)
                continue
            t = patch.grid.transform
            out.append(Measurement(float(t.a * dcol + t.b * drow), float(t.d * dcol + t.e * drow),
                                   float(peak)))
    return out


def measure(patch: Patch, moving: np.ndarray, *,
            refine_sigma: float | None = None) -> Measurement | None:
    """Displacement (map units) that ``moving`` still needs to match the patch.

    Returns None when too few pixels are valid in both images.
    """
    match = match_arrays(patch.reference, moving, refine_sigma=refine_sigma)
    if match is None:
        return None
    drow, dcol = match.shift
    t = patch.grid.transform
    return Measurement(t.a * dcol + t.b * drow, t.d * dcol + t.e * drow, match.peak)
