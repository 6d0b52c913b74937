"""What a pair of STAC items must satisfy before co-registration, read from their
metadata alone (no pixel is read): UP42's rules.

One processing level, ground sampling distances within 25 %, footprints overlapping by
20 % at least, cloud cover under 25 %, and orthorectified (georeferenced) products. A
rule the metadata cannot decide (a field missing) is not a refusal.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..errors import CoregInputError
from ..grid import intersection
from ..stack.coregistered_stack import MAX_CLOUD_COVER, MAX_GSD_DIFFERENCE, MIN_OVERLAP
from .stac import StacAsset, StacItem

#: Processing levels of products that are not orthorectified (raw, or in sensor geometry).
UNRECTIFIED_LEVELS = ("L0", "L1A", "L1B", "RAW")
#: Projection fields that say an item (or asset) is on a map grid.
PROJECTION_FIELDS = ("proj:epsg", "proj:code", "proj:wkt2", "proj:projjson")

Log = Callable[[str, str], None]


def precondition_failures(source: StacItem, reference: StacItem,
                          match: tuple[StacAsset, StacAsset]) -> list[str]:
    """Every rule the pair breaks, each a sentence naming the item and the value."""
    failures = []
    levels = [item.properties.get("processing:level") for item in (source, reference)]
    if all(levels) and str(levels[0]).upper() != str(levels[1]).upper():
        failures.append(f"The source item '{source.id}' is processing level {levels[0]} and "
                        f"the reference item '{reference.id}' {levels[1]}: their values are "
                        "not comparable.")
    gsds = [asset.gsd or item.gsd for item, asset in zip((source, reference), match)]
    if all(isinstance(g, (int, float)) and g > 0 for g in gsds):
        difference = abs(gsds[0] - gsds[1]) / gsds[1]
        if difference > MAX_GSD_DIFFERENCE:
            failures.append(
                f"The source item '{source.id}' has a GSD of {gsds[0]:g} m against "
                f"{gsds[1]:g} m for the reference item '{reference.id}' "
                f"({100 * difference:.0f} % apart, at most {100 * MAX_GSD_DIFFERENCE:.0f} %).")
    overlap = item_overlap(source, reference)
    if overlap is not None and overlap < MIN_OVERLAP:
        failures.append(f"The footprints of the source item '{source.id}' and the reference "
                        f"item '{reference.id}' overlap by {100 * overlap:.0f} % only (at "
                        f"least {100 * MIN_OVERLAP:.0f} % needed).")
    for role, item in (("source", source), ("reference", reference)):
        cloud = item.properties.get("eo:cloud_cover")
        if isinstance(cloud, (int, float)) and cloud >= MAX_CLOUD_COVER:
            failures.append(f"The {role} item '{item.id}' is {cloud:g} % cloudy (under "
                            f"{MAX_CLOUD_COVER:g} % needed): clouds pull the alignment.")
        failures += _ortho_failures(role, item)
    return failures


def _ortho_failures(role: str, item: StacItem) -> list[str]:
    level = str(item.properties.get("processing:level") or "").upper()
    if level in UNRECTIFIED_LEVELS:
        return [f"The {role} item '{item.id}' is processing level {level}, not "
                "orthorectified: align orthorectified products (L1C, L2A...)."]
    return []


def check_preconditions(source: StacItem, reference: StacItem,
                        match: tuple[StacAsset, StacAsset], *, ignore: bool, log: Log) -> None:
    """Refuse the pair (CoregInputError listing every broken rule), or with ``ignore``
    log each as a warning."""
    failures = precondition_failures(source, reference, match)
    if not failures:
        log("info", f"Preconditions met: items '{source.id}' and '{reference.id}'.")
        return
    if not ignore:
        raise CoregInputError(" ".join(failures) + " (IGNORE_PRECONDITIONS runs anyway.)")
    for failure in failures:
        log("warning", failure + " Ignored as asked.")


def item_overlap(a: StacItem, b: StacItem) -> float | None:
    """Area of the footprints' bounding boxes' intersection over the smaller one (in
    degrees, longitudes scaled by the cosine of the latitude); None without footprints."""
    boxes = [_bbox(item) for item in (a, b)]
    if None in boxes:
        return None
    scale = math.cos(math.radians(sum(box[1] + box[3] for box in boxes) / 4))
    boxes = [(x0 * scale, y0, x1 * scale, y1) for x0, y0, x1, y1 in boxes]
    box = intersection(*boxes)
    if box is None:
        return 0.0
    smaller = min((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes)
    return (box[2] - box[0]) * (box[3] - box[1]) / smaller if smaller > 0 else None


def _bbox(item: StacItem) -> tuple[float, float, float, float] | None:
    if len(item.bbox) in (4, 6):
        half = len(item.bbox) // 2
        return (item.bbox[0], item.bbox[1], item.bbox[half], item.bbox[half + 1])
    points = list(_coordinates((item.geometry or {}).get("coordinates")))
    if not points:
        return None
    xs, ys = zip(*points)
    return min(xs), min(ys), max(xs), max(ys)


def _coordinates(value):
    if isinstance(value, list) and len(value) >= 2 and all(
            isinstance(v, (int, float)) for v in value[:2]):
        yield float(value[0]), float(value[1])
    elif isinstance(value, list):
        for part in value:
            yield from _coordinates(part)
