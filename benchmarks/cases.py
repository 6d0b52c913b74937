"""The benchmark cases of ``benchmarks/run.py``: Coreg against AROSICS.

Synthetic cases use ``tests/synthetic.py`` (a real band displaced by a known rigid
model; the truth is the correction in reference pixels, x right, y down). Real cases
are the five OSCD Sentinel-2 pairs (no truth). The large case is a real band tiled to
5000 x 5000 px whose secondary differs only by a moved geotransform (exact truth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from synthetic import Case

REPO = Path(__file__).resolve().parents[1]
OPTICAL = REPO.parent / "shared" / "data" / "optical"
OSCD = OPTICAL / "oscd_s2"


@dataclass(frozen=True)
class Scene:
    name: str
    path: Path
    band: int


BEIRUT = Scene("beirut", OSCD / "beirut_S2_20150820_B02-B03-B04-B08.tif", 4)
NANJING = Scene("nanjing", OPTICAL / "landsat_pairs" / "nanjing_LT05_20000503_B1-5_7.tif", 4)
EVEREST = Scene("everest", OPTICAL / "single_scene" / "everest_LE07_20001030_B4.tif", 1)

#: OSCD cities: (first date = reference, second date = secondary), band 4 (B08) in both.
OSCD_PAIRS = {
    "beirut": ("20150820", "20171003"),
    "cupertino": ("20150918", "20180326"),
    "saclay_e": ("20160315", "20170829"),
    "abudhabi": ("20160120", "20180328"),
    "hongkong": ("20160927", "20180323"),
}

#: Large scene: side (px), source band tiled to it, and the known correction (px).
LARGE_SIZE = 5000
LARGE_SOURCE = BEIRUT
LARGE_SHIFT = (0.37, -0.23)

#: max_shift (reference pixels, both tools) for the real pairs; AROSICS's manifest run used 10.
REAL_MAX_SHIFT = 10


@dataclass(frozen=True)
class BenchCase:
    """One row of the benchmark.

    kind: "synthetic" (``case`` on ``scene``), "real" (``secondary`` given, no truth) or
    "large" (the tiled scene, timed with output writing, best of several runs).
    ``output_mode`` is Coreg's ("resample": cubic onto the reference grid).
    ``transform`` is the Coreg model: "rigid" where the truth has a rotation (a user who
    expects one picks it), "translation" otherwise (what AROSICS fits), plus one row of
    the rigid model on a pure translation to show its cost.
    """

    name: str
    group: str
    kind: str
    scene: Scene
    case: Case | None = None
    secondary: Path | None = None
    secondary_band: int = 1
    transform: str = "translation"
    output_mode: str = "resample"

    @property
    def reference_band(self) -> int:
        """The large scene is written as a one-band file; the others use the scene's band."""
        return 1 if self.kind == "large" else self.scene.band

    @property
    def has_rotation_or_clouds(self) -> bool:
        return self.case is not None and bool(self.case.rotation_deg or self.case.cloud_fraction)

    @property
    def max_shift(self) -> int:
        """max_shift for both tools: the largest |shift| rounded up, plus 5 (at least 5)."""
        if self.kind == "real":
            return REAL_MAX_SHIFT
        dx, dy = (self.case.dx_px, self.case.dy_px) if self.case else LARGE_SHIFT
        return max(5, math.ceil(max(abs(dx), abs(dy))) + 5)


def _syn(name, group, scene, case, transform=None):
    if transform is None:
        transform = "rigid" if case.rotation_deg else "translation"
    return BenchCase(name, group, "synthetic", scene, case, transform=transform)


def all_cases() -> list[BenchCase]:
    cases = [
        # 1. Pure translations.
        _syn("beirut shift sub-px", "translation", BEIRUT, Case(0.3, -0.2, seed=1)),
        _syn("beirut shift sub-px rigid", "translation", BEIRUT, Case(0.3, -0.2, seed=1),
             transform="rigid"),
        _syn("beirut shift 10 px", "translation", BEIRUT, Case(-4.7, 9.1, seed=2)),
        _syn("nanjing shift", "translation", NANJING, Case(1.25, -0.75, seed=3)),
        # 2. Translation + rotation.
        _syn("beirut rot +0.5", "rotation", BEIRUT, Case(1.3, -0.6, rotation_deg=0.5, seed=4)),
        _syn("beirut rot -1.0", "rotation", BEIRUT, Case(-2.2, 3.4, rotation_deg=-1.0, seed=5)),
        _syn("nanjing rot +0.5", "rotation", NANJING, Case(0.8, 1.7, rotation_deg=0.5, seed=6)),
        _syn("nanjing rot -1.0", "rotation", NANJING,
             Case(-1.6, -2.3, rotation_deg=-1.0, seed=7)),
        # 3. Clouds (30 % of the secondary), without and with rotation.
        _syn("nanjing clouds", "clouds", NANJING, Case(1.1, -0.4, cloud_fraction=0.3, seed=8)),
        _syn("nanjing clouds rot", "clouds", NANJING,
             Case(-0.7, 2.6, rotation_deg=0.5, cloud_fraction=0.3, seed=9)),
        _syn("everest clouds", "clouds", EVEREST, Case(2.3, -1.2, cloud_fraction=0.3, seed=10)),
        _syn("everest clouds rot", "clouds", EVEREST,
             Case(-3.4, 0.8, rotation_deg=-1.0, cloud_fraction=0.3, seed=11)),
        # 4. Secondary with 2x coarser pixels.
        _syn("beirut 2x coarser", "coarser", BEIRUT, Case(1.5, -0.9, factor=2, seed=12)),
    ]
    # 5. Real OSCD pairs.
    for city, (first, second) in OSCD_PAIRS.items():
        ref = OSCD / f"{city}_S2_{first}_B02-B03-B04-B08.tif"
        sec = OSCD / f"{city}_S2_{second}_B02-B03-B04-B08.tif"
        cases.append(BenchCase(f"real {city}", "real", "real", Scene(city, ref, 4),
                               secondary=sec, secondary_band=4))
    # 6. Large scene (timed with output writing, best of N): Coreg resamples onto the
    # reference grid (cubic); the extra row has Coreg only move the geotransform, as
    # AROSICS does by default.
    large = f"large {LARGE_SIZE}x{LARGE_SIZE}"
    cases.append(BenchCase(large, "large", "large", LARGE_SOURCE))
    cases.append(BenchCase(f"{large} geotransform", "large", "large", LARGE_SOURCE,
                           output_mode="geotransform"))
    return cases
