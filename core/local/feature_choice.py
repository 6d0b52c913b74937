"""What tie points are matched on: intensities (phase correlation) or structure (the
gradient-orientation features of :mod:`..matching.modality`, which survive SAR against
optical), by the MODALITY asked for or, for "auto", by the data.

"auto" matches the first pass on intensities; when too few points are reliable there
(another sensor, SAR against optical), it matches them again on structure and keeps the
features on which more points are reliable. Both reliabilities read on one scale
(:func:`..matching.structure_match.on_phase_scale`), so the comparison is fair; the choice,
the shares it rests on and the reason go into the report.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..matching.modality import check_modality, fine_kind

#: "auto" keeps intensities without trying structure when at least this share of the
#: points is reliable on them (same-sensor pairs: 0.9 to 1.0 in the tests; Sentinel-2 onto
#: Sentinel-1: under 0.1).
AUTO_RELIABLE_SHARE = 0.5

#: ``measure(features)`` -> the measured figures of :func:`.tie_points.measure_points`.
Measure = Callable[[str], dict]


def reliable_share(measured: dict, min_reliability: float) -> float:
    """Share of the points measured with at least ``min_reliability`` percent."""
    reliability = measured["reliability"]
    return float(np.mean(reliability >= min_reliability)) if reliability.size else 0.0


def choose_features(modality: str, measure: Measure,
                    min_reliability: float) -> tuple[str, dict, dict]:
    """The features to match on, the first measurement made with them, and the record
    for the report (modality, features, the reliable shares compared, why)."""
    check_modality(modality)
    features = fine_kind(modality)
    if features is not None:
        measured = measure(features)
        return features, measured, {
            "modality": modality, "features": features,
            "reliable_share": {features: reliable_share(measured, min_reliability)},
            "reason": f"MODALITY {modality}"}
    tried = {"intensity": measure("intensity")}
    shares = {"intensity": reliable_share(tried["intensity"], min_reliability)}
    if shares["intensity"] >= AUTO_RELIABLE_SHARE:
        reason = (f"{shares['intensity']:.0%} of the points are reliable on intensities "
                  f"(at least {AUTO_RELIABLE_SHARE:.0%}): same kind of images")
    else:
        tried["structure"] = measure("structure")
        shares["structure"] = reliable_share(tried["structure"], min_reliability)
        better = shares["structure"] > shares["intensity"]
        reason = (f"{shares['intensity']:.0%} of the points are reliable on intensities, "
                  f"{shares['structure']:.0%} on structure: "
                  + ("another modality (SAR against optical or unlike sensors)" if better
                     else "structure does no better"))
    features = max(shares, key=lambda kind: (shares[kind], kind == "intensity"))
    return features, tried[features], {"modality": modality, "features": features,
                                       "reliable_share": shares, "reason": reason}
