"""Regenerate resources/shift_vectors.qml and tie_points.qml (run with /usr/bin/python3,
offscreen).

Used patches are drawn as arrows exaggerated by the project variable
``coreg_arrow_scale`` (default 20) so that sub-pixel shifts are visible, coloured by
reliability in five classes (red 0-20 % ... green 80-100 %, one legend entry each).
Rejected patches are not drawn as arrows (their shift is wrong, often by many pixels, and
exaggerated it would cross the map): a grey marker at the patch, its shape telling why
(legend), the exact reason in the map tip and the ``reason`` field.
Tie points (a point layer with the same fields) are drawn alike, arrows ending at the point.
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
    QgsRuleBasedRenderer,
    QgsVectorLayer,
)

SCALE = "coalesce(@coreg_arrow_scale, 20)"
EXAGGERATED = (f"make_line(translate(end_point($geometry), -{SCALE} * \"dx_map\", "
               f"-{SCALE} * \"dy_map\"), end_point($geometry))")
#: Reliability classes of the used arrows: (lower bound %, upper bound %, colour), the
#: ColorBrewer RdYlGn colours of five classes.
RELIABILITY_CLASSES = ((0, 20, "#d7191c"), (20, 40, "#fdae61"), (40, 60, "#ffff40"),
                       (60, 80, "#a6d96a"), (80, 100, "#1a9641"))
#: Rejected patches: (legend label, filter on "reason" or None for the rest, marker
#: shape, size mm). The reasons are those of core/matching/align.py and core/local/tie_points.py.
REJECTED_CLASSES = (
    ("rejected: weak match", "\"reason\" LIKE 'weak%' OR \"reason\" LIKE 'reliability%'",
     "circle", 1.8),
    ("rejected: beyond MAX_SHIFT", "\"reason\" = 'beyond MAX_SHIFT'", "triangle", 2.2),
    ("rejected: not measurable (no data, mask, low texture, cloud)",
     "\"reason\" IN ('nodata or masked', 'low texture', 'cloud-like or saturated', "
     "'nodata, masked or cloud-like')", "square", 1.2),
    ("rejected: disagrees with the others (outlier)", None, "cross2", 2.4),
)
MAP_TIP = ("[% CASE WHEN \"used\" = 1 THEN 'used: shift ' || format_number(\"{dx}\", 2) "
           "|| ', ' || format_number(\"{dy}\", 2) || ' px, reliability ' || "
           "format_number(\"reliability\", 0) || ' %' ELSE 'rejected: ' || \"reason\" END %]")
DISPLAY = "CASE WHEN \"used\" = 1 THEN 'used' ELSE 'rejected: ' || \"reason\" END"


def arrow_symbol(color: str, width: float, container=QgsLineSymbol):
    arrow = QgsArrowSymbolLayer()
    arrow.setArrowWidth(width)
    arrow.setArrowStartWidth(width)
    arrow.setHeadLength(2.5)
    arrow.setHeadThickness(1.8)
    arrow.setIsCurved(False)
    arrow.setSubSymbol(QgsFillSymbol.createSimple({"color": color, "outline_color": "#303030",
                                                   "outline_width": "0.1"}))
    generator = QgsGeometryGeneratorSymbolLayer.create({"geometryModifier": EXAGGERATED,
                                                       "SymbolType": "Line"})
    arrows = QgsLineSymbol()
    arrows.changeSymbolLayer(0, arrow)
    generator.setSubSymbol(arrows)
    symbol = container()
    symbol.changeSymbolLayer(0, generator)
    return symbol


def point_symbol(shape: str, size: float, container=QgsLineSymbol):
    """A grey marker at the patch (the end of its line, or the tie point itself)."""
    marker = QgsMarkerSymbol.createSimple({"name": shape, "size": str(size),
                                           "color": "#bdbdbd", "outline_color": "#404040",
                                           "outline_width": "0.3"})
    generator = QgsGeometryGeneratorSymbolLayer.create({"geometryModifier":
                                                       "end_point($geometry)",
                                                       "SymbolType": "Marker"})
    generator.setSubSymbol(marker)
    symbol = container()
    symbol.changeSymbolLayer(0, generator)
    return symbol


def save_style(path: str, geometry: str, container, dx: str, dy: str) -> None:
    """The style of a layer of ``geometry`` whose pixel shift fields are ``dx``, ``dy``."""
    layer = QgsVectorLayer(f"{geometry}?field={dx}:double&field={dy}:double"
                           "&field=dx_map:double&field=dy_map:double"
                           "&field=reliability:double&field=used:integer&field=reason:string",
                           "v", "memory")
    root = QgsRuleBasedRenderer.Rule(None)
    used = QgsRuleBasedRenderer.Rule(None, filterExp='"used" = 1',
                                     label="used, colour = reliability")
    for low, high, colour in RELIABILITY_CLASSES:
        test = f'"reliability" >= {low}' if high == 100 else \
            f'"reliability" >= {low} AND "reliability" < {high}'
        if low == 0:
            test = f'"reliability" < {high}'
        used.appendChild(QgsRuleBasedRenderer.Rule(arrow_symbol(colour, 0.6, container),
                                                   filterExp=test,
                                                   label=f"reliability {low}-{high} %"))
    rejected = QgsRuleBasedRenderer.Rule(None, filterExp='"used" = 0', label="rejected")
    for label, test, shape, size in REJECTED_CLASSES:
        rejected.appendChild(QgsRuleBasedRenderer.Rule(
            point_symbol(shape, size, container), filterExp=test or "ELSE", label=label))
    root.appendChild(used)
    root.appendChild(rejected)
    layer.setRenderer(QgsRuleBasedRenderer(root))
    layer.setMapTipTemplate(MAP_TIP.format(dx=dx, dy=dy))
    layer.setDisplayExpression(DISPLAY)
    message, ok = layer.saveNamedStyle(path)
    if not ok:
        sys.exit(f"could not save the style: {message}")


def main(folder: str) -> None:
    app = QgsApplication([], False)
    app.initQgis()
    save_style(os.path.join(folder, "shift_vectors.qml"), "LineString", QgsLineSymbol,
               "dx_px", "dy_px")
    save_style(os.path.join(folder, "tie_points.qml"), "Point", QgsMarkerSymbol, "dx", "dy")
    app.exitQgis()


if __name__ == "__main__":
    main(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "resources"))
