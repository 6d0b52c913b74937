"""Processing algorithm ``coreg:align_items``: one STAC item co-registered onto another
(UP42's co-registration, catalogue to catalogue)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingOutputFile,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from ..core.stac.align_items import align_items
from ..core.stac.net import DEFAULT_TIMEOUT
from .align_image import NUMERIC_OUTPUTS
from .align_image import RIGID_TRANSFORMS as TRANSFORMS
from .base import RESAMPLINGS, CoregAlgorithm

#: Resampling choices: automatic first (nearest for masks and classes, else cubic).
ITEM_RESAMPLINGS = (("Automatic (nearest for masks and classes, else cubic)", None),
                    *RESAMPLINGS)


class AlignItemsAlgorithm(CoregAlgorithm):
    """Aligns the assets of a source STAC item onto a reference STAC item."""

    SOURCE_ITEM, REFERENCE_ITEM, TITLE = "SOURCE_ITEM", "REFERENCE_ITEM", "TITLE"
    ASSETS, MATCH_ASSET = "ASSETS", "MATCH_ASSET"
    TRANSFORM, MAX_SHIFT, RESAMPLING = "TRANSFORM", "MAX_SHIFT", "RESAMPLING"
    IGNORE_PRECONDITIONS, TIMEOUT = "IGNORE_PRECONDITIONS", "TIMEOUT"
    OUTPUT_FOLDER, REPORT = "OUTPUT_FOLDER", "REPORT"
    OUTPUTS, STAC_ITEM, STAC_COLLECTION = "OUTPUTS", "STAC_ITEM", "STAC_COLLECTION"

    def name(self) -> str:
        return "align_items"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Align STAC items")

    def tags(self) -> list[str]:
        return self.tr("stac,coregistration,alignment,catalogue,cog,up42,sentinel-2,landsat,"
                       "stac api,url").split(",")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "Co-registers the assets of a source STAC item onto a reference STAC item. Each "
            "item is a local JSON file, an http(s) URL, or an item of a STAC API "
            "(https://.../collections/{collection}/items/{id}). Remote Cloud-Optimized "
            "GeoTIFF assets are streamed by HTTP range requests: only the parts the matching "
            "needs are read.\n"
            "Checked from the items' metadata before any pixel is read: the same processing "
            "level, ground sampling distances within 25 %, footprints overlapping by 20 % at "
            "least, cloud cover under 25 %, orthorectified products. 'Ignore the "
            "preconditions' turns these refusals into warnings.\n"
            "The alignment is measured once on the match asset (default: NIR, else red, else "
            "panchromatic) and applied to every chosen asset (default: every optical data "
            "asset of the source), each written as a COG on its own grid (masks and classes "
            "by nearest neighbour), with item.json and collection.json (STAC, titled as "
            "given; links to both input items; the shift and its quality as coreg: "
            "properties). Assets are named by key, band name or common name: nir, B08, red.")

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterString(
            self.SOURCE_ITEM, self.tr("Source STAC item (file, URL or STAC API item; to "
                                      "align)")))
        self.addParameter(QgsProcessingParameterString(
            self.REFERENCE_ITEM, self.tr("Reference STAC item (file, URL or STAC API item)")))
        self.addParameter(QgsProcessingParameterString(
            self.TITLE, self.tr("Title (STAC item and collection)"), "Co-registered item"))
        self.addParameter(QgsProcessingParameterString(
            self.ASSETS, self.tr("Assets to align (comma-separated; default every optical "
                                 "asset)"), optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.MATCH_ASSET, self.tr("Asset to measure the alignment on (default nir, "
                                      "red or pan)"), optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.TRANSFORM, self.tr("Transform model"), [t for t, _ in TRANSFORMS],
            defaultValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_SHIFT, self.tr("Maximum expected shift (reference pixels)"),
            QgsProcessingParameterNumber.Type.Double, 20.0, minValue=0.5, maxValue=1000.0))
        self.addParameter(QgsProcessingParameterEnum(
            self.RESAMPLING, self.tr("Resampling"), [r for r, _ in ITEM_RESAMPLINGS],
            defaultValue=0))
        self.add_advanced_parameter(QgsProcessingParameterBoolean(
            self.IGNORE_PRECONDITIONS, self.tr("Ignore the preconditions (warn instead)"),
            False))
        self.add_advanced_parameter(QgsProcessingParameterNumber(
            self.TIMEOUT, self.tr("Network timeout (seconds)"),
            QgsProcessingParameterNumber.Type.Double, DEFAULT_TIMEOUT, minValue=1.0,
            maxValue=600.0))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, self.tr("Output folder")))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.REPORT, self.tr("Report"), self.tr("JSON files (*.json)"), optional=True,
            createByDefault=True))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.OUTPUTS,
                                                         self.tr("Aligned assets")))
        self.addOutput(QgsProcessingOutputFile(self.STAC_ITEM, self.tr("STAC item")))
        self.addOutput(QgsProcessingOutputFile(self.STAC_COLLECTION, self.tr("STAC collection")))
        for key in NUMERIC_OUTPUTS:
            self.addOutput(QgsProcessingOutputNumber(key.upper(), key))

    def process(self, parameters, context, feedback):
        folder = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        report_path = self.parameterAsFileOutput(parameters, self.REPORT, context) \
            if parameters.get(self.REPORT) not in (None, "") else ""
        names = self.parameterAsString(parameters, self.ASSETS, context)
        result = self.run_core(
            align_items, feedback,
            source_item=self.parameterAsString(parameters, self.SOURCE_ITEM, context).strip(),
            reference_item=self.parameterAsString(parameters, self.REFERENCE_ITEM,
                                                  context).strip(),
            output_folder=folder,
            title=self.parameterAsString(parameters, self.TITLE, context) or "Co-registered item",
            assets=[n for n in names.split(",") if n.strip()] or None,
            match_asset=self.parameterAsString(parameters, self.MATCH_ASSET, context) or None,
            transform=TRANSFORMS[self.parameterAsEnum(parameters, self.TRANSFORM, context)][1],
            max_shift=self.parameterAsDouble(parameters, self.MAX_SHIFT, context),
            resampling=ITEM_RESAMPLINGS[self.parameterAsEnum(parameters, self.RESAMPLING,
                                                             context)][1],
            ignore_preconditions=self.parameterAsBoolean(parameters, self.IGNORE_PRECONDITIONS,
                                                         context),
            timeout=self.parameterAsDouble(parameters, self.TIMEOUT, context),
            report_path=report_path or None,
            log=lambda level, message: self.push_log(feedback, level, self.labelled(message)))
        r = result.report
        feedback.pushInfo(self.tr(
            f"Shift {r['shift_x_px']:+.3f}, {r['shift_y_px']:+.3f} source px measured on "
            f"'{r['match_asset']}', uncertainty {r['shift_uncertainty_px']:.3f} px, "
            f"reliability {r['reliability']:.1f} %; {len(result.outputs)} asset(s) written."))
        for key, path in result.outputs.items():
            context.addLayerToLoadOnCompletion(path, QgsProcessingContext.LayerDetails(
                key, context.project(), self.OUTPUTS))
        return {self.OUTPUT_FOLDER: folder, self.OUTPUTS: list(result.outputs.values()),
                self.STAC_ITEM: result.item, self.STAC_COLLECTION: result.collection,
                **({self.REPORT: report_path} if report_path else {}),
                **{key.upper(): r[key] for key in NUMERIC_OUTPUTS}}
