"""Processing algorithm ``coreg:apply_alignment``: reuse a saved alignment."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from ..core.errors import CoregError
from ..core.grid import Grid
from ..core.io.raster_io import read_info
from ..core.transforms.apply import apply_alignment
from ..core.transforms.saved import read_alignment
from . import base
from .base import GEOTRANSFORM_ONLY, CoregAlgorithm

OUTPUT_MODES = (GEOTRANSFORM_ONLY, ("Resample onto a target grid", "resample"))
#: Automatic (the default, last) keeps integer class and mask rasters exact.
RESAMPLINGS = (*base.RESAMPLINGS,
               ("Automatic (nearest for class/mask rasters, else cubic)", None))


class ApplyAlignmentAlgorithm(CoregAlgorithm):
    """Applies an alignment saved by Align image (global), Align DEM or Align image (local)
    to any overlapping raster."""

    ALIGNMENT, INPUT, OUTPUT_MODE = "ALIGNMENT", "INPUT", "OUTPUT_MODE"
    TARGET_GRID, RESAMPLING, INVERT = "TARGET_GRID", "RESAMPLING", "INVERT"
    COG, VERTICAL, OUTPUT = "COG", "VERTICAL_SHIFT", "OUTPUT"

    def name(self) -> str:
        return "apply_alignment"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Apply saved alignment")

    def tags(self) -> list[str]:
        return self.tr("coregistration,alignment,apply,reuse,bands,mask,resolution").split(",")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "Applies the alignment saved in the JSON report of 'Align image (global)', "
            "'Align DEM' or 'Align image (local)' (or its DISPLACEMENT raster) to another "
            "raster of the same acquisition: other bands, another resolution, a cloud "
            "mask, a classification, a DEM product. The alignment is stored in map units "
            "with its CRS, so it applies whatever the raster's resolution or CRS, and the "
            "data are "
            "interpolated once. The output covers the whole input and keeps its data type, "
            "nodata, band names and colour tables; integer class or mask rasters are "
            "resampled by nearest neighbour unless another resampling is chosen.\n"
            "Target grid: default, the input's own grid moved by the alignment.\n"
            "DEM reports: the vertical shift is added to the values (not to class or mask "
            "rasters; untick 'Add the vertical shift' for rasters that are not "
            "elevations); a blockwise DEM alignment applies to rasters in its CRS.\n"
            "Local alignments: the displacement field is interpolated at every output "
            "pixel, whatever its resolution or CRS; it cannot be inverted.")

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterFile(
            self.ALIGNMENT, self.tr("Alignment report (JSON) or displacement raster"),
            fileFilter=self.tr("Alignment reports (*.json);;Displacement rasters of "
                               "Align image (local) (*.tif *.tiff)")))
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Input raster")))
        self.addParameter(QgsProcessingParameterEnum(
            self.OUTPUT_MODE, self.tr("Output mode"), [m for m, _ in OUTPUT_MODES],
            defaultValue=1))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.TARGET_GRID, self.tr("Target grid (default: the input's grid, moved)"),
            optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.RESAMPLING, self.tr("Resampling"), [r for r, _ in RESAMPLINGS],
            defaultValue=len(RESAMPLINGS) - 1))
        for param in (QgsProcessingParameterBoolean(self.INVERT,
                                                    self.tr("Apply the inverse alignment"),
                                                    False),
                      QgsProcessingParameterBoolean(self.COG,
                                                    self.tr("Write a Cloud-Optimized GeoTIFF"),
                                                    False),
                      QgsProcessingParameterBoolean(
                          self.VERTICAL, self.tr("Add the vertical shift (DEM reports)"), True)):
            self.add_advanced_parameter(param)
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, self.tr("Aligned raster")))

    def process(self, parameters, context, feedback):
        path = self.parameterAsFile(parameters, self.ALIGNMENT, context)
        invert = self.parameterAsBoolean(parameters, self.INVERT, context)
        try:
            alignment = read_alignment(path)
            if invert:
                alignment = alignment.inverted()
        except (CoregError, ValueError) as exc:
            raise QgsProcessingException(str(exc)) from exc
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        applied = self.run_core(
            apply_alignment, feedback,
            alignment=alignment,
            input_path=self.raster_path(
                self.parameterAsRasterLayer(parameters, self.INPUT, context), "input"),
            output_path=output,
            output_mode=OUTPUT_MODES[self.parameterAsEnum(parameters, self.OUTPUT_MODE,
                                                          context)][1],
            target=self._target(parameters, context),
            resampling=RESAMPLINGS[self.parameterAsEnum(parameters, self.RESAMPLING,
                                                        context)][1],
            cog=self.parameterAsBoolean(parameters, self.COG, context),
            vertical=self.parameterAsBoolean(parameters, self.VERTICAL, context),
        )
        for note in applied.warnings:
            feedback.pushInfo(note)
        return {self.OUTPUT: output}

    def _target(self, parameters, context) -> Grid | None:
        layer = self.parameterAsRasterLayer(parameters, self.TARGET_GRID, context)
        if layer is None:
            return None
        try:
            return read_info(self.raster_path(layer, "target grid"), "Target grid").grid
        except ValueError as exc:
            raise QgsProcessingException(str(exc)) from exc
