"""The panel's "Compare on the map" box: the swipe/blink map tool over the last run.

The box owns the tool and its canvas item; the panel gives it the canvas, the run's
layers and a place to say why nothing can be compared.
"""

from __future__ import annotations

from collections.abc import Callable

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QComboBox, QGridLayout, QGroupBox, QLabel, QPushButton, QSlider

from . import compare

#: (reference, compared layer) for the choice of the box's "what" combo ("OUTPUT" or
#: "SECONDARY"), or (None, None) when there is no run to compare.
LayersOf = Callable[[str], tuple]


class CompareBox(QGroupBox):
    """Compare the reference with the aligned (or delivered) raster, swiping or blinking."""

    def __init__(self, canvas: Callable, layers_of: LayersOf, say: Callable[[str], None],
                 parent=None) -> None:
        super().__init__("Compare on the map", parent)
        self._canvas, self._layers_of, self._say = canvas, layers_of, say
        self.item: compare.CompareItem | None = None
        self.tool: compare.CompareTool | None = None
        self._retired = None  # the last ended (tool, item)
        self._build()
        self.button.toggled.connect(self.set_comparing)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.top.currentIndexChanged.connect(self._top_changed)
        self.opacity.valueChanged.connect(self._opacity_changed)

    def _build(self) -> None:
        grid = QGridLayout(self)
        self.top = QComboBox()
        self.top.addItem("Aligned raster", "OUTPUT")
        self.top.addItem("Secondary as delivered", "SECONDARY")
        self.top.setToolTip("What to compare with the reference")
        self.mode = QComboBox()
        self.mode.addItem("Swipe", compare.SWIPE)
        self.mode.addItem("Blink", compare.BLINK)
        self.mode.setToolTip("Swipe: the compared raster left of the mouse, the "
                             "reference right of it. Blink: one, then the other.")
        self.button = QPushButton("Compare")
        self.button.setCheckable(True)
        self.button.setToolTip("A map tool comparing the reference with the aligned "
                               "(or original) raster; another map tool ends it")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(100)
        self.opacity.setToolTip("Opacity of the compared raster over the reference")
        grid.addWidget(self.top, 0, 0)
        grid.addWidget(self.mode, 0, 1)
        grid.addWidget(self.button, 0, 2)
        grid.addWidget(QLabel("Opacity"), 1, 0)
        grid.addWidget(self.opacity, 1, 1, 1, 2)

    def layers(self) -> tuple:
        """(reference, compared layer) of the last run, or (None, None)."""
        return self._layers_of(self.top.currentData())

    def set_comparing(self, on: bool, tool_switched: bool = False) -> bool:
        """Start (or end) the compare map tool; returns whether it runs.
        ``tool_switched``: the canvas is replacing the tool itself (do not unset it)."""
        canvas = self._canvas()
        reference, top = self.layers()
        if on and (canvas is None or reference is None or top is None):
            on = False
            if canvas is not None:
                self._say("Nothing to compare: the run's layers were removed.")
        if self.tool is not None and not on:
            self._end(canvas, tool_switched)
        elif on and self.tool is None:
            label = "aligned" if self.top.currentData() == "OUTPUT" else "secondary"
            self.item = compare.CompareItem(canvas, reference, top, (label, "reference"))
            self.item.set_mode(self.mode.currentData())
            self.item.set_opacity(self.opacity.value() / 100)
            self.tool = compare.CompareTool(canvas, self.item)
            self.tool.finished.connect(self._tool_finished)
            canvas.setMapTool(self.tool)
        self.button.blockSignals(True)
        self.button.setChecked(self.tool is not None)
        self.button.blockSignals(False)
        return self.tool is not None

    def _end(self, canvas, tool_switched: bool) -> None:
        tool, item = self.tool, self.item
        self.tool = self.item = None
        tool.finished.disconnect(self._tool_finished)
        if canvas is not None and canvas.mapTool() is tool and not tool_switched:
            canvas.unsetMapTool(tool)
        item.stop()
        # Kept until the next comparison ends: the canvas may still be in a call of
        # this tool (deactivate) and signal it as the old tool.
        self._retired = (tool, item)
        if canvas is not None:
            canvas.refresh()

    def end_if_drawing(self, layer_ids) -> None:
        """End the comparison before layers it draws are removed."""
        if any(layer is not None and layer.id() in layer_ids for layer in self.layers()):
            self.set_comparing(False)

    def _tool_finished(self) -> None:
        """Another map tool was chosen: the comparison ends."""
        self.set_comparing(False, tool_switched=True)

    def _mode_changed(self, *_args) -> None:
        if self.item is not None:
            self.item.set_mode(self.mode.currentData())

    def _top_changed(self, *_args) -> None:
        if self.tool is not None:
            self.set_comparing(False)
            self.set_comparing(True)

    def _opacity_changed(self, value: int) -> None:
        if self.item is not None:
            self.item.set_opacity(value / 100)
