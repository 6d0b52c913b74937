"""Processing algorithm ``coreg:align_local``: non-rigid alignment (tie points, dense flow)."""

from __future__ import annotations

from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsPointXY,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingUtils,
    QgsWkbTypes,
)

from ..core.io.outputs import write_json
from ..core.local.local import METHODS, align_local
from ..core.local.tie_points import REJECTION_LEVELS
from ..core.transforms.saved import displacement_alignment, portable_report
from .align_image import MODALITIES
from .base import RESAMPLINGS, CoregAlgorithm, StyleOnLoad, UncertaintyOnLoad
from .cluster import CLUSTER_HELP, add_dask_parameters, dask_options
from .layers import DOUBLE, INT, STRING, mask_sources, requested

METHOD_LABELS = ("Tie points (grid of local matches, smooth field)",
                 "Dense optical flow (GeFolki-like, also SAR / optical)",
                 "Automatic (tie points: one affine field unless they show local distortion)")
REJECTION_LABELS = ("None", "Reliability threshold",
                    "+ consistency (global polynomial model, neighbours)",
                    "+ local matching score must improve")
#: Fields of the tie-point layer: (name, type, record key).
POINT_FIELDS = (("dx", DOUBLE), ("dy", DOUBLE), ("dx_map", DOUBLE),
                ("dy_map", DOUBLE), ("reliability", DOUBLE),
                ("ssim_before", DOUBLE), ("ssim_after", DOUBLE),
                ("score_before", DOUBLE), ("score_after", DOUBLE),
                ("outlier", INT), ("used", INT), ("reason", STRING))
NUMERIC_OUTPUTS = ("n_points", "n_kept", "rms_shift_before_px", "rms_shift_after_px",
                   "matching_score_before", "matching_score_after")


class AlignLocalAlgorithm(CoregAlgorithm):
    """Aligns a secondary raster onto the reference grid with a non-rigid field."""

    MAX_SHIFT, RESAMPLING, METHOD, MODALITY = "MAX_SHIFT", "RESAMPLING", "METHOD", "MODALITY"
    GRID_SPACING, WINDOW_SIZE = "GRID_SPACING", "WINDOW_SIZE"
    REJECTION, MIN_RELIABILITY = "REJECTION", "MIN_RELIABILITY"
    RADIUS, LEVELS, ITERATIONS, INVERT = "RADIUS", "LEVELS", "ITERATIONS", "INVERT"
    OUTPUT, DISPLACEMENT, TIE_POINTS, REPORT = "OUTPUT", "DISPLACEMENT", "TIE_POINTS", "REPORT"
    UNCERTAINTY = "UNCERTAINTY"

    def name(self) -> str:
        return "align_local"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Align image (local)")

    def tags(self) -> list[str]:
        return self.tr("coregistration,non-rigid,local,tie points,optical flow,gefolki,folki,"
                       "arosics,coreg_local,sar,sentinel-1,sentinel-2,displacement").split(",")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "Aligns the secondary raster onto the reference grid with a displacement that "
            "varies over the image (different DEMs in the orthorectification, attitude "
            "errors, mosaic seams, SAR / optical pairs).\n"
            "Tie points: a regular grid of windows matched by sub-pixel phase correlation, "
            "refined through the field, outliers rejected by the chosen tests, then a "
            "smooth thin-plate field through the kept points. Sensors: SAR against "
            "optical matches gradient-orientation structure instead of intensities; "
            "Automatic does so when too few points are reliable on intensities (the report "
            "says which and why). Window and spacing 0 (automatic): 64 px windows every "
            "64 px for one sensor, 96 px every 48 px across modalities (SAR against "
            "optical, or too few points reliable on intensities); the report's "
            "window_choice says which and why. Automatic method: tie points, then one affine field "
            "(shift, scale, rotation) unless they depart from it smoothly by more than "
            "0.2 px RMS (local distortion); the report's method_choice says why.\n"
            "Dense optical flow: a displacement per pixel from a pyramidal, iterative flow "
            "on rank-filtered images (as GeFolki), which also works between SAR and "
            "optical images; invert the contrast for SAR against optical if needed.\n"
            "DISPLACEMENT: two Float32 bands on the reference grid, dx and dy in reference "
            "pixels: the aligned pixel (col, row) is the secondary at reference-grid "
            "position (col + dx, row + dy). UNCERTAINTY: per pixel, the radius (reference "
            "pixels) that holds the field's true value with 95 % probability: from the "
            "tie points' own uncertainty, growing with the distance to the nearest kept "
            "point (large beyond the outermost ones), or from the dense flow's local "
            "matching quality. Tie points (arrows exaggerated by the project "
            "variable coreg_arrow_scale) carry dx, dy, reliability, SSIM and matching "
            "score before / after, and why a point was rejected. The JSON report holds "
            "the counts, mean and RMS shift before and after, and the reference grid.\n"
            "Dask scheduler (advanced): the dense-flow tiles and the warped strips run on "
            "the cluster's workers; the results are the same as in QGIS. " + CLUSTER_HELP)

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.add_image_pair_parameters()
        self.addParameter(QgsProcessingParameterEnum(self.METHOD, self.tr("Method"),
                                                     list(METHOD_LABELS), defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum(
            self.MODALITY, self.tr("Sensors (what the tie points must survive)"),
            [m for m, _ in MODALITIES], defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_SHIFT, self.tr("Maximum expected shift (reference pixels)"),
            QgsProcessingParameterNumber.Type.Double, 20.0, minValue=0.5, maxValue=1000.0))
        self.addParameter(QgsProcessingParameterEnum(
            self.RESAMPLING, self.tr("Resampling"), [r for r, _ in RESAMPLINGS], defaultValue=2))
        # 0: automatic, by the sensors (core/local/window_choice.py).
        self._number(self.GRID_SPACING, "Tie-point spacing (reference pixels, 0: automatic)",
                     0, 0, 100000)
        self._number(self.WINDOW_SIZE, "Matching window (reference pixels, 0: automatic)",
                     0, 0, 1024)
        self.addParameter(QgsProcessingParameterEnum(
            self.REJECTION, self.tr("Outlier rejection (each level adds its test)"),
            list(REJECTION_LABELS), defaultValue=3))
        self._number(self.MIN_RELIABILITY, "Minimum reliability (%)", 30.0, 0.0, 100.0,
                     QgsProcessingParameterNumber.Type.Double, advanced=True)
        self._number(self.RADIUS, "Flow: window radius (pixels)", 8, 1, 64, advanced=True)
        self._number(self.LEVELS, "Flow: pyramid levels", 4, 1, 8, advanced=True)
        self._number(self.ITERATIONS, "Flow: iterations per level", 4, 1, 20, advanced=True)
        invert = QgsProcessingParameterBoolean(
            self.INVERT, self.tr("Flow: invert the secondary's contrast (SAR vs optical)"),
            False)
        self.add_advanced_parameter(invert)
        self.add_keep_unreliable_parameter()
        add_dask_parameters(self)
        self.add_apply_to_parameter()
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, self.tr("Aligned raster")))
        # Secondary outputs: optional (headless runs may leave them out), created by default.
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.DISPLACEMENT, self.tr("Displacement (dx, dy in reference pixels)"),
            optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.UNCERTAINTY, self.tr("Uncertainty (95 % radius of the field, reference pixels)"),
            optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.TIE_POINTS, self.tr("Tie points"), QgsProcessing.SourceType.TypeVectorPoint,
            optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.REPORT, self.tr("Report"), self.tr("JSON files (*.json)"), optional=True,
            createByDefault=True))
        for key in NUMERIC_OUTPUTS:
            self.addOutput(QgsProcessingOutputNumber(key.upper(), key))

    def _number(self, key, label, default, minimum, maximum,
                kind=QgsProcessingParameterNumber.Type.Integer, advanced=False) -> None:
        param = QgsProcessingParameterNumber(key, self.tr(label), kind, default,
                                             minValue=minimum, maxValue=maximum)
        if advanced:
            self.add_advanced_parameter(param)
        else:
            self.addParameter(param)

    def process(self, parameters, context, feedback):
        reference = self.parameterAsRasterLayer(parameters, self.REFERENCE, context)
        secondary = self.parameterAsRasterLayer(parameters, self.SECONDARY, context)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        displacement = (self.parameterAsOutputLayer(parameters, self.DISPLACEMENT, context)
                        if requested(parameters, self.DISPLACEMENT) else None)
        if displacement is None and self.parameterAsLayerList(parameters, self.APPLY_TO,
                                                              context):
            # APPLY_TO reads the field from a file: a temporary one when none was asked for.
            displacement = QgsProcessingUtils.generateTempFilename("displacement.tif")
        uncertainty = (self.parameterAsOutputLayer(parameters, self.UNCERTAINTY, context)
                       if requested(parameters, self.UNCERTAINTY) else None)
        report_path = (self.parameterAsFileOutput(parameters, self.REPORT, context)
                       if requested(parameters, self.REPORT) else "")
        number = self.parameterAsDouble
        result = self.run_core(
            align_local, feedback,
            reference=self.raster_path(reference, "reference"),
            secondary=self.raster_path(secondary, "secondary"),
            output=output, displacement=displacement, uncertainty=uncertainty,
            method=METHODS[self.parameterAsEnum(parameters, self.METHOD, context)],
            modality=MODALITIES[self.parameterAsEnum(parameters, self.MODALITY, context)][1],
            reference_band=self.parameterAsInt(parameters, self.REFERENCE_BAND, context),
            secondary_band=self.parameterAsInt(parameters, self.SECONDARY_BAND, context),
            masks=mask_sources(self.parameterAsLayerList(parameters, self.MASK, context),
                               reference, context, self.raster_path),
            max_shift=number(parameters, self.MAX_SHIFT, context),
            resampling=RESAMPLINGS[self.parameterAsEnum(parameters, self.RESAMPLING, context)][1],
            keep_unreliable=self.parameterAsBoolean(parameters, self.KEEP_UNRELIABLE, context),
            **dask_options(self, parameters, context),
            grid_spacing=self.parameterAsInt(parameters, self.GRID_SPACING, context),
            window_size=self.parameterAsInt(parameters, self.WINDOW_SIZE, context),
            rejection=REJECTION_LEVELS[self.parameterAsEnum(parameters, self.REJECTION,
                                                            context)],
            min_reliability=number(parameters, self.MIN_RELIABILITY, context),
            radius=self.parameterAsInt(parameters, self.RADIUS, context),
            levels=self.parameterAsInt(parameters, self.LEVELS, context),
            iterations=self.parameterAsInt(parameters, self.ITERATIONS, context),
            invert=self.parameterAsBoolean(parameters, self.INVERT, context),
        )
        report = result.report()
        for warning in result.warnings:
            feedback.pushWarning(self.labelled(warning))
        feedback.pushInfo(self._summary(report))
        results = {self.OUTPUT: output, **{key.upper(): report[key] for key in NUMERIC_OUTPUTS}}
        if requested(parameters, self.DISPLACEMENT):
            results[self.DISPLACEMENT] = displacement
        if uncertainty:
            UncertaintyOnLoad.attach(context, uncertainty)
            results[self.UNCERTAINTY] = uncertainty
        if requested(parameters, self.TIE_POINTS):
            points_id = self._write_points(parameters, context, report["points"],
                                           reference.crs())
            StyleOnLoad.attach(context, points_id, "tie_points.qml")
            results[self.TIE_POINTS] = points_id
        if report_path:
            write_json(report_path, portable_report(report, report_path))
            results[self.REPORT] = report_path
        results[self.APPLIED] = (self.apply_to(parameters, context, feedback,
                                               displacement_alignment(displacement), output)
                                 if displacement else [])
        return results

    def _write_points(self, parameters, context, records, crs) -> str:
        """One point per tie point, with the shift-vector fields so it draws as arrows."""
        fields = QgsFields()
        for name, kind in POINT_FIELDS:
            fields.append(QgsField(name, kind))
        sink, dest_id = self.parameterAsSink(parameters, self.TIE_POINTS, context, fields,
                                             QgsWkbTypes.Type.Point, crs)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.TIE_POINTS))
        for r in records:
            feature = QgsFeature(fields)
            feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(r["x"], r["y"])))
            feature.setAttributes([r["dx"], r["dy"], r["dx_map"], r["dy_map"], r["reliability"],
                                   r["ssim_before"], r["ssim_after"], r["score_before"],
                                   r["score_after"], int(r["outlier"]), int(not r["outlier"]),
                                   r["reason"]])
            sink.addFeature(feature, QgsFeatureSink.Flag.FastInsert)
        return dest_id

    def _summary(self, r: dict) -> str:
        def fmt(value, spec=".3f"):
            return "n/a" if value is None else format(value, spec)
        return self.tr(
            f"{r['n_kept']}/{r['n_points']} points kept ({r['method']}, {r['passes']} "
            f"pass(es), matched on {r['features'].get('features', 'intensity')}: "
            f"{r['features'].get('reason', '')}; windows: "
            f"{r['window_choice'].get('reason', '')}); RMS shift "
            f"{fmt(r['rms_shift_before_px'])} -> {fmt(r['rms_shift_after_px'])} px, matching score "
            f"{fmt(r['matching_score_before'])} -> {fmt(r['matching_score_after'])}; rejected: "
            f"{r['rejected_by_reason'] or 'none'}")
