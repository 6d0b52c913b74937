"""Processing algorithm ``coreg:align_stack``: a time series onto one anchor."""

from __future__ import annotations

import os

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsPointXY,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsWkbTypes,
)

from ..core.io.raster_io import read_info
from ..core.stac.item_stack import align_item_stack
from ..core.stack.execution import default_workers
from ..core.stack.stack import align_stack, failures
from .align_image import RIGID_TRANSFORMS as TRANSFORMS
from .base import CoregAlgorithm, StyleOnLoad
from .cluster import DASK_SCHEDULER, SHIP_ENGINE, add_dask_parameters, dask_options
from .layers import DOUBLE, STRING, requested, write_shift_vectors

#: Footprint layer fields: (name, type, ItemResult summary key).
FOOTPRINT_FIELDS = (("input", STRING), ("output_file", STRING),
                    ("status", STRING), ("reason", STRING),
                    ("pixel_shift_x", DOUBLE), ("pixel_shift_y", DOUBLE),
                    ("rotation_deg", DOUBLE), ("matching_score_before", DOUBLE),
                    ("matching_score_after", DOUBLE))


class AlignStackAlgorithm(CoregAlgorithm):
    """Aligns every scene of a time series onto one anchor scene."""

    INPUTS, ANCHOR, MASKS, BAND = "INPUTS", "ANCHOR", "MASKS", "BAND"
    TRANSFORM, REPROJECT = "TRANSFORM", "REPROJECT"
    ALREADY_ALIGNED, MIN_IMPROVEMENT = "ALREADY_ALIGNED", "MIN_IMPROVEMENT"
    OUTPUT_FOLDER, SUMMARY, WORKERS = "OUTPUT_FOLDER", "SUMMARY", "WORKERS"
    FOOTPRINTS, SHIFT_VECTORS = "FOOTPRINTS", "SHIFT_VECTORS"
    DASK_SCHEDULER, SHIP_ENGINE = DASK_SCHEDULER, SHIP_ENGINE
    OUTPUTS = "OUTPUTS"
    ITEMS, ASSET, ANCHOR_ITEM = "ITEMS", "ASSET", "ANCHOR_ITEM"

    def name(self) -> str:
        return "align_stack"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Align time series to anchor")

    def tags(self) -> list[str]:
        return self.tr("time series,stack,anchor,coregistration,planetscope,sentinel-2,"
                       "landsat,batch").split(",")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "Aligns every scene of a time series onto one anchor scene (one of the inputs; "
            "without one, the scene with the largest clear overlap with the others: shared "
            "clear area times the correlation of their detail, every scene's score in the "
            "anchor's reason). "
            "Each item is first scored against the anchor (the matching score of 'Align "
            "image'); above 'already aligned' it is passed through, otherwise it is aligned "
            "and kept only if the score improves by at least 'minimum improvement'. Outputs "
            "in the output folder: <name>_anchor.tif for the anchor, <name>_coreg.tif for "
            "aligned and already aligned items, failed and not improved items keep their "
            "name; masks (matched by file-name stem) and metadata sidecars travel along; "
            "one <name>_quality.json per item, a CSV summary and a footprint layer with "
            "each item's status and shift. Items run in parallel worker processes, or on "
            "a Dask cluster when a scheduler address is given (tcp://host:port or "
            "tls://host:port); a failing item is reported and skipped, and a run in which "
            "every item failed fails. On a cluster the workers read the scenes and write "
            "the outputs themselves: use paths every worker sees (a shared file system); "
            "Coreg sends its engine to the workers and checks them before any scene.\n"
            "Instead of scenes: STAC items (files, URLs or STAC API items, one per line, "
            "such as 'Search a STAC catalogue' lists) and the asset to align in each (key, "
            "band name or common name: nir, B08); their COGs are streamed, the outputs are "
            "named after the item ids, and without an anchor item the one the others "
            "overlap most, weighted by its clear fraction, is the anchor.\n"
            "Dask exchanges pickled code: a scheduler can run any code inside QGIS. "
            "Connect only to a cluster you trust.")

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.INPUTS, self.tr("Scenes of the time series"), QgsProcessing.SourceType.TypeRaster,
            optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.ANCHOR, self.tr("Anchor scene (one of the scenes; default: the largest "
                                 "clear overlap)"), optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.ITEMS, self.tr("Or STAC items: files or URLs, one per line"), multiLine=True,
            optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.ASSET, self.tr("Asset of each item to align (key, band or common name)"),
            "nir", optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.ANCHOR_ITEM, self.tr("Anchor item (default: the largest clear overlap)"),
            optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.MASKS, self.tr("Per-scene masks (non-zero = bad; matched by file-name stem)"),
            QgsProcessing.SourceType.TypeRaster, optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.TRANSFORM, self.tr("Transform model"), [t for t, _ in TRANSFORMS],
            defaultValue=1))
        self.addParameter(QgsProcessingParameterBoolean(
            self.REPROJECT, self.tr("Reproject the scenes to the anchor's CRS and grid"), False))
        self.addParameter(QgsProcessingParameterNumber(
            self.ALREADY_ALIGNED, self.tr("Already aligned above this matching score"),
            QgsProcessingParameterNumber.Type.Double, 0.8, minValue=0.0, maxValue=1.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_IMPROVEMENT, self.tr("Minimum improvement of the matching score"),
            QgsProcessingParameterNumber.Type.Double, 0.001, minValue=0.0, maxValue=1.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.WORKERS, self.tr("Worker processes"), QgsProcessingParameterNumber.Type.Integer,
            default_workers(), minValue=1, maxValue=256))
        band = QgsProcessingParameterNumber(
            self.BAND, self.tr("Band to match (all scenes)"),
            QgsProcessingParameterNumber.Type.Integer, 1, minValue=1)
        self.add_advanced_parameter(band)
        add_dask_parameters(self, "local worker processes")
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, self.tr("Output folder")))
        # Secondary outputs: optional (headless runs may leave them out), created by default.
        self.addParameter(QgsProcessingParameterFileDestination(
            self.SUMMARY, self.tr("Summary"), self.tr("CSV files (*.csv)"), optional=True,
            createByDefault=True))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.FOOTPRINTS, self.tr("Scene footprints and status"),
            QgsProcessing.SourceType.TypeVectorPolygon, optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.SHIFT_VECTORS, self.tr("Shift vectors of all scenes"),
            QgsProcessing.SourceType.TypeVectorLine, optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.OUTPUTS, self.tr("Scenes")))

    def checkParameterValues(self, parameters, context):  # noqa: N802 - QGIS API
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        items = self._items(parameters, context)
        scenes = bool(self.parameterAsLayerList(parameters, self.INPUTS, context))
        anchor = parameters.get(self.ANCHOR) not in (None, "")
        if items and (scenes or anchor):
            return False, self.tr("Give either scenes (with their anchor) or STAC items, "
                                  "not both.")
        if not items and not scenes:
            return False, self.tr("Give the scenes of the time series (and their anchor "
                                  "scene, if you wish), or STAC items.")
        return True, ""

    def _items(self, parameters, context) -> list[str]:
        text = self.parameterAsString(parameters, self.ITEMS, context)
        return [line.strip() for line in text.splitlines() if line.strip()]

    def process(self, parameters, context, feedback):
        if self._items(parameters, context):
            return self._process_items(parameters, context, feedback)
        layers = self.parameterAsLayerList(parameters, self.INPUTS, context)
        inputs = [self.raster_path(layer, "scene") for layer in layers]
        anchor_layer = (self.parameterAsRasterLayer(parameters, self.ANCHOR, context)
                        if parameters.get(self.ANCHOR) not in (None, "") else None)
        folder = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        summary = (self.parameterAsFileOutput(parameters, self.SUMMARY, context)
                   if requested(parameters, self.SUMMARY) else "")
        results = self.run_core(
            align_stack, feedback, inputs=inputs,
            anchor=None if anchor_layer is None else self.raster_path(anchor_layer, "anchor"),
            output_folder=folder,
            masks=[self.raster_path(m, "mask")
                   for m in self.parameterAsLayerList(parameters, self.MASKS, context)],
            summary=summary or None,
            workers=self.parameterAsInt(parameters, self.WORKERS, context),
            **dask_options(self, parameters, context),
            band=self.parameterAsInt(parameters, self.BAND, context),
            anchor_band=self.parameterAsInt(parameters, self.BAND, context),
            transform=TRANSFORMS[self.parameterAsEnum(parameters, self.TRANSFORM, context)][1],
            reproject=self.parameterAsBoolean(parameters, self.REPROJECT, context),
            already_aligned=self.parameterAsDouble(parameters, self.ALREADY_ALIGNED, context),
            min_improvement=self.parameterAsDouble(parameters, self.MIN_IMPROVEMENT, context),
        )
        if anchor_layer is None:  # the chosen one: results list the anchor first
            feedback.pushInfo(self.tr(f"Anchor {results[0].input}: {results[0].reason}."))
            anchor_layer = next((layer for layer, path in zip(layers, inputs)
                                 if path == results[0].input), layers[0])
        return self._outputs(parameters, context, feedback, results, folder, summary,
                             anchor_layer.crs())

    def _process_items(self, parameters, context, feedback):
        """The time series of STAC items (:func:`.stac_stack.align_item_stack`)."""
        folder = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        summary = (self.parameterAsFileOutput(parameters, self.SUMMARY, context)
                   if requested(parameters, self.SUMMARY) else "")
        results = self.run_core(
            align_item_stack, feedback, items=self._items(parameters, context),
            output_folder=folder,
            asset=self.parameterAsString(parameters, self.ASSET, context).strip() or "nir",
            anchor=self.parameterAsString(parameters, self.ANCHOR_ITEM, context).strip() or None,
            summary=summary or None,
            log=lambda level, message: self.push_log(feedback, level, message),
            workers=self.parameterAsInt(parameters, self.WORKERS, context),
            dask_scheduler=self.parameterAsString(parameters, self.DASK_SCHEDULER, context)
            or None,
            transform=TRANSFORMS[self.parameterAsEnum(parameters, self.TRANSFORM, context)][1],
            reproject=self.parameterAsBoolean(parameters, self.REPROJECT, context),
            already_aligned=self.parameterAsDouble(parameters, self.ALREADY_ALIGNED, context),
            min_improvement=self.parameterAsDouble(parameters, self.MIN_IMPROVEMENT, context),
        )
        anchor = next(r for r in results if r.status == "anchor")
        crs = QgsCoordinateReferenceSystem(read_info(anchor.output_file).grid.crs.to_wkt())
        return self._outputs(parameters, context, feedback, results, folder, summary, crs)

    def _outputs(self, parameters, context, feedback, results, folder: str, summary: str,
                 crs: QgsCoordinateReferenceSystem) -> dict:
        """Log each item's status, load the scenes, write the footprints and vectors."""
        for result in results:
            feedback.pushInfo(f"{os.path.basename(result.input)}: {result.status}"
                              f"{' (' + result.reason + ')' if result.reason else ''}")
        if failures(results):
            feedback.pushWarning(failures(results) + ".")
        outputs = {self.OUTPUT_FOLDER: folder, self.OUTPUTS: self._load(context, results)}
        if summary:
            outputs[self.SUMMARY] = summary
        if requested(parameters, self.FOOTPRINTS):
            outputs[self.FOOTPRINTS] = self._footprints(parameters, context, results, crs)
        if requested(parameters, self.SHIFT_VECTORS):
            records = [(os.path.basename(r.input), p) for r in results for p in r.vectors]
            vectors = write_shift_vectors(self, parameters, self.SHIFT_VECTORS, context,
                                          [p for _, p in records], crs,
                                          item=[name for name, _ in records])
            StyleOnLoad.attach(context, vectors, "shift_vectors.qml")
            outputs[self.SHIFT_VECTORS] = vectors
        return outputs

    def _footprints(self, parameters, context, results, crs) -> str:
        fields = QgsFields()
        for name, kind in FOOTPRINT_FIELDS:
            fields.append(QgsField(name, kind))
        sink, dest_id = self.parameterAsSink(parameters, self.FOOTPRINTS, context, fields,
                                             QgsWkbTypes.Type.Polygon, crs)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.FOOTPRINTS))
        for result in results:
            if not result.footprint:
                continue
            feature = QgsFeature(fields)
            feature.setGeometry(QgsGeometry.fromPolygonXY(
                [[QgsPointXY(x, y) for x, y in result.footprint]]))
            row = result.summary_row()
            feature.setAttributes([row[name] for name, _ in FOOTPRINT_FIELDS])
            sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
        return dest_id

    @staticmethod
    def _load(context, results) -> list[str]:
        """Add every delivered scene to the layers loaded when the run ends."""
        paths = [r.output_file for r in results if r.output_file]
        for path in paths:
            context.addLayerToLoadOnCompletion(path, QgsProcessingContext.LayerDetails(
                os.path.basename(path), context.project(), "OUTPUTS"))
        return paths
