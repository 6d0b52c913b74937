"""Inputs of ``benchmarks/speed.py``: square pairs of a given side made from a real band
with a sensor-simulated truth (``tests/corpus.py``'s method), and the large scene.

A pair of side N: the real fine band (beirut B08, Sentinel-2 10 m) mirrored
(``np.pad(mode="symmetric")``) as far as the side needs (the OSCD bands are about
1100 px), then block-averaged 2 x 2 (20 m) for the reference, and 2 x 2 from a start
``OFFSET`` fine pixels further right and down for the secondary, whose georeferencing
says it starts where the reference does: the content shift is exactly OFFSET / 2
pixels, with no interpolation anywhere (no "inverse crime"). The secondary then gets
``tests/corpus.py``'s radiometric change (gain, offset, 1 % noise).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from cases import LARGE_SHIFT, LARGE_SIZE, LARGE_SOURCE
from checkout import load_module

from coreg.core.matching.fit import RigidModel


def tests_corpus():
    """tests/corpus.py, as the module ``coreg_corpus`` (benchmarks/corpus.py's name hides
    it from a plain import)."""
    return load_module("coreg_corpus", Path(__file__).resolve().parents[1] / "tests" /
                       "corpus.py")


_corpus = tests_corpus()
BEIRUT, CorpusCase = _corpus.BEIRUT, _corpus.CorpusCase
block_average, radiometry = _corpus.block_average, _corpus.radiometry

#: Fine pixels of the content shift (x right, y down): (+0.5, -1.5) pixels of 20 m.
OFFSET = (1, -3)
BLOCK = 2
#: Fine pixels left around the secondary (room for the offset).
MARGIN = 8


def _fine(side: int) -> tuple[np.ndarray, dict]:
    """The real band, mirrored to at least ``side`` fine pixels square."""
    with rasterio.open(BEIRUT.path) as ds:
        band, profile = ds.read(BEIRUT.band).astype(np.float64), ds.profile
    pad = [(0, max(0, side - n)) for n in band.shape]
    while any(p for _, p in pad):  # a symmetric pad at most doubles: repeat if needed
        step = [(0, min(p, n)) for (_, p), n in zip(pad, band.shape)]
        band = np.pad(band, step, mode="symmetric")
        pad = [(0, max(0, side - n)) for n in band.shape]
    return band, profile


def make_pair(side: int, folder: Path) -> tuple[Path, Path, RigidModel]:
    """(reference, secondary, truth) of side ``side`` (pixels of 20 m), uint16 like the
    source, cached in ``folder`` (a stamp keys it)."""
    folder.mkdir(parents=True, exist_ok=True)
    ref, sec, stamp = folder / "reference.tif", folder / "secondary.tif", folder / "stamp.json"
    key = {"side": side, "offset": list(OFFSET), "block": BLOCK, "source": str(BEIRUT.path)}
    fine, profile = _fine(BLOCK * side + 2 * MARGIN)
    t: Affine = profile["transform"]
    origin = t * Affine.translation(MARGIN, MARGIN) * Affine.scale(BLOCK)
    kx, ky = OFFSET
    centre = origin * (side / 2, side / 2)
    truth = RigidModel(kx * t.a, ky * t.e, 0.0, *centre)
    if _stamp_ok(stamp, key, ref, sec):
        return ref, sec, truth
    reference = block_average(fine, BLOCK, MARGIN, MARGIN, side, side)
    secondary = block_average(fine, BLOCK, MARGIN + ky, MARGIN + kx, side, side)
    case = CorpusCase("speed", "speed", BEIRUT, BLOCK, BLOCK, OFFSET, seed=side)
    secondary = radiometry(secondary, case)
    for path, data in ((ref, reference), (sec, secondary)):
        _write(path, np.clip(np.rint(data), 1, 65535).astype(np.uint16), profile["crs"], origin)
    stamp.write_text(json.dumps(key))
    return ref, sec, truth


def _write(path: Path, data: np.ndarray, crs, transform: Affine) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0],
                       count=1, dtype=data.dtype, crs=crs, transform=transform, tiled=True,
                       blockxsize=256, blockysize=256, compress="deflate") as dst:
        dst.write(data, 1)


def _stamp_ok(stamp: Path, key: dict, *paths: Path) -> bool:
    try:
        return json.loads(stamp.read_text()) == key and all(p.exists() for p in paths)
    except (OSError, ValueError):
        return False


def make_large(folder: Path) -> tuple[Path, Path, RigidModel]:
    """The large scene of ``cases.py``: a real band tiled (``np.tile``) to LARGE_SIZE^2;
    the secondary has the same pixels with the geotransform moved so that LARGE_SHIFT
    (px, x right, y down) is the exact correction."""
    folder.mkdir(parents=True, exist_ok=True)
    ref, sec, stamp = folder / "reference.tif", folder / "secondary.tif", folder / "stamp.json"
    key = {"source": str(LARGE_SOURCE.path), "band": LARGE_SOURCE.band, "size": LARGE_SIZE,
           "shift": list(LARGE_SHIFT)}
    with rasterio.open(LARGE_SOURCE.path) as ds:
        t, crs = ds.transform, ds.crs
        band = None if _stamp_ok(stamp, key, ref, sec) else ds.read(LARGE_SOURCE.band)
    dx, dy = LARGE_SHIFT
    if band is not None:
        reps = (-(-LARGE_SIZE // band.shape[0]), -(-LARGE_SIZE // band.shape[1]))
        big = np.tile(band, reps)[:LARGE_SIZE, :LARGE_SIZE]
        profile = dict(driver="GTiff", width=LARGE_SIZE, height=LARGE_SIZE, count=1,
                       dtype=big.dtype, crs=crs, tiled=True, blockxsize=512, blockysize=512,
                       compress="deflate")
        for path, transform in ((ref, t), (sec, t * Affine.translation(-dx, -dy))):
            with rasterio.open(path, "w", transform=transform, **profile) as dst:
                dst.write(big, 1)
        stamp.write_text(json.dumps(key))
    cx, cy = t * (LARGE_SIZE / 2, LARGE_SIZE / 2)
    return ref, sec, RigidModel(dx * t.a, dy * t.e, 0.0, cx, cy)


def arosics_model(dx_px: float, dy_px: float, secondary: Path,
                  truth: RigidModel | None = None) -> RigidModel:
    """AROSICS's correction (secondary pixels, x right, y down) as a map-unit model
    (pivot: the truth's, which a translation does not depend on)."""
    with rasterio.open(secondary) as ds:
        t = ds.transform
    pivot = (truth.pivot_x, truth.pivot_y) if truth else (0.0, 0.0)
    # x: px * pixel width; y: -px * pixel height = px * t.e (t.e < 0 for north-up).
    return RigidModel(dx_px * t.a, dy_px * t.e, 0.0, *pivot)
