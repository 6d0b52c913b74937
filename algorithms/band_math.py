"""Processing algorithm ``coreg:band_math``: one s-expression evaluated over rasters."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)

from ..core.bandmath.raster_math import band_math
from .base import CoregAlgorithm
from .cluster import CLUSTER_HELP, add_dask_parameters, dask_options


class BandMathAlgorithm(CoregAlgorithm):
    """Band arithmetic written as a prefix s-expression, computed block by block."""

    INPUTS, EXPRESSION, OUTPUT = "INPUTS", "EXPRESSION", "OUTPUT"

    def name(self) -> str:
        return "band_math"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Band math (s-expression)")

    def tags(self) -> list[str]:
        return self.tr("band math,raster calculator,expression,s-expression,ndvi,"
                       "normalised difference,water mask,index").split(",")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "Computes a new band from the input rasters with an expression in prefix "
            "notation, e.g. ndvi:(norm_diff 1.B08 1.B04) or (/ (+ 1.b1 2.b1) 2).\n"
            "Bands are named by the input's position and the band number (1.b1, 2.b3) or "
            "the band description (1.B04). Operators: + - * / (n-ary), < <= == != >= >, "
            "& |; functions: (mean x) global mean, (norm_diff x y) = (x - y) / (x + y), "
            "(where condition a b), (interp x (asarray 0 10000) (asarray 0 1)). "
            "Comparisons give 1 or 0; nodata stays nodata; a division by zero gives "
            "nodata.\nThe output is a single-band Float32 Cloud-Optimized GeoTIFF (NaN "
            "nodata) on the grid of the first input; other inputs are resampled onto it. "
            "An input that does not overlap the first one, or a result without any valid "
            "pixel, is an error and nothing is written.\n"
            "Dask scheduler (advanced): strips of rows are evaluated on the cluster's "
            "workers; the result is the same as in QGIS. " + CLUSTER_HELP)

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.INPUTS, self.tr("Input rasters (1, 2, ... in this order)"),
            QgsProcessing.SourceType.TypeRaster))
        self.addParameter(QgsProcessingParameterString(
            self.EXPRESSION, self.tr("Expression, e.g. ndvi:(norm_diff 1.B08 1.B04)")))
        add_dask_parameters(self)
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, self.tr("Result")))

    def process(self, parameters, context, feedback):
        inputs = [self.raster_path(layer, "input")
                  for layer in self.parameterAsLayerList(parameters, self.INPUTS, context)]
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        definition = self.run_core(
            band_math, feedback, inputs=inputs,
            expression=self.parameterAsString(parameters, self.EXPRESSION, context),
            output=output, **dask_options(self, parameters, context))
        feedback.pushInfo(self.tr(f"Computed {definition.text}"))
        return {self.OUTPUT: output}
