"""Small widgets of the panel: a layer combo box that shows what tells layers apart."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qgis.gui import QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QPalette
from qgis.PyQt.QtWidgets import QStyle, QStyleOptionComboBox, QStylePainter

ELLIPSIS = "…"
#: Characters that end a word of a layer name: a kept distinctive part starts/ends there.
SEPARATORS = " _-.()[],"


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _common_suffix(a: str, b: str) -> int:
    return _common_prefix(a[::-1], b[::-1])


def distinct_text(name: str, others: Sequence[str], fits: Callable[[str], bool],
                  elide_middle: Callable[[str], str] | None = None) -> str:
    """``name`` shortened to what ``fits``, keeping the part that tells it apart from
    ``others`` (e.g. the date of ``abudhabi_S2_20160120_B02-B03-B04-B08`` beside
    ``abudhabi_S2_20180328_B02-B03-B04-B08``), elided on both sides: ``abud…20160120…B08``.

    The distinctive part is widened to whole words. Without one (no other name shares a
    prefix or suffix), or if even it does not fit: ``elide_middle(name)``, else ``name``
    cut at the end.
    """
    if fits(name):
        return name
    # Names that only add to this one (e.g. "<name> aligned") are told apart by their
    # own end, not by anything in this name.
    others = [other for other in others if other and other != name
              and not other.startswith(name) and not other.endswith(name)]
    prefix = max((_common_prefix(name, other) for other in others), default=0)
    suffix = max((_common_suffix(name, other) for other in others), default=0)
    while prefix > 0 and name[prefix - 1] not in SEPARATORS:
        prefix -= 1  # back to the start of the word
    end = len(name) - suffix
    while end < len(name) and name[end] not in SEPARATORS:
        end += 1  # on to the end of the word
    core = name[prefix:end] if prefix < end else ""
    fallback = elide_middle(name) if elide_middle else name[:max(1, len(name) // 2)] + ELLIPSIS
    if not core or (prefix == 0 and end == len(name)):
        return fallback
    head, tail = name[:prefix], name[end:]

    def text(k_head: int, k_tail: int) -> str:
        left = head if k_head >= len(head) else head[:k_head] + ELLIPSIS
        right = tail if k_tail >= len(tail) else ELLIPSIS + tail[len(tail) - k_tail:]
        return left + core + right

    k_head = k_tail = 0
    if not fits(text(0, 0)):
        return fallback
    grown = True
    while grown:  # one character more at the start, then at the end, while it fits
        grown = False
        if k_head < len(head) and fits(text(k_head + 1, k_tail)):
            k_head, grown = k_head + 1, True
        if k_tail < len(tail) and fits(text(k_head, k_tail + 1)):
            k_tail, grown = k_tail + 1, True
    return text(k_head, k_tail)


class LayerComboBox(QgsMapLayerComboBox):
    """A map layer combo box whose closed label keeps what tells the layer apart from the
    others in the list (not the first letters, which layers of one place often share);
    the tooltip gives the full name and file."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.layerChanged.connect(self._tooltip)

    def _tooltip(self, layer) -> None:
        self.setToolTip(f"{layer.name()}\n{layer.source()}" if layer is not None else "")

    def names(self) -> list[str]:
        return [self.itemText(i) for i in range(self.count())]

    def shown_text(self, width: int | None = None) -> str:
        """The label drawn in ``width`` pixels (default: the edit field's width)."""
        metrics = self.fontMetrics()
        if width is None:
            width = self._text_width()
        return distinct_text(
            self.currentText(), self.names(),
            lambda text: metrics.horizontalAdvance(text) <= width,
            lambda text: metrics.elidedText(text, Qt.TextElideMode.ElideMiddle, width))

    def _text_width(self) -> int:
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        field = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                            QStyle.SubControl.SC_ComboBoxEditField, self)
        icon = self.iconSize().width() + 4 if not option.currentIcon.isNull() else 0
        return max(field.width() - icon - 2, 10)

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt API
        painter = QStylePainter(self)
        painter.setPen(self.palette().color(QPalette.ColorRole.Text))
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        option.currentText = self.shown_text()
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)
