"""The co-registered stack's shift measurements, one per input: here, or as tasks on the
workers of a Dask cluster, which read the asset views (VRTs beside the outputs) by path."""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import CoregistrationError
from ..io.raster_io import IsCanceled, Progress
from ..matching.align import estimate_alignment
from ..transforms.apply import scaled_progress


def measure_shift(reference: str, moving: str, modality: str = "same",
                  progress: Progress | None = None, is_canceled: IsCanceled | None = None):
    """The translation aligning the view ``moving`` to ``reference`` (matched on the
    features ``modality`` chooses), or the CoregistrationError / ValueError that says why
    there is none (returned: one input that does not match never stops the others)."""
    try:
        return estimate_alignment(reference, moving, transform="translation",
                                  modality=modality, progress=progress,
                                  is_canceled=is_canceled)
    except (CoregistrationError, ValueError) as exc:
        return exc


def measured_shifts(pairs: list[tuple[str, str, str]], progress: Progress | None,
                    is_canceled: IsCanceled | None, client=None) -> Iterator[tuple[int, object]]:
    """(k, :func:`measure_shift` of pair k) for every (reference, moving, modality): here in
    order, or on the workers of the Dask ``client`` as they finish."""
    if client is not None:
        from ..distributed import cluster_map

        for done, (k, result) in enumerate(cluster_map(client, measure_shift, pairs,
                                                       is_canceled)):
            if progress:
                progress(100.0 * (done + 1) / len(pairs))
            yield k, result
        return
    for k, pair in enumerate(pairs):
        yield k, measure_shift(*pair, scaled_progress(progress, 100 * k / len(pairs),
                                                      100 * (k + 1) / len(pairs)), is_canceled)
