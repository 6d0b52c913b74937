"""Processing algorithm ``coreg:align_image``: global (rigid) alignment of a raster."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)

from ..core.errors import CoregInputError
from ..core.io.outputs import write_json
from ..core.matching.align import align_image
from ..core.matching.linear_model import terms_text
from .base import GEOTRANSFORM_ONLY, RESAMPLINGS, CoregAlgorithm, StyleOnLoad
from .layers import mask_sources, requested, write_shift_vectors

#: (label, core value) tables: the enum index is the parameter value.
TRANSFORMS = (("Translation", "translation"), ("Translation + rotation", "rigid"),
              ("Translation + rotation + scale (a pixel-size error)", "scale"),
              ("Affine (scale per axis, shear)", "affine"))
#: The models of the algorithms that align many rasters (align_stack, align_items).
RIGID_TRANSFORMS = TRANSFORMS[:2]
OUTPUT_MODES = (GEOTRANSFORM_ONLY, ("Resample onto the reference grid", "resample"))
#: (label, core value) of the MODALITY choice.
MODALITIES = (("Automatic", "auto"), ("Same sensor", "same"),
              ("Different optical sensors", "optical"), ("SAR against optical", "sar-optical"))
OFFSET_UNITS = (("Reference pixels (x right, y down)", "pixels"),
                ("Map units (x east, y north)", "map"))
#: Report keys also returned as numeric outputs (for models and scripts).
NUMERIC_OUTPUTS = ("shift_x_px", "shift_y_px", "shift_x_map", "shift_y_map", "rotation_deg",
                   "shift_uncertainty_px", "reliability", "matching_score_before",
                   "matching_score_after")


class AlignImageAlgorithm(CoregAlgorithm):
    """Aligns a secondary raster onto a reference with sub-pixel accuracy."""

    TRANSFORM, MAX_SHIFT = "TRANSFORM", "MAX_SHIFT"
    OUTPUT_MODE, RESAMPLING = "OUTPUT_MODE", "RESAMPLING"
    REFERENCE_NODATA, SECONDARY_NODATA, COG = "REFERENCE_NODATA", "SECONDARY_NODATA", "COG"
    OUTPUT, SHIFT_VECTORS, REPORT = "OUTPUT", "SHIFT_VECTORS", "REPORT"
    MODALITY, INITIAL_OFFSET, INITIAL_OFFSET_UNITS = (
        "MODALITY", "INITIAL_OFFSET", "INITIAL_OFFSET_UNITS")
    CHOOSE_BANDS = "CHOOSE_BANDS"

    def name(self) -> str:
        return "align_image"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Align image (global)")

    def tags(self) -> list[str]:
        return self.tr("coregistration,registration,alignment,shift,misregistration,"
                       "phase correlation,arosics,sentinel-2,landsat").split(",")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "Measures the misregistration of the secondary raster against the reference "
            "(translation, optionally with a rotation, a scale for a pixel-size error, or an "
            "affine map with shear) by sub-pixel phase correlation of "
            "textured patches spread over their overlap, fitted robustly so that clouds "
            "and land-cover change do not pull the result, and writes the aligned raster.\n"
            "Shift vectors show, per patch, where the content was and where it goes "
            "(used or rejected, with the reason). The JSON report holds the shift in map "
            "units (reference CRS) and secondary pixels, the rotation (the scale and affine "
            "models: their terms with standard errors), its uncertainty, "
            "reliability and the matching score before and after.\n"
            "There is no shift limit to guess: a coarse search over the whole overlap finds "
            "offsets of hundreds of pixels first (a maximum shift, 0 = none, and an initial "
            "offset are optional), and a match two offsets fit almost equally well (repetitive "
            "texture) is refused as ambiguous unless unreliable results are kept. The "
            "sensors choice compares structure that survives between SAR and optical images "
            "or different optical sensors; Automatic tries intensities, then structure.\n"
            "Masks (rasters: non-zero = bad; or polygons) mark clouds, changed areas or "
            "bad data to leave out. The geotransform-only output loses no data but "
            "needs the translation model.")

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.add_image_pair_parameters()
        self.addParameter(QgsProcessingParameterEnum(
            self.TRANSFORM, self.tr("Transform model"), [t for t, _ in TRANSFORMS],
            defaultValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_SHIFT, self.tr("Maximum expected shift (reference pixels)"),
            QgsProcessingParameterNumber.Type.Double, 0.0, minValue=0.0, maxValue=100000.0))
        self.addParameter(QgsProcessingParameterEnum(
            self.MODALITY, self.tr("Sensors (what the features must survive)"),
            [m for m, _ in MODALITIES], defaultValue=0))
        self.add_advanced_parameter(QgsProcessingParameterString(
            self.INITIAL_OFFSET, self.tr("Initial offset x, y (where the search starts)"),
            optional=True))
        self.add_advanced_parameter(QgsProcessingParameterEnum(
            self.INITIAL_OFFSET_UNITS, self.tr("Initial offset units"),
            [u for u, _ in OFFSET_UNITS], defaultValue=0))
        self.add_keep_unreliable_parameter()
        self.add_advanced_parameter(QgsProcessingParameterBoolean(
            self.CHOOSE_BANDS, self.tr("Choose the band pair to match (best correlation; "
                                       "scores in the report)"), False))
        self.addParameter(QgsProcessingParameterEnum(
            self.OUTPUT_MODE, self.tr("Output mode"), [m for m, _ in OUTPUT_MODES],
            defaultValue=1))
        self.addParameter(QgsProcessingParameterEnum(
            self.RESAMPLING, self.tr("Resampling"), [r for r, _ in RESAMPLINGS],
            defaultValue=2))
        for key, label in ((self.REFERENCE_NODATA, "Reference nodata (overrides the file's)"),
                           (self.SECONDARY_NODATA, "Secondary nodata (overrides the file's)")):
            param = QgsProcessingParameterNumber(key, self.tr(label),
                                                 QgsProcessingParameterNumber.Type.Double,
                                                 optional=True)
            self.add_advanced_parameter(param)
        self.add_apply_to_parameter()
        cog = QgsProcessingParameterBoolean(self.COG, self.tr("Write a Cloud-Optimized GeoTIFF"),
                                            False)
        self.add_advanced_parameter(cog)
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, self.tr("Aligned raster")))
        # Secondary outputs: optional (headless runs may leave them out), created by default.
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.SHIFT_VECTORS, self.tr("Shift vectors"), QgsProcessing.SourceType.TypeVectorLine,
            optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.REPORT, self.tr("Report"), self.tr("JSON files (*.json)"), optional=True,
            createByDefault=True))
        for key in NUMERIC_OUTPUTS:
            self.addOutput(QgsProcessingOutputNumber(key.upper(), key))

    def checkParameterValues(self, parameters, context):  # noqa: N802 - QGIS API
        ok, message = super().checkParameterValues(parameters, context)
        if ok and (self.parameterAsEnum(parameters, self.OUTPUT_MODE, context) == 0
                   and self.parameterAsEnum(parameters, self.TRANSFORM, context) != 0):
            return False, self.tr("'Shift the geotransform only' needs the 'Translation' "
                                  "model: a rotation or a scale cannot be written as a shifted "
                                  "geotransform. Choose one or the other.")
        return ok, message

    def process(self, parameters, context, feedback):
        reference = self.parameterAsRasterLayer(parameters, self.REFERENCE, context)
        secondary = self.parameterAsRasterLayer(parameters, self.SECONDARY, context)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        report_path = (self.parameterAsFileOutput(parameters, self.REPORT, context)
                       if requested(parameters, self.REPORT) else "")
        alignment = self.run_core(
            align_image, feedback,
            reference=self.raster_path(reference, "reference"),
            secondary=self.raster_path(secondary, "secondary"),
            output=output,
            reference_band=self.parameterAsInt(parameters, self.REFERENCE_BAND, context),
            secondary_band=self.parameterAsInt(parameters, self.SECONDARY_BAND, context),
            masks=mask_sources(self.parameterAsLayerList(parameters, self.MASK, context),
                               reference, context, self.raster_path),
            transform=TRANSFORMS[self.parameterAsEnum(parameters, self.TRANSFORM, context)][1],
            max_shift=self.parameterAsDouble(parameters, self.MAX_SHIFT, context) or None,
            modality=MODALITIES[self.parameterAsEnum(parameters, self.MODALITY, context)][1],
            initial_offset=self._offset(parameters, context),
            initial_offset_units=OFFSET_UNITS[self.parameterAsEnum(
                parameters, self.INITIAL_OFFSET_UNITS, context)][1],
            keep_unreliable=self.parameterAsBoolean(parameters, self.KEEP_UNRELIABLE, context),
            choose_bands=self.parameterAsBoolean(parameters, self.CHOOSE_BANDS, context),
            output_mode=OUTPUT_MODES[self.parameterAsEnum(parameters, self.OUTPUT_MODE,
                                                          context)][1],
            resampling=RESAMPLINGS[self.parameterAsEnum(parameters, self.RESAMPLING, context)][1],
            cog=self.parameterAsBoolean(parameters, self.COG, context),
            reference_nodata=self._optional_number(parameters, self.REFERENCE_NODATA, context),
            secondary_nodata=self._optional_number(parameters, self.SECONDARY_NODATA, context),
        )
        report = alignment.report()
        for warning in alignment.warnings:
            feedback.pushWarning(self.labelled(warning))
        feedback.pushInfo(self._summary(report))
        results = {self.OUTPUT: output}
        if requested(parameters, self.SHIFT_VECTORS):
            vectors_id = write_shift_vectors(self, parameters, self.SHIFT_VECTORS, context,
                                             alignment.patches, reference.crs())
            StyleOnLoad.attach(context, vectors_id, "shift_vectors.qml")
            results[self.SHIFT_VECTORS] = vectors_id
        if report_path:
            write_json(report_path, report)
            results[self.REPORT] = report_path
        mode = OUTPUT_MODES[self.parameterAsEnum(parameters, self.OUTPUT_MODE, context)][1]
        applied = self.apply_to(parameters, context, feedback, alignment.transform, output, mode)
        return {**results, self.APPLIED: applied,
                **{key.upper(): report[key] for key in NUMERIC_OUTPUTS}}

    def _offset(self, parameters, context) -> tuple[float, float] | None:
        text = self.parameterAsString(parameters, self.INITIAL_OFFSET, context).strip()
        if not text:
            return None
        parts = text.replace(";", ",").split(",")
        try:
            x, y = (float(p) for p in parts)
        except ValueError:
            raise CoregInputError(f"The initial offset must be two numbers 'x, y', not "
                                  f"'{text}'.") from None
        return x, y

    def _optional_number(self, parameters, key, context) -> float | None:
        value = parameters.get(key)
        return None if value in (None, "") else self.parameterAsDouble(parameters, key, context)

    def _summary(self, r: dict) -> str:
        return self._shift_summary(r) + terms_text(r.get("model_terms"))

    def _shift_summary(self, r: dict) -> str:
        return self.tr(
            f"Shift {r['shift_x_px']:+.3f}, {r['shift_y_px']:+.3f} secondary px "
            f"({r['shift_x_map']:+.6g}, {r['shift_y_map']:+.6g} map units), rotation "
            f"{r['rotation_deg']:+.4f} deg, uncertainty {r['shift_uncertainty_px']:.3f} px, "
            f"reliability {r['reliability']:.1f} %, {r['n_patches_used']}/{r['n_patches']} "
            f"patches used, matching score {r['matching_score_before']:.3f} -> "
            f"{r['matching_score_after']:.3f}")
