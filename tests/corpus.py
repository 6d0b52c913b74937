"""A validation corpus for the global alignment that simulates sensors instead of
resampling with Coreg's own kernel (no "inverse crime").

Both images of a pair are block averages of one real fine band (Sentinel-2 10 m, or
Landsat 30 m): the reference averages ``ref_block`` x ``ref_block`` pixels from the band's
origin, the secondary ``sec_block`` x ``sec_block`` pixels whose blocks start ``offset``
(kx, ky) fine pixels further right and down, while its georeferencing says they do not.
Each pixel of either image is the exact area average of its footprint, as a sensor's
would be, and the content shift is exactly (kx, ky) fine pixels: kx / ref_block
reference pixels, kx / sec_block secondary pixels, with no interpolation anywhere.

Rotations are applied to the fine band before averaging, by another kernel than
Coreg's cubic B-spline: GDAL's Lanczos (``rasterio.warp.reproject``) about the band's
centre. The secondary's grid may also start at another phase of the fine grid
(``grid_phase``: georeferenced, so no content shift). Radiometric change: gain and
offset, gamma, noise, cloud-like blobs on the secondary, the band of a second real
date on the same grid (``second_date``), or another band (``second_band``: another
spectral response, as another optical sensor's). With a second date or band the true
shift is unknown (dates are only roughly registered, bands to a fraction of a pixel), so
such a case is differential: its truth is the correction of the same pair made without
the offset, followed by the offset.

``run_case`` builds a case's pair in a folder, aligns it with ``align_image`` at its
default parameters and returns one row of figures; ``run_corpus`` runs a list. Shared
by tests/core/test_align.py and benchmarks/corpus.py.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.warp import Resampling, reproject
from scipy import ndimage

from coreg.core.matching.fit import RigidModel

OPTICAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "optical"
OSCD = OPTICAL / "oscd_s2"
SAR_OPTICAL = OPTICAL.parent / "sar_optical"


@dataclass(frozen=True)
class Source:
    """A real fine band; ``second`` is the file of another date on the same grid."""

    name: str
    path: Path
    band: int
    second: Path | None = None


def _oscd(city: str, first: str, band: int, second: str | None = None) -> Source:
    name = f"{city}_B{ {3: '04', 4: '08'}[band] }"
    file = OSCD / f"{city}_S2_{first}_B02-B03-B04-B08.tif"
    other = OSCD / f"{city}_S2_{second}_B02-B03-B04-B08.tif" if second else None
    return Source(name, file, band, other)


BEIRUT = _oscd("beirut", "20150820", 4, "20171003")
BEIRUT_RED = _oscd("beirut", "20150820", 3)
CUPERTINO = _oscd("cupertino", "20150918", 4, "20180326")
ABUDHABI = _oscd("abudhabi", "20160120", 4)
HONGKONG_RED = _oscd("hongkong", "20160927", 3)
SACLAY = _oscd("saclay_e", "20160315", 4)
NANJING = Source("nanjing_B4", OPTICAL / "landsat_pairs" / "nanjing_LT05_20000503_B1-5_7.tif", 4)
EVEREST = Source("everest_B4", OPTICAL / "single_scene" / "everest_LE07_20001030_B4.tif", 1)


@dataclass(frozen=True)
class CorpusCase:
    """One pair of the corpus and its exact truth.

    ``offset`` (kx, ky) is in fine pixels, x right, y down: the correction is kx /
    ``ref_block`` reference pixels right and ky / ``ref_block`` down (before the
    rotation, which turns it about the band's centre).
    """

    name: str
    group: str
    source: Source
    ref_block: int
    sec_block: int
    offset: tuple[int, int]
    rotation_deg: float = 0.0
    grid_phase: tuple[int, int] = (0, 0)
    second_date: bool = False
    #: The secondary averages this band of the source (its date's file) instead.
    second_band: int | None = None
    gamma: float = 1.0
    noise: float = 0.01
    cloud_fraction: float = 0.0
    seed: int = 0
    #: Both images cover the same footprint (the band less |offset|), as two scenes of one
    #: area would: the content they share is the footprint less the offset again (a large
    #: offset leaves part of each image without its counterpart). No rotation nor phase.
    same_footprint: bool = False

    @property
    def truth_px(self) -> tuple[float, float]:
        """The correction at the band's centre, reference pixels (x right, y down)."""
        t = math.radians(self.rotation_deg)
        kx, ky = self.offset
        # Rotation counter-clockwise in map coordinates (y up): y down flips its sign.
        return ((math.cos(t) * kx + math.sin(t) * ky) / self.ref_block,
                (-math.sin(t) * kx + math.cos(t) * ky) / self.ref_block)

    @property
    def margin(self) -> int:
        """Fine pixels left out around the secondary: room for the offset, the rotation,
        the grid phase and the Lanczos kernel; a multiple of both block sizes, so that
        without a grid phase the secondary's grid nests in the reference's."""
        lcm = self.ref_block * self.sec_block // math.gcd(self.ref_block, self.sec_block)
        need = max(40, max(map(abs, self.offset)) + max(map(abs, self.grid_phase))
                   + math.radians(abs(self.rotation_deg)) * 1200 + 10)
        return lcm * math.ceil(need / lcm)

    @property
    def differential(self) -> bool:
        """The truth is relative to the run without the offset (:meth:`baseline`)."""
        return self.second_date or self.second_band is not None

    def baseline(self) -> CorpusCase:
        """The same pair without the offset (the reference run of a differential case)."""
        return replace(self, name=self.name + " (no offset)", offset=(0, 0))


@dataclass(frozen=True)
class Pair:
    reference: Path
    secondary: Path
    truth: RigidModel
    reference_transform: Affine
    secondary_transform: Affine
    secondary_shape: tuple[int, int]


def read_fine(source: Source, second: bool = False,
              band: int | None = None) -> tuple[np.ndarray, dict]:
    with rasterio.open(source.second if second else source.path) as ds:
        return ds.read(band or source.band).astype(np.float64), ds.profile


def block_average(fine: np.ndarray, block: int, row: int, col: int, rows: int,
                  cols: int) -> np.ndarray:
    """Means of ``block`` x ``block`` fine pixels, the first block's corner at (row, col)."""
    part = fine[row:row + rows * block, col:col + cols * block]
    assert part.shape == (rows * block, cols * block), "block outside the fine band"
    return part.reshape(rows, block, cols, block).mean(axis=(1, 3))


def rotated(fine: np.ndarray, profile: dict, rotation_deg: float,
            pivot: tuple[float, float]) -> np.ndarray:
    """The fine band turned by GDAL's Lanczos: pixel at map point X shows the content at
    R(X - pivot) + pivot (NaN where that lies outside the band)."""
    turn = (Affine.translation(*pivot) * Affine.rotation(rotation_deg)
            * Affine.translation(-pivot[0], -pivot[1]))
    out = np.full(fine.shape, np.nan, np.float32)
    reproject(fine.astype(np.float32), out, src_transform=~turn * profile["transform"],
              src_crs=profile["crs"], dst_transform=profile["transform"],
              dst_crs=profile["crs"], dst_nodata=np.nan, resampling=Resampling.lanczos)
    return out


def radiometry(image: np.ndarray, case: CorpusCase) -> np.ndarray:
    """Gain and offset, gamma, noise and cloud-like blobs of the secondary."""
    rng = np.random.default_rng(case.seed)
    lo, hi = np.percentile(image, [1, 99.9])
    out = image
    if case.gamma != 1.0:
        out = lo + (hi - lo) * np.clip((out - lo) / (hi - lo), 0, 1) ** case.gamma
    out = 0.8 * out + 0.05 * (hi - lo) + rng.normal(0, case.noise * image.std(), image.shape)
    if case.cloud_fraction:
        field = ndimage.gaussian_filter(rng.normal(size=image.shape),
                                        12 * 2 / max(case.sec_block, 1))
        level = np.quantile(field, 1 - case.cloud_fraction)
        alpha = np.clip((field - level) / (0.3 * field.std()) + 0.5, 0, 1)
        out = out * (1 - alpha) + alpha * (hi * 1.6)
    return out


def _write(path: Path, data: np.ndarray, profile: dict, transform: Affine) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0],
                       count=1, dtype="float32", crs=profile["crs"], transform=transform,
                       nodata=None) as dst:
        dst.write(data.astype(np.float32), 1)
    return path


def build(case: CorpusCase, folder: Path) -> Pair:
    """Write the case's reference and secondary in ``folder``; return them with the truth
    (the correction of the secondary in map units, as Coreg's model)."""
    folder.mkdir(parents=True, exist_ok=True)
    if case.same_footprint:
        return _build_same_footprint(case, folder)
    fine, profile = read_fine(case.source)
    t: Affine = profile["transform"]
    height, width = fine.shape
    a, b = case.ref_block, case.sec_block
    reference = block_average(fine, a, 0, 0, height // a, width // a)
    pivot = t * (width / 2, height / 2)
    if case.differential:
        fine = read_fine(case.source, second=case.second_date, band=case.second_band)[0]
    if case.rotation_deg:
        fine = rotated(fine, profile, case.rotation_deg, pivot)
    m = case.margin
    gx, gy = case.grid_phase
    kx, ky = case.offset
    rows, cols = (height - 2 * m - abs(gy)) // b, (width - 2 * m - abs(gx)) // b
    secondary = block_average(fine, b, m + gy + ky, m + gx + kx, rows, cols)
    assert np.isfinite(secondary).all(), "the rotation left the fine band"
    secondary = radiometry(secondary, case)
    ref_t = t * Affine.scale(a)
    sec_t = t * Affine.translation(m + gx, m + gy) * Affine.scale(b)
    # Secondary at X shows the fine band at R(X + k - pivot) + pivot: shift R k.
    r = math.radians(case.rotation_deg)
    kx_map, ky_map = kx * t.a, ky * t.e
    shift = (math.cos(r) * kx_map - math.sin(r) * ky_map,
             math.sin(r) * kx_map + math.cos(r) * ky_map)
    truth = RigidModel(*shift, case.rotation_deg, *pivot)
    return Pair(_write(folder / "reference.tif", reference, profile, ref_t),
                _write(folder / "secondary.tif", secondary, profile, sec_t),
                truth, ref_t, sec_t, (rows, cols))


def _build_same_footprint(case: CorpusCase, folder: Path) -> Pair:
    """:func:`build` for a case whose two images share one footprint: the reference averages
    the band from (r0, c0), the secondary from (r0 + ky, c0 + kx) but says (r0, c0)."""
    assert not case.rotation_deg and case.grid_phase == (0, 0) and not case.second_date
    fine, profile = read_fine(case.source)
    t: Affine = profile["transform"]
    height, width = fine.shape
    kx, ky = case.offset
    r0, c0 = max(0, -ky), max(0, -kx)
    lcm = case.ref_block * case.sec_block // math.gcd(case.ref_block, case.sec_block)
    rows_fine = (height - abs(ky)) // lcm * lcm
    cols_fine = (width - abs(kx)) // lcm * lcm
    a, b = case.ref_block, case.sec_block
    reference = block_average(fine, a, r0, c0, rows_fine // a, cols_fine // a)
    secondary = radiometry(block_average(fine, b, r0 + ky, c0 + kx, rows_fine // b,
                                         cols_fine // b), case)
    origin = t * Affine.translation(c0, r0)
    ref_t, sec_t = origin * Affine.scale(a), origin * Affine.scale(b)
    pivot = t * (width / 2, height / 2)
    truth = RigidModel(kx * t.a, ky * t.e, 0.0, *pivot)
    return Pair(_write(folder / "reference.tif", reference, profile, ref_t),
                _write(folder / "secondary.tif", secondary, profile, sec_t),
                truth, ref_t, sec_t, (rows_fine // b, cols_fine // b))


def offset_pair(reference: Path, secondary: Path, folder: Path,
                offset: tuple[int, int]) -> tuple[Path, Path]:
    """Two co-registered rasters of one grid (e.g. GeFolki's S1 / S2 patches) cut to one
    footprint (the grid less |offset|), the secondary's content ``offset`` (x right, y
    down) whole pixels further than its georeferencing says: exact truth, no resampling.
    A differential test (the run with the offset less the one without) cancels the
    pair's own residual misregistration."""
    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(reference) as ds:
        ref, profile = ds.read(1), ds.profile
    with rasterio.open(secondary) as ds:
        sec = ds.read(1)
    kx, ky = offset
    r0, c0 = max(0, -ky), max(0, -kx)
    rows, cols = ref.shape[0] - abs(ky), ref.shape[1] - abs(kx)
    t = profile["transform"] * Affine.translation(c0, r0)
    return (_write(folder / "reference.tif", ref[r0:r0 + rows, c0:c0 + cols], profile, t),
            _write(folder / "secondary.tif", sec[r0 + ky:r0 + ky + rows, c0 + kx:c0 + kx + cols],
                   profile, t))


def scene_points(pair: Pair, n: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """An n x n grid of map points spanning the secondary."""
    rows, cols = pair.secondary_shape
    cc, rr = np.meshgrid(np.linspace(0.5, cols - 0.5, n), np.linspace(0.5, rows - 0.5, n))
    return pair.secondary_transform * (cc, rr)


def scene_error_px(estimated: RigidModel, truth: RigidModel, pair: Pair) -> float:
    """RMS over the secondary's footprint of the distance between where both models send
    its points, in reference pixels."""
    x, y = scene_points(pair)
    ex, ey = estimated.forward(x, y)
    tx, ty = truth.forward(x, y)
    t = pair.reference_transform
    return float(np.sqrt(np.mean(((ex - tx) / t.a) ** 2 + ((ey - ty) / t.e) ** 2)))


def shift_at(model: RigidModel, point: tuple[float, float], t: Affine) -> tuple[float, float]:
    """The model's displacement at a map point, in pixels of ``t`` (x right, y down)."""
    fx, fy = model.forward(*point)
    return float((fx - point[0]) / t.a), float((fy - point[1]) / t.e)


def followed_by_offset(model: RigidModel, case: CorpusCase, t: Affine) -> RigidModel:
    """The correction of the pair with ``case``'s offset, given ``model`` the correction of
    the same pair without it (``t``: the fine band's transform): C_k(X) = C_0(X + k)."""
    kx, ky = case.offset
    moved = model.forward(model.pivot_x + kx * t.a, model.pivot_y + ky * t.e)
    return replace(model, shift_x=float(moved[0] - model.pivot_x),
                   shift_y=float(moved[1] - model.pivot_y))


def fine_transform(case: CorpusCase) -> Affine:
    with rasterio.open(case.source.path) as ds:
        return ds.transform


def run_case(case: CorpusCase, folder: Path, **options) -> dict:
    """Build and align one case (``align_image`` with ``options``, default parameters
    otherwise); the row of its figures. Errors are in reference pixels."""
    from coreg.core.matching.align import align_image

    pair = build(case, folder)
    start = time.perf_counter()
    alignment = align_image(pair.reference, pair.secondary, **options)
    seconds = time.perf_counter() - start
    truth = pair.truth
    report = alignment.report()
    row = {"case": case.name, "group": case.group, "source": case.source.name,
           "ref_block": case.ref_block, "sec_block": case.sec_block,
           "offset": list(case.offset), "truth_dx": case.truth_px[0],
           "truth_dy": case.truth_px[1], "truth_rot": case.rotation_deg}
    if case.differential:
        base = align_image(build(case.baseline(), folder / "baseline").reference,
                           folder / "baseline" / "secondary.tif", **options)
        truth = followed_by_offset(base.model, case, fine_transform(case))
        row["baseline_ce95_px"] = base.report().get("ce95_px")
        row["baseline_dx"], row["baseline_dy"] = shift_at(
            base.model, (truth.pivot_x, truth.pivot_y), pair.reference_transform)
    dx, dy = shift_at(alignment.model, (truth.pivot_x, truth.pivot_y), pair.reference_transform)
    tdx, tdy = shift_at(truth, (truth.pivot_x, truth.pivot_y), pair.reference_transform)
    row.update(
        dx=dx, dy=dy, rot=alignment.model.rotation_deg,
        err_px=scene_error_px(alignment.model, truth, pair),
        centre_err_px=math.hypot(dx - tdx, dy - tdy),
        rot_err_deg=abs(alignment.model.rotation_deg - truth.rotation_deg),
        reliability=alignment.reliability, n_used=report["n_patches_used"],
        n_patches=report["n_patches"], iterations=alignment.iterations, seconds=seconds,
        **{k: report.get(k) for k in ("ce90_px", "ce95_px", "ce90_m", "ce95_m",
                                      "shift_uncertainty_px")})
    if case.differential and row["ce95_px"] is not None and row["baseline_ce95_px"] is not None:
        # The error of a differential case is the difference of two runs' errors.
        row["ce95_px"] = math.hypot(row["ce95_px"], row["baseline_ce95_px"])
    return row


def run_corpus(cases: list[CorpusCase], folder: Path, **options) -> list[dict]:
    return [run_case(c, folder / f"{i:02d}", **options) for i, c in enumerate(cases)]


def _case(name, group, source, a, b, offset, **kw) -> CorpusCase:
    return CorpusCase(name, group, source, a, b, offset, **kw)


def global_cases() -> list[CorpusCase]:
    """The corpus of the global alignment: >= 30 pairs with exact truths.

    Names: source, reference / secondary pixel (m for Sentinel-2; Landsat's fine band is
    30 m), what else. Every sub-pixel phase of 1/2, 1/3 and 1/4 secondary pixel occurs.
    """
    S = 0  # seeds: one per case
    cases = []

    def add(name, group, source, a, b, offset, **kw):
        nonlocal S
        S += 1
        cases.append(_case(name, group, source, a, b, offset, seed=S, **kw))

    # Equal resolutions.
    add("beirut 20/20", "equal", BEIRUT, 2, 2, (1, 0))
    add("beirut 20/20 b", "equal", BEIRUT, 2, 2, (-3, 1))
    add("cupertino 30/30", "equal", CUPERTINO, 3, 3, (1, -2))
    add("abudhabi 30/30", "equal", ABUDHABI, 3, 3, (4, 2))
    add("hongkong red 40/40", "equal", HONGKONG_RED, 4, 4, (1, 3))
    add("saclay 40/40", "equal", SACLAY, 4, 4, (-2, 5))
    add("beirut red 40/40", "equal", BEIRUT_RED, 4, 4, (3, -1))
    add("nanjing 60/60", "equal", NANJING, 2, 2, (1, -1))
    add("everest 60/60", "equal", EVEREST, 2, 2, (-1, 2))
    # Mixed resolutions: 10/20, 10/40, 20/40, 10/30 (Sentinel-2 vs a Landsat-like 30 m),
    # 20/30, a coarser reference, and secondary grids at another phase of the fine grid.
    add("beirut 10/20", "mixed", BEIRUT, 1, 2, (1, -1))
    add("cupertino 10/20", "mixed", CUPERTINO, 1, 2, (3, 2))
    add("beirut 10/40", "mixed", BEIRUT, 1, 4, (1, 2))
    add("abudhabi 10/40", "mixed", ABUDHABI, 1, 4, (3, -5))
    add("beirut 20/40", "mixed", BEIRUT, 2, 4, (1, 0))
    add("cupertino 20/40", "mixed", CUPERTINO, 2, 4, (3, -2))
    add("hongkong red 20/40", "mixed", HONGKONG_RED, 2, 4, (-1, 1))
    add("saclay 20/40", "mixed", SACLAY, 2, 4, (1, 3))
    add("beirut 10/30", "mixed", BEIRUT, 1, 3, (1, 2))
    add("cupertino 10/30", "mixed", CUPERTINO, 1, 3, (-4, 5))
    add("beirut red 20/30", "mixed", BEIRUT_RED, 2, 3, (1, 1))
    add("abudhabi 20/10", "mixed", ABUDHABI, 2, 1, (1, -1))
    add("beirut 40/20", "mixed", BEIRUT, 4, 2, (1, 2))
    add("beirut 20/40 phase", "mixed", BEIRUT, 2, 4, (-1, 2), grid_phase=(2, 1))
    add("cupertino 10/30 phase", "mixed", CUPERTINO, 1, 3, (2, 1), grid_phase=(1, 2))
    # Rotations (GDAL Lanczos on the fine band), up to 1 degree.
    add("beirut 20/20 rot +0.2", "rotation", BEIRUT, 2, 2, (1, -1), rotation_deg=0.2)
    add("cupertino 20/20 rot -0.5", "rotation", CUPERTINO, 2, 2, (-2, 3), rotation_deg=-0.5)
    add("abudhabi 30/30 rot +1.0", "rotation", ABUDHABI, 3, 3, (1, 1), rotation_deg=1.0)
    add("beirut red 20/40 rot -1.0", "rotation", BEIRUT_RED, 2, 4, (1, 2), rotation_deg=-1.0)
    add("nanjing 60/60 rot +0.7", "rotation", NANJING, 2, 2, (3, -1), rotation_deg=0.7)
    # Clouds (30 % of the secondary).
    add("nanjing 60/60 clouds", "clouds", NANJING, 2, 2, (1, -3), cloud_fraction=0.3)
    add("everest 60/60 clouds rot -0.8", "clouds", EVEREST, 2, 2, (3, 1), rotation_deg=-0.8,
        cloud_fraction=0.3)
    add("beirut 20/40 clouds", "clouds", BEIRUT, 2, 4, (1, 1), cloud_fraction=0.3)
    # Radiometry: gamma and noise.
    add("beirut 20/20 gamma 0.6", "radiometry", BEIRUT, 2, 2, (1, -1), gamma=0.6, noise=0.03)
    add("cupertino 10/20 gamma 1.8", "radiometry", CUPERTINO, 1, 2, (1, 1), gamma=1.8,
        noise=0.05)
    # Larger shifts (beyond the former 20 px default cap; see large_shift_cases for 50-300 px).
    add("beirut 20/20 large", "large", BEIRUT, 2, 2, (31, -25))
    add("cupertino 10/20 large", "large", CUPERTINO, 1, 2, (-13, 12))
    # Two real dates (land-cover change, real misregistration): differential truth.
    add("beirut dates 20/20", "dates", BEIRUT, 2, 2, (1, -1), second_date=True)
    add("cupertino dates 20/20", "dates", CUPERTINO, 2, 2, (-3, 1), second_date=True)
    add("beirut dates 20/40", "dates", BEIRUT, 2, 4, (1, 2), second_date=True)
    add("cupertino dates 30/30", "dates", CUPERTINO, 3, 3, (2, -1), second_date=True)
    return cases


def large_shift_cases() -> list[CorpusCase]:
    """Shifts of 50, 150 and 300 reference pixels (10 m Sentinel-2, and a 20 m secondary)
    on two scenes of one footprint: the largest shared band is Beirut's 1070 x 1180, so the
    overlap is its size less the offset (770 x 1030 at 300 px: the shift is 39 % of the
    overlap's smaller side, and the images share 61 % of it across)."""
    def case(name, source, b, offset, seed, a=1):
        return CorpusCase(name, "large", source, a, b, offset, seed=seed, same_footprint=True)

    return [case("beirut 10/10 shift 50", BEIRUT, 1, (50, -30), 101),
            case("beirut 10/10 shift 150", BEIRUT, 1, (-150, 90), 102),
            case("beirut 10/10 shift 300", BEIRUT, 1, (300, 150), 103),
            case("beirut 10/20 shift 150", BEIRUT, 2, (120, -150), 104),
            case("cupertino 10/10 shift 300", CUPERTINO, 1, (-110, 300), 105),
            # The user's report: 21.7 px failed with "larger than MAX_SHIFT (20.0 pixels)".
            case("beirut 30/30 shift 21.7", BEIRUT, 3, (65, -12), 106, a=3)]


def sensor_cases() -> list[CorpusCase]:
    """Another optical sensor, Landsat-like: a 10 m Sentinel-2 red band (B04) as the
    reference, the near-infrared band (B08) of another date averaged to 30 m as the
    secondary (another spectral response, where vegetation flips from dark to bright, real
    land-cover change and a 30 m pixel), offsets that are no whole number of 30 m pixels.
    Differential truth (the bands and dates are only registered to a fraction of a pixel).
    The shared data hold no Landsat scene over a Sentinel-2 one, so the 30 m sensor is
    simulated by block averages (the corpus's sensor model)."""
    return [CorpusCase("beirut B04 10 m / B08 30 m, two years later", "sensors",
                       _oscd("beirut", "20150820", 3, "20171003"), 1, 3, (4, -5),
                       second_date=True, second_band=4, seed=201),
            CorpusCase("cupertino B04 10 m / B08 30 m, two years later", "sensors",
                       _oscd("cupertino", "20150918", 3, "20180326"), 1, 3, (-7, 2),
                       second_date=True, second_band=4, seed=202)]


def flow_warped_pair(secondary: str, folder: Path,
                     reference: str = "S1_patch11.tif") -> tuple[Path, Path, np.ndarray]:
    """GeFolki's protocol (sar_optical/MANIFEST.md) as two rasters on the patches' grid:
    band 1 of ``reference`` as it is, band 1 of ``secondary`` warped by the smooth flow
    truth (bilinear, as gefolki's ``wrapData``: warped(x) = secondary(x + truth(x))).
    Returns their paths and the truth (2, H, W): the field to recover is minus it."""
    folder.mkdir(parents=True, exist_ok=True)
    with rasterio.open(SAR_OPTICAL / "Flow_patch11_uv.tif") as ds:
        truth = ds.read().astype(np.float64)
    with rasterio.open(SAR_OPTICAL / reference) as ds:
        master, profile = ds.read(1), ds.profile
    with rasterio.open(SAR_OPTICAL / secondary) as ds:
        slave = ds.read(1).astype(np.float64)
    rows, cols = np.mgrid[: slave.shape[0], : slave.shape[1]]
    warped = ndimage.map_coordinates(slave, [rows + truth[1], cols + truth[0]], order=1,
                                     mode="nearest")
    return (_write(folder / "reference.tif", master, profile, profile["transform"]),
            _write(folder / "secondary.tif", warped, profile, profile["transform"]), truth)
