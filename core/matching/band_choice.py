"""Which band pair to match, for multi-band inputs with different band sets (Landsat 5/7/8/9
against Sentinel-2, a 4-band PlanetScope-like image against a 13-band scene).

Every reference band is compared with every secondary band by the coarse search's
correlation (:mod:`.coarse_search`, on the coarsest level, features of the modality): the
pair whose peak stands out most (its height times its margin over the second peak) is
matched. Bands that see the same thing (red and red, NIR and NIR) correlate best; a pair
where vegetation is bright in one and dark in the other scores low. The report lists every
pair's score, so the choice can be checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..grid import Grid
from .coarse_search import (
    COARSE_SIDE,
    distinctness,
    level_grid,
    reference_on,
    search_featured,
    secondary_on,
)
from .modality import search_features, search_kinds

#: Largest number of band pairs compared (beyond it, the first bands of each image).
MAX_PAIRS = 64


@dataclass(frozen=True)
class BandChoice:
    reference_band: int
    secondary_band: int
    scores: tuple[tuple[int, int, float, float, float], ...]  # ref, sec, score, peak, second

    def record(self) -> dict:
        return {"reference_band": self.reference_band, "secondary_band": self.secondary_band,
                "scores": [{"reference_band": r, "secondary_band": s, "score": score,
                            "peak": peak, "second_peak": second}
                           for r, s, score, peak, second in self.scores]}


def choose_bands(ref_ds, ref_nodata, sec_ds, sec_nodata, common: Grid, masks, *,
                 seed: tuple[float, float], max_shift_map: float | None,
                 modality: str) -> BandChoice:
    """The band pair whose coarse correlation peak stands out most, and every pair's score."""
    factor = max(1, math.ceil(max(common.width, common.height) / COARSE_SIDE))
    level = level_grid(common, factor, None)
    kind = search_kinds(modality)[-1] if modality == "sar-optical" else "intensity"
    radius = None if max_shift_map is None else max_shift_map / (factor * common.res[0])
    per_side = max(1, int(math.sqrt(MAX_PAIRS)))
    ref_bands = range(1, min(ref_ds.count, per_side * 2) + 1)
    sec_bands = range(1, min(sec_ds.count, MAX_PAIRS // len(ref_bands)) + 1)
    refs = {b: search_features(reference_on(ref_ds, b, ref_nodata, level, masks), kind)
            for b in ref_bands}
    secs = {b: search_features(secondary_on(sec_ds, b, sec_nodata, level, seed), kind)
            for b in sec_bands}
    scores = []
    for r, (f, f_ok) in refs.items():
        for s, (g, g_ok) in secs.items():
            result = search_featured(f, f_ok, g, g_ok, kind, (0.0, 0.0), radius)
            scores.append((r, s, float(distinctness(result)), float(result[2]),
                           float(result[4])))
    best = max(scores, key=lambda row: row[2])
    return BandChoice(best[0], best[1], tuple(scores))
