"""One transformation model: what every alignment of Coreg is, however it was measured.

A transform moves the secondary: ``forward(x, y)`` is where secondary map points (in
the transform's CRS) belong once aligned; ``inverse(x, y)`` is where the content shown
at aligned points comes from, which is what resampling needs; ``vertical(x, y)`` is the
value added there (a DEM's vertical shift). Four types cover every estimator:

* :class:`Rigid`: a rotation about a pivot plus a shift (global image alignment, DEM
  translation), with a constant vertical shift;
* :class:`AffineTransform`: any affine map of map coordinates (scale and shear too);
* :class:`BlockField`: shifts on a regular grid of nodes, bilinear in between
  (blockwise DEM alignment);
* :class:`DisplacementField`: a per-pixel displacement raster (local alignment);

and :class:`Composite` chains them (global, then local). Every transform is valid over
``bounds`` (the area it was measured on), inverts (fields to first order), composes,
and saves itself as a versioned record (:meth:`Transform.to_record`, read back by
:func:`.saved.read_alignment`, described by ``docs/transform.schema.json``).
Resampling a raster through any of them is :class:`.resample.SourceMapping`.

One module for the five types (about 430 lines): they share one interface and one
record format, and reading one beside the others is how the model is understood.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window
from scipy import ndimage

from ..errors import CoregInputError
from ..matching.fit import RigidModel
from .resample import interpolate, prepare

#: ``kind`` and ``version`` of a transform record (see docs/transform.schema.json).
TRANSFORM_KIND = "coreg.transform"
TRANSFORM_VERSION = 1

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class Uncertainty:
    """How far the true correction may lie from the transform: the covariance of
    (x, y, rotation) in reference pixels (x right, y down) and degrees, and the radii
    (reference pixels, metres) that hold the true correction with 90 % and 95 %
    probability, RMS over the area (metres None without linear units)."""

    covariance: tuple[tuple[float, ...], ...] = ((0.0,) * 3,) * 3
    ce90_px: float = 0.0
    ce95_px: float = 0.0
    ce90_m: float | None = None
    ce95_m: float | None = None

    def to_record(self) -> dict:
        return {"covariance": [list(row) for row in self.covariance],
                "ce90_px": self.ce90_px, "ce95_px": self.ce95_px,
                "ce90_m": self.ce90_m, "ce95_m": self.ce95_m}


class Transform(ABC):
    """Base of the transform types: a map of secondary map points in ``crs``, valid
    over ``bounds`` (left, bottom, right, top in ``crs``; None: anywhere)."""

    crs: CRS
    bounds: Bounds | None
    #: Whether positions may be interpolated between exact ones every few pixels (true
    #: of smooth maps; a displacement raster is applied exactly at every pixel).
    smooth: bool = True

    @abstractmethod
    def forward(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Where secondary map points (x, y) go once aligned."""

    @abstractmethod
    def inverse(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """The secondary map points whose content lands on aligned points (x, y); NaN
        where the transform does not know (outside a displacement field)."""

    def vertical(self, x, y) -> np.ndarray | float:
        """The value added at aligned points (x, y) (a DEM's vertical shift)."""
        return 0.0

    @property
    def has_vertical(self) -> bool:
        """Whether :meth:`vertical` is ever non-zero."""
        return False

    @property
    def affine(self) -> Affine | None:
        """The transform as an affine map of map coordinates, None if it is not one."""
        return None

    def translation(self) -> tuple[float, float] | None:
        """(dx, dy) in map units if the transform is a pure translation, else None."""
        matrix = self.affine
        if matrix is None or not np.allclose(matrix[:2] + matrix[3:5], (1, 0, 0, 1),
                                             rtol=0, atol=1e-12):
            return None
        return matrix.c, matrix.f

    @property
    def files(self) -> tuple[str, ...]:
        """Files the transform reads when applied (never to be overwritten by it)."""
        return ()

    @abstractmethod
    def inverted(self) -> Transform:
        """The transform that undoes this one."""

    def then(self, other: Transform) -> Transform:
        """This transform followed by ``other`` (same CRS), as one transform."""
        return Composite((self, other))

    @abstractmethod
    def _parameters(self) -> dict:
        """The record's type-specific keys."""

    def to_record(self) -> dict:
        """The transform as a JSON-ready record (docs/transform.schema.json)."""
        return {"kind": TRANSFORM_KIND, "version": TRANSFORM_VERSION, **self._body()}

    def _body(self) -> dict:
        return {"crs": self.crs.to_wkt(),
                "bounds": None if self.bounds is None else [float(v) for v in self.bounds],
                **self._parameters()}


class _ConstantVertical:
    """A vertical shift ``z_offset`` that is the same everywhere."""

    z_offset: float

    def vertical(self, x, y):
        return self.z_offset

    @property
    def has_vertical(self) -> bool:
        return self.z_offset != 0.0


@dataclass(frozen=True)
class Rigid(_ConstantVertical, Transform):
    """A rigid motion (:class:`.fit.RigidModel`) in map units of ``crs``, plus a
    constant vertical shift ``z_offset`` (DEMs)."""

    model: RigidModel
    crs: CRS
    bounds: Bounds | None = None
    z_offset: float = 0.0
    uncertainty: Uncertainty | None = field(default=None, compare=False)

    def forward(self, x, y):
        return self.model.forward(x, y)

    def inverse(self, x, y):
        return self.model.inverse(x, y)

    @property
    def affine(self) -> Affine:
        m = self.model
        return (Affine.translation(m.pivot_x + m.shift_x, m.pivot_y + m.shift_y)
                * Affine.rotation(m.rotation_deg) * Affine.translation(-m.pivot_x, -m.pivot_y))

    def translation(self) -> tuple[float, float] | None:
        return (self.model.shift_x, self.model.shift_y) if self.model.rotation_deg == 0 \
            else None

    def inverted(self) -> Rigid:
        return replace(self, model=self.model.inverted(), z_offset=-self.z_offset)

    def then(self, other: Transform) -> Transform:
        if isinstance(other, Rigid) and other.crs == self.crs and \
                (other.model.pivot_x, other.model.pivot_y) == (self.model.pivot_x,
                                                               self.model.pivot_y):
            return replace(self, model=self.model.then(other.model),
                           z_offset=self.z_offset + other.z_offset, uncertainty=None)
        return super().then(other)

    def _parameters(self) -> dict:
        m = self.model
        record = {"type": "rigid", "shift_x": m.shift_x, "shift_y": m.shift_y,
                  "rotation_deg": m.rotation_deg, "pivot_x": m.pivot_x, "pivot_y": m.pivot_y,
                  "shift_z": self.z_offset}
        if self.uncertainty is not None:
            record["uncertainty"] = self.uncertainty.to_record()
        return record


def identity(crs) -> Rigid:
    """The transform that moves nothing, in ``crs`` (anything rasterio takes)."""
    return Rigid(RigidModel(), CRS.from_user_input(crs))


@dataclass(frozen=True)
class AffineTransform(_ConstantVertical, Transform):
    """Any affine map ``matrix`` of map coordinates of ``crs`` (a scale error of the
    secondary's pixel size, shear), plus a constant vertical shift."""

    matrix: Affine
    crs: CRS
    bounds: Bounds | None = None
    z_offset: float = 0.0
    uncertainty: Uncertainty | None = field(default=None, compare=False)

    def forward(self, x, y):
        return self.matrix * (np.asarray(x, float), np.asarray(y, float))

    def inverse(self, x, y):
        return ~self.matrix * (np.asarray(x, float), np.asarray(y, float))

    @property
    def affine(self) -> Affine:
        return self.matrix

    def inverted(self) -> AffineTransform:
        return replace(self, matrix=~self.matrix, z_offset=-self.z_offset)

    def then(self, other: Transform) -> Transform:
        if other.affine is not None and other.crs == self.crs and not other.has_vertical:
            return replace(self, matrix=other.affine * self.matrix, uncertainty=None)
        return super().then(other)

    def _parameters(self) -> dict:
        record = {"type": "affine", "matrix": [float(v) for v in self.matrix[:6]],
                  "shift_z": self.z_offset}
        if self.uncertainty is not None:
            record["uncertainty"] = self.uncertainty.to_record()
        return record


@dataclass(frozen=True)
class BlockField(Transform):
    """Shifts ``x``, ``y`` (map units) and ``z`` on nodes, ``nodes`` mapping node
    (col, row) + 0.5 to map coordinates, bilinear between nodes and constant beyond.

    Content near map point p moves by the field at p. Inverting evaluates the field
    where the content lands, not where it comes from: the difference is the field's
    gradient times the shift, negligible for the smooth fields of blockwise DEM
    alignment; :meth:`inverted` is exact to the same order.
    """

    nodes: Affine
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    crs: CRS
    bounds: Bounds | None = None
    smooth = False  # exact at every pixel, as it was always applied

    def __post_init__(self) -> None:
        for values in (self.x, self.y, self.z):
            values.setflags(write=False)

    def at(self, values: np.ndarray, x, y) -> np.ndarray:
        """Node ``values`` interpolated bilinearly at map points (x, y)."""
        x = np.asarray(x, float)
        cols, rows = ~self.nodes * (np.atleast_1d(x), np.atleast_1d(np.asarray(y, float)))
        return ndimage.map_coordinates(values, [rows - 0.5, cols - 0.5], order=1,
                                       mode="nearest").reshape(x.shape)

    def forward(self, x, y):
        return np.asarray(x) + self.at(self.x, x, y), np.asarray(y) + self.at(self.y, x, y)

    def inverse(self, x, y):
        return np.asarray(x) - self.at(self.x, x, y), np.asarray(y) - self.at(self.y, x, y)

    def vertical(self, x, y):
        return self.at(self.z, x, y)

    @property
    def has_vertical(self) -> bool:
        return bool(np.any(self.z != 0))

    def without_vertical(self) -> BlockField:
        """The same horizontal field, adding nothing to the values."""
        return replace(self, z=np.zeros_like(self.z))

    def inverted(self) -> BlockField:
        return replace(self, x=-self.x, y=-self.y, z=-self.z)

    def __eq__(self, other) -> bool:
        return (isinstance(other, BlockField) and self.nodes == other.nodes
                and self.crs == other.crs and self.bounds == other.bounds
                and all(np.array_equal(a, b) for a, b in zip((self.x, self.y, self.z),
                                                               (other.x, other.y, other.z))))

    __hash__ = None  # mutable-looking arrays: equal by value, not hashable

    def _parameters(self) -> dict:
        return {"type": "block_field", "nodes": [float(v) for v in self.nodes[:6]],
                "shape": list(self.x.shape),
                "x": self.x.tolist(), "y": self.y.tolist(), "z": self.z.tolist()}


@dataclass(frozen=True)
class DisplacementField(Transform):
    """A per-pixel displacement raster written by ``align_local`` (two Float32 bands,
    dx and dy in pixels of its own grid, NaN where unknown): the content shown at its
    pixel (col, row) comes from its grid position (col + dx, row + dy), the GeFolki
    convention. ``crs`` and ``bounds`` are the raster's.

    The raster is read window by window, for the points asked only, so a dense field of
    any size never sits in memory whole.
    """

    path: str
    crs: CRS
    bounds: Bounds | None = None
    smooth = False

    @property
    def files(self) -> tuple[str, ...]:
        return (self.path,)

    def inverse(self, x, y):
        x, y = np.asarray(x, float), np.asarray(y, float)
        if x.size == 0:
            return x, y
        with rasterio.open(self.path) as ds:
            transform = ds.transform
            cols, rows = ~transform * (x, y)  # pixel centres at +0.5
            finite = np.isfinite(cols) & np.isfinite(rows)
            if not finite.any():
                return np.full_like(x, np.nan), np.full_like(y, np.nan)
            c, r = cols[finite], rows[finite]
            window = Window(math.floor(c.min() - 1), math.floor(r.min() - 1),
                            math.ceil(c.max() - c.min()) + 3, math.ceil(r.max() - r.min()) + 3)
            dx, dy = ds.read([1, 2], window=window, boundless=True, fill_value=np.nan,
                             out_dtype=np.float64)
        valid = np.isfinite(dx) & np.isfinite(dy)
        at = rows - 0.5 - window.row_off, cols - 0.5 - window.col_off
        dx, dy = (interpolate(prepare(v, valid, 1), valid, *at, 1) for v in (dx, dy))
        return transform * (cols + dx, rows + dy)

    def forward(self, x, y, iterations: int = 20):
        """Solved by fixed-point iteration of :meth:`inverse` (the field is smooth at the
        scale of its shifts); NaN where it does not settle within 1e-6 pixels."""
        x, y = np.asarray(x, float), np.asarray(y, float)
        qx, qy = x.copy(), y.copy()
        for _ in range(iterations):
            px, py = self.inverse(qx, qy)
            qx, qy = qx + (x - px), qy + (y - py)
        px, py = self.inverse(qx, qy)
        with rasterio.open(self.path) as ds:
            tolerance = 1e-6 * max(abs(ds.transform.a), abs(ds.transform.e))
        unsettled = ~(np.hypot(px - x, py - y) <= tolerance)
        return np.where(unsettled, np.nan, qx), np.where(unsettled, np.nan, qy)

    def inverted(self) -> Transform:
        raise CoregInputError("A local displacement field cannot be inverted; untick "
                              "INVERT and align the images the other way round instead.")

    def _parameters(self) -> dict:
        return {"type": "displacement_field", "path": self.path}


@dataclass(frozen=True)
class Composite(Transform):
    """Transforms applied one after the other (e.g. a global alignment, then a local
    field measured after it), all in one CRS; valid where all of them are."""

    steps: tuple[Transform, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise CoregInputError("A composite transform needs at least one step.")
        if any(step.crs != self.steps[0].crs for step in self.steps):
            raise CoregInputError("The steps of a composite transform must share one CRS; "
                                  "reproject the alignments to one CRS first.")

    @property
    def crs(self) -> CRS:
        return self.steps[0].crs

    @property
    def bounds(self) -> Bounds | None:
        areas = [step.bounds for step in self.steps if step.bounds is not None]
        if not areas:
            return None
        left, bottom = max(a[0] for a in areas), max(a[1] for a in areas)
        return left, bottom, min(a[2] for a in areas), min(a[3] for a in areas)

    @property
    def smooth(self) -> bool:
        """Smooth if every step is."""
        return all(step.smooth for step in self.steps)

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(path for step in self.steps for path in step.files)

    @property
    def has_vertical(self) -> bool:
        return any(step.has_vertical for step in self.steps)

    def forward(self, x, y):
        for step in self.steps:
            x, y = step.forward(x, y)
        return x, y

    def inverse(self, x, y):
        for step in reversed(self.steps):
            x, y = step.inverse(x, y)
        return x, y

    def vertical(self, x, y):
        total = 0.0
        for step in reversed(self.steps):  # each step's shift where its content lands
            total = total + step.vertical(x, y)
            x, y = step.inverse(x, y)
        return total

    @property
    def affine(self) -> Affine | None:
        matrices = [step.affine for step in self.steps]
        if any(m is None for m in matrices):
            return None
        total = Affine.identity()
        for matrix in matrices:
            total = matrix * total
        return total

    def inverted(self) -> Composite:
        return Composite(tuple(step.inverted() for step in reversed(self.steps)))

    def then(self, other: Transform) -> Composite:
        more = other.steps if isinstance(other, Composite) else (other,)
        return Composite(self.steps + more)

    def _parameters(self) -> dict:
        return {"type": "composite", "steps": [step._body() for step in self.steps]}
