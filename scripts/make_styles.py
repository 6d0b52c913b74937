"""Regenerate resources/shift_vectors.qml and tie_points.qml (run with /usr/bin/python3,
offscreen).

Shift vectors are drawn as arrows exaggerated by the project variable
``coreg_arrow_scale`` (default 20) so that sub-pixel shifts are visible; used
patches are coloured by reliability (red 0 % -> green 100 %), rejected ones grey.
Tie points (a point layer with the same fields) are drawn by the same arrows,
ending at the point.
"""

import os
import sys

from qgis.core import (
    QgsApplication,
    QgsArrowSymbolLayer,
    QgsFillSymbol,
    QgsGeometryGeneratorSymbolLayer,
    QgsLineSymbol,
    QgsMarkerSymbol,
    QgsProperty,
    QgsRuleBasedRenderer,
    QgsSymbolLayer,
    QgsVectorLayer,
)

SCALE = "coalesce(@coreg_arrow_scale, 20)"
EXAGGERATED = (f"make_line(translate(end_point($geometry), -{SCALE} * \"dx_map\", "
               f"-{SCALE} * \"dy_map\"), end_point($geometry))")


def arrow_symbol(color: str, colour_expression: str | None, width: float,
                 container=QgsLineSymbol):
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
    symbol = container()
    symbol.changeSymbolLayer(0, generator)
    return symbol


def save_style(path: str, geometry: str, container) -> None:
    layer = QgsVectorLayer(f"{geometry}?field=dx_map:double&field=dy_map:double"
                           "&field=reliability:double&field=used:integer", "v", "memory")
    root = QgsRuleBasedRenderer.Rule(None)
    used = QgsRuleBasedRenderer.Rule(
        arrow_symbol("#1a9641", "ramp_color('RdYlGn', \"reliability\" / 100)", 0.6,
                     container),
        filterExp='"used" = 1', label="used (colour: reliability)")
    rejected = QgsRuleBasedRenderer.Rule(arrow_symbol("#9a9a9a", None, 0.3, container),
                                         filterExp='"used" = 0', label="rejected")
    root.appendChild(used)
    root.appendChild(rejected)
    layer.setRenderer(QgsRuleBasedRenderer(root))
    message, ok = layer.saveNamedStyle(path)
    if not ok:
        sys.exit(f"could not save the style: {message}")


def main(folder: str) -> None:
    app = QgsApplication([], False)
    app.initQgis()
    save_style(os.path.join(folder, "shift_vectors.qml"), "LineString", QgsLineSymbol)
    save_style(os.path.join(folder, "tie_points.qml"), "Point", QgsMarkerSymbol)
    app.exitQgis()


if __name__ == "__main__":
    main(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "resources"))
