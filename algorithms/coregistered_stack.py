"""Processing algorithm ``coreg:coregistered_stack``: co-registered assets, derived bands,
COGs and a STAC item."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterString,
    QgsProcessingUtils,
)

from ..core.stac.net import is_url
from ..core.stack.coregistered_stack import coregistered_stack
from .align_image import MODALITIES
from .base import RESAMPLINGS, CoregAlgorithm
from .cluster import CLUSTER_HELP, add_dask_parameters, dask_options


class CoregisteredStackAlgorithm(CoregAlgorithm):
    """Stacks single-band assets of several dates/sensors on one reference asset."""

    INPUTS, ASSETS, REFERENCE_ASSET, AOI = "INPUTS", "ASSETS", "REFERENCE_ASSET", "AOI"
    EXPRESSIONS, RESAMPLING, OUTPUT_FOLDER, TITLE = ("EXPRESSIONS", "RESAMPLING",
                                                     "OUTPUT_FOLDER", "TITLE")
    OUTPUTS, STAC_ITEM, STAC_COLLECTION = "OUTPUTS", "STAC_ITEM", "STAC_COLLECTION"
    MODALITY = "MODALITY"

    def name(self) -> str:
        return "coregistered_stack"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Co-registered stack")

    def tags(self) -> list[str]:
        return self.tr("stack,coregistration,band math,s-expression,stac,cog,change detection,"
                       "emergency mapping,sentinel-1,sentinel-2,landsat,ndvi").split(",")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "Builds a stack of single-band assets from several dates or sensors, every asset "
            "on the reference asset's grid (its CRS, pixel size and alignment) clipped to the "
            "area of interest, or without one to the area all assets cover, and co-registered "
            "to the reference (global alignment, a translation measured once per input).\n"
            "Inputs: rasters, or STAC items: local JSON files (asset paths relative to the "
            "item) or http(s) item URLs, such as those 'Search a STAC catalogue' lists (remote "
            "COG assets are streamed). Assets: N.band, comma-separated, with N the input's "
            "position (from 1) and "
            "band a band description, a STAC asset key or eo:bands name, or a band number: "
            "1.B04,1.B08,2.B04,2.B08.\nAOI: WKT polygon in EPSG:4326, or "
            "SRID=<EPSG code>;POLYGON(...).\nExpressions (optional): one name:(expression) per "
            "line or separated by ';', in prefix notation on the stacked assets, e.g. "
            "ndvi:(norm_diff 1.B08 1.B04); average:(/ (+ 1.B04 2.B04) 2); "
            "water:(where (>= (norm_diff 1.B03 1.B08) 0.3) 1 0). Operators + - * / "
            "< <= == != >= > & |, functions mean, norm_diff, where, interp, asarray.\n"
            "Outputs in the folder: one single-band Float32 Cloud-Optimized GeoTIFF per asset "
            "(1.B04.tif) and per expression (ndvi.tif), item.json and collection.json (STAC "
            "1.0) listing every asset with its role, band, source and applied shift.\n"
            "Checked first and reported in the log: footprints overlapping by less than 20 % "
            "(error), ground sampling distances more than 25 % apart, cloud cover of 25 % or "
            "more, different processing levels (warnings).\n"
            "Dask scheduler (advanced): the inputs' shifts, and the strips of every asset "
            "and expression, run on the cluster's workers (local inputs only; the views "
            "they read are written beside the outputs); the results are the same as in "
            "QGIS. " + CLUSTER_HELP)

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.INPUTS, self.tr("Inputs: rasters, STAC item files or URLs (1, 2, ... in this "
                                 "order)"), QgsProcessing.SourceType.TypeFile))
        self.addParameter(QgsProcessingParameterString(
            self.ASSETS, self.tr("Assets to stack (N.band, comma-separated)")))
        self.addParameter(QgsProcessingParameterString(
            self.REFERENCE_ASSET, self.tr("Reference asset (one of the assets)")))
        self.addParameter(QgsProcessingParameterString(
            self.AOI, self.tr("Area of interest (WKT, EPSG:4326 unless SRID=...;)"),
            optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.EXPRESSIONS, self.tr("Expressions: name:(expression), one per line or "
                                      "';'-separated"), multiLine=True, optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.RESAMPLING, self.tr("Resampling"), [r for r, _ in RESAMPLINGS],
            defaultValue=2))
        self.addParameter(QgsProcessingParameterString(
            self.TITLE, self.tr("Title (STAC item and collection)"), "Co-registered stack"))
        # Same sensor by default: a SAR input among optical ones is stacked unshifted
        # unless SAR against optical (or Automatic) is chosen.
        self.add_advanced_parameter(QgsProcessingParameterEnum(
            self.MODALITY, self.tr("Sensors (what the matching must survive)"),
            [m for m, _ in MODALITIES], defaultValue=1))
        add_dask_parameters(self)
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, self.tr("Output folder")))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.OUTPUTS,
                                                         self.tr("Stacked and derived assets")))
        self.addOutput(QgsProcessingOutputFile(self.STAC_ITEM, self.tr("STAC item")))
        self.addOutput(QgsProcessingOutputFile(self.STAC_COLLECTION, self.tr("STAC collection")))

    def process(self, parameters, context, feedback):
        folder = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        result = self.run_core(
            coregistered_stack, feedback, **dask_options(self, parameters, context),
            inputs=self._inputs(parameters, context),
            assets=self.parameterAsString(parameters, self.ASSETS, context),
            reference_asset=self.parameterAsString(parameters, self.REFERENCE_ASSET, context),
            output_folder=folder,
            aoi=self.parameterAsString(parameters, self.AOI, context).strip() or None,
            expressions=self.parameterAsString(parameters, self.EXPRESSIONS, context),
            resampling=RESAMPLINGS[self.parameterAsEnum(parameters, self.RESAMPLING, context)][1],
            title=self.parameterAsString(parameters, self.TITLE, context) or "Co-registered stack",
            modality=MODALITIES[self.parameterAsEnum(parameters, self.MODALITY, context)][1],
            log=lambda level, message: self.push_log(feedback, level, message))
        for name, path in result.outputs.items():
            context.addLayerToLoadOnCompletion(path, QgsProcessingContext.LayerDetails(
                name, context.project(), self.OUTPUTS))
        return {self.OUTPUT_FOLDER: folder, self.OUTPUTS: list(result.outputs.values()),
                self.STAC_ITEM: result.item, self.STAC_COLLECTION: result.collection}

    def _inputs(self, parameters, context) -> list[str]:
        """File paths of the inputs: files as given, project layers by their source."""
        paths = []
        for value in self.parameterAsFileList(parameters, self.INPUTS, context):
            if not os.path.exists(value) and not is_url(value):
                layer = QgsProcessingUtils.mapLayerFromString(value, context)
                if layer is None:
                    raise QgsProcessingException(f"Input '{value}' is neither a file nor a "
                                                 "loaded layer.")
                value = self.raster_path(layer, "input")
            paths.append(value)
        if not paths:
            raise QgsProcessingException("Give at least one input (raster or STAC item).")
        return paths
