"""Sensor-simulated pairs with an exact, known local field (for align_local's methods).

As in ``tests/corpus.py`` (never Coreg's cubic B-spline to make the truth): both images are
block averages (``block`` x ``block``) of one real fine band, on one grid. The secondary's
blocks start ``offset`` (kx, ky) whole fine pixels further right and down, and its fine
band may first be warped by a smooth field ``v`` (fine pixels) with a Lanczos-3 kernel, at
the fine scale: fine'(p) = fine(p + v(p)). Without ``v`` there is no interpolation at all
and the truth is exact to the bit; with it, the truth is exact up to the variation of
``v`` over one block (second order: under 1e-3 px for the fields here).

Truth, GeFolki convention (the aligned secondary at reference pixel P is the secondary
at reference-grid position P + d): reference pixel P shows the fine band around
p = b P + (b - 1) / 2, the secondary at P + d shows it around q + v(q) with
q = p + b d + k, so d(P) = -(k + v(q)) / b where q = p - v(q) (solved by iteration).

Radiometric change (gain, gamma, noise, clouds) is ``tests/corpus.radiometry``; a second
real date is allowed only without a field truth to compare (not used here). Shared by
tests/core/test_local_uncertainty.py and benchmarks/calibration_local.py.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine


def _tests_corpus():
    """tests/corpus.py, by its path (benchmarks/corpus.py hides the name ``corpus`` from
    the benchmarks), as the module ``coreg_corpus`` the benchmarks share."""
    name = "coreg_corpus"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("corpus.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


_corpus = _tests_corpus()
ABUDHABI, BEIRUT, BEIRUT_RED, CUPERTINO = (_corpus.ABUDHABI, _corpus.BEIRUT, _corpus.BEIRUT_RED,
                                           _corpus.CUPERTINO)
EVEREST, HONGKONG_RED, NANJING, SACLAY = (_corpus.EVEREST, _corpus.HONGKONG_RED, _corpus.NANJING,
                                          _corpus.SACLAY)
CorpusCase, Source = _corpus.CorpusCase, _corpus.Source
radiometry, read_fine = _corpus.radiometry, _corpus.read_fine

#: Lanczos kernel half-width (taps on either side).
LANCZOS_A = 3


@dataclass(frozen=True)
class LocalCase:
    """One pair: ``field`` "none" (whole-pixel offset only), "smooth" (sinusoids of
    ``amplitude`` fine pixels over ``wavelength`` fine pixels) or "rotation"
    (``amplitude`` degrees about the band's centre)."""

    name: str
    source: Source
    block: int
    offset: tuple[int, int]
    field: str = "none"
    amplitude: float = 0.0
    wavelength: float = 900.0
    noise: float = 0.01
    gamma: float = 1.0
    cloud_fraction: float = 0.0
    seed: int = 0
    #: Pixels (fine) cut from every side: room for the offset, the field and the kernel.
    margin: int = 24
    #: Largest side of the fine crop (fine pixels), to bound the run time.
    size: int = 1000
    #: The secondary's pixel in fine pixels, if not the reference's (its own grid: files
    #: only, :func:`write_pair`).
    sec_block: int = 0


@dataclass(frozen=True)
class LocalPair:
    reference: np.ndarray
    secondary: np.ndarray
    truth_dx: np.ndarray
    truth_dy: np.ndarray


def fine_field(case: LocalCase, rows: np.ndarray, cols: np.ndarray,
               shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """v = (vx, vy) in fine pixels at fine positions (rows, cols) of a band of ``shape``."""
    if case.field == "none":
        return np.zeros_like(rows, float), np.zeros_like(cols, float)
    if case.field == "rotation":
        t = np.radians(case.amplitude)
        yc, xc = (shape[0] - 1) / 2, (shape[1] - 1) / 2
        y, x = rows - yc, cols - xc
        return (np.cos(t) * x - np.sin(t) * y - x, np.sin(t) * x + np.cos(t) * y - y)
    a, w = case.amplitude, case.wavelength
    vx = a * (0.6 * np.sin(2 * np.pi * rows / w + 0.4) + 0.5 * np.cos(2 * np.pi * cols / (0.8 * w)))
    vy = a * (0.6 * np.cos(2 * np.pi * (rows + cols) / (1.2 * w)) + 0.5 * np.sin(
        2 * np.pi * cols / (0.9 * w) + 1.0))
    return vx, vy


def lanczos_sample(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``image`` at fractional (rows, cols) with a separable Lanczos-3 kernel, weights
    normalised (indices clamped at the border)."""
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    fr, fc = rows - r0, cols - c0
    taps = range(-LANCZOS_A + 1, LANCZOS_A + 1)
    wr = [np.sinc(fr - j) * np.sinc((fr - j) / LANCZOS_A) for j in taps]
    wc = [np.sinc(fc - i) * np.sinc((fc - i) / LANCZOS_A) for i in taps]
    h, w = image.shape
    out = np.zeros(rows.shape)
    for j, weight_r in zip(taps, wr):
        rr = np.clip(r0 + j, 0, h - 1)
        along = np.zeros(rows.shape)
        for i, weight_c in zip(taps, wc):
            along += weight_c * image[rr, np.clip(c0 + i, 0, w - 1)]
        out += weight_r * along
    return out / (sum(wr) * sum(wc))


def _block_average(fine: np.ndarray, block: int) -> np.ndarray:
    rows, cols = fine.shape[0] // block, fine.shape[1] // block
    return fine[:rows * block, :cols * block].reshape(rows, block, cols, block).mean(axis=(1, 3))


def build(case: LocalCase) -> LocalPair:
    """The case's reference and secondary (float64, one grid: ``sec_block`` must be the
    reference's) and the true (dx, dy)."""
    assert case.sec_block in (0, case.block), "another secondary grid: use write_pair"
    reference, secondary, fine_shape, _ = _images(case)
    return LocalPair(reference, secondary, *truth(case, reference.shape, fine_shape))


def write_pair(case: LocalCase, folder: Path) -> tuple[Path, Path, LocalPair]:
    """The case as two GeoTIFFs in ``folder``, each on its own grid (the secondary's pixel
    ``sec_block`` fine pixels, georeferenced where its blocks would be without the offset
    and the field), and the pair (its secondary on its own grid) with the truth."""
    reference, secondary, fine_shape, profile = _images(case)
    folder.mkdir(parents=True, exist_ok=True)
    origin = profile["transform"] * Affine.translation(case.margin, case.margin)
    paths = []
    for name, image, block in (("reference", reference, case.block),
                               ("secondary", secondary, case.sec_block or case.block)):
        path = folder / f"{name}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=image.shape[1],
                           height=image.shape[0], count=1, dtype="float32",
                           crs=profile["crs"], transform=origin * Affine.scale(block)) as dst:
            dst.write(image.astype(np.float32), 1)
        paths.append(path)
    return paths[0], paths[1], LocalPair(reference, secondary,
                                         *truth(case, reference.shape, fine_shape))


def _images(case: LocalCase) -> tuple[np.ndarray, np.ndarray, tuple[int, int], dict]:
    """Reference and secondary block averages, the fine crop's shape, the band's profile."""
    band, profile = read_fine(case.source)
    m = case.margin
    kx, ky = case.offset
    fine = band[:case.size + 2 * m, :case.size + 2 * m]
    height, width = fine.shape[0] - 2 * m, fine.shape[1] - 2 * m
    reference = _block_average(fine[m:m + height, m:m + width], case.block)
    # Fine positions the secondary's blocks cover (the whole-pixel offset is exact).
    rows, cols = np.mgrid[m + ky:m + ky + height, m + kx:m + kx + width].astype(float)
    if case.field == "none":
        warped = fine[m + ky:m + ky + height, m + kx:m + kx + width]
    else:
        vx, vy = fine_field(case, rows, cols, fine.shape)
        warped = lanczos_sample(fine, rows + vy, cols + vx)
    secondary = radiometry(_block_average(warped, case.sec_block or case.block),
                           _radiometry_case(case))
    return reference, secondary, fine.shape, profile


def truth(case: LocalCase, shape: tuple[int, int], fine_shape: tuple[int, int]
          ) -> tuple[np.ndarray, np.ndarray]:
    """d(P) = -(k + v(q)) / b, q = p - v(q), p the fine centre of reference pixel P (b the
    reference's block, whatever the secondary's: its georeferencing holds no offset)."""
    b, m = case.block, case.margin
    kx, ky = case.offset
    pr, pc = np.mgrid[:shape[0], :shape[1]].astype(float) * b + (b - 1) / 2 + m
    vx = vy = np.zeros(shape)
    for _ in range(20):  # fixed point: v is smooth, a few iterations converge to 1e-9
        vx, vy = fine_field(case, pr - vy, pc - vx, fine_shape)
    return -(kx + vx) / b, -(ky + vy) / b


def _radiometry_case(case: LocalCase) -> CorpusCase:
    return CorpusCase(case.name, "local", case.source, case.block,
                      case.sec_block or case.block, case.offset,
                      gamma=case.gamma, noise=case.noise, cloud_fraction=case.cloud_fraction,
                      seed=case.seed)


def local_cases() -> list[LocalCase]:
    """The local corpus: whole-pixel offsets (exact), smooth fields and rotations warped
    with Lanczos-3 at the fine scale, at 2, 3 and 4 fine pixels per image pixel, with
    noise, gamma and clouds. ``split`` says which cases fit the calibration."""
    cases = []

    def add(name, source, block, offset, **kw):
        cases.append(LocalCase(name, source, block, offset, seed=len(cases) + 1, **kw))

    add("beirut 20 offset", BEIRUT, 2, (1, -1))
    add("cupertino 20 offset", CUPERTINO, 2, (-3, 2))
    add("abudhabi 30 offset", ABUDHABI, 3, (2, 1))
    add("saclay 40 offset", SACLAY, 4, (-1, 3))
    add("beirut 20 smooth 4", BEIRUT, 2, (1, 0), field="smooth", amplitude=4.0)
    add("cupertino 20 smooth 6", CUPERTINO, 2, (0, 1), field="smooth", amplitude=6.0,
        wavelength=700)
    add("abudhabi 30 smooth 6", ABUDHABI, 3, (1, -2), field="smooth", amplitude=6.0)
    add("hongkong red 20 smooth 3", HONGKONG_RED, 2, (-1, 1), field="smooth", amplitude=3.0,
        wavelength=600)
    add("saclay 30 smooth 5 gamma", SACLAY, 3, (2, 0), field="smooth", amplitude=5.0,
        gamma=0.6, noise=0.03)
    add("beirut red 40 smooth 8", BEIRUT_RED, 4, (3, 1), field="smooth", amplitude=8.0)
    add("nanjing 60 smooth 3", NANJING, 2, (1, 1), field="smooth", amplitude=3.0)
    add("everest 60 smooth 3", EVEREST, 2, (-1, 2), field="smooth", amplitude=3.0)
    add("beirut 20 rot 0.5", BEIRUT, 2, (1, 1), field="rotation", amplitude=0.5)
    add("cupertino 30 rot -0.8", CUPERTINO, 3, (0, -2), field="rotation", amplitude=-0.8)
    add("beirut 20 smooth 4 noise", BEIRUT, 2, (-1, 0), field="smooth", amplitude=4.0,
        noise=0.08)
    add("cupertino 20 smooth 4 clouds", CUPERTINO, 2, (1, -1), field="smooth",
        amplitude=4.0, cloud_fraction=0.2)
    return cases


def mixed_cases() -> list[LocalCase]:
    """Secondaries coarser than the reference (20, 30 and 40 m onto 10 and 20 m; Landsat
    60 m onto 30 m), run through align_local on files: the secondary is resampled onto the
    reference grid by Coreg, as a user's would be. None fits SCALE or FLOOR; the first
    four showed that the uncertainty must be counted in the coarser image's pixels (the
    rule chosen on them, not fitted), the last two were added after, to check it."""
    return [LocalCase("beirut 10/20 smooth 4", BEIRUT, 1, (2, -1), field="smooth",
                      amplitude=4.0, sec_block=2, seed=101, size=700),
            LocalCase("cupertino 10/30 smooth 6", CUPERTINO, 1, (-2, 3), field="smooth",
                      amplitude=6.0, sec_block=3, seed=102, size=700),
            LocalCase("abudhabi 20/40 rot 0.6", ABUDHABI, 2, (1, 2), field="rotation",
                      amplitude=0.6, sec_block=4, seed=103),
            LocalCase("saclay 10/20 offset", SACLAY, 1, (3, 1), sec_block=2, seed=104,
                      size=600),
            LocalCase("hongkong red 10/20 smooth 3", HONGKONG_RED, 1, (1, 2), field="smooth",
                      amplitude=3.0, wavelength=600, sec_block=2, seed=105, size=600),
            LocalCase("nanjing 30/60 smooth 3", NANJING, 1, (-1, 1), field="smooth",
                      amplitude=3.0, sec_block=2, seed=106, size=700)]


#: How many of :func:`mixed_cases` chose the pixel-ratio rule (the rest check it).
MIXED_RULE_CASES = 4


def split(cases: list[LocalCase]) -> tuple[list[LocalCase], list[LocalCase]]:
    """(fit, held out): the 1st, 3rd, ... cases and the 2nd, 4th, ...: both halves hold
    every kind."""
    return cases[0::2], cases[1::2]
