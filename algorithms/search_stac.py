"""Processing algorithm ``coreg:search_stac``: items of a STAC API as footprints and URLs."""

from __future__ import annotations

import base64
import json

from osgeo import ogr
from qgis.core import (
    QgsApplication,
    QgsAuthMethodConfig,
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterAuthConfig,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from ..core.io.outputs import atomic_path
from ..core.stac.net import DEFAULT_TIMEOUT
from ..core.stac.search import Hit, search_items
from .base import CoregAlgorithm

WGS84 = "EPSG:4326"


class SearchStacAlgorithm(CoregAlgorithm):
    """Searches a STAC API: footprints to pick from, and item URLs for the STAC inputs."""

    API_URL, COLLECTIONS, EXTENT, DATETIME = "API_URL", "COLLECTIONS", "EXTENT", "DATETIME"
    MAX_CLOUD, LIMIT, AUTH_CONFIG, TIMEOUT = "MAX_CLOUD", "LIMIT", "AUTH_CONFIG", "TIMEOUT"
    OUTPUT, URL_LIST, ITEM_URLS, COUNT = "OUTPUT", "URL_LIST", "ITEM_URLS", "COUNT"

    def name(self) -> str:
        return "search_stac"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Search a STAC catalogue")

    def tags(self) -> list[str]:
        return self.tr("stac,search,catalogue,stac api,earth search,planetary computer,cdse,"
                       "footprints,sentinel-2,landsat").split(",")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "Searches a STAC API (its root URL, e.g. https://earth-search.aws.element84.com/v1) "
            "for the items of the given collections (comma-separated) over the extent "
            "(default: the map canvas, when there is one) and the time range (an RFC 3339 "
            "date-time or start/end, e.g. 2024-05-01/2024-06-30), with less cloud cover than "
            "the maximum (items that do not say are kept).\n"
            "Outputs: a footprint layer (one polygon per item: id, collection, datetime, "
            "cloud cover, GSD, item URL) and the item URLs, one per line (a text file and a "
            "string output), which 'Align STAC items' and 'Co-registered stack' take as "
            "inputs.\nAuthentication: a QGIS authentication configuration (Basic, or API "
            "header such as a bearer token); the credentials are sent as HTTP headers and "
            "never written to the log or the outputs.")

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterString(
            self.API_URL, self.tr("STAC API URL (its root)")))
        self.addParameter(QgsProcessingParameterString(
            self.COLLECTIONS, self.tr("Collections (comma-separated)"), optional=True))
        self.addParameter(QgsProcessingParameterExtent(
            self.EXTENT, self.tr("Extent (default: the map canvas)"), optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.DATETIME, self.tr("Date or time range (RFC 3339, start/end)"), optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_CLOUD, self.tr("Maximum cloud cover (%)"),
            QgsProcessingParameterNumber.Type.Double, 25.0, minValue=0.0, maxValue=100.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.LIMIT, self.tr("Maximum number of items"),
            QgsProcessingParameterNumber.Type.Integer, 20, minValue=1, maxValue=10000))
        self.addParameter(QgsProcessingParameterAuthConfig(
            self.AUTH_CONFIG, self.tr("Authentication (QGIS authentication configuration)"),
            optional=True))
        self.add_advanced_parameter(QgsProcessingParameterNumber(
            self.TIMEOUT, self.tr("Network timeout (seconds)"),
            QgsProcessingParameterNumber.Type.Double, DEFAULT_TIMEOUT, minValue=1.0,
            maxValue=600.0))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Item footprints"), QgsProcessing.SourceType.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.URL_LIST, self.tr("Item URLs (text file, one per line)"),
            self.tr("Text files (*.txt)"), optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputString(self.ITEM_URLS, self.tr("Item URLs")))
        self.addOutput(QgsProcessingOutputNumber(self.COUNT, self.tr("Items found")))

    def process(self, parameters, context, feedback):
        api = self.parameterAsString(parameters, self.API_URL, context).strip()
        collections = [c.strip() for c in self.parameterAsString(
            parameters, self.COLLECTIONS, context).split(",") if c.strip()]
        hits = self.run_core(
            lambda progress, is_canceled, **kwargs: search_items(**kwargs), feedback,
            api_url=api, collections=collections, bbox=self._bbox(parameters, context),
            datetime=self.parameterAsString(parameters, self.DATETIME, context).strip() or None,
            max_cloud=self.parameterAsDouble(parameters, self.MAX_CLOUD, context),
            limit=self.parameterAsInt(parameters, self.LIMIT, context),
            headers=auth_headers(self.parameterAsString(parameters, self.AUTH_CONFIG, context)),
            timeout=self.parameterAsDouble(parameters, self.TIMEOUT, context))
        sink, sink_id = self.parameterAsSink(parameters, self.OUTPUT, context, footprint_fields(),
                                             QgsWkbTypes.Type.MultiPolygon,
                                             QgsCoordinateReferenceSystem(WGS84))
        for hit in hits:
            sink.addFeature(footprint(hit), QgsFeatureSink.Flag.FastInsert)
        urls = "\n".join(hit.url for hit in hits)
        results = {self.OUTPUT: sink_id, self.ITEM_URLS: urls, self.COUNT: len(hits)}
        if parameters.get(self.URL_LIST) not in (None, ""):
            path = self.parameterAsFileOutput(parameters, self.URL_LIST, context)
            with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
                handle.write(urls + ("\n" if urls else ""))
            results[self.URL_LIST] = path
        feedback.pushInfo(self.tr(f"{len(hits)} item(s) found in {api}."))
        return results

    def _bbox(self, parameters, context) -> list[float] | None:
        """The extent in WGS 84 (the canvas's when none is given and there is a canvas)."""
        crs = QgsCoordinateReferenceSystem(WGS84)
        if parameters.get(self.EXTENT) not in (None, ""):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context, crs)
        else:
            rect = canvas_extent(crs)
        if rect is None or rect.isEmpty():
            return None
        return [rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum()]


def canvas_extent(crs: QgsCoordinateReferenceSystem):
    """The map canvas's extent in ``crs``, None without a canvas (headless runs)."""
    try:
        from qgis.utils import iface
    except ImportError:
        return None
    canvas = iface.mapCanvas() if iface is not None else None
    if canvas is None:
        return None
    from qgis.core import QgsCoordinateTransform, QgsProject

    settings = canvas.mapSettings()
    transform = QgsCoordinateTransform(settings.destinationCrs(), crs, QgsProject.instance())
    return transform.transformBoundingBox(canvas.extent())


def auth_headers(authcfg: str) -> dict[str, str]:
    """HTTP headers of a QGIS authentication configuration: Basic (user, password) or
    API header (its header names and values). The values are never logged."""
    if not authcfg:
        return {}
    config = QgsAuthMethodConfig()
    manager = QgsApplication.authManager()
    if not manager.loadAuthenticationConfig(authcfg, config, True) or not config.isValid():
        raise QgsProcessingException(f"The authentication configuration '{authcfg}' cannot "
                                     "be loaded (unknown id, or the master password is not "
                                     "set).")
    values = config.configMap()
    if config.method() == "Basic":
        pair = f"{values.get('username', '')}:{values.get('password', '')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    if config.method() == "APIHeader":
        return {str(k): str(v) for k, v in values.items()}
    raise QgsProcessingException(f"The authentication configuration '{authcfg}' uses the "
                                 f"'{config.method()}' method; use Basic or API header.")


def footprint_fields() -> QgsFields:
    fields = QgsFields()
    for name, kind in (("id", QVariant.String), ("collection", QVariant.String),
                       ("datetime", QVariant.String), ("cloud_cover", QVariant.Double),
                       ("gsd", QVariant.Double), ("url", QVariant.String)):
        fields.append(QgsField(name, kind))
    return fields


def footprint(hit: Hit) -> QgsFeature:
    feature = QgsFeature(footprint_fields())
    geometry = ogr.CreateGeometryFromJson(json.dumps(hit.geometry)) if hit.geometry else None
    if geometry is not None:
        shape = QgsGeometry.fromWkt(geometry.ExportToWkt())
        shape.convertToMultiType()
        feature.setGeometry(shape)
    feature.setAttributes([hit.id, hit.collection, hit.datetime, hit.cloud_cover, hit.gsd,
                           hit.url])
    return feature
