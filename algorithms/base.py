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
    QgsProcessingParameterDefinition,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterLayer,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QColor

from ..core.apply import apply_to_rasters
from ..core.errors import CanceledError, CoregistrationError
from ..core.saved import SavedAlignment

RESOURCES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "resources")

#: (label, core value) tables shared by the algorithms: the enum index is the value.
RESAMPLINGS = (("Nearest neighbour", "nearest"), ("Bilinear", "bilinear"), ("Cubic", "cubic"))
GEOTRANSFORM_ONLY = ("Shift the geotransform only (no resampling; translation only)",
                     "geotransform")


class CoregAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses declare parameters and call one core function."""

    APPLY_TO, APPLIED = "APPLY_TO", "APPLIED"
    REFERENCE, REFERENCE_BAND = "REFERENCE", "REFERENCE_BAND"
    SECONDARY, SECONDARY_BAND = "SECONDARY", "SECONDARY_BAND"
    MASK = "MASK"

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

    def run_core(self, call: Callable[..., Any], feedback: QgsProcessingFeedback,
                 **kwargs) -> Any:
        """Call a core function with progress and cancellation wired to ``feedback``;
        its ValueError / CoregistrationError become QgsProcessingException (parameters
        named by their labels)."""
        try:
            return call(progress=feedback.setProgress, is_canceled=feedback.isCanceled, **kwargs)
        except CanceledError as exc:
            raise QgsProcessingException(str(exc)) from exc
        except (ValueError, CoregistrationError) as exc:
            raise QgsProcessingException(self.labelled(str(exc))) from exc

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
                 feedback: QgsProcessingFeedback, alignment: SavedAlignment, output: str,
                 output_mode: str = "resample") -> list[str]:
        """Apply ``alignment`` to the APPLY_TO rasters, beside ``output``; the results
        load as layers."""
        layers = self.parameterAsLayerList(parameters, self.APPLY_TO, context)
        if not layers:
            return []
        feedback.pushInfo(self.tr(f"Applying the alignment to {len(layers)} more raster(s)."))
        paths = self.run_core(apply_to_rasters, feedback, alignment=alignment,
                              paths=[self.raster_path(layer, "additional") for layer in layers],
                              folder=os.path.dirname(output) or ".", output_mode=output_mode)
        for path in paths:
            context.addLayerToLoadOnCompletion(path, QgsProcessingContext.LayerDetails(
                os.path.basename(path), context.project(), self.APPLIED))
        return paths


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
