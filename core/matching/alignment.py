"""What the global alignment returns: the rigid model with its quality figures (Alignment)
and every matched patch (PatchResult)."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
from rasterio.crs import CRS

from ..results import AlignmentResult
from ..transforms.model import AffineTransform, Rigid, Uncertainty
from ..transforms.saved import alignment_record
from .fit import RigidModel
from .linear_model import LinearModel, model_terms


@dataclass(frozen=True)
class PatchResult:
    """One matched patch: where its content was in the secondary and where it goes.

    ``x``, ``y`` is the patch centre on the reference (map units, reference CRS);
    ``dx_map``, ``dy_map`` the displacement applied there (reference CRS units) and
    ``dx_px``, ``dy_px`` the same in secondary pixels (x right, y down).
    """

    x: float
    y: float
    dx_map: float
    dy_map: float
    dx_px: float
    dy_px: float
    reliability: float
    used: bool
    reason: str


class LazyScores:
    """The matching scores (before, after) computed on first use: the report needs them,
    the alignment does not (their SSIM was a quarter of a small pair's time), or on a
    thread of their own from :meth:`start` on. Pickled as the numbers (what a worker
    sends back has no closure)."""

    def __init__(self, compute: Callable[[], tuple[float, float]] | tuple[float, float]):
        self._compute = None if isinstance(compute, tuple) else compute
        self._value = compute if isinstance(compute, tuple) else None
        self._future: Future | None = None

    def start(self) -> None:
        """Compute them now on a thread of their own, beside other work (a long write)
        that the report will follow."""
        if self._value is None and self._future is None:
            pool = ThreadPoolExecutor(1)
            self._future = pool.submit(self._compute)
            pool.shutdown(wait=False)  # its thread ends with the work

    def value(self) -> tuple[float, float]:
        if self._value is None:
            computed = self._future.result() if self._future else self._compute()
            self._value = tuple(float(v) for v in computed)
            self._compute = self._future = None
        return self._value

    def __getstate__(self) -> dict:
        return {"_compute": None, "_value": self.value()}


@dataclass(frozen=True)
class Alignment(AlignmentResult):
    """Result of :func:`estimate_alignment`: a rigid model with its quality figures.

    A secondary map point p (reference CRS) goes to R(rotation_deg) (p - centre) +
    centre + shift_map (the scale and affine models: A (p - centre) + centre +
    shift_map, :class:`.linear_model.LinearModel`). Pixel shifts are in secondary
    pixels, x right, y down.
    """

    model: RigidModel | LinearModel
    reference_crs: str
    secondary_crs: str
    shift_x_px: float
    shift_y_px: float
    shift_uncertainty_px: float
    reliability: float
    #: Matching scores before and after (:mod:`.metrics`), computed when first read.
    scores: LazyScores = field(compare=False, repr=False)
    iterations: int
    patches: tuple[PatchResult, ...]
    bounds: tuple[float, float, float, float]
    warnings: tuple[str, ...] = field(default_factory=tuple)
    #: What the coarse search found (:class:`.coarse_search.CoarseResult` record).
    search: dict = field(default_factory=dict)
    #: Covariance of (x, y, rotation): reference pixels (x right, y down) and degrees.
    covariance: tuple[tuple[float, ...], ...] = ((0.0,) * 3,) * 3
    #: Radii (reference pixels, metres) around the correction that hold the true one,
    #: RMS over the overlap, with 90 % and 95 % probability; metres None without units.
    ce90_px: float = 0.0
    ce95_px: float = 0.0
    ce90_m: float | None = None
    ce95_m: float | None = None
    #: The scale and affine models: the covariance of their parameters (translation in
    #: map units, then the matrix terms), from which ``model_terms`` gets its errors.
    parameter_covariance: np.ndarray | None = field(default=None, compare=False)

    @property
    def matching_score_before(self) -> float:
        """Matching score of the secondary as it was (0..1, :mod:`.metrics`)."""
        return self.scores.value()[0]

    @property
    def matching_score_after(self) -> float:
        """Matching score once aligned (0..1, :mod:`.metrics`)."""
        return self.scores.value()[1]

    @property
    def transform(self) -> Rigid | AffineTransform:
        """The alignment alone, with its uncertainty, to apply to other rasters."""
        crs = CRS.from_user_input(self.reference_crs)
        uncertainty = Uncertainty(self.covariance, self.ce90_px, self.ce95_px, self.ce90_m,
                                  self.ce95_m)
        if isinstance(self.model, LinearModel):
            return self.model.transform(crs, self.bounds, uncertainty)
        return Rigid(self.model, crs, self.bounds, uncertainty=uncertainty)

    @property
    def model_terms(self) -> dict | None:
        """The scale and affine models' fitted terms (scale, scale_x, scale_y, shear,
        rotation_deg) with their standard errors (``<term>_se``); None for the others."""
        if not isinstance(self.model, LinearModel) or self.parameter_covariance is None:
            return None
        return model_terms(self.model, self.parameter_covariance)

    def report(self) -> dict:
        """The JSON report (the keys scripts rely on)."""
        used = sum(p.used for p in self.patches)
        return {
            **alignment_record(self.model, self.reference_crs, self.bounds),
            "transform": self.transform.to_record(),
            "shift_x_px": self.shift_x_px, "shift_y_px": self.shift_y_px,
            "shift_uncertainty_px": self.shift_uncertainty_px,
            "covariance": [list(row) for row in self.covariance],
            "ce90_px": self.ce90_px, "ce95_px": self.ce95_px,
            "ce90_m": self.ce90_m, "ce95_m": self.ce95_m,
            "reliability": self.reliability,
            "n_patches": len(self.patches), "n_patches_used": used,
            "matching_score_before": self.matching_score_before,
            "matching_score_after": self.matching_score_after,
            "reference_crs": self.reference_crs, "secondary_crs": self.secondary_crs,
            "iterations": self.iterations,
            "warnings": list(self.warnings),
            "search": self.search,
            **({"model_terms": self.model_terms} if self.model_terms else {}),
            "patches": [asdict(p) for p in self.patches],
        }
