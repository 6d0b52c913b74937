"""Processing algorithm ``coreg:align_dem``: DEM coregistration (Nuth & Kääb)."""

from __future__ import annotations

import numpy as np
from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..core.dem.dem import METHODS, align_dem, write_shift_fields
from ..core.dem.nuth_kaab import MIN_BLOCK_PIXELS
from ..core.dem.pipeline import STEP_NAMES
from ..core.dem.point_sources import PointOptions, cloud_from_columns
from ..core.dem.points import POINT_SUFFIXES
from ..core.dem.report import write_dem_report
from ..core.io.outputs import write_json
from .base import RESAMPLINGS, CoregAlgorithm, DivergingOnLoad, StyleOnLoad
from .cluster import CLUSTER_HELP, add_dask_parameters, dask_options
from .layers import mask_sources, requested, write_shift_vectors

METHOD_LABELS = ("Nuth & Kääb (horizontal + vertical shift)", "Vertical shift only (median)",
                 "Blockwise Nuth & Kääb (smooth shift fields)")
GEOIDS = ("", "egm96", "egm2008")
GEOID_LABELS = ("Same datum as the DEM (no conversion)", "Points ellipsoidal, DEM on EGM96",
                "Points ellipsoidal, DEM on EGM2008")
NUMERIC_OUTPUTS = ("shift_x", "shift_y", "shift_z", "nmad_before", "nmad_after",
                   "median_before", "median_after")


class AlignDemAlgorithm(CoregAlgorithm):
    """Aligns a DEM onto a reference DEM over stable terrain."""

    REFERENCE, DEM, EXCLUDE, METHOD = "REFERENCE", "DEM", "EXCLUDE", "METHOD"
    PIPELINE = "PIPELINE"
    REFERENCE_POINTS, Z_FIELD = "REFERENCE_POINTS", "Z_FIELD"
    REFERENCE_POINTS_FILE = "REFERENCE_POINTS_FILE"
    TIME_FIELD, TIME_START, TIME_END = "TIME_FIELD", "TIME_START", "TIME_END"
    QUALITY_FIELD, QUALITY_MAX = "QUALITY_FIELD", "QUALITY_MAX"
    GEOID, GEOID_FILE = "GEOID", "GEOID_FILE"
    BOOTSTRAP = "BOOTSTRAP"
    VARIOGRAM, AREAS = "VARIOGRAM", "AREAS"
    MAX_ITERATIONS, TOLERANCE, BLOCK_SIZE = "MAX_ITERATIONS", "TOLERANCE", "BLOCK_SIZE"
    RESAMPLING, MATCH_REFERENCE = "RESAMPLING", "MATCH_REFERENCE"
    OUTPUT, DH_OUTPUT, REPORT = "OUTPUT", "DH_OUTPUT", "REPORT"
    REPORT_PAGE = "REPORT_PAGE"
    BLOCK_VECTORS = "BLOCK_VECTORS"
    SHIFT_FIELDS = {"x": "SHIFT_X_OUTPUT", "y": "SHIFT_Y_OUTPUT", "z": "SHIFT_Z_OUTPUT"}

    def name(self) -> str:
        return "align_dem"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Align DEM")

    def tags(self) -> list[str]:
        return self.tr("dem,elevation,coregistration,nuth,kaab,xdem,dh,glacier,nmad").split(",")

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self.tr(
            "Aligns a DEM onto a reference DEM using the stable terrain: the horizontal "
            "shift from the relation between elevation differences, slope and aspect "
            "(Nuth & Kääb 2011), iterated until it moves less than the tolerance, and the "
            "vertical shift as the median difference. Leave unstable terrain (glaciers, "
            "landslides, forests that changed) out with the exclusion layers (polygons, "
            "or rasters where non-zero marks unstable). The blockwise method fits each "
            "block and warps the DEM with smoothly interpolated shift fields.\n"
            "Pipeline (replaces the method when filled): steps joined by '+', fitted "
            "jointly, e.g. nuth_kaab+deramp1+directional. Steps: " + ", ".join(STEP_NAMES)
            + ". dhminimize: the shift minimising the NMAD of dh; lzd: least Z-difference, "
            "a small 3-D rotation and shift (projected CRS); icp: point-to-plane "
            "iterative closest point, the same rotation and shift fitted to distances "
            "along the surface normal (projected CRS); deramp1-3: polynomial "
            "surface; directional: along-track undulation (sum of sines; directional:30 "
            "gives the track azimuth in degrees, otherwise it is estimated; "
            "directional_bins: binned profile); terrain_elevation / terrain_curvature: "
            "dh binned by elevation or curvature; blockwise:STEP fits a shift step per "
            "block. The report lists every fitted term.\n"
            "Reference points (ICESat-2, lidar, GNSS) replace the reference DEM: z from the "
            "geometry or from the Z field; no elevation-difference raster is written then. "
            "A points file may also be GeoParquet, an ICESat-2 ATL06 granule (.h5) or LAS/LAZ. "
            "Points can be kept by time (from / to, ISO dates) and quality (at most the "
            "accepted value); ICESat-2's h_li, delta_time and atl06_quality_summary (0 = good) "
            "are recognised alone. Ellipsoidal heights (ICESat-2, GNSS) against a DEM on a "
            "geoid are converted (EGM96, EGM2008 or a geoid grid file). The report counts the "
            "points each selection removed.\n"
            "Outputs: the aligned DEM (Float32, on the DEM's own grid unless asked to "
            "match the reference), the elevation difference reference - aligned DEM, and "
            "a JSON report with the shifts and the NMAD of dh on stable terrain before "
            "and after (NMAD = 1.4826 median |dh - median dh|).\n"
            "Uncertainty (advanced): bootstrap replicates give every fitted term a standard "
            "error; the variogram option models the error of elevation change on stable "
            "terrain (NMAD by slope, spatial correlation) and gives each area (e.g. glacier "
            "outlines) the standard error of its mean dh, for volume-change budgets.\n"
            "Dask scheduler (advanced): the aligned DEM is resampled block by block (strips "
            "of rows) on the cluster's workers, and the blockwise method's blocks are fitted "
            "there too (a row of blocks per task); other fits run in QGIS; the results are "
            "the same. " + CLUSTER_HELP)

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.REFERENCE, self.tr("Reference DEM (or give reference points below)"),
            optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.REFERENCE_POINTS, self.tr("Reference points (instead of a reference DEM)"),
            [QgsProcessing.SourceType.TypeVectorPoint], optional=True))
        self.addParameter(QgsProcessingParameterField(
            self.Z_FIELD, self.tr("Elevation field of the points (empty: geometry Z)"),
            parentLayerParameterName=self.REFERENCE_POINTS, optional=True,
            type=QgsProcessingParameterField.DataType.Numeric))
        self.addParameter(QgsProcessingParameterFile(
            self.REFERENCE_POINTS_FILE, self.tr("Reference points file (GeoParquet, ICESat-2 "
                                                "ATL06 .h5, LAS/LAZ, CSV; instead of a layer)"),
            optional=True, fileFilter=self.tr("Point files") + " (" + " ".join(
                f"*{s}" for s in (*POINT_SUFFIXES, ".gpkg")) + ")"))
        self.addParameter(QgsProcessingParameterRasterLayer(self.DEM,
                                                            self.tr("DEM to be aligned")))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.EXCLUDE, self.tr("Unstable terrain to exclude (polygons, or rasters: non-zero)"),
            QgsProcessing.SourceType.TypeMapLayer, optional=True))
        self.addParameter(QgsProcessingParameterEnum(self.METHOD, self.tr("Method"),
                                                     list(METHOD_LABELS), defaultValue=0))
        self.addParameter(QgsProcessingParameterString(
            self.PIPELINE, self.tr("Pipeline (e.g. nuth_kaab+deramp1+directional; replaces "
                                   "the method)"), optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_ITERATIONS, self.tr("Maximum iterations"),
            QgsProcessingParameterNumber.Type.Integer, 10, minValue=1, maxValue=100))
        self.addParameter(QgsProcessingParameterNumber(
            self.TOLERANCE, self.tr("Tolerance (m of horizontal update)"),
            QgsProcessingParameterNumber.Type.Double, 0.01, minValue=1e-6))
        self.addParameter(QgsProcessingParameterNumber(
            self.BLOCK_SIZE, self.tr("Block size (pixels, blockwise method)"),
            QgsProcessingParameterNumber.Type.Integer, 256, minValue=32))
        self.addParameter(QgsProcessingParameterEnum(
            self.RESAMPLING, self.tr("Resampling"), [r for r, _ in RESAMPLINGS], defaultValue=2))
        match = QgsProcessingParameterBoolean(self.MATCH_REFERENCE,
                                              self.tr("Write the outputs on the reference grid"),
                                              False)
        self.add_advanced_parameter(match)
        self.add_advanced_parameter(QgsProcessingParameterNumber(
            self.BOOTSTRAP, self.tr("Uncertainty: bootstrap replicates (0 = none; ~30)"),
            QgsProcessingParameterNumber.Type.Integer, 0, minValue=0, maxValue=500))
        self.add_advanced_parameter(QgsProcessingParameterBoolean(
            self.VARIOGRAM, self.tr("Uncertainty of elevation change: variogram of the "
                                    "stable dh (in the report)"), False))
        self.add_advanced_parameter(QgsProcessingParameterMultipleLayers(
            self.AREAS, self.tr("Areas for the standard error of mean dh (e.g. glacier "
                                "outlines; polygons, or rasters: non-zero)"),
            QgsProcessing.SourceType.TypeMapLayer, optional=True))
        self._add_point_selection_parameters()
        self.add_keep_unreliable_parameter()
        add_dask_parameters(self)
        self.add_apply_to_parameter()
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT,
                                                                  self.tr("Aligned DEM")))
        # Secondary outputs: optional (headless runs may leave them out), created by default.
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.DH_OUTPUT, self.tr("Elevation difference after (reference - aligned)"),
            optional=True, createByDefault=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.REPORT, self.tr("Report"), self.tr("JSON files (*.json)"), optional=True,
            createByDefault=True))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.REPORT_PAGE, self.tr("Report page (dh maps, histograms, NMAD by slope)"),
            self.tr("HTML files (*.html)"), optional=True, createByDefault=False))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.BLOCK_VECTORS, self.tr("Block shift vectors (blockwise)"),
            QgsProcessing.SourceType.TypeVectorLine, optional=True, createByDefault=False))
        for component, key in self.SHIFT_FIELDS.items():
            self.addParameter(QgsProcessingParameterRasterDestination(
                key, self.tr(f"Shift field {component} (blockwise)"), optional=True,
                createByDefault=False))
        for key in NUMERIC_OUTPUTS:
            self.addOutput(QgsProcessingOutputNumber(key.upper(), key))

    def _add_point_selection_parameters(self) -> None:
        """Advanced: time and quality of the reference points, and their datum."""
        for key, label, kind in (
                (self.TIME_FIELD, "Points: time field (empty: delta_time, time, date)",
                 QgsProcessingParameterField.DataType.Any),
                (self.QUALITY_FIELD, "Points: quality field (empty: atl06_quality_summary)",
                 QgsProcessingParameterField.DataType.Numeric)):
            self.add_advanced_parameter(QgsProcessingParameterField(
                key, self.tr(label), parentLayerParameterName=self.REFERENCE_POINTS,
                optional=True, type=kind))
        self.add_advanced_parameter(QgsProcessingParameterString(
            self.TIME_START, self.tr("Points: from (ISO date or date-time, UTC)"), optional=True))
        self.add_advanced_parameter(QgsProcessingParameterString(
            self.TIME_END, self.tr("Points: to (a date includes its whole day)"), optional=True))
        self.add_advanced_parameter(QgsProcessingParameterNumber(
            self.QUALITY_MAX, self.tr("Points: largest accepted quality value"),
            QgsProcessingParameterNumber.Type.Double, optional=True))
        self.add_advanced_parameter(QgsProcessingParameterEnum(
            self.GEOID, self.tr("Points: vertical datum"), list(GEOID_LABELS), defaultValue=0))
        self.add_advanced_parameter(QgsProcessingParameterFile(
            self.GEOID_FILE, self.tr("Points ellipsoidal, DEM on this geoid grid (geoid "
                                     "height, metres; replaces the choice above)"),
            optional=True))

    def _point_options(self, parameters, context) -> PointOptions:
        def text(key: str) -> str | None:
            return (self.parameterAsString(parameters, key, context) or "").strip() or None

        quality = parameters.get(self.QUALITY_MAX)
        return PointOptions(
            z_field=text(self.Z_FIELD), time_field=text(self.TIME_FIELD),
            quality_field=text(self.QUALITY_FIELD), start=text(self.TIME_START),
            end=text(self.TIME_END),
            quality_max=(None if quality in (None, "") else
                         self.parameterAsDouble(parameters, self.QUALITY_MAX, context)),
            geoid=text(self.GEOID_FILE) or GEOIDS[self.parameterAsEnum(parameters, self.GEOID,
                                                                       context)] or None)

    def process(self, parameters, context, feedback):
        dem = self.parameterAsRasterLayer(parameters, self.DEM, context)
        points = self.parameterAsSource(parameters, self.REFERENCE_POINTS, context)
        points_file = self.parameterAsFile(parameters, self.REFERENCE_POINTS_FILE, context)
        reference = self.parameterAsRasterLayer(parameters, self.REFERENCE, context)
        point_options = self._point_options(parameters, context)
        if points is not None or points_file:
            source = points_file or _point_cloud(points, point_options)
            points = source
            reference = dem  # exclusion polygons go to the DEM's CRS
        elif reference is None:
            raise QgsProcessingException("Give a reference DEM (REFERENCE) or reference "
                                         "points (REFERENCE_POINTS).")
        else:
            source = self.raster_path(reference, "reference DEM")
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        dh_output = (self.parameterAsOutputLayer(parameters, self.DH_OUTPUT, context)
                     if requested(parameters, self.DH_OUTPUT) and points is None else None)
        report_path = (self.parameterAsFileOutput(parameters, self.REPORT, context)
                       if requested(parameters, self.REPORT) else "")
        report_page = (self.parameterAsFileOutput(parameters, self.REPORT_PAGE, context)
                       if requested(parameters, self.REPORT_PAGE) else "")
        exclude = mask_sources(self.parameterAsLayerList(parameters, self.EXCLUDE, context),
                               reference, context, self.raster_path)
        dem_path = self.raster_path(dem, "DEM")
        alignment = self.run_core(
            align_dem, feedback,
            reference=source, dem=dem_path, point_options=point_options,
            output=output, dh_output=dh_output or None, exclude=exclude,
            **dask_options(self, parameters, context),
            method=METHODS[self.parameterAsEnum(parameters, self.METHOD, context)],
            pipeline=(self.parameterAsString(parameters, self.PIPELINE, context) or "").strip(),
            bootstrap=self.parameterAsInt(parameters, self.BOOTSTRAP, context),
            variogram=self.parameterAsBoolean(parameters, self.VARIOGRAM, context),
            areas=mask_sources(self.parameterAsLayerList(parameters, self.AREAS, context),
                               reference, context, self.raster_path),
            max_iterations=self.parameterAsInt(parameters, self.MAX_ITERATIONS, context),
            tolerance=self.parameterAsDouble(parameters, self.TOLERANCE, context),
            block_size=self.parameterAsInt(parameters, self.BLOCK_SIZE, context),
            resampling=RESAMPLINGS[self.parameterAsEnum(parameters, self.RESAMPLING, context)][1],
            keep_unreliable=self.parameterAsBoolean(parameters, self.KEEP_UNRELIABLE, context),
            match_reference=(points is None and
                             self.parameterAsBoolean(parameters, self.MATCH_REFERENCE, context)),
        )
        report = alignment.report()
        for warning in alignment.warnings:
            feedback.pushWarning(self.labelled(warning))
        for terms in alignment.corrections:
            feedback.pushInfo(self.tr(f"Fitted {terms['step']}: ") + _summary(terms))
        if alignment.points:
            feedback.pushInfo(self.tr("Reference points: ") + ", ".join(
                f"{k.replace('_', ' ')} {v}" for k, v in alignment.points.items()))
        for key, half in alignment.uncertainty.get("interval_95", {}).items():
            feedback.pushInfo(self.tr(f"95 % interval of {key}: +-{half:.4g}"))
        for area in alignment.dh_uncertainty.get("areas", []):
            if "standard_error_mean_dh" in area:
                feedback.pushInfo(self.tr(
                    f"{area['name']}: standard error of the mean dh "
                    f"{area['standard_error_mean_dh']:.3f} ({area['n_effective']:.0f} "
                    f"independent samples of {area['pixels']} pixels)"))
        feedback.pushInfo(self.tr(
            f"Shift applied to the DEM: x {report['shift_x']:+.3f}, y {report['shift_y']:+.3f}, "
            f"z {report['shift_z']:+.3f} (map units); NMAD of dh on {report['n_stable_pixels']} "
            f"stable pixels {report['nmad_before']:.3f} -> {report['nmad_after']:.3f}"))
        results = {self.OUTPUT: output, **{key.upper(): report[key] for key in NUMERIC_OUTPUTS}}
        if dh_output:
            DivergingOnLoad.attach(context, dh_output, max(3 * alignment.nmad_after, 0.5))
            results[self.DH_OUTPUT] = dh_output
        if report_path:
            write_json(report_path, report)
            results[self.REPORT] = report_path
        if report_page:
            feedback.pushInfo(self.tr("Writing the report page…"))
            write_dem_report(report, report_page, reference=source, dem=dem_path,
                             aligned=output if points is None else None, exclude=exclude)
            results[self.REPORT_PAGE] = report_page
        if alignment.method == "blockwise":
            results.update(self._block_outputs(parameters, context, alignment))
        results[self.APPLIED] = self.apply_to(parameters, context, feedback, alignment.transform,
                                              output)
        return results

    def _block_outputs(self, parameters, context, alignment) -> dict:
        """The optional block vectors and shift-field rasters of the blockwise method."""
        results = {}
        dem = self.parameterAsRasterLayer(parameters, self.DEM, context)
        if requested(parameters, self.BLOCK_VECTORS):
            records = [_BlockVector(b, abs(dem.rasterUnitsPerPixelX())) for b in alignment.blocks]
            vectors = write_shift_vectors(self, parameters, self.BLOCK_VECTORS, context, records,
                                          dem.crs())
            StyleOnLoad.attach(context, vectors, "shift_vectors.qml")
            results[self.BLOCK_VECTORS] = vectors
        fields = {c: self.parameterAsOutputLayer(parameters, key, context)
                  for c, key in self.SHIFT_FIELDS.items() if requested(parameters, key)}
        if fields:
            try:
                write_shift_fields(alignment, self.raster_path(dem, "DEM"), fields)
            except ValueError as exc:
                raise QgsProcessingException(str(exc)) from exc
            results.update({self.SHIFT_FIELDS[c]: path for c, path in fields.items()})
        return results


def _point_cloud(source, options: PointOptions):
    """The points of a feature source (z: the field, or the geometry's Z) with the
    attributes the time and quality selection reads."""
    names = [n for n in (options.z_field, options.time_field, options.quality_field,
                         "delta_time", "atl06_quality_summary")
             if n and source.fields().lookupField(n) >= 0]
    rows = []
    for feature in source.getFeatures():
        geometry = feature.geometry()
        if geometry.isEmpty():
            continue
        values = [_plain(feature[n]) for n in names]
        rows += [(point.x(), point.y(), point.z(), *values) for point in geometry.vertices()]
    if not rows:
        raise QgsProcessingException("The reference points layer holds no points.")
    table = np.array(rows, dtype=object)
    columns = {"x": table[:, 0].astype(float), "y": table[:, 1].astype(float),
               **{n: table[:, k + 3] for k, n in enumerate(names)}}
    if not options.z_field:
        columns["z"] = table[:, 2].astype(float)
        if np.isnan(columns["z"]).all():
            raise QgsProcessingException("The reference points have no Z: choose their "
                                         "elevation field.")
    return cloud_from_columns(columns, source.sourceCrs().toWkt(), options,
                              "the reference points layer", has_xy=True)


def _plain(value):
    """A QGIS attribute as Python: NULL as None, dates and times as ISO text."""
    if value is None or (hasattr(value, "isNull") and value.isNull()):
        return None
    if hasattr(value, "toString") and hasattr(value, "isValid"):  # QDate, QDateTime
        return value.toString("yyyy-MM-dd'T'HH:mm:ss.zzz") if hasattr(value, "time") \
            else value.toString("yyyy-MM-dd")
    return value


def _summary(terms: dict) -> str:
    """The headline figures of a fitted bias correction, for the log."""
    if "tilt_x" in terms:
        return f"tilt x {terms['tilt_x']:+.3g}, y {terms['tilt_y']:+.3g} per map unit"
    if terms.get("sines"):
        return f"azimuth {terms['angle_deg']:.1f} deg, " + ", ".join(
            f"amplitude {s['amplitude']:.3f} wavelength {s['wavelength']:.0f}"
            for s in terms["sines"])
    values = terms.get("values") or [0.0]
    return f"{len(values)} bins, {min(values):+.3f} to {max(values):+.3f}"


class _BlockVector:
    """A block shift in the shape of a shift-vector record."""

    def __init__(self, block, res: float) -> None:
        self.x, self.y = block.x, block.y
        self.dx_map, self.dy_map = block.shift_x, block.shift_y
        self.dx_px, self.dy_px = block.shift_x / res, -block.shift_y / res
        self.used = block.n_pixels >= MIN_BLOCK_PIXELS
        self.reliability = 100.0 if self.used else 0.0
        self.reason = (f"dz {block.shift_z:+.2f}" if self.used
                       else "too few stable pixels: median of the others")
