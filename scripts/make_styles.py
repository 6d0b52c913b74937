"""Regenerate resources/shift_vectors.qml (run with /usr/bin/python3, offscreen).

Shift vectors are drawn as arrows exaggerated by the project variable
``coreg_arrow_scale`` (default 20) so that sub-pixel shifts are visible; used
patches are coloured by reliability (red 0 % -> green 100 %), rejected ones grey.
"""

import os
import sys

from qgis.core import (
    QgsApplication,
    QgsArrowSymbolLayer,
    QgsFillSymbol,
    QgsGeometryGeneratorSymbolLayer,
    QgsLineSymbol,
    QgsProperty,
    QgsRuleBasedRenderer,
    QgsSymbolLayer,
    QgsVectorLayer,
)

SCALE = "coalesce(@coreg_arrow_scale, 20)"
EXAGGERATED = (f"make_line(translate(end_point($geometry), -{SCALE} * \"dx_map\", "
               f"-{SCALE} * \"dy_map\"), end_point($geometry))")


def arrow_symbol(color: str, colour_expression: str | None, width: float) -> QgsLineSymbol:
    arrow = QgsArrowSymbolLayer()
    arrow.setArrowWidth(width)
    arrow.setArrowStartWidth(width)
    arrow.setHeadLength(2.5)
    arrow.setHeadThickness(1.8)
    arrow.setIsCurved(False)
    fill = QgsFillSymbol.createSimple({"color": color, "outline_style": "no"})
    if colour_expression:
        fill.symbolLayer(0).setDataDefinedProperty(
            QgsSymbolLayer.PropertyFillColor, QgsProperty.fromExpression(colour_expression))
    arrow.setSubSymbol(fill)
    generator = QgsGeometryGeneratorSymbolLayer.create({"geometryModifier": EXAGGERATED,
                                                       "SymbolType": "Line"})
    arrows = QgsLineSymbol()
    arrows.changeSymbolLayer(0, arrow)
    generator.setSubSymbol(arrows)
    symbol = QgsLineSymbol()
    symbol.changeSymbolLayer(0, generator)
    return symbol


def main(path: str) -> None:
    app = QgsApplication([], False)
    app.initQgis()
    layer = QgsVectorLayer("LineString?field=dx_map:double&field=dy_map:double"
                           "&field=reliability:double&field=used:integer", "v", "memory")
    root = QgsRuleBasedRenderer.Rule(None)
    used = QgsRuleBasedRenderer.Rule(
        arrow_symbol("#1a9641", "ramp_color('RdYlGn', \"reliability\" / 100)", 0.6),
        filterExp='"used" = 1', label="used (colour: reliability)")
    rejected = QgsRuleBasedRenderer.Rule(arrow_symbol("#9a9a9a", None, 0.3),
                                         filterExp='"used" = 0', label="rejected")
    root.appendChild(used)
    root.appendChild(rejected)
    layer.setRenderer(QgsRuleBasedRenderer(root))
    message, ok = layer.saveNamedStyle(path)
    if not ok:
        sys.exit(f"could not save the style: {message}")
    app.exitQgis()


if __name__ == "__main__":
    main(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "resources", "shift_vectors.qml"))
