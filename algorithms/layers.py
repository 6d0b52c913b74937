"""QGIS layers in and out of the engine: mask layers, shift-vector sinks."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsMapLayer,
    QgsPointXY,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsRasterLayer,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QMetaType, QVariant

from ..core.io.masks import PolygonMask

#: Field types for QgsField: QMetaType from QGIS 3.38 on (QVariant's are deprecated there
#: and gone with Qt 6), QVariant's before (3.22 takes only those).
if Qgis.QGIS_VERSION_INT >= 33800:
    DOUBLE, INT, STRING = QMetaType.Type.Double, QMetaType.Type.Int, QMetaType.Type.QString
else:
    DOUBLE, INT, STRING = QVariant.Double, QVariant.Int, QVariant.String

#: Fields of a shift-vector layer, in order: (name, type).
SHIFT_VECTOR_FIELDS = (("dx_px", DOUBLE), ("dy_px", DOUBLE),
                       ("dx_map", DOUBLE), ("dy_map", DOUBLE),
                       ("reliability", DOUBLE), ("used", INT),
                       ("reason", STRING))


def mask_sources(layers: Sequence[QgsMapLayer], reference: QgsRasterLayer,
                 context: QgsProcessingContext, raster_path: Callable[..., str]) -> list:
    """Mask layers as core mask sources: raster paths, or polygons in the reference CRS."""
    masks = []
    for layer in layers:
        if isinstance(layer, QgsRasterLayer):
            masks.append(raster_path(layer, "mask"))
        elif (isinstance(layer, QgsVectorLayer)
              and layer.geometryType() == QgsWkbTypes.GeometryType.PolygonGeometry):
            masks.append(polygon_mask(layer, reference, context))
        else:
            raise QgsProcessingException(
                f"Mask layer '{layer.name()}' must be a raster or a polygon layer.")
    return masks


def polygon_mask(layer: QgsVectorLayer, reference: QgsRasterLayer,
                 context: QgsProcessingContext) -> PolygonMask:
    """The layer's polygons, transformed to the reference CRS, as a core PolygonMask."""
    to_ref = QgsCoordinateTransform(layer.crs(), reference.crs(), context.transformContext())
    geometries = []
    for feature in layer.getFeatures():
        geometry = QgsGeometry(feature.geometry())
        if geometry.isEmpty():
            continue
        geometry.transform(to_ref)
        geometries.append(json.loads(geometry.asJson()))
    return PolygonMask(tuple(geometries), reference.crs().toWkt())


def requested(parameters: dict, key: str) -> bool:
    """Whether the destination ``key`` is to be written: an optional secondary output left
    out (omitted in qgis_process or processing.run, None, '', "Skip output" in the
    dialog) is not."""
    return parameters.get(key) not in (None, "")


def write_shift_vectors(algorithm: QgsProcessingAlgorithm, parameters: dict, key: str,
                        context: QgsProcessingContext, patches: Sequence,
                        crs: QgsCoordinateReferenceSystem, item: Sequence[str] = ()) -> str:
    """One line per patch, from where its content was to where it goes; returns the
    sink's destination id. ``item``, if given, names each patch's item (a text field)."""
    fields = QgsFields()
    for name, kind in SHIFT_VECTOR_FIELDS:
        fields.append(QgsField(name, kind))
    if item:
        fields.append(QgsField("item", STRING))
    sink, dest_id = algorithm.parameterAsSink(parameters, key, context, fields,
                                              QgsWkbTypes.Type.LineString, crs)
    if sink is None:
        raise QgsProcessingException(algorithm.invalidSinkError(parameters, key))
    for k, p in enumerate(patches):
        feature = QgsFeature(fields)
        feature.setGeometry(QgsGeometry.fromPolylineXY(
            [QgsPointXY(p.x - p.dx_map, p.y - p.dy_map), QgsPointXY(p.x, p.y)]))
        feature.setAttributes([p.dx_px, p.dy_px, p.dx_map, p.dy_map, p.reliability,
                               int(p.used), p.reason, *([item[k]] if item else [])])
        sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
    return dest_id
