"""The initial offset picked on the map: one feature clicked on the reference, then the
same feature on the secondary.

The correction is where the reference shows the feature minus where the secondary does,
in map units of the reference CRS (x east, y north): ``coreg:align_image``'s
``INITIAL_OFFSET`` in map units, where its search starts. One tie point is enough to seed
a pair whose offset is beyond the coarse search, or ambiguous (a periodic texture).
"""

from __future__ import annotations

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCoordinateTransformContext,
    QgsPointXY,
    QgsProject,
)
from qgis.gui import QgsMapCanvas, QgsMapToolEmitPoint
from qgis.PyQt.QtCore import pyqtSignal


def correction(on_reference: QgsPointXY, on_secondary: QgsPointXY,
               canvas_crs: QgsCoordinateReferenceSystem,
               reference_crs: QgsCoordinateReferenceSystem,
               context: QgsCoordinateTransformContext) -> tuple[float, float]:
    """(dx, dy) in the reference CRS: the move that takes the secondary's feature onto the
    reference's (both points clicked on the canvas, in its CRS)."""
    to_reference = QgsCoordinateTransform(canvas_crs, reference_crs, context)
    r, s = to_reference.transform(on_reference), to_reference.transform(on_secondary)
    return r.x() - s.x(), r.y() - s.y()


def offset_parameters(offset: tuple[float, float] | None) -> dict:
    """The align_image parameters of a picked offset (none without one)."""
    if offset is None:
        return {}
    return {"INITIAL_OFFSET": f"{offset[0]!r}, {offset[1]!r}", "INITIAL_OFFSET_UNITS": 1}


class OffsetPickTool(QgsMapToolEmitPoint):
    """Two clicks: the feature on the reference, then on the secondary; ``picked`` carries
    the correction (reference CRS units), ``finished`` that the tool was left."""

    first_picked = pyqtSignal()
    picked = pyqtSignal(float, float)
    finished = pyqtSignal()

    def __init__(self, canvas: QgsMapCanvas, reference_crs: QgsCoordinateReferenceSystem):
        super().__init__(canvas)
        self.reference_crs = reference_crs
        self.first: QgsPointXY | None = None
        self.canvasClicked.connect(self.click)

    def click(self, point: QgsPointXY, _button=None) -> None:
        if self.first is None:
            self.first = QgsPointXY(point)
            self.first_picked.emit()
            return
        dx, dy = correction(self.first, QgsPointXY(point),
                            self.canvas().mapSettings().destinationCrs(), self.reference_crs,
                            QgsProject.instance().transformContext())
        self.first = None
        self.picked.emit(dx, dy)

    def deactivate(self) -> None:
        super().deactivate()
        self.finished.emit()
