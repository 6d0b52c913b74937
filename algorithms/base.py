"""What every Coreg algorithm shares: naming, translation, error and progress plumbing."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from qgis.core import (
    QgsColorRampShader,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterLayer,
    QgsProcessingUtils,
    QgsProviderRegistry,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QColor

from ..core.errors import CoregError
from ..core.io.outputs import guarded_outputs, terminate_cleanly
from ..core.transforms.apply import applied_paths, apply_to_rasters
from ..core.transforms.model import Transform

RESOURCES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "resources")

#: (label, core value) tables shared by the algorithms: the enum index is the value.
RESAMPLINGS = (("Nearest neighbour", "nearest"), ("Bilinear", "bilinear"), ("Cubic", "cubic"))
GEOTRANSFORM_ONLY = ("Shift the geotransform only (no resampling; translation only)",
                     "geotransform")
#: Parameter types whose value is one layer, or several.
LAYER_TYPES, MULTILAYER_TYPES = ("raster", "vector", "source", "layer", "mesh"), ("multilayer",)
#: Destinations that are not files: layers held in memory, or a folder (checked by the
#: engine, which knows the names it writes there).
NOT_FILES = ("memory:", "TEMPORARY_OUTPUT")


class CoregAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses declare parameters and call one core function."""

    APPLY_TO, APPLIED = "APPLY_TO", "APPLIED"
    REFERENCE, REFERENCE_BAND = "REFERENCE", "REFERENCE_BAND"
    SECONDARY, SECONDARY_BAND = "SECONDARY", "SECONDARY_BAND"
    MASK, KEEP_UNRELIABLE = "MASK", "KEEP_UNRELIABLE"

    def tr(self, text: str) -> str:
        return QCoreApplication.translate(type(self).__name__, text)

    def createInstance(self):  # noqa: N802 - QGIS API
        return type(self)()

    def group(self) -> str:
        return self.tr("Coregistration")

    def groupId(self) -> str:  # noqa: N802 - QGIS API
        return "coregistration"

    @staticmethod
    def raster_path(layer: QgsRasterLayer | None, label: str) -> str:
        """The GDAL path of a raster layer, or a QgsProcessingException naming ``label``."""
        if layer is None or not layer.isValid():
            raise QgsProcessingException(f"The {label} raster layer is missing or invalid.")
        if layer.providerType() != "gdal":
            raise QgsProcessingException(
                f"The {label} layer '{layer.name()}' is not a file raster (provider "
                f"'{layer.providerType()}'); save it as a GeoTIFF first.")
        return layer.source()

    def checkParameterValues(self, parameters, context):  # noqa: N802 - QGIS API
        """A STAC item given for a raster is checked as the raster of its asset."""
        try:
            parameters = self.with_item_rasters(parameters)
        except CoregError as exc:
            return False, self.labelled(str(exc))
        return super().checkParameterValues(parameters, context)

    def with_item_rasters(self, parameters: dict) -> dict:
        """``parameters`` with every STAC item given for a raster parameter (its file or
        URL, ``#asset`` optional: see :mod:`..core.stac.views`) replaced by the VRT of its
        asset, in Processing's temporary folder (made once per item per run)."""
        from ..core.stac.views import is_item_reference, item_raster

        views = self.__dict__.setdefault("_item_views", {})
        resolved = dict(parameters)
        for definition in self.parameterDefinitions():
            value = parameters.get(definition.name())
            if definition.type() == "raster" and is_item_reference(value):
                if value not in views:
                    views[value] = item_raster(value, QgsProcessingUtils.tempFolder())
                resolved[definition.name()] = views[value]
        return resolved

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        """Check every destination against every input and each other, hold them, then
        :meth:`process`. The engine's errors become QgsProcessingException here, the
        one place they are translated; SIGTERM cancels cleanly through the feedback's
        cancel flag (qgis_process)."""
        try:
            parameters = self.with_item_rasters(parameters)
            with terminate_cleanly(feedback.cancel), guarded_outputs(
                    self.destinations(parameters, context), self.sources(parameters, context)):
                return self.process(parameters, context, feedback)
        except (CoregError, ValueError) as exc:  # ValueError: the engine's older messages
            raise QgsProcessingException(self.labelled(str(exc))) from exc
        except MemoryError as exc:
            raise QgsProcessingException(
                "Not enough memory for this run; use a smaller area or a coarser "
                "resolution.") from exc

    def process(self, parameters, context: QgsProcessingContext,
                feedback: QgsProcessingFeedback) -> dict:
        """The algorithm itself, once its outputs are known to be safe to write."""
        raise NotImplementedError

    def destinations(self, parameters, context: QgsProcessingContext) -> dict[str, str]:
        """Every file the run may write, by parameter label: destination parameters
        (not folders or layers in memory) and the APPLY_TO copies."""
        result = {}
        for definition in self.destinationParameterDefinitions():
            if parameters.get(definition.name()) in (None, ""):
                continue
            if definition.type() == "fileDestination":
                path = self.parameterAsFileOutput(parameters, definition.name(), context)
            elif definition.type() in ("rasterDestination", "vectorDestination", "sink"):
                path = self.parameterAsOutputLayer(parameters, definition.name(), context)
            else:
                continue
            if path and not path.startswith(NOT_FILES):
                result[definition.description()] = _file_of_uri(path)
        output = result.get(self._description(getattr(self, "OUTPUT", "")))
        if output and self._description(self.APPLY_TO):
            layers = self.parameterAsLayerList(parameters, self.APPLY_TO, context)
            sources = [layer_path(layer) for layer in layers]
            for source, path in zip(sources, applied_paths(sources, os.path.dirname(output))):
                result[f"Applied to '{os.path.basename(source)}'"] = path
        return result

    def sources(self, parameters, context: QgsProcessingContext) -> dict[str, list[str]]:
        """Every file the run reads, by parameter label (layers, layer lists, files)."""
        result = {}
        for definition in self.parameterDefinitions():
            name, kind = definition.name(), definition.type()
            if definition.isDestination() or parameters.get(name) in (None, ""):
                continue
            if kind in LAYER_TYPES:
                layer = self.parameterAsLayer(parameters, name, context)
                paths = [layer_path(layer)] if layer is not None else []
            elif kind in MULTILAYER_TYPES:
                paths = [layer_path(layer)
                         for layer in self.parameterAsLayerList(parameters, name, context)]
            elif kind == "file":
                paths = [self.parameterAsFile(parameters, name, context)]
            else:
                continue
            result[definition.description()] = [p for p in paths if p]
        return result

    def _description(self, name: str) -> str:
        definition = self.parameterDefinition(name) if name else None
        return definition.description() if definition is not None else ""

    @staticmethod
    def run_core(call: Callable[..., Any], feedback: QgsProcessingFeedback, **kwargs) -> Any:
        """Call a core function with progress and cancellation wired to ``feedback``
        (its errors are translated by :meth:`processAlgorithm`)."""
        return call(progress=feedback.setProgress, is_canceled=feedback.isCanceled, **kwargs)

    @staticmethod
    def push_log(feedback: QgsProcessingFeedback, level: str, message: str) -> None:
        """An engine ``log(level, message)`` call shown in the log: info, a warning, or
        an error (fatal)."""
        if level == "info":
            feedback.pushInfo(message)
        elif level == "warning":
            feedback.pushWarning(message)
        else:
            feedback.reportError(message, fatalError=True)

    def labelled(self, text: str) -> str:
        """``text`` with the parameter keys the engine names (MAX_SHIFT) replaced by their
        labels, as the dialog shows them ("Maximum expected shift (reference pixels)")."""
        labels = {d.name(): d.description() for d in self.parameterDefinitions()}
        if not labels:
            return text
        keys = "|".join(map(re.escape, sorted(labels, key=len, reverse=True)))
        return re.sub(rf"\b({keys})\b", lambda match: f'"{labels[match.group(1)]}"', text)


    def add_advanced_parameter(self, param) -> None:
        """Add ``param`` under the dialog's Advanced parameters."""
        param.setFlags(param.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(param)

    def add_keep_unreliable_parameter(self) -> None:
        """KEEP_UNRELIABLE: write a result the engine judges meaningless (a DEM fit that
        did not converge, a dense flow no check point confirms) instead of failing."""
        self.add_advanced_parameter(QgsProcessingParameterBoolean(
            self.KEEP_UNRELIABLE, self.tr("Keep unreliable results (write them anyway)"),
            False))

    def add_image_pair_parameters(self) -> None:
        """REFERENCE, SECONDARY, their bands and MASK: the inputs of image alignments."""
        self.addParameter(QgsProcessingParameterRasterLayer(self.REFERENCE,
                                                            self.tr("Reference raster")))
        # Optional with a default, so that headless runs may omit them (QGIS 3.22's
        # qgis_process rejects an omitted mandatory band despite its default).
        self.addParameter(QgsProcessingParameterBand(
            self.REFERENCE_BAND, self.tr("Reference band"), 1, self.REFERENCE, optional=True))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.SECONDARY, self.tr("Secondary raster (to align)")))
        self.addParameter(QgsProcessingParameterBand(
            self.SECONDARY_BAND, self.tr("Secondary band"), 1, self.SECONDARY, optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.MASK, self.tr("Masks of areas to ignore (rasters: non-zero; polygons)"),
            QgsProcessing.SourceType.TypeMapLayer, optional=True))

    def add_apply_to_parameter(self) -> None:
        """APPLY_TO: further rasters the alignment is applied to in the same run."""
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.APPLY_TO, self.tr("Apply the alignment to further rasters (written as "
                                   "<name>_coreg.tif beside the aligned raster)"),
            QgsProcessing.SourceType.TypeRaster, optional=True))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.APPLIED,
                                                         self.tr("Further aligned rasters")))

    def apply_to(self, parameters, context: QgsProcessingContext,
                 feedback: QgsProcessingFeedback, alignment: Transform, output: str,
                 output_mode: str = "resample") -> list[str]:
        """Apply ``alignment`` to the APPLY_TO rasters, beside ``output``; the results
        load as layers."""
        layers = self.parameterAsLayerList(parameters, self.APPLY_TO, context)
        if not layers:
            return []
        feedback.pushInfo(self.tr(f"Applying the alignment to {len(layers)} more raster(s)."))
        paths = self.run_core(apply_to_rasters, feedback, alignment=alignment,
                              paths=[self.raster_path(layer, "additional") for layer in layers],
                              folder=os.path.dirname(output) or ".", output_mode=output_mode,
                              protected={**self.sources(parameters, context), "Output": output})
        for path in paths:
            context.addLayerToLoadOnCompletion(path, QgsProcessingContext.LayerDetails(
                os.path.basename(path), context.project(), self.APPLIED))
        return paths


def layer_path(layer) -> str:
    """The file a layer reads (its source without a layer name or options)."""
    if layer is None:
        return ""
    decoded = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source())
    return decoded.get("path") or layer.source()


def _file_of_uri(uri: str) -> str:
    """The file of an OGR destination URI (``ogr:dbname='x.gpkg' table=...``, ``x.gpkg|...``)."""
    match = re.match(r"^ogr:dbname='((?:[^']|'')*)'", uri)
    if match:
        return match[1].replace("''", "'")
    return uri.split("|", 1)[0]


class _OnLoad(QgsProcessingLayerPostProcessorInterface):
    """Base of the post-processors that style an output layer once it is loaded."""

    _instances: list[_OnLoad] = []  # QGIS holds no Python reference to them

    @classmethod
    def attach(cls, context: QgsProcessingContext, layer_id: str, *args) -> None:
        """Style ``layer_id`` with ``cls(*args)`` if the run will load it."""
        if context.willLoadLayerOnCompletion(layer_id):
            processor = cls(*args)
            _OnLoad._instances.append(processor)
            context.layerToLoadOnCompletionDetails(layer_id).setPostProcessor(processor)


class StyleOnLoad(_OnLoad):
    """Applies a QML style from ``resources/`` to an output layer once it is loaded."""

    def __init__(self, qml_name: str) -> None:
        super().__init__()
        self.qml = os.path.join(RESOURCES, qml_name)

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 - QGIS API
        layer.loadNamedStyle(self.qml)
        layer.triggerRepaint()


class DivergingOnLoad(_OnLoad):
    """Styles a difference raster with a blue-white-red ramp centred on 0, +- ``limit``."""

    def __init__(self, limit: float) -> None:
        super().__init__()
        self.limit = limit

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 - QGIS API
        layer.setRenderer(diverging_renderer(layer, self.limit))
        layer.triggerRepaint()


class UncertaintyOnLoad(_OnLoad):
    """Styles align_local's UNCERTAINTY raster: green (under 0.1 px) to red (1 px and
    more), the colours of how far the field may be off."""

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 - QGIS API
        layer.setRenderer(ramp_renderer(layer, UNCERTAINTY_RAMP))
        layer.triggerRepaint()


#: (95 % radius in reference pixels, colour) of the UNCERTAINTY raster's ramp.
UNCERTAINTY_RAMP = ((0.0, "#1a9850"), (0.1, "#91cf60"), (0.25, "#fee08b"), (0.5, "#fc8d59"),
                    (1.0, "#d73027"))


def ramp_renderer(layer, stops) -> QgsSingleBandPseudoColorRenderer:
    """Single-band pseudocolour through ``stops`` ((value, colour), ascending), clamped."""
    shader_function = QgsColorRampShader(stops[0][0], stops[-1][0])
    shader_function.setColorRampType(QgsColorRampShader.Type.Interpolated)
    shader_function.setClip(False)
    shader_function.setColorRampItemList([
        QgsColorRampShader.ColorRampItem(value, QColor(colour), f"{value:g} px")
        for value, colour in stops])
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_function)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader)
    renderer.setClassificationMin(stops[0][0])
    renderer.setClassificationMax(stops[-1][0])
    return renderer


def diverging_renderer(layer, limit: float) -> QgsSingleBandPseudoColorRenderer:
    """Single-band pseudocolour: blue (negative) - white (0) - red (positive)."""
    shader_function = QgsColorRampShader(-limit, limit)
    shader_function.setColorRampType(QgsColorRampShader.Type.Interpolated)
    shader_function.setColorRampItemList([
        QgsColorRampShader.ColorRampItem(-limit, QColor("#2166ac"), f"{-limit:.2f}"),
        QgsColorRampShader.ColorRampItem(0.0, QColor("#f7f7f7"), "0"),
        QgsColorRampShader.ColorRampItem(limit, QColor("#b2182b"), f"{limit:.2f}")])
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(shader_function)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader)
    renderer.setClassificationMin(-limit)
    renderer.setClassificationMax(limit)
    return renderer
