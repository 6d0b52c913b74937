"""What every estimator returns: a transform with its quality figures and warnings."""

from __future__ import annotations

from abc import ABC, abstractmethod

from .transforms.model import Transform


class AlignmentResult(ABC):
    """Base of the results of :func:`.align.align_image`, :func:`.dem.align_dem` and
    :func:`.local.align_local` (and their ``estimate_*``): whatever was measured, the
    alignment is one :class:`.transforms.Transform`, to apply to other rasters
    (:func:`.apply.apply_alignment`); ``report()`` holds it as its ``transform`` record
    beside the figures particular to the method. Problems the user should know of are
    in ``warnings``; diagnostics go to logging."""

    warnings: tuple[str, ...]

    @property
    @abstractmethod
    def transform(self) -> Transform:
        """The alignment measured, in the CRS it was measured in."""

    @abstractmethod
    def report(self) -> dict:
        """The JSON report: ``kind``, ``version``, ``transform`` and the method's figures."""
