"""Compare two rasters on the map canvas: swipe (the top layer left of the cursor, the
reference right of it) or blink (one, then the other), with the top layer's opacity.

:class:`CompareItem` draws both layers, rendered for the canvas' current view in the
background, over the map; :class:`CompareTool` is the map tool that moves the swipe line
with the mouse. Nothing in the layer tree changes.
"""

from __future__ import annotations

from qgis.core import QgsMapLayer, QgsMapRendererParallelJob, QgsMapSettings
from qgis.gui import QgsMapCanvas, QgsMapCanvasItem, QgsMapMouseEvent, QgsMapTool
from qgis.PyQt.QtCore import QPointF, QRectF, Qt, QTimer, pyqtSignal
from qgis.PyQt.QtGui import QColor, QCursor, QFont, QPainter, QPen

SWIPE, BLINK = "swipe", "blink"
MODES = (SWIPE, BLINK)
BLINK_MS = 700


class CompareItem(QgsMapCanvasItem):
    """Draws ``reference`` over the whole canvas and ``top`` over it: left of the swipe
    line (swipe) or every other blink, at ``opacity``."""

    def __init__(self, canvas: QgsMapCanvas, reference: QgsMapLayer, top: QgsMapLayer,
                 labels: tuple[str, str] = ("aligned", "reference")) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.layers = {"reference": reference, "top": top}
        self.labels = labels
        self.images: dict = {}
        self.jobs: dict = {}
        self.finished_jobs: list = []
        self.mode = SWIPE
        self.opacity = 1.0
        self.split_x: float | None = None  # canvas pixels; None: the middle
        self.top_shown = True  # blink state
        self.timer = QTimer()
        self.timer.setInterval(BLINK_MS)
        self.timer.timeout.connect(self._blink)
        self.setZValue(-10)  # under the other canvas items (rubber bands, vertex markers)
        canvas.mapCanvasRefreshed.connect(self.render)  # new extent, layers or styles
        self.render()

    # ------------------------------------------------------------------ state

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.top_shown = True
        if mode == BLINK:
            self.timer.start()
        else:
            self.timer.stop()
        self.update()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = min(max(opacity, 0.0), 1.0)
        self.update()

    def set_split(self, x: float) -> None:
        self.split_x = x
        self.update()

    def _blink(self) -> None:
        self.top_shown = not self.top_shown
        self.update()

    def ready(self) -> bool:
        """Whether both layers are rendered for the current view."""
        return len(self.images) == 2 and not self.jobs

    def stop(self) -> None:
        """Stop blinking and rendering, disconnect from the canvas and leave the scene."""
        self.timer.stop()
        try:
            self.canvas.mapCanvasRefreshed.disconnect(self.render)
        except TypeError:
            pass
        for job in self.jobs.values():
            job.finished.disconnect()
            job.cancelWithoutBlocking()
        self.jobs = {}
        scene = self.scene()
        if scene is not None:
            scene.removeItem(self)

    # ------------------------------------------------------------------ rendering

    def render(self) -> None:
        """Render both layers for the canvas' current view, in the background."""
        settings = QgsMapSettings(self.canvas.mapSettings())
        extent = settings.visibleExtent()
        for job in self.jobs.values():
            job.finished.disconnect()
            job.cancelWithoutBlocking()
        self.jobs = {}
        self.finished_jobs = []
        for key, layer in self.layers.items():
            if layer is None:
                continue
            layer_settings = QgsMapSettings(settings)
            layer_settings.setLayers([layer])
            layer_settings.setBackgroundColor(QColor(0, 0, 0, 0))
            job = QgsMapRendererParallelJob(layer_settings)
            job.finished.connect(lambda key=key, job=job, extent=extent:
                                 self._rendered(key, job, extent))
            self.jobs[key] = job
            job.start()

    def _rendered(self, key: str, job, extent) -> None:
        if self.jobs.get(key) is not job:
            return
        # Kept until the next render: a job must not be deleted while it emits finished.
        self.finished_jobs.append(self.jobs.pop(key))
        self.images[key] = job.renderedImage()
        if not self.jobs:
            self.setRect(extent)  # the item moves with the map while it is panned
            self.update()

    def wait(self) -> None:
        """Block until the pending renders are done (tests, screenshots)."""
        for job in list(self.jobs.values()):
            job.waitForFinished()

    # ------------------------------------------------------------------ painting

    def map_rect(self) -> QRectF:
        """The rendered view in item coordinates (the bounding rectangle has a margin)."""
        image = self.images.get("reference")
        if image is None:
            return QRectF()
        ratio = image.devicePixelRatio() or 1.0
        return QRectF(0, 0, image.width() / ratio, image.height() / ratio)

    def split_in_item(self) -> float:
        width = self.map_rect().width()
        if self.split_x is None:
            return width / 2
        return min(max(self.split_x - self.pos().x(), 0.0), width)

    def paint(self, painter: QPainter, *_args) -> None:
        reference, top = self.images.get("reference"), self.images.get("top")
        if reference is None or top is None:
            return
        target = self.map_rect()
        painter.drawImage(target, reference)
        painter.save()
        if self.mode == SWIPE:
            x = self.split_in_item()
            painter.setClipRect(QRectF(0, 0, x, target.height()))
        if self.mode == SWIPE or self.top_shown:
            painter.setOpacity(self.opacity)
            painter.drawImage(target, top)
        painter.restore()
        if self.mode == SWIPE:
            self._paint_line(painter, self.split_in_item(), target)
        else:
            self._paint_label(painter, target.width() / 2, target,
                              self.labels[0] if self.top_shown else self.labels[1])

    def _paint_line(self, painter: QPainter, x: float, target: QRectF) -> None:
        painter.setPen(QPen(QColor(255, 255, 255, 230), 3))
        painter.drawLine(QPointF(x, 0), QPointF(x, target.height()))
        painter.setPen(QPen(QColor(30, 30, 30, 230), 1))
        painter.drawLine(QPointF(x, 0), QPointF(x, target.height()))
        self._paint_label(painter, x - 8, target, f"◀ {self.labels[0]}", right_aligned=True)
        self._paint_label(painter, x + 8, target, f"{self.labels[1]} ▶")

    @staticmethod
    def _paint_label(painter: QPainter, x: float, target: QRectF, text: str,
                     right_aligned: bool = False) -> None:
        font = QFont()
        font.setPixelSize(13)
        font.setBold(True)
        painter.setFont(font)
        width = painter.fontMetrics().horizontalAdvance(text) + 12
        left = x - width if right_aligned else (x if x + width <= target.width() else x)
        box = QRectF(left, 8, width, 22)
        painter.fillRect(box, QColor(255, 255, 255, 200))
        painter.setPen(QColor("black"))
        painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter), text)


class CompareTool(QgsMapTool):
    """The map tool of the comparison: the swipe line follows the mouse."""

    finished = pyqtSignal()

    def __init__(self, canvas: QgsMapCanvas, item: CompareItem) -> None:
        super().__init__(canvas)
        self.item = item
        self.setCursor(QCursor(Qt.CursorShape.SplitHCursor))

    def canvasMoveEvent(self, event: QgsMapMouseEvent) -> None:  # noqa: N802 - QGIS API
        self.item.set_split(event.pos().x())

    def canvasPressEvent(self, event: QgsMapMouseEvent) -> None:  # noqa: N802 - QGIS API
        self.item.set_split(event.pos().x())

    def deactivate(self) -> None:
        super().deactivate()
        self.finished.emit()
