"""The check points of a dense flow: the tie-point grid measured through the flow's
field, as the report's points (how well the field aligns there)."""

from __future__ import annotations

from ..grid import Grid
from ..transforms.apply import scaled_progress
from .feature_choice import choose_features
from .outliers import reject_outliers
from .points import NodeField, TiePoints
from .reader import RasterTiles
from .tie_points import (
    REJECTION_LEVELS,
    first_search_px,
    grid_positions,
    measure_points,
    tile_margin,
    update_points,
)


def measure_check_points(reader: RasterTiles, field_path: str, offset, overlap: Grid,
                         spacing: int, window: int, max_shift: float, rejection: str,
                         min_reliability: float, modality: str, is_canceled,
                         progress=None, client=None, sources=None) -> TiePoints:
    """The tie-point grid measured against the dense field: how well it aligns there (on
    the features ``modality`` calls for, chosen on these measures for "auto"). With a
    Dask ``client`` the two measures (through the field, and as delivered) are tasks
    on its workers, side by side, reading ``sources`` (:class:`.flow_tasks.TileSources`)
    and the field by path: the same calls on the same tiles."""
    rows, cols = grid_positions(overlap.height, overlap.width, spacing, window)
    zero = NodeField.zeros(overlap.height, overlap.width, float(spacing))
    margin = tile_margin(window, max_shift)
    points = TiePoints(rows, cols)
    through = dict(margin=margin, is_canceled=is_canceled,
                   progress=scaled_progress(progress, 0, 50))
    as_delivered = dict(margin=margin, final=False, search_px=first_search_px(max_shift, window),
                        is_canceled=is_canceled,  # scores and texture as delivered
                        progress=scaled_progress(progress, 50, 100))
    if client is not None:
        from .flow_tasks import cluster_check_points

        after, before, features, points.features = cluster_check_points(
            client, sources, (field_path, offset), (rows, cols, window, zero), through,
            as_delivered, modality, min_reliability)
        return _checked(points, after, before, rejection, max_shift, min_reliability, spacing)
    through_field = reader.with_displacement(field_path, offset)
    features, after, points.features = choose_features(
        modality, lambda kind: measure_points(through_field, rows, cols, window, zero,
                                              features=kind, **through),
        min_reliability)
    before = measure_points(reader, rows, cols, window, zero, features=features,
                            **as_delivered)
    return _checked(points, after, before, rejection, max_shift, min_reliability, spacing)


def _checked(points: TiePoints, after: dict, before: dict, rejection: str, max_shift: float,
             min_reliability: float, spacing: int) -> TiePoints:
    """``points`` with the measures through the field (``after``) and as delivered."""
    points.texture, points.score_before, points.ssim_before = (before["texture"],
                                                               before["score"], before["ssim"])
    update_points(points, after)
    points.reason = reject_outliers(points, level=REJECTION_LEVELS.index(rejection),
                                    max_shift=max_shift, min_reliability=min_reliability,
                                    spacing=spacing, consistency=False)
    return points
